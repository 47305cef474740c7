// hostsnap pages: the little script they need. No framework, no inline
// handlers (the Content-Security-Policy allows only this file).
"use strict";

// A link's token has done its work once the page is here (the session
// cookie is set): take it out of the address bar and the history.
(function dropToken() {
  const url = new URL(window.location.href);
  if (url.searchParams.has("t")) {
    url.searchParams.delete("t");
    window.history.replaceState(null, "", url.pathname + url.search + url.hash);
  }
})();
