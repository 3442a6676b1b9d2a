/* Light or dark: the user's choice (localStorage "beacon-theme": light/dark) or else the
 * system setting. Loaded in <head> so the page never flashes the wrong theme. */
(function () {
  "use strict";
  var media = window.matchMedia ? window.matchMedia("(prefers-color-scheme: dark)") : null;
  function choice() {
    try { return localStorage.getItem("beacon-theme") || "auto"; } catch (e) { return "auto"; }
  }
  function apply() {
    var c = choice();
    var dark = c === "dark" || (c === "auto" && media && media.matches);
    document.documentElement.setAttribute("data-bs-theme", dark ? "dark" : "light");
  }
  apply();
  if (media && media.addEventListener) media.addEventListener("change", apply);
  window.beaconTheme = { apply: apply, choice: choice };
})();
