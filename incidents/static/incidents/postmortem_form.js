/* The postmortem form: "add action item" copies the formset's empty form. */
// New action-item rows are copies of the formset's empty form with the next index.
document.getElementById("add-action-item").addEventListener("click", function () {
  const total = document.getElementById("id_items-TOTAL_FORMS");
  const index = parseInt(total.value, 10);
  const html = document.getElementById("action-item-template").innerHTML.replace(/__prefix__/g, index);
  document.getElementById("action-items").insertAdjacentHTML("beforeend", html);
  total.value = index + 1;
});
