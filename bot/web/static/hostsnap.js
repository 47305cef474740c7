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
    if (!r.ok) throw new Error(`${r.status} ${r.statusText}`);
    box.innerHTML = await r.text();
  } catch (e) {
    box.textContent = `could not load: ${e.message}`;
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
