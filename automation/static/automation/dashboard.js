/* The weekly hours-saved chart on /automation/ from the embedded #trend-data. */
(function () {
  const data = JSON.parse(document.getElementById("trend-data").textContent);
  new Chart(document.getElementById("trend-chart"), {
    type: "bar",
    data: {
      labels: data.labels,
      datasets: [{label: gettext("Hours saved"), data: data.hours, backgroundColor: "#198754"}]
    },
    options: {
      maintainAspectRatio: false,
      plugins: {
        legend: {display: false},
        tooltip: {callbacks: {
          title: (items) => interpolate(gettext("Week of %s"), [items[0].label]),
          label: (item) => item.raw === null ? gettext("no runs") : interpolate(gettext("%(hours)s h saved · %(runs)s runs"), { hours: item.raw.toLocaleString(document.documentElement.lang, { minimumFractionDigits: 1, maximumFractionDigits: 1 }), runs: data.runs[item.dataIndex] }, true)
        }}
      },
      scales: {y: {beginAtZero: true, title: {display: true, text: gettext("hours")}}}
    }
  });
})();
