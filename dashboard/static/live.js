// Otklik dashboard: pages that keep themselves current (overview, branch, fleet, alerts).
//
// The server's live stream (/api/v1/stream, server-sent events) says which topic changed for
// this user: "overview", "alerts" or "fleet", only ever about their own branches. Each live
// part of the page ([data-live-src], listening to the topics in data-live-on) then fetches its
// HTML again from the server, rendered and formatted exactly as on a fresh load, and folds it
// into the page node by node: what did not change keeps its node (charts, typed notes, the
// scroll position), what changed is marked for a moment (.live-changed). The cue
// (#live-status) says when the figures were last confirmed, or that the stream was lost.
(function () {
  "use strict";
  const status = document.getElementById("live-status");
  const parts = [...document.querySelectorAll("[data-live-src]")];
  if (!status || !parts.length) return;
  const text = status.querySelector(".live-text");
  const clock = new Intl.DateTimeFormat(document.documentElement.lang || "en",
    {hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23"});
  const MIN_GAP_MS = 300;      // one fetch per part at most this often, however fast presses come
  const POLL_MS = 1000;        // without a stream (server at its limit), each part is fetched this often
  const LOST_AFTER_MS = 3000;  // a reconnect quicker than this (a stream's planned end) says nothing
  const HIGHLIGHT_MS = 2500;
  // When the figures shown were last known current: the server's word (cached figures may be up to a
  // second behind, dashboard/cache.py), else the moment they arrived.
  const asOf = (value) => (value && !Number.isNaN(Date.parse(value)) ? new Date(value) : new Date());
  let confirmed = asOf(status.dataset.asOf);

  function say(state) {
    status.dataset.state = state;
    const template = state === "lost" ? status.dataset.lost : state === "ended" ? status.dataset.ended : status.dataset.updated;
    text.textContent = template.replace("{time}", clock.format(confirmed));
  }

  // --- folding new HTML into the page --------------------------------------------------------
  const KEYS = ["data-key", "data-branch", "data-kiosk", "data-alert", "id"];
  // Set by scripts on the live page (stacked-table labels, scroll shadows, highlights, Chart.js sizes; the
  // CSP keeps inline styles out of the server's HTML): not the server's to remove.
  const CLIENT_ATTRS = new Set(["data-label", "style"]);
  const CLIENT_CLASSES = ["more-end", "more-start", "live-changed"];

  const keyOf = (node) => {
    if (node.nodeType !== Node.ELEMENT_NODE) return null;
    for (const name of KEYS) if (node.hasAttribute(name)) return name + "=" + node.getAttribute(name);
    return null;
  };
  const alike = (a, b) => a.nodeType === b.nodeType && (a.nodeType !== Node.ELEMENT_NODE ||
    (a.tagName === b.tagName && keyOf(a) === keyOf(b)));

  // Only a new class is news to the eye (a card turning from watch to bad, a kiosk's row going offline);
  // other attributes (links, titles) are brought up to date quietly.
  function syncAttributes(have, want, changed) {
    for (const {name, value} of [...want.attributes]) {
      if (name !== "class" && have.getAttribute(name) !== value) have.setAttribute(name, value);
    }
    for (const {name} of [...have.attributes]) {
      if (name !== "class" && !want.hasAttribute(name) && !CLIENT_ATTRS.has(name)) have.removeAttribute(name);
    }
    const kept = CLIENT_CLASSES.filter((c) => have.classList.contains(c));
    const wanted = [...want.classList];
    if ([...have.classList].filter((c) => !CLIENT_CLASSES.includes(c)).join(" ") !== wanted.join(" ")) {
      have.className = [...wanted, ...kept].join(" ");
      changed.push(have);
    }
  }

  function morphNode(have, want, changed) {
    if (have.nodeType !== Node.ELEMENT_NODE) {
      if (have.nodeValue !== want.nodeValue) {
        have.nodeValue = want.nodeValue;
        if (have.nodeType === Node.TEXT_NODE && have.parentElement) changed.push(have.parentElement);
      }
      return;
    }
    syncAttributes(have, want, changed);
    // Charts and the heat map are drawn by app.js inside these; the server's copy is always empty.
    if (have.hasAttribute("data-live-keep")) return;
    morphChildren(have, want, changed);
  }

  function morphChildren(live, next, changed) {
    const old = [...live.childNodes];
    const byKey = new Map();
    for (const node of old) { const key = keyOf(node); if (key) byKey.set(key, node); }
    const used = new Set();
    const result = [];
    let cursor = 0;
    for (const want of [...next.childNodes]) {
      let have = null;
      const key = keyOf(want);
      if (key) {
        have = byKey.get(key) || null;
      } else {
        while (cursor < old.length && (keyOf(old[cursor]) || used.has(old[cursor]))) cursor++;
        if (cursor < old.length && alike(old[cursor], want)) have = old[cursor++];
      }
      if (have && !used.has(have) && alike(have, want)) {
        used.add(have);
        morphNode(have, want, changed);
        result.push(have);
      } else {
        result.push(want);
        if (want.nodeType === Node.ELEMENT_NODE) changed.push(want);
        else if (want.nodeType === Node.TEXT_NODE && want.nodeValue.trim()) changed.push(live);
      }
    }
    for (const node of old) if (!used.has(node)) node.remove();
    result.forEach((node, i) => { if (live.childNodes[i] !== node) live.insertBefore(node, live.childNodes[i] || null); });
  }

  const CELLS = "td, th, dd, dt, .figure, .badge, li, tr, .card, h1, h2, p";

  function highlight(changed, root) {
    const marked = new Set();
    for (const node of changed) {
      const el = node === root ? null : node.closest(CELLS);
      if (!el || !root.contains(el) || marked.has(el)) continue;
      marked.add(el);
    }
    for (const el of marked) {
      // A cell inside a row that is new itself: the row is marked, not each of its cells.
      if ([...marked].some((other) => other !== el && other.contains(el))) continue;
      el.classList.remove("live-changed");
      void el.offsetWidth;  // restart the animation when the same cell changes again
      el.classList.add("live-changed");
      setTimeout(() => el.classList.remove("live-changed"), HIGHLIGHT_MS);
    }
    return marked.size;
  }

  function fold(part, html) {
    const template = document.createElement("template");
    template.innerHTML = html;
    const changed = [];
    morphChildren(part, template.content, changed);
    const count = highlight(changed, part);
    part.dataset.updated = String(Date.now());
    part.dispatchEvent(new CustomEvent("otklik:updated", {bubbles: true, detail: {changed: count}}));
  }

  // --- fetching each part, at most every MIN_GAP_MS ------------------------------------------
  function refresh(part) {
    const job = part._live || (part._live = {busy: false, again: false, last: 0});
    if (job.busy) { job.again = true; return; }
    const wait = Math.max(0, job.last + MIN_GAP_MS - Date.now());
    job.busy = true;
    setTimeout(() => {
      job.last = Date.now();
      fetch(part.dataset.liveSrc, {credentials: "same-origin", redirect: "manual", headers: {Accept: "text/html"}})
        .then((r) => {
          if (r.type === "opaqueredirect" || r.status === 401) { ended(); throw new Error("logged out"); }
          if (!r.ok) throw new Error(part.dataset.liveSrc + ": " + r.status);
          if (r.headers.get("X-Figures-Stale")) job.again = true;  // being recomputed: ask again after MIN_GAP_MS
          return r.text().then((html) => [html, r.headers.get("X-Figures-As-Of")]);
        })
        .then(([html, figuresAsOf]) => {
          fold(part, html);
          confirmed = asOf(figuresAsOf);
          if (mode !== "ended") say(mode === "poll" ? "poll" : "live");
        })
        .catch(() => { if (mode === "poll" && status.dataset.state !== "ended") say("lost"); })
        .finally(() => {
          job.busy = false;
          if (job.again) { job.again = false; refresh(part); }
        });
    }, wait);
  }

  const refreshAll = (topic) => parts.forEach((part) => {
    if (!topic || part.dataset.liveOn.split(" ").includes(topic)) refresh(part);
  });

  // --- the stream, or polling when the server has no stream left -----------------------------
  let mode = "stream";
  let source = null;
  let lostTimer = null;

  function setMode(value) {
    mode = value;
    parts.forEach((part) => { part.dataset.mode = value; });
  }

  function ended() {
    if (source) source.close();
    setMode("ended");
    say("ended");
  }

  function poll() {
    setMode("poll");
    say("poll");
    const tick = () => { if (mode !== "poll") return; refreshAll(null); setTimeout(tick, POLL_MS); };
    tick();
  }

  function connect() {
    setMode("stream");
    source = new EventSource(status.dataset.stream);
    source.addEventListener("open", () => {
      clearTimeout(lostTimer);
      lostTimer = null;
      if (status.dataset.state === "lost") refreshAll(null);  // catch up on what the gap missed
      else say("live");
    });
    for (const topic of ["overview", "alerts", "fleet"]) {
      source.addEventListener(topic, () => {
        refreshAll(topic);
        document.dispatchEvent(new CustomEvent("otklik:live", {detail: {topic: topic}}));
      });
    }
    source.addEventListener("end", ended);
    source.addEventListener("error", () => {
      if (source.readyState === EventSource.CLOSED) {
        // Refused with an HTTP status: 503 (every stream taken) or 401 (logged out). The page's own
        // part tells which: if it still loads, poll it.
        fetch(parts[0].dataset.liveSrc, {credentials: "same-origin", redirect: "manual"})
          .then((r) => { if (r.type === "opaqueredirect" || r.status === 401) ended(); else poll(); })
          .catch(() => { say("lost"); setTimeout(connect, 2000); });
        return;
      }
      // The connection dropped; the browser reconnects by itself (retry: 2000 from the server).
      if (!lostTimer) lostTimer = setTimeout(() => { lostTimer = null; if (mode === "stream") say("lost"); }, LOST_AFTER_MS);
    });
  }

  say("live");
  if (window.EventSource) connect(); else poll();
})();
