/* Report PDF jobs: poll [data-job-url] and update its bar. On the progress page
 * (data-job-mode="download") the finished PDF downloads; on the report page the page reloads. */
(function () {
  "use strict";
  const box = document.querySelector("[data-job-url]");
  if (!box) return;
  const gettext = window.gettext || ((text) => text);
  const download = box.id === "pdf-progress";
  const poll = () => fetch(box.dataset.jobUrl, { credentials: "same-origin" }).then((r) => r.json()).then((job) => {
    box.querySelector(".job-bar").style.width = job.progress + "%";
    box.querySelector(".job-pct").textContent = job.progress + " %";
    box.querySelector(".job-step").textContent = job.step || job.status;
    if (job.status === "done") {
      if (download && job.pdf_url) {
        const link = box.querySelector(".job-link");
        if (link) { link.href = job.pdf_url; link.textContent = gettext("Download the PDF") + " (v" + job.version + ")"; }
        window.location.assign(job.pdf_url);
      } else {
        window.location.reload();
      }
      return;
    }
    if (job.status === "failed") {
      box.classList.replace("alert-info", "alert-danger");
      box.querySelector(".job-step").textContent = job.error;
      return;
    }
    setTimeout(poll, 1000);
  }).catch(() => setTimeout(poll, 3000));
  setTimeout(poll, download ? 300 : 500);
})();
