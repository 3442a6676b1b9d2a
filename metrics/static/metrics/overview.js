/* Sparklines on /metrics/ from the embedded #metric-charts data. */
(function () {
  const charts = JSON.parse(document.getElementById("metric-charts").textContent);
  document.querySelectorAll("canvas.sparkline").forEach(function (canvas) {
    const points = (charts[canvas.dataset.key] || []).map(function (p) { return {x: p[0], y: p[1]}; });
    new Chart(canvas, {
      type: "line",
      data: {datasets: [{data: points, borderColor: "#0d6efd", borderWidth: 1.5, pointRadius: 0, fill: false, tension: 0.2}]},
      options: {
        responsive: true, maintainAspectRatio: false, animation: false,
        plugins: {legend: {display: false}, tooltip: {intersect: false, mode: "index"}},
        scales: {x: {type: "time", display: false}, y: {display: false}},
      },
    });
  });
})();
