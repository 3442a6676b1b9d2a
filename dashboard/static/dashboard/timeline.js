/* The dashboard timeline: one row per service in the filter (a row without incidents says
 * so), one floating bar per incident and service, coloured by severity; incidents that
 * overlap on a service go into extra lanes of its row instead of hiding each other; planned
 * maintenance as grey hatched bars behind them (it is not an incident); a "now" line.
 *
 * The legend's severity buttons show and hide severities. Pointing at a bar (or tapping it
 * on a touch screen) shows its tooltip; clicking it with a mouse, tapping it a second time
 * or following the tooltip's link opens it. Dragging across the chart with a mouse zooms to
 * that range (the URL carries it, ?since=…&until=…).
 *
 * Data comes embedded in the page (#timeline-data, json_script) and is read again when the
 * live refresh (js/beacon.js) replaces it. The Chart instance is window.beaconTimeline.
 * Text goes through Django's JavaScript catalogue (gettext/interpolate).
 */
(function () {
  "use strict";
  const canvas = document.getElementById("timeline");
  const tip = document.getElementById("timeline-tooltip");
  if (!canvas || typeof Chart === "undefined") return;
  const gettext = window.gettext || ((s) => s);
  const fmt = typeof interpolate === "function" ? interpolate : (s, a) => s.replace("%s", a[0]);
  const wrap = canvas.parentElement;
  const zoomBox = wrap.querySelector(".zoom-box");

  const COLORS = { 1: "#b02a37", 2: "#b8480b", 3: "#f0ad4e", 4: "#6c757d" };
  const LABELS = {
    1: gettext("Sev 1 – critical"), 2: gettext("Sev 2 – major"), 3: gettext("Sev 3 – minor"), 4: gettext("Sev 4 – low"),
  };
  const MIN_BAR_PX = 8; // a 25-minute incident on a 90-day chart must still be seen and hit
  const LANE_PX = 26;
  const hiddenSeverities = new Set();
  let data = null;
  let chart = null;
  let tappedKey = null;
  let pointerType = "mouse";

  function esc(text) {
    return String(text == null ? "" : text).replace(/[&<>"']/g, (ch) => (
      { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[ch]
    ));
  }

  const patterns = {};
  function pattern(key, draw) {
    if (!patterns[key]) {
      const c = document.createElement("canvas");
      c.width = c.height = 8;
      draw(c.getContext("2d"));
      patterns[key] = c.getContext("2d").createPattern(c, "repeat");
    }
    return patterns[key];
  }
  // Ongoing incidents get diagonal stripes so "runs to now" is visible at a glance.
  function striped(color) {
    return pattern("s" + color, (g) => {
      g.fillStyle = color;
      g.fillRect(0, 0, 8, 8);
      g.strokeStyle = "rgba(255,255,255,.55)";
      g.lineWidth = 2;
      g.beginPath();
      g.moveTo(0, 8); g.lineTo(8, 0); g.moveTo(-2, 2); g.lineTo(2, -2); g.moveTo(6, 10); g.lineTo(10, 6);
      g.stroke();
    });
  }
  function hatched() {
    return pattern("maintenance", (g) => {
      g.fillStyle = "#e9ecef";
      g.fillRect(0, 0, 8, 8);
      g.strokeStyle = "#adb5bd";
      g.lineWidth = 2;
      g.beginPath();
      g.moveTo(0, 0); g.lineTo(8, 8); g.moveTo(-2, 6); g.lineTo(2, 10); g.moveTo(6, -2); g.lineTo(10, 2);
      g.stroke();
    });
  }

  /* Rows: for each service (by name), as many lanes as its overlapping incidents need.
   * Returns {keys, display, laneOf} where keys are the category values ("slug#lane"). */
  function layout() {
    const names = data.services;
    const slugs = Object.keys(names).sort((a, b) => names[a].localeCompare(names[b]));
    const empty = new Set(data.empty_services || []);
    const span = data.end - data.start;
    // Bars shorter than MIN_BAR_PX are drawn that wide: reserve that much room when packing.
    const minSpan = span * (MIN_BAR_PX + 2) / Math.max(200, wrap.clientWidth - 120);
    const perService = {};
    data.incidents.forEach((incident, index) => {
      if (hiddenSeverities.has(incident.severity)) return;
      incident.services.forEach((slug) => {
        (perService[slug] = perService[slug] || []).push(index);
      });
    });
    const keys = [];
    const display = [];
    const laneOf = {}; // "index|slug" -> key
    slugs.forEach((slug) => {
      const ends = []; // end of the last bar in each lane
      (perService[slug] || [])
        .slice()
        .sort((a, b) => data.incidents[a].start - data.incidents[b].start)
        .forEach((index) => {
          const incident = data.incidents[index];
          const end = Math.max(incident.end === null ? data.now : incident.end, incident.start + minSpan);
          let lane = ends.findIndex((last) => last <= incident.start);
          if (lane === -1) { lane = ends.length; ends.push(end); } else { ends[lane] = end; }
          laneOf[index + "|" + slug] = slug + "#" + lane;
        });
      const lanes = Math.max(1, ends.length);
      for (let lane = 0; lane < lanes; lane++) {
        keys.push(slug + "#" + lane);
        if (lane > 0) display.push("");
        else if (empty.has(slug)) display.push(fmt(gettext("%s · no incidents"), [names[slug]]));
        else display.push(names[slug]);
      }
    });
    return { keys, display, laneOf };
  }

  function datasets(rows) {
    const sets = [1, 2, 3, 4].map((severity) => ({
      label: LABELS[severity],
      severity: severity,
      data: [],
      backgroundColor: (ctx) => (ctx.raw && ctx.raw.ongoing ? striped(COLORS[severity]) : COLORS[severity]),
      borderColor: COLORS[severity],
      borderWidth: 1,
      borderSkipped: false,
      borderRadius: 3,
      minBarLength: MIN_BAR_PX,
      grouped: false,
      barPercentage: 0.85,
      categoryPercentage: 0.9,
      hidden: hiddenSeverities.has(severity),
    }));
    // Planned maintenance behind the incidents (higher order is drawn first), in lane 0.
    const maintenance = {
      label: gettext("Planned maintenance"),
      maintenance: true,
      data: [],
      backgroundColor: () => hatched(),
      borderColor: "#6c757d",
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
    (data.maintenances || []).forEach((m, index) => {
      m.services.forEach((slug) => {
        if (data.services[slug]) maintenance.data.push({ x: [m.start, m.end], y: slug + "#0", maintenance: index });
      });
    });
    data.incidents.forEach((incident, index) => {
      incident.services.forEach((slug) => {
        const key = rows.laneOf[index + "|" + slug];
        if (!key) return;
        sets[incident.severity - 1].data.push({
          x: [incident.start, incident.end === null ? data.now : incident.end],
          y: key,
          service: data.services[slug] || slug,
          ticket: incident.ticket,
          incident: index,
          ongoing: incident.end === null,
        });
      });
    });
    sets.push(maintenance);
    return sets;
  }

  // --- tooltip ----------------------------------------------------------------------
  let hideTimer = null;
  function hideSoon() {
    clearTimeout(hideTimer);
    hideTimer = setTimeout(() => { tip.hidden = true; tappedKey = null; }, pointerType === "mouse" ? 400 : 4000);
  }
  if (tip) {
    // The tooltip holds a link: keep it open while the pointer is on it.
    tip.addEventListener("mouseenter", () => clearTimeout(hideTimer));
    tip.addEventListener("mouseleave", hideSoon);
    document.body.appendChild(tip);
  }

  function incidentHtml(incident) {
    const services = incident.services.map((slug) => esc(data.services[slug] || slug)).join(", ");
    return '<div class="d-flex gap-2 align-items-center mb-1">' +
      '<span class="badge sev-' + incident.severity + '">' + esc(fmt(gettext("Sev %s"), [incident.severity])) + "</span>" +
      '<a class="ticket fw-semibold" href="' + esc(incident.url) + '">' + esc(incident.ticket) + "</a>" +
      '<span class="text-body-secondary small ms-auto">' + esc(incident.status_label || incident.status) + "</span></div>" +
      '<div class="fw-semibold mb-1">' + esc(incident.title) + "</div>" +
      (incident.description ? '<div class="description small mb-2">' + esc(incident.description) + "</div>" : "") +
      '<dl class="small mb-0">' +
      "<dt>" + esc(gettext("Services")) + '</dt><dd class="services">' + services + "</dd>" +
      "<dt>" + esc(gettext("Engineer")) + '</dt><dd class="engineer">' +
      (incident.engineer ? esc(incident.engineer) : '<span class="nodata">' + esc(gettext("none assigned")) + "</span>") + "</dd>" +
      "<dt>" + esc(gettext("Start")) + '</dt><dd class="start">' + esc(incident.start_label) + "</dd>" +
      "<dt>" + esc(gettext("End")) + '</dt><dd class="end">' +
      (incident.end === null ? '<span class="text-danger">' + esc(gettext("ongoing")) + "</span>" : esc(incident.end_label)) + "</dd>" +
      "</dl>" +
      '<div class="small mt-1 d-flex flex-wrap gap-2"><a class="open-link" href="' + esc(incident.url) + '">' +
      esc(fmt(gettext("Open %s"), [incident.ticket])) + " →</a>" +
      (incident.external_url ? '<a href="' + esc(incident.external_url) + '" rel="noopener">' + esc(gettext("External ticket")) + " ↗</a>" : "") +
      "</div>";
  }

  function maintenanceHtml(m) {
    const services = m.services.map((slug) => esc(data.services[slug] || slug)).join(", ");
    return '<div class="d-flex gap-2 align-items-center mb-1">' +
      '<span class="maint-badge kind">' + esc(gettext("Maintenance")) + "</span>" +
      '<a class="maintenance-link fw-semibold" href="' + esc(m.url) + '">' + esc(gettext("Planned maintenance")) + "</a></div>" +
      '<div class="fw-semibold mb-1">' + esc(m.title) + "</div>" +
      (m.description ? '<div class="description small mb-2">' + esc(m.description) + "</div>" : "") +
      '<dl class="small mb-0">' +
      "<dt>" + esc(gettext("Services")) + '</dt><dd class="services">' + services + "</dd>" +
      "<dt>" + esc(gettext("Start")) + '</dt><dd class="start">' + esc(m.start_label) + "</dd>" +
      "<dt>" + esc(gettext("End")) + '</dt><dd class="end">' + esc(m.end_label) + "</dd>" +
      "</dl>" +
      '<div class="small text-body-secondary mt-1">' + esc(gettext("Planned: not counted as downtime.")) + "</div>";
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
    tip.innerHTML = raw.maintenance !== undefined
      ? maintenanceHtml(data.maintenances[raw.maintenance])
      : incidentHtml(data.incidents[raw.incident]);
    tip.hidden = false;
    const box = context.chart.canvas.getBoundingClientRect();
    const width = tip.offsetWidth;
    const viewport = document.documentElement.clientWidth;
    let left = window.scrollX + box.left + tooltip.caretX + 12;
    if (left + width > window.scrollX + viewport - 8) left = window.scrollX + box.left + tooltip.caretX - width - 12;
    left = Math.min(Math.max(window.scrollX + 8, left), window.scrollX + viewport - width - 8);
    tip.style.left = Math.max(8, left) + "px";
    tip.style.top = window.scrollY + box.top + tooltip.caretY + 14 + "px";
  }

  // --- the "now" line and the zoom selection ----------------------------------------------
  const nowLine = {
    id: "nowLine",
    afterDatasetsDraw(c) {
      if (!data || data.now < data.start || data.now > data.end) return;
      const x = c.scales.x.getPixelForValue(data.now);
      const area = c.chartArea;
      const g = c.ctx;
      g.save();
      g.strokeStyle = "#0d6efd";
      g.lineWidth = 2;
      g.setLineDash([5, 4]);
      g.beginPath();
      g.moveTo(x, area.top);
      g.lineTo(x, area.bottom);
      g.stroke();
      g.setLineDash([]);
      g.fillStyle = "#0d6efd";
      g.font = "600 11px system-ui, sans-serif";
      g.textAlign = x > area.right - 30 ? "right" : "left";
      g.fillText(gettext("now"), x + (g.textAlign === "right" ? -4 : 4), area.bottom - 4);
      g.restore();
    },
  };

  const language = document.documentElement.lang || undefined;
  const zone = canvas.dataset.timeZone || undefined;
  const formats = {};
  function tickLabel(value, span) {
    const DAY = 24 * 3600 * 1000;
    const kind = span <= 2 * DAY ? "hour" : span <= 62 * DAY ? "day" : "week";
    if (!formats[kind]) {
      const options = { hour: { day: "numeric", month: "short", hour: "2-digit", minute: "2-digit", hourCycle: "h23" },
        day: { day: "numeric", month: "short" }, week: { day: "numeric", month: "short", year: "numeric" } }[kind];
      try {
        formats[kind] = new Intl.DateTimeFormat(language, zone ? { ...options, timeZone: zone } : options);
      } catch (e) {
        formats[kind] = new Intl.DateTimeFormat(language, options);
      }
    }
    return formats[kind].format(new Date(value));
  }

  // Colour is never the only signal: bars wide enough carry their severity number.
  const severityLabels = {
    id: "severityLabels",
    afterDatasetsDraw(c) {
      const g = c.ctx;
      g.save();
      g.font = "600 10px system-ui, sans-serif";
      g.textAlign = "center";
      g.textBaseline = "middle";
      c.data.datasets.forEach((dataset, d) => {
        if (!dataset.severity || !c.isDatasetVisible(d)) return;
        c.getDatasetMeta(d).data.forEach((bar) => {
          if (Math.abs(bar.width) < 14 || bar.height < 10) return;
          const p = bar.getCenterPoint();
          g.fillStyle = dataset.severity === 3 ? "#212529" : "#fff";
          g.fillText(String(dataset.severity), p.x, p.y);
        });
      });
      g.restore();
    },
  };

  function build() {
    const el = document.getElementById("timeline-data");
    if (!el) return;
    data = JSON.parse(el.textContent);
    const rows = layout();
    wrap.style.height = 70 + LANE_PX * Math.max(1, rows.keys.length) + "px";
    const DAY = 24 * 3600 * 1000;
    const span = data.end - data.start;
    const dark = document.documentElement.getAttribute("data-bs-theme") === "dark";
    const grid = dark ? "rgba(255,255,255,.12)" : "rgba(0,0,0,.06)";
    const text = dark ? "#dee2e6" : "#495057";
    if (chart) chart.destroy();
    chart = new Chart(canvas, {
      type: "bar",
      data: { labels: rows.keys, datasets: datasets(rows) },
      plugins: [nowLine, severityLabels],
      options: {
        indexAxis: "y",
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        interaction: { mode: "nearest", intersect: true, axis: "xy" },
        events: ["mousemove", "mouseout", "click", "touchstart", "touchmove"],
        scales: {
          x: {
            type: "time",
            min: data.start,
            max: data.end,
            position: "top",
            time: {
              unit: span <= 2 * DAY ? "hour" : span <= 62 * DAY ? "day" : "week",
              displayFormats: { hour: "d MMM HH:mm", day: "d MMM", week: "d MMM yyyy" },
            },
            // Tick labels in the page's language and time zone (the date adapter only knows English).
            ticks: { maxRotation: 0, autoSkipPadding: 16, color: text, callback: (value) => tickLabel(value, span) },
            grid: { color: grid },
          },
          y: {
            type: "category",
            labels: rows.keys,
            ticks: {
              color: text,
              autoSkip: false,
              callback: (value, index) => {
                const label = rows.display[index] || "";
                return label.length > 40 ? label.slice(0, 39) + "…" : label;
              },
            },
            grid: { offset: true, color: grid },
          },
        },
        plugins: { legend: { display: false }, tooltip: { enabled: false, external: external } },
        onHover: (event, elements) => {
          event.native.target.style.cursor = elements.length ? "pointer" : "crosshair";
        },
        onClick: (event, elements) => {
          if (!elements.length) return;
          const element = elements[0];
          const raw = chart.data.datasets[element.datasetIndex].data[element.index];
          const url = raw.maintenance !== undefined ? data.maintenances[raw.maintenance].url : data.incidents[raw.incident].url;
          if (pointerType !== "mouse") {
            // Touch: the first tap shows the tooltip, a second tap on the same bar opens it.
            const key = element.datasetIndex + ":" + element.index;
            if (tappedKey !== key) {
              tappedKey = key;
              chart.tooltip.setActiveElements([{ datasetIndex: element.datasetIndex, index: element.index }], {
                x: event.x, y: event.y,
              });
              chart.update("none");
              return;
            }
          }
          window.location.href = url;
        },
      },
    });
    window.beaconTimeline = chart;
    window.beaconTimelineData = data;
  }

  // --- drag to zoom (mouse only: touch screens scroll the page) --------------------------
  let drag = null;
  canvas.addEventListener("pointerdown", (event) => {
    pointerType = event.pointerType || "mouse";
    if (pointerType !== "mouse" || event.button !== 0 || !chart) return;
    const area = chart.chartArea;
    const x = event.offsetX;
    if (x < area.left || x > area.right) return;
    drag = { x0: x, x1: x };
  });
  canvas.addEventListener("pointermove", (event) => {
    if (!drag) return;
    drag.x1 = Math.min(Math.max(event.offsetX, chart.chartArea.left), chart.chartArea.right);
    if (Math.abs(drag.x1 - drag.x0) < 6 || !zoomBox) return;
    zoomBox.hidden = false;
    zoomBox.style.left = Math.min(drag.x0, drag.x1) + "px";
    zoomBox.style.width = Math.abs(drag.x1 - drag.x0) + "px";
    zoomBox.style.top = chart.chartArea.top + "px";
    zoomBox.style.height = chart.chartArea.bottom - chart.chartArea.top + "px";
  });
  window.addEventListener("pointerup", () => {
    if (!drag) return;
    const d = drag;
    drag = null;
    if (zoomBox) zoomBox.hidden = true;
    if (Math.abs(d.x1 - d.x0) < 12) return;
    const a = chart.scales.x.getValueForPixel(Math.min(d.x0, d.x1));
    const b = chart.scales.x.getValueForPixel(Math.max(d.x0, d.x1));
    zoomTo(a, b);
  });

  function isoLocal(ms) {
    // The form reads naive times in the server's TIME_ZONE; send UTC with an explicit offset.
    return new Date(Math.round(ms / 60000) * 60000).toISOString().slice(0, 16) + "+00:00";
  }
  function zoomTo(a, b) {
    const params = new URLSearchParams(window.location.search);
    ["range", "start", "end", "page"].forEach((k) => params.delete(k));
    params.set("since", isoLocal(a));
    params.set("until", isoLocal(Math.max(b, a + 60000)));
    window.location.assign(window.location.pathname + "?" + params.toString() + "#timeline-card");
  }
  window.beaconTimelineZoom = zoomTo;

  // --- severity toggles in the legend -------------------------------------------------
  document.querySelectorAll(".legend-toggle").forEach((button) => {
    button.addEventListener("click", () => {
      const severity = parseInt(button.dataset.severity, 10);
      const shown = hiddenSeverities.has(severity);
      if (shown) hiddenSeverities.delete(severity); else hiddenSeverities.add(severity);
      button.setAttribute("aria-pressed", shown ? "true" : "false");
      build();
    });
  });

  document.addEventListener("beacon:refreshed", build);
  build();
})();
