// Client investigation chart: durations over time, outliers as red triangles, and a
// minutes/hours switch that rescales the data and the y axis without a reload.
// The Chart instance is window.batchChart (browser tests read it).
(function () {
  "use strict";
  const cfg = JSON.parse(document.getElementById("chart-data").textContent);
  const canvas = document.getElementById("durations-chart");
  const DIVISOR = { minutes: 60, hours: 3600 };
  const COLORS = { succeeded: "#0d6efd", failed: "#212529", running: "#6f42c1" };
  let unit = cfg.unit in DIVISOR ? cfg.unit : "minutes";
  const gettext = window.gettext || ((text) => text);
  const interpolate = window.interpolate || ((text, args) => text.replace("%s", args[0]));
  const UNITS = { minutes: gettext("minutes"), hours: gettext("hours") };
  const axisTitle = () => interpolate(gettext("Duration (%s)"), [UNITS[unit] || unit]);

  function durations(u) {
    const d = DIVISOR[u];
    return cfg.points.map((p) => ({ ...p, x: Date.parse(p.x), y: p.seconds / d }));
  }
  function thresholds(u) {
    const d = DIVISOR[u];
    return cfg.points.filter((p) => p.upper !== null).map((p) => ({ x: Date.parse(p.x), y: p.upper / d }));
  }
  function fmt(value) {
    return value >= 100 ? value.toFixed(0) : value.toFixed(value >= 10 ? 1 : 2);
  }
  function markUnit(u) {
    document.querySelectorAll("[data-unit]").forEach((b) => b.classList.toggle("active", b.dataset.unit === u));
    const hidden = document.getElementById("id_unit");
    if (hidden) hidden.value = u;
    const url = new URL(window.location.href);
    url.searchParams.set("unit", u);
    window.history.replaceState(null, "", url);
    document.querySelectorAll("a[href*='unit=']").forEach((a) => {
      a.href = a.href.replace(/unit=\w+/, "unit=" + u);
    });
  }

  if (canvas) {
    window.batchChart = new Chart(canvas, {
      type: "line",
      data: {
        datasets: [
          {
            label: gettext("Duration"),
            data: durations(unit),
            borderColor: "rgba(13,110,253,0.35)",
            borderWidth: 1,
            tension: 0,
            pointStyle: (ctx) => (ctx.raw && ctx.raw.outlier ? "triangle" : ctx.raw && ctx.raw.status === "failed" ? "crossRot" : "circle"),
            pointRadius: (ctx) => (ctx.raw && ctx.raw.outlier ? 7 : ctx.raw && ctx.raw.status === "failed" ? 6 : 2.5),
            pointBackgroundColor: (ctx) => (ctx.raw && ctx.raw.outlier ? cfg.outlierColor : COLORS[ctx.raw && ctx.raw.status] || COLORS.succeeded),
            pointBorderColor: (ctx) => (ctx.raw && ctx.raw.outlier ? cfg.outlierColor : COLORS[ctx.raw && ctx.raw.status] || COLORS.succeeded),
          },
          {
            label: gettext("Outlier threshold (median + k·MAD)"),
            data: thresholds(unit),
            borderColor: "rgba(220,53,69,0.45)",
            borderDash: [6, 4],
            borderWidth: 1,
            pointRadius: 0,
            fill: false,
          },
        ],
      },
      options: {
        maintainAspectRatio: false,
        animation: false,
        interaction: { mode: "nearest", intersect: false },
        scales: {
          x: { type: "time", time: { tooltipFormat: "yyyy-MM-dd HH:mm" }, title: { display: true, text: gettext("Run started") } },
          y: { beginAtZero: true, grace: "5%", title: { display: true, text: axisTitle() } },
        },
        plugins: {
          tooltip: {
            callbacks: {
              label: (ctx) => {
                if (ctx.datasetIndex === 1) return interpolate(gettext("Outlier threshold: %s"), [fmt(ctx.parsed.y) + " " + (UNITS[unit] || unit)]);
                const p = ctx.raw;
                const parts = [p.run_id + ": " + fmt(ctx.parsed.y) + " " + (UNITS[unit] || unit), p.status_label || p.status];
                if (p.records !== null) parts.push(interpolate(gettext("%s records"), [p.records.toLocaleString(document.documentElement.lang)]));
                if (p.outlier) parts.push(gettext("OUTLIER"));
                return parts.join(" · ");
              },
            },
          },
        },
      },
    });
  }

  document.querySelectorAll("[data-unit]").forEach((button) => {
    button.addEventListener("click", () => {
      unit = button.dataset.unit;
      markUnit(unit);
      const chart = window.batchChart;
      if (!chart) return;
      chart.data.datasets[0].data = durations(unit);
      chart.data.datasets[1].data = thresholds(unit);
      chart.options.scales.y.title.text = axisTitle();
      chart.update();
    });
  });
})();
