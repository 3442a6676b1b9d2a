/* The dashboard timeline: one row per service, one floating bar per incident and service,
 * coloured by severity; planned maintenance as grey hatched bars behind them (it is not an
 * incident). Data comes embedded in the page (#timeline-data, json_script), so drawing
 * needs no second request. The Chart instance is window.beaconTimeline.
 */
(function () {
  "use strict";
  const dataEl = document.getElementById("timeline-data");
  const canvas = document.getElementById("timeline");
  const tip = document.getElementById("timeline-tooltip");
  if (!dataEl || !canvas || typeof Chart === "undefined") return;

  const data = JSON.parse(dataEl.textContent);
  const COLORS = { 1: "#b02a37", 2: "#e35d1a", 3: "#f0ad4e", 4: "#6c757d" };
  const LABELS = { 1: "Sev 1 – critical", 2: "Sev 2 – major", 3: "Sev 3 – minor", 4: "Sev 4 – low" };
  const names = data.services; // slug -> name
  const rows = Object.values(names).sort((a, b) => a.localeCompare(b));

  // Ongoing incidents get diagonal stripes so "runs to now" is visible at a glance.
  const stripes = {};
  function striped(color) {
    if (stripes[color]) return stripes[color];
    const c = document.createElement("canvas");
    c.width = c.height = 8;
    const g = c.getContext("2d");
    g.fillStyle = color;
    g.fillRect(0, 0, 8, 8);
    g.strokeStyle = "rgba(255,255,255,.55)";
    g.lineWidth = 2;
    g.beginPath();
    g.moveTo(0, 8); g.lineTo(8, 0); g.moveTo(-2, 2); g.lineTo(2, -2); g.moveTo(6, 10); g.lineTo(10, 6);
    g.stroke();
    stripes[color] = g.createPattern(c, "repeat");
    return stripes[color];
  }

  const datasets = [1, 2, 3, 4].map((severity) => ({
    label: LABELS[severity],
    severity: severity,
    data: [],
    backgroundColor: (ctx) => {
      const raw = ctx.raw;
      return raw && raw.ongoing ? striped(COLORS[severity]) : COLORS[severity];
    },
    borderColor: COLORS[severity],
    borderWidth: 1,
    borderSkipped: false,
    borderRadius: 3,
    minBarLength: 4,
    // Bars of different severities share a service row instead of splitting it.
    grouped: false,
    barPercentage: 0.8,
    categoryPercentage: 0.9,
  }));
  // Planned maintenance: one grey, hatched dataset drawn behind the incidents (higher order
  // is drawn first), so an incident during maintenance stays visible on top of it.
  const MAINTENANCE = "#6c757d";
  let hatch = null;
  function hatched() {
    if (hatch) return hatch;
    const c = document.createElement("canvas");
    c.width = c.height = 8;
    const g = c.getContext("2d");
    g.fillStyle = "#e9ecef";
    g.fillRect(0, 0, 8, 8);
    g.strokeStyle = "#adb5bd";
    g.lineWidth = 2;
    g.beginPath();
    g.moveTo(0, 0); g.lineTo(8, 8); g.moveTo(-2, 6); g.lineTo(2, 10); g.moveTo(6, -2); g.lineTo(10, 2);
    g.stroke();
    hatch = g.createPattern(c, "repeat");
    return hatch;
  }
  const maintenanceSet = {
    label: "Planned maintenance",
    maintenance: true,
    data: [],
    backgroundColor: () => hatched(),
    borderColor: MAINTENANCE,
    borderWidth: 1,
    borderDash: [4, 3],
    borderSkipped: false,
    borderRadius: 0,
    minBarLength: 4,
    grouped: false,
    barPercentage: 0.95,
    categoryPercentage: 0.9,
    order: 1,
  };
  (data.maintenances || []).forEach((maintenance, index) => {
    maintenance.services.forEach((slug) => {
      maintenanceSet.data.push({
        x: [maintenance.start, maintenance.end],
        y: names[slug] || slug,
        maintenance: index,
      });
    });
  });
  datasets.push(maintenanceSet);

  data.incidents.forEach((incident, index) => {
    const end = incident.end === null ? data.now : incident.end;
    incident.services.forEach((slug) => {
      datasets[incident.severity - 1].data.push({
        x: [incident.start, end],
        y: names[slug] || slug,
        incident: index,
        ticket: incident.ticket,
        ongoing: incident.end === null,
      });
    });
  });

  function esc(text) {
    return String(text == null ? "" : text).replace(/[&<>"']/g, (ch) => (
      { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[ch]
    ));
  }

  let hideTimer = null;
  function hideSoon() {
    clearTimeout(hideTimer);
    hideTimer = setTimeout(() => { tip.hidden = true; }, 400);
  }
  if (tip) {
    // The tooltip holds a link: keep it open while the pointer is on it.
    tip.addEventListener("mouseenter", () => clearTimeout(hideTimer));
    tip.addEventListener("mouseleave", hideSoon);
    document.body.appendChild(tip);
  }

  function external(context) {
    const tooltip = context.tooltip;
    if (!tip) return;
    if (tooltip.opacity === 0 || !tooltip.dataPoints || !tooltip.dataPoints.length) {
      hideSoon();
      return;
    }
    clearTimeout(hideTimer);
    const raw = tooltip.dataPoints[0].raw;
    if (raw.maintenance !== undefined) {
      showMaintenance(data.maintenances[raw.maintenance]);
      place(context, tooltip);
      return;
    }
    const incident = data.incidents[raw.incident];
    const services = incident.services.map((slug) => esc(names[slug] || slug)).join(", ");
    tip.innerHTML =
      '<div class="d-flex gap-2 align-items-center mb-1">' +
      '<span class="badge sev-' + incident.severity + '">Sev ' + incident.severity + "</span>" +
      '<a class="ticket fw-semibold" href="' + esc(incident.url) + '">' + esc(incident.ticket) + "</a>" +
      '<span class="text-body-secondary small ms-auto text-capitalize">' + esc(incident.status) + "</span></div>" +
      '<div class="fw-semibold mb-1">' + esc(incident.title) + "</div>" +
      (incident.description ? '<div class="description small mb-2">' + esc(incident.description) + "</div>" : "") +
      '<dl class="small mb-0">' +
      "<dt>Services</dt><dd class=\"services\">" + services + "</dd>" +
      "<dt>Engineer</dt><dd class=\"engineer\">" + (incident.engineer ? esc(incident.engineer) : '<span class="nodata">none assigned</span>') + "</dd>" +
      "<dt>Start</dt><dd class=\"start\">" + esc(incident.start_label) + "</dd>" +
      "<dt>End</dt><dd class=\"end\">" + (incident.end === null ? '<span class="text-danger">ongoing</span>' : esc(incident.end_label)) + "</dd>" +
      "</dl>" +
      (incident.external_url ? '<div class="small mt-1"><a href="' + esc(incident.external_url) + '" rel="noopener">External ticket ↗</a></div>' : "");
    place(context, tooltip);
  }

  function showMaintenance(maintenance) {
    const services = maintenance.services.map((slug) => esc(names[slug] || slug)).join(", ");
    tip.innerHTML =
      '<div class="d-flex gap-2 align-items-center mb-1">' +
      '<span class="maint-badge kind">Maintenance</span>' +
      '<a class="maintenance-link fw-semibold" href="' + esc(maintenance.url) + '">Planned maintenance</a>' +
      '<span class="text-body-secondary small ms-auto">' + esc(maintenance.status.replace("_", " ")) + "</span></div>" +
      '<div class="fw-semibold mb-1">' + esc(maintenance.title) + "</div>" +
      (maintenance.description ? '<div class="description small mb-2">' + esc(maintenance.description) + "</div>" : "") +
      '<dl class="small mb-0">' +
      "<dt>Services</dt><dd class=\"services\">" + services + "</dd>" +
      "<dt>Start</dt><dd class=\"start\">" + esc(maintenance.start_label) + "</dd>" +
      "<dt>End</dt><dd class=\"end\">" + esc(maintenance.end_label) + "</dd>" +
      "</dl>" +
      '<div class="small text-body-secondary mt-1">Planned: not counted as downtime.</div>';
  }

  function place(context, tooltip) {
    tip.hidden = false;
    const box = context.chart.canvas.getBoundingClientRect();
    const width = tip.offsetWidth;
    let left = window.scrollX + box.left + tooltip.caretX + 12;
    if (left + width > window.scrollX + document.documentElement.clientWidth - 8) {
      left = window.scrollX + box.left + tooltip.caretX - width - 12;
    }
    tip.style.left = Math.max(8, left) + "px";
    tip.style.top = window.scrollY + box.top + tooltip.caretY + 12 + "px";
  }

  const DAY = 24 * 3600 * 1000;
  const span = data.end - data.start;
  const chart = new Chart(canvas, {
    type: "bar",
    data: { labels: rows, datasets: datasets },
    options: {
      indexAxis: "y",
      responsive: true,
      maintainAspectRatio: false,
      animation: false,
      interaction: { mode: "nearest", intersect: true, axis: "xy" },
      scales: {
        x: {
          type: "time",
          min: data.start,
          max: data.end,
          position: "top",
          time: {
            // Days as ticks for a week or a month, hours within a day or two, weeks beyond.
            unit: span <= 2 * DAY ? "hour" : span <= 62 * DAY ? "day" : "week",
            displayFormats: { hour: "d MMM HH:mm", day: "EEE d MMM", week: "d MMM yyyy" },
          },
          ticks: { maxRotation: 0, autoSkipPadding: 12 },
          grid: { color: "rgba(0,0,0,.06)" },
        },
        y: { type: "category", labels: rows, grid: { offset: true, color: "rgba(0,0,0,.04)" } },
      },
      plugins: {
        legend: { display: false },
        tooltip: { enabled: false, external: external },
      },
      onHover: (event, elements) => {
        event.native.target.style.cursor = elements.length ? "pointer" : "default";
      },
      onClick: (event, elements) => {
        if (!elements.length) return;
        const element = elements[0];
        const raw = chart.data.datasets[element.datasetIndex].data[element.index];
        window.location.href =
          raw.maintenance !== undefined ? data.maintenances[raw.maintenance].url : data.incidents[raw.incident].url;
      },
    },
  });
  window.beaconTimeline = chart;
  window.beaconTimelineData = data;
})();
