/* /status/: hovering, focusing or tapping a day of a service's strip shows that day's
 * incidents below the strip (from the <template> rendered with the page). */
(function () {
  "use strict";
  function show(button) {
    const row = button.closest(".status-service");
    const panel = row && row.querySelector(".day-detail");
    const template = document.getElementById("day-" + button.dataset.detail);
    if (!panel || !template) return;
    panel.replaceChildren(template.content.cloneNode(true));
    row.querySelectorAll(".day[aria-pressed]").forEach((b) => b.removeAttribute("aria-pressed"));
    button.setAttribute("aria-pressed", "true");
  }
  // Delegated, so days swapped in by the live refresh work too.
  ["mouseover", "focusin", "click"].forEach((type) => {
    document.addEventListener(type, (event) => {
      const button = event.target.closest && event.target.closest(".day-strip button.day");
      if (button) show(button);
    });
  });
})();
