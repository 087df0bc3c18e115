// Otklik dashboard: small page behaviours (charts: charts.js; live updates: live.js).
(function () {
  "use strict";
  // Behaviour that would otherwise be inline handlers, which the Content-Security-Policy forbids.
  document.querySelectorAll("[data-submit-on-change]").forEach((el) => el.addEventListener("change", () => el.form.submit()));
  document.querySelectorAll("form[data-confirm]").forEach((form) => form.addEventListener("submit", (event) => {
    if (!window.confirm(form.dataset.confirm)) event.preventDefault();
  }));

  // Stacked tables (phones): each cell is labelled by its column's heading, read from the
  // table's own head so the template keeps one copy of every label.
  // Again when live.js brings new rows in.
  const labelStacks = (root) => root.querySelectorAll("table.stack").forEach((table) => {
    const heads = [...table.querySelectorAll("thead th")].map((th) => th.textContent.trim());
    table.querySelectorAll("tbody tr").forEach((tr) => {
      [...tr.cells].forEach((td, i) => { if (!td.colSpan || td.colSpan === 1) td.dataset.label = heads[i] || ""; });
    });
  labelStacks(document);
  document.addEventListener("otklik:updated", (event) => labelStacks(event.target));
  });

  // A table wider than its box says so: a shadow at the edge where more columns wait
  // (.more-end / .more-start, drawn by app.css), updated on scroll and on resize.
  const edges = (wrap) => {
    const max = wrap.scrollWidth - wrap.clientWidth, at = Math.abs(wrap.scrollLeft);  // RTL scrolls negative
    wrap.classList.toggle("more-end", max > 1 && at < max - 1);
    wrap.classList.toggle("more-start", max > 1 && at > 1);
  };
  const wraps = document.querySelectorAll(".table-wrap, #heatmap");
  const watchSize = window.ResizeObserver ? new ResizeObserver((seen) => seen.forEach((e) => edges(e.target))) : null;
  wraps.forEach((wrap) => {
    wrap.addEventListener("scroll", () => edges(wrap), {passive: true});
    if (watchSize) watchSize.observe(wrap); else edges(wrap);
  });

  // Charts and the heat map: static/charts.js.
})();
