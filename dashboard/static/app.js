// Otklik dashboard: page behaviour and live figures, from the same JSON API outside clients use (charts: charts.js).
(function () {
  "use strict";
  // Numbers, dates and words as the server writes them (static/format.js, loaded first).
  const fmt = window.otklik.format;
  const {num, pct} = fmt;
  const get = (obj, path) => path.split(".").reduce((o, k) => (o == null ? o : o[k]), obj);
  const fetchJSON = (url) => fetch(url, {credentials: "same-origin", headers: {Accept: "application/json"}})
    .then((r) => { if (!r.ok) throw new Error(url + ": " + r.status); return r.json(); });

  // Behaviour that would otherwise be inline handlers, which the Content-Security-Policy forbids.
  document.querySelectorAll("[data-submit-on-change]").forEach((el) => el.addEventListener("change", () => el.form.submit()));
  document.querySelectorAll("form[data-confirm]").forEach((form) => form.addEventListener("submit", (event) => {
    if (!window.confirm(form.dataset.confirm)) event.preventDefault();
  }));

  // Stacked tables (phones): each cell is labelled by its column's heading, read from the
  // table's own head so the template keeps one copy of every label.
  document.querySelectorAll("table.stack").forEach((table) => {
    const heads = [...table.querySelectorAll("thead th")].map((th) => th.textContent.trim());
    table.querySelectorAll("tbody tr").forEach((tr) => {
      [...tr.cells].forEach((td, i) => { if (!td.colSpan || td.colSpan === 1) td.dataset.label = heads[i] || ""; });
    });
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

  // Good / watch / bad by the limits the server put on the page (dashboard/levels.py).
  const levelOf = (limits, index) => index === null || index === undefined ? "none" :
    index >= Number(limits.goodFrom) ? "good" : index < Number(limits.badBelow) ? "bad" : "watch";

  // Overview: server-sent events push the figures whenever the hub stores a press.
  // A server with all its live streams taken answers 503 (the browser then closes
  // the EventSource for good); the page polls the same figures each second instead.
  const overview = document.getElementById("overview");
  if (overview) {
    const show = (data) => {
      for (const row of data.branches) {
        row.week = row.last_7_days;
        const card = overview.querySelector(`[data-branch="${CSS.escape(row.branch)}"]`);
        if (!card) continue;
        card.querySelectorAll("[data-field]").forEach((el) => {
          const field = el.dataset.field, value = get(row, field);
          if (el.dataset.format === "pct") el.textContent = pct(value);
          else if (field === "trend") el.textContent = fmt.signed(value, 1);
          else el.textContent = num(value, field.endsWith("index") ? 1 : 0);
          if (field === "trend") {
            el.classList.toggle("trend-up", value > 0);
            el.classList.toggle("trend-down", value < 0);
          }
          if (field === "open_alerts") el.classList.toggle("warn", value > 0);
        });
        card.classList.remove("level-good", "level-watch", "level-bad", "level-none");
        card.classList.add("level-" + levelOf(overview.dataset, get(row, "week.index")));
      }
      overview.dataset.updated = String(Date.now());
    };
    const poll = () => {
      overview.dataset.mode = "poll";
      const tick = () => fetchJSON(overview.dataset.poll).then(show).catch(() => {}).finally(() => setTimeout(tick, 1000));
      tick();
    };
    if (window.EventSource) {
      overview.dataset.mode = "stream";
      const source = new EventSource(overview.dataset.live);
      source.addEventListener("overview", (msg) => show(JSON.parse(msg.data)));
      source.addEventListener("error", () => { if (source.readyState === EventSource.CLOSED) poll(); });
    } else {
      poll();
    }
  }
  // Charts and the heat map: static/charts.js.
})();
