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

// The thread-dump explorer: a stack group's frames and threads load when its
// <details> opens, the next page of them on "more" (server-rendered HTML,
// escaped there); without this script the same links open them as pages.
async function loadInto(box, src) {
  box.textContent = "loading…";
  try {
    const r = await fetch(src, { credentials: "same-origin" });
    const text = await r.text();
    if (!r.ok) {
      // the server's error page says what happened and what to do (a session
      // expired: open the page from Slack again); show that, as text
      const said = new DOMParser().parseFromString(text, "text/html").querySelector(".message");
      throw new Error(said ? `${said.textContent} (HTTP ${r.status})` : `HTTP ${r.status}`);
    }
    box.innerHTML = text;
  } catch (e) {
    box.textContent = `Could not load: ${e.message}`;
  }
}
document.addEventListener("toggle", (ev) => {
  const d = ev.target;
  if (!(d instanceof HTMLDetailsElement) || !d.open || !d.dataset.src || d.dataset.loaded) return;
  d.dataset.loaded = "1";
  loadInto(d.querySelector(".lazy"), d.dataset.src);
}, true);
document.addEventListener("click", (ev) => {
  const a = ev.target instanceof Element ? ev.target.closest("a.more[data-src]") : null;
  if (!a) return;
  ev.preventDefault();
  loadInto(a.parentElement, a.dataset.src);
});
