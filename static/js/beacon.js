/* Behaviour every page shares: the theme switch and live regions.
 *
 * Live regions: an element with data-live="<id>" is refreshed every LIVE_REFRESH_SECONDS
 * (body[data-live-seconds]) by fetching the same URL and swapping in the element with the
 * same id, without a full reload. Polling pauses while the tab is hidden and catches up
 * as soon as it is shown again.
 */
(function () {
  "use strict";
  const toggle = document.getElementById("theme-toggle");
  if (toggle && window.beaconTheme) {
    const order = ["auto", "light", "dark"];
    const label = () => { toggle.textContent = toggle.dataset["label" + window.beaconTheme.choice().replace(/^./, (c) => c.toUpperCase())]; };
    label();
    toggle.addEventListener("click", () => {
      const next = order[(order.indexOf(window.beaconTheme.choice()) + 1) % order.length];
      try { localStorage.setItem("beacon-theme", next); } catch (e) { /* private mode: session only */ }
      window.beaconTheme.apply();
      label();
    });
  }

  // <select data-autosubmit>: choosing an option submits its form (no inline handlers under the CSP).
  document.addEventListener("change", (event) => {
    const select = event.target.closest && event.target.closest("select[data-autosubmit]");
    if (select && select.form) select.form.requestSubmit ? select.form.requestSubmit() : select.form.submit();
  });

  // A table that scrolls sideways inside its box must be reachable by keyboard (WCAG 2.1.1).
  function focusableScrollers() {
    document.querySelectorAll("main table, main .table-responsive").forEach((box) => {
      const scrolls = box.scrollWidth > box.clientWidth + 1 && getComputedStyle(box).overflowX !== "visible";
      if (scrolls && !box.hasAttribute("tabindex")) {
        box.setAttribute("tabindex", "0");
        if (!box.hasAttribute("role") && box.tagName !== "TABLE") box.setAttribute("role", "region");
        if (!box.hasAttribute("aria-label")) box.setAttribute("aria-label", (window.gettext || String)("Scrollable table"));
      }
    });
  }
  focusableScrollers();
  window.addEventListener("resize", focusableScrollers);
  document.addEventListener("beacon:refreshed", focusableScrollers);

  const regions = () => Array.from(document.querySelectorAll("[data-live]"));
  const seconds = parseInt(document.body.dataset.liveSeconds || "0", 10);
  if (!regions().length || !seconds) return;
  let timer = null;
  let last = Date.now();

  async function refresh() {
    last = Date.now();
    try {
      const response = await fetch(window.location.href, {
        headers: { "X-Beacon-Live": "1" },
        credentials: "same-origin",
        cache: "no-store",
      });
      if (!response.ok || response.redirected) return;
      const html = await response.text();
      const fresh = new DOMParser().parseFromString(html, "text/html");
      regions().forEach((region) => {
        const replacement = fresh.getElementById(region.id);
        // Never yank content away from someone typing or reading a focused control in it.
        if (!replacement || region.contains(document.activeElement)) return;
        region.replaceWith(document.importNode(replacement, true));
      });
      document.dispatchEvent(new CustomEvent("beacon:refreshed"));
    } catch (e) {
      /* offline for a moment: try again at the next tick */
    }
  }
  function schedule() {
    clearInterval(timer);
    timer = null;
    if (document.hidden) return;
    if (Date.now() - last >= seconds * 1000) refresh();
    timer = setInterval(refresh, seconds * 1000);
  }
  document.addEventListener("visibilitychange", schedule);
  schedule();
  window.beaconLive = { refresh: refresh };
})();
