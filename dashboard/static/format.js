// Otklik dashboard: how numbers, dates, weeks and weekdays read in the page's language.
// The one client-side home of formatting; the server's twin is dashboard/i18n.py, and both
// follow the same rule: every number in a locale uses that locale's own digits (Persian:
// Extended Arabic-Indic ۰-۹ with ٫ and ٬; English and Russian: 0-9), never a mix.
// The server says which locale, calendar and first weekday apply on <html> (data-*), and
// hands over the few words scripts write (data-words: dashboard/i18n.py script_words).
// Loaded before every other script: they call window.otklik.format.
(function () {
  "use strict";
  const root = document.documentElement;
  const locale = root.lang || "en";
  const calendar = root.dataset.calendar || "gregory";
  const weekStart = Number(root.dataset.weekStart || 0);  // 0 = Monday ... 5 = Saturday
  // "arabext" for Persian, "latn" otherwise: dashboard/i18n.py NUMBERING says the same.
  const numbering = root.dataset.numbering || "latn";
  const timeZone = root.dataset.timezone || undefined;  // the zone server-rendered times are in
  const tag = `${locale}-u-nu-${numbering}-ca-${calendar}`;
  const words = (() => {
    try { return JSON.parse(root.dataset.words || "{}"); } catch (e) { return {}; }
  })();

  const cache = new Map();
  // Halves to even, as Babel rounds on the server (42.25 -> 42.2 on both sides).
  const numberFormat = (options) => {
    const key = JSON.stringify(options);
    if (!cache.has(key)) cache.set(key, new Intl.NumberFormat(tag, {roundingMode: "halfEven", ...options}));
    return cache.get(key);
  };
  const dateFormat = (options, timeZone) => {
    const key = "d" + JSON.stringify(options) + (timeZone || "");
    if (!cache.has(key)) cache.set(key, new Intl.DateTimeFormat(tag, timeZone ? {...options, timeZone} : options));
    return cache.get(key);
  };
  const missing = (v) => v === null || v === undefined || Number.isNaN(v);

  // A whole number or one with ``digits`` decimals, grouped: 1,234 / 1 234 / ۱٬۲۳۴.
  const num = (v, digits) => missing(v) ? "—" :
    numberFormat({minimumFractionDigits: digits || 0, maximumFractionDigits: digits || 0}).format(v);
  // A share 0..1 as a whole percentage.
  const pct = (v) => missing(v) ? "—" : numberFormat({style: "percent", maximumFractionDigits: 0}).format(v);
  // A change with its sign (+2.5 / −1.0); zero has none.
  const signed = (v, digits) => missing(v) ? "" :
    numberFormat({minimumFractionDigits: digits || 0, maximumFractionDigits: digits || 0,
                  signDisplay: "exceptZero"}).format(v);
  // Latin digits inside a text that came from elsewhere (an id, a server message) in the locale's digits.
  const zero = numberFormat({useGrouping: false}).format(0).codePointAt(0);
  const digits = (text) => zero === 48 ? String(text) :
    String(text).replace(/[0-9]/g, (d) => String.fromCodePoint(zero + Number(d)));

  // A calendar day "2026-11-30" is that day wherever the reader is: format it at noon UTC.
  const dayOf = (key) => new Date(String(key).slice(0, 10) + "T12:00:00Z");
  const valid = (d) => !Number.isNaN(d.getTime());
  const asDate = (v) => v instanceof Date ? v : new Date(v);
  const date = (v, style) => missing(v) || v === "" ? "—" :
    valid(dayOf(v)) ? dateFormat({dateStyle: style || "medium"}, "UTC").format(dayOf(v)) : digits(v);
  // A key that is no day (an old "2026-W49") is shown as it came, in the locale's digits.
  const shortDay = (v) => valid(dayOf(v)) ? dateFormat({month: "short", day: "numeric"}, "UTC").format(dayOf(v)) : digits(v);
  const month = (key) => dateFormat({month: "long", year: "numeric"}, "UTC").format(dayOf(String(key) + "-15"));
  // Persian: "۱۴۰۵/۹/۱۱، ۱۴:۰۵", composed as dashboard/i18n.py composes it; elsewhere Intl's own, as Babel's.
  const dateTime = (v) => {
    if (missing(v) || v === "") return "—";
    if (locale !== "fa") return dateFormat({dateStyle: "short", timeStyle: "short"}, timeZone).format(asDate(v));
    return dateFormat({dateStyle: "short"}, timeZone).format(asDate(v)) + "، " +
      dateFormat({hour: "2-digit", minute: "2-digit", hourCycle: "h23"}, timeZone).format(asDate(v));
  };
  const time = (v) => dateFormat({hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false}, timeZone).format(asDate(v || Date.now()));
  // A week by its first day (series rows carry it as ``start``): "week of 30 Nov" in the reader's calendar.
  const week = (start) => (words.week_of || "%s").replace("%s", shortDay(start));
  // The label of a series period: a day, a week (by its first day) or a month ("2026-11").
  const period = (row, grain) => grain === "week" ? week(row.start || row.period) :
    grain === "month" ? month(row.period) : shortDay(row.period);

  // Weekdays in reading order for this locale: [{dow: 0..6 (0 = Monday), name: "Mon"}].
  const weekdays = (() => {
    const monday = new Date(Date.UTC(2024, 0, 1, 12));  // 1 January 2024 was a Monday
    const fmt = dateFormat({weekday: "short"}, "UTC");
    return Array.from({length: 7}, (_, i) => {
      const dow = (weekStart + i) % 7;
      return {dow, name: fmt.format(new Date(monday.getTime() + dow * 86400000))};
    });
  })();
  const hour = (h) => num(h);

  // A word the server translated for scripts (see dashboard/i18n.py SCRIPT_WORDS); the key if missing.
  const t = (key) => words[key] || key;

  window.otklik = Object.assign(window.otklik || {}, {
    format: {locale, calendar, weekStart, numbering, num, pct, signed, digits, date, shortDay, month, dateTime,
             time, week, period, weekdays, hour, t},
  });
})();
