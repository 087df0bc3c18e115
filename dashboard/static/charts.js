// Otklik dashboard charts: index and responses over time, the hour x weekday heat map and the
// employees' funnel plot. Drawn with Chart.js (served from /static/vendor, copied from npm by
// `python -m dashboard.build`) from the same JSON API outside clients use. Every word on a chart
// comes from the page (the server's script words, dashboard/charts.py chart_text), every number and
// date from static/format.js, so charts write the digits and calendar the rest of the page does.
(function () {
  "use strict";
  const hasChart = typeof window.Chart !== "undefined";  // the heat map is a table: it needs no library
  const fmt = window.otklik.format;
  const {num, pct} = fmt;
  // Chart.js writes its tick numbers with Intl: the same numbering system as everything else.
  const locale = `${fmt.locale}-u-nu-${fmt.numbering}`;
  const rtl = document.dir === "rtl";
  const text = fmt.t("charts");
  const fill = (template, values) => template.replace(/%\((\w+)\)s/g, (_, k) => values[k]);
  const fetchJSON = (url) => fetch(url, {credentials: "same-origin", headers: {Accept: "application/json"}})
    .then((r) => { if (!r.ok) throw new Error(url + ": " + r.status); return r.json(); });

  // A period's label ("2 Dec", "week of 30 Nov", "December 2026") in the reader's calendar.
  const periodLabel = (row, grain) => fmt.period(row, grain);

  // Buttons 1..4 in a palette that colour-blind readers still tell apart (Okabe-Ito: vermillion,
  // orange, sky blue, bluish green), always named in the legend; the index is the dark line.
  const BUTTON_COLOURS = ["#d55e00", "#e69f00", "#56b4e9", "#009e73"];
  const INDEX_COLOUR = "#1f2430";
  const MUTED = "#5d6473";
  const axisTitle = (words) => ({display: true, text: words, color: MUTED, font: {weight: "600"}});
  const legend = {position: "bottom", rtl: rtl, textDirection: rtl ? "rtl" : "ltr",
    labels: {usePointStyle: true, boxWidth: 10, boxHeight: 10, padding: 12}};
  const tooltip = {rtl: rtl, textDirection: rtl ? "rtl" : "ltr"};
  // Chart.js writes a zero tick as a bare "0" whatever the locale: every number axis formats its own.
  const numberTick = (value) => num(value);
  if (hasChart) {
    Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
    Chart.defaults.color = MUTED;
  }

  // The index's value written next to its point while there are few enough points to read them:
  // with one period the index is a lone point and a bare dot says nothing.
  const pointValues = {
    id: "otklikPointValues",
    afterDatasetsDraw(chart) {
      const meta = chart.getDatasetMeta(0), ctx = chart.ctx;
      if (!meta || meta.hidden || !meta.data.length) return;
      const room = chart.chartArea.width / meta.data.length;  // a label needs about 36 px to itself
      if (room < 36) return;
      ctx.save();
      ctx.font = `600 12px ${getComputedStyle(document.body).fontFamily}`;
      ctx.textAlign = "center";
      ctx.textBaseline = "bottom";
      meta.data.forEach((point, i) => {
        const value = chart.data.datasets[0].data[i];
        if (value === null || value === undefined) return;
        const label = num(value, 1), x = point.x, y = point.y - 8;
        ctx.lineWidth = 3; ctx.strokeStyle = "#fff"; ctx.strokeText(label, x, y);
        ctx.fillStyle = INDEX_COLOUR; ctx.fillText(label, x, y);
      });
      ctx.restore();
    },
  };

  const charts = {};
  function draw(canvas, config) {
    if (!hasChart) return;
    if (charts[canvas.id]) charts[canvas.id].destroy();
    charts[canvas.id] = new Chart(canvas, config);
    canvas.dataset.drawn = String(config.data.datasets.length);
  }

  // Index over time (a line on its own axis, 0..100) over the responses per period (stacked bars
  // by button). The two axes share no gridlines and each is titled, so a bar of 96 responses
  // cannot read as an index of 96.
  function indexChart(canvas, rows, grain) {
    const buttons = text.buttons || ["1", "2", "3", "4"];
    draw(canvas, {
      data: {
        labels: rows.map((r) => periodLabel(r, grain)),
        datasets: [
          {type: "line", label: text.index, data: rows.map((r) => r.index), yAxisID: "index", order: 0,
           borderColor: INDEX_COLOUR, backgroundColor: "#fff", borderWidth: 3, tension: 0.2,
           pointRadius: rows.length > 40 ? 2 : 5, pointBorderWidth: 2, pointHoverRadius: 7, pointStyle: "circle"},
          ...buttons.map((name, i) => ({
            type: "bar", label: name, data: rows.map((r) => r.counts[String(i + 1)]), yAxisID: "n", stack: "n",
            order: 1, backgroundColor: BUTTON_COLOURS[i] + "cc", borderColor: BUTTON_COLOURS[i], borderWidth: 0,
            maxBarThickness: 56, pointStyle: "rect"})),
        ],
      },
      options: {
        locale: locale, maintainAspectRatio: false, animation: false,
        interaction: {mode: "index", intersect: false},
        layout: {padding: {top: 18}},
        plugins: {legend: legend, tooltip: tooltip},
        scales: {
          x: {stacked: true, reverse: rtl, grid: {display: false}, title: axisTitle(text.grain[grain]),
              ticks: {maxRotation: 0, autoSkipPadding: 10}},
          n: {stacked: true, beginAtZero: true, position: rtl ? "right" : "left",
              title: axisTitle(text.responses), ticks: {precision: 0, callback: numberTick}},
          index: {min: 0, max: 100, position: rtl ? "left" : "right", grid: {drawOnChartArea: false},
                  title: {...axisTitle(text.indexAxis), color: INDEX_COLOUR},
                  ticks: {color: INDEX_COLOUR, stepSize: 25, callback: numberTick}, border: {color: INDEX_COLOUR, width: 2}},
        },
      },
      plugins: [pointValues],
    });
  }

  const seriesCanvas = document.getElementById("series-chart");
  if (seriesCanvas) {
    const load = (by) => fetchJSON(seriesCanvas.dataset.src + "?by=" + by + "&week_start=" + fmt.weekStart).then((d) => indexChart(seriesCanvas, d.rows, by));
    load("day");
    document.querySelectorAll("#grain input[name=by]").forEach((el) => el.addEventListener("change", () => load(el.value)));
    // live.js brought new figures onto the page: the chart follows them.
    document.addEventListener("otklik:updated", (event) => {
      if (event.detail.changed) load((document.querySelector("#grain input[name=by]:checked") || {}).value || "day");
    });
  }
  const employeeCanvas = document.getElementById("employee-chart");
  if (employeeCanvas) fetchJSON(employeeCanvas.dataset.src).then((d) => indexChart(employeeCanvas, d.series, "week"));

  // Funnel plot: each employee's positive share against their number of responses, inside the
  // 95 % and 99.8 % limits around everyone's mean (computed on the server, hub/funnel.py). Who is
  // outside the outer limits gets a shape of their own as well as a colour.
  const funnelCanvas = document.getElementById("funnel-chart");
  const funnelFigure = funnelCanvas && funnelCanvas.closest("figure[data-funnel]");
  let funnelDrawnFrom = null;
  const drawFunnel = () => {
    if (funnelFigure.dataset.funnel === funnelDrawnFrom) return;  // a live update that changed other figures
    funnelDrawnFrom = funnelFigure.dataset.funnel;
    const data = JSON.parse(funnelDrawnFrom);
    const band = (key) => {
      const limits = data.bands[key] || [];
      const upper = data.n.map((n, i) => ({x: n, y: 100 * limits[i][1]}));
      const lower = data.n.map((n, i) => ({x: n, y: 100 * limits[i][0]}));
      return [...upper, {x: null, y: null}, ...lower];  // one dataset, broken between its two edges
    };
    const line = (label, points, colour, dash, width) => ({type: "line", label: label, data: points, borderColor: colour,
      borderDash: dash, borderWidth: width, pointRadius: 0, pointHitRadius: 0, spanGaps: false, fill: false, tension: 0,
      pointStyle: "line"});
    const shapes = {above: "triangle", below: "rectRot", within: "circle"};
    const colours = {above: "#007a70", below: "#991b1b", within: "#23395d"};
    const group = (where) => data.points.filter((p) => p.position === where);
    const points = (where) => ({type: "scatter", label: text.funnel[where], data: group(where).map((p) => ({x: p.n, y: 100 * p.share, p: p})),
      pointStyle: shapes[where], pointRadius: where === "within" ? 4 : 6, pointHoverRadius: 8,
      backgroundColor: colours[where] + (where === "within" ? "99" : "ff"), borderColor: colours[where]});
    const maxN = Math.max(...data.n, 1);
    draw(funnelCanvas, {
      data: {datasets: [
        points("above"), points("below"), points("within"),
        line(text.funnel.mean, [{x: 0, y: 100 * data.mean}, {x: maxN, y: 100 * data.mean}], INDEX_COLOUR, [], 2),
        line(text.funnel.limit95, band("0.95"), "#5d6473", [6, 4], 1.5),
        line(text.funnel.limit998, band("0.998"), "#5d6473", [], 1.5),
      ].filter((d) => d.data.length)},
      options: {
        locale: locale, maintainAspectRatio: false, animation: false,
        plugins: {legend: legend, tooltip: {...tooltip, filter: (item) => item.raw && item.raw.p, callbacks: {
          label: (item) => { const p = item.raw.p; return `${p.name || p.employee}: ${pct(p.share)} (${fill(text.n, {n: num(p.n)})})`; }}}},
        scales: {
          x: {type: "linear", min: 0, max: Math.ceil(maxN * 1.05), reverse: rtl, title: axisTitle(text.funnel.x),
              ticks: {precision: 0, callback: numberTick}},
          y: {min: 0, max: 100, position: rtl ? "right" : "left", title: axisTitle(text.funnel.y),
              ticks: {stepSize: 25, callback: numberTick}},
        },
      },
    });
  };
  if (funnelFigure) {
    drawFunnel();
    document.addEventListener("otklik:updated", drawFunnel);
  }

  // Heat map: a table (readable without a chart library) coloured by index, each cell's number
  // the responses behind it, with a legend saying so. Night hours nobody pressed in are folded
  // away so the map opens on the hours the branch is open; a button shows all 24.
  const STOPS = [[0, [213, 94, 0]], [50, [247, 244, 236]], [100, [30, 129, 196]]];  // orange, paper, blue
  const mix = (index, alpha) => {
    const i = STOPS.findIndex((s) => index <= s[0]), hi = STOPS[Math.max(1, i)], lo = STOPS[Math.max(1, i) - 1];
    const t = Math.min(1, Math.max(0, (index - lo[0]) / (hi[0] - lo[0])));
    const rgb = lo[1].map((c, k) => Math.round(c + (hi[1][k] - c) * t));
    return `rgb(${rgb.join(" ")} / ${alpha})`;
  };
  const heat = document.getElementById("heatmap");
  if (heat) {
    const draw = () => fetchJSON(heat.dataset.src).then((d) => {
      const busy = d.rows.filter((c) => c.responses).map((c) => c.hour);
      const first = busy.length ? Math.min(...busy) : 0, last = busy.length ? Math.max(...busy) : 23;
      const table = document.createElement("table");
      table.className = "heat";
      const caption = table.createCaption();
      caption.textContent = text.heat.caption;
      const head = table.insertRow();
      head.insertCell().textContent = "";
      for (let h = 0; h < 24; h++) {
        const td = head.insertCell();
        td.textContent = fmt.hour(h);
        if (h < first || h > last) td.classList.add("night");
      }
      // Rows in the locale's week order (Saturday first in Persian); the API's are Monday first.
      for (const {dow, name} of fmt.weekdays) {
        const tr = table.insertRow();
        tr.insertCell().textContent = name;
        for (let h = 0; h < 24; h++) {
          const cell = d.rows[dow * 24 + h], td = tr.insertCell();
          if (h < first || h > last) td.classList.add("night");
          td.textContent = cell.responses ? num(cell.responses) : "";
          if (cell.index !== null && cell.responses) {
            td.style.backgroundColor = mix(cell.index, 1);
            if (cell.index > 85 || cell.index < 12) td.classList.add("deep");
            td.title = fill(text.heat.cell, {day: name, hour: fmt.hour(h), index: num(cell.index, 1), n: num(cell.responses)});
          }
        }
      }
      const key = document.createElement("div");
      key.className = "heat-legend";
      const scale = document.createElement("span");
      scale.className = "heat-scale";
      scale.style.backgroundImage = `linear-gradient(to ${rtl ? "left" : "right"}, ${STOPS.map((s) => mix(s[0], 1) + " " + s[0] + "%").join(", ")})`;
      const ends = (v) => { const s = document.createElement("span"); s.textContent = num(v); return s; };
      const colour = document.createElement("span");
      colour.textContent = text.heat.colour;
      const count = document.createElement("span");
      count.className = "heat-count";
      count.textContent = text.heat.number;
      key.append(colour, ends(0), scale, ends(100), count);
      heat.before(key);
      heat.replaceChildren(table);
      if (first > 0 || last < 23) {
        const toggle = document.createElement("button");
        toggle.type = "button";
        toggle.className = "quiet";
        toggle.textContent = fill(text.heat.allHours, {from: fmt.hour(first), to: fmt.hour(last + 1)});
        toggle.setAttribute("aria-pressed", "false");
        toggle.addEventListener("click", () => {
          const all = table.classList.toggle("all-hours");
          toggle.setAttribute("aria-pressed", String(all));
        });
        toggle.dataset.heatHours = "";
        heat.parentElement.querySelectorAll("[data-heat-hours]").forEach((el) => el.remove());  // a live redraw's old one
        heat.after(toggle);
      }
    });
    draw();
    document.addEventListener("otklik:updated", (event) => { if (event.detail.changed) draw(); });
  }

  // Reasons behind unhappy presses: one pair of bars per reason, this period against the one
  // before, reasons named on their own axis (the words the kiosks ask, in the reader's language).
  const wrapWords = (label, width) => String(label).split(" ").reduce((lines, word) => {
    const last = lines[lines.length - 1];
    if (last && (last + " " + word).length <= width) lines[lines.length - 1] = last + " " + word;
    else lines.push(word);
    return lines;
  }, []);
  const reasonsFigure = document.querySelector("figure[data-reasons]");
  if (reasonsFigure && hasChart) {
    const rows = JSON.parse(reasonsFigure.dataset.reasons);
    const words = text.reasons;
    const bar = (label, key, colour) => ({type: "bar", label: label, data: rows.map((r) => r[key]),
      backgroundColor: colour + "cc", borderColor: colour, borderWidth: 0, maxBarThickness: 28, pointStyle: "rect"});
    draw(reasonsFigure.querySelector("canvas"), {
      // A long reason on a phone is written on two or three lines rather than cut off at the axis.
      data: {labels: rows.map((r) => wrapWords(r.label, reasonsFigure.clientWidth < 500 ? 14 : 28)), datasets: [bar(words.now, "n", BUTTON_COLOURS[0]), bar(words.before, "previous", MUTED)]},
      options: {
        indexAxis: "y", locale: locale, maintainAspectRatio: false, animation: false,
        plugins: {legend: legend, tooltip: {...tooltip, callbacks: {label: (item) => `${item.dataset.label}: ${num(item.raw)}`}}},
        scales: {
          x: {beginAtZero: true, reverse: rtl, title: axisTitle(words.x), ticks: {precision: 0, callback: numberTick}},
          y: {position: rtl ? "right" : "left", title: axisTitle(words.y), grid: {display: false}},
        },
      },
    });
  }
})();
