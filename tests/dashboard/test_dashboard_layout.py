"""Every dashboard page in real headless Chromium, on a phone and a laptop, in every language.

A demo chain (``otklik.demo_seed``, written through the hub's own ingest) is
seeded once for the module; each (language, screen) pair logs in once and
visits every page. A page fails when it is wider than the screen (the page
itself must never scroll sideways: wide tables scroll inside their card), when
something the shopper's manager could tap sits outside the screen, when the
browser logs a console error or an uncaught exception, or when the
Content-Security-Policy refuses something. In Russian and Persian a page also fails on
visible text in Latin script that is not an id or a name from the data (untranslated
English, wherever it came from: a template, a server message, a script, a chart), and in
Persian on Latin digits outside ids and names (one digit style per page). Full-page
screenshots go to test-artifacts/ (git-ignored) as layout-<page>-<lang>-<width>.png.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from werkzeug.serving import make_server

from dashboard import accounts, create_app
from dashboard.i18n import fmt_dt, fmt_num, fmt_pct
from hub import roster
from hub.db import open_db
from otklik import demo_seed
from tests.broker import free_port
from tests.dashboard.conftest import PASSWORD
from tests.dashboard.test_dashboard_browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS

LANGUAGES = ("en", "ru", "fa")
SCREENS = {360: 780, 390: 844, 1366: 768}  # small and common phones held upright, a common laptop
DEMO_DAYS = 14  # enough for every chart, table and alert; seeds in ~10 s

# Records what the Content-Security-Policy refused, before any of the page's own scripts run.
WATCH_CSP = """
window.__csp = [];
document.addEventListener('securitypolicyviolation',
  (e) => window.__csp.push(e.violatedDirective + ' ' + (e.blockedURI || 'inline') + ' ' + (e.sourceFile || '')));
"""

# What is drawn outside the screen (at most five, named): elements matching ``selector`` and,
# with ``text``, text spilling out of a box that itself fits (a long word in a narrow cell).
# Unless ``keep_clipped``, what a scrolling box of its own holds (a wide table in its card) is
# left out: the rest is what a manager could not reach without scrolling the page sideways.
OUTSIDE = """
({selector, keepClipped, text}) => {
  const w = window.innerWidth, out = [];
  const clipped = (el) => {
    for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
      if (['auto', 'scroll', 'hidden', 'clip'].includes(getComputedStyle(p).overflowX)) return true;
    }
    return false;
  };
  const outside = (r) => r.width && r.height && (r.right > w + 1 || r.left < -1);
  const at = (r) => ` x=${Math.round(r.left)}..${Math.round(r.right)}`;
  const name = (el) => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') +
    (typeof el.className === 'string' && el.className.trim() ? '.' + el.className.trim().split(/\\s+/).join('.') : '');
  if (text) {
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node && out.length < 5; node = walker.nextNode()) {
      if (!node.textContent.trim() || (!keepClipped && clipped(node.parentElement))) continue;
      const range = document.createRange();
      range.selectNodeContents(node);
      const r = range.getBoundingClientRect();
      if (outside(r)) out.push(`text "${node.textContent.trim().slice(0, 30)}"` + at(r));
    }
  }
  for (const el of document.querySelectorAll(selector)) {
    if (out.length >= 5) break;
    const r = el.getBoundingClientRect();
    if (!outside(r) || getComputedStyle(el).visibility === 'hidden' || (!keepClipped && clipped(el))) continue;
    out.push(`${name(el)} "${el.textContent.trim().slice(0, 20)}"` + at(r));
  }
  return out;
}
"""


# What a reader sees as text: the body's rendered text, the attributes a browser shows or reads
# aloud, the title, and what the charts drew on their canvases (legend, axis titles and ticks).
VISIBLE_TEXT = """
() => {
  const seen = [document.title, document.body.innerText];
  for (const el of document.querySelectorAll('[title], [placeholder], [aria-label]')) {
    for (const name of ['title', 'placeholder', 'aria-label']) {
      if (el.getAttribute(name)) seen.push(el.getAttribute(name));
    }
  }
  for (const canvas of document.querySelectorAll('canvas')) {
    const chart = window.Chart && Chart.getChart(canvas);
    if (!chart) continue;
    for (const item of (chart.legend && chart.legend.legendItems) || []) seen.push(item.text);
    for (const scale of Object.values(chart.scales)) {
      if (scale.options.title && scale.options.title.display) seen.push(String(scale.options.title.text));
      for (const tick of scale.ticks || []) seen.push(String(tick.label));
    }
  }
  return seen;
}
"""
# Runs of Latin letters and digits (with the joiners ids use: exit-1, c-anna, 0.1.0, central/exit-1).
LATIN_RUN = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._/@-]*[A-Za-z0-9])?")
# Latin words that belong on a Russian or Persian page, each for a reason:
ALLOWED_WORDS = {
    "Otklik",  # the brand
    "English",  # the language picker names each language in itself
    "CSV",  # the file format's name, written so in Russian and Persian too
    "Excel",  # the program the Excel-friendly download is for, named so in every language
    "Windows",  # ... and the system it runs on there
    "UTF-8",  # an encoding's name
    # The column names a roster CSV must have (hub/roster.py), typed as they are in any language.
    *roster.EMPLOYEE_COLUMNS,
    *roster.SHIFT_COLUMNS,
    "active",
    "note",
}


def _allowed_ids(db_path: Path) -> set[str]:
    """Ids and names in the demo data, shown as they are stored (branches, kiosks, employees,
    firmware versions), what its managers typed (notes on alerts, shown as typed) and the
    test's own user names."""
    db = open_db(db_path)
    try:
        found = {u for lang in LANGUAGES for u in (f"admin-{lang}", f"manager-{lang}", f"technician-{lang}")}
        for sql in (
            "SELECT branch FROM kiosks UNION SELECT kiosk FROM kiosks UNION SELECT version FROM kiosks",
            "SELECT id FROM employees UNION SELECT name FROM employees UNION SELECT branch FROM employees",
            "SELECT resolve_note FROM alerts WHERE resolved_by != 'auto' UNION SELECT acknowledge_note FROM alerts",
            # What shoppers typed is shown as typed; a reason no kiosk asks any more is shown by its id.
            "SELECT comment FROM answers UNION SELECT reason FROM answers UNION SELECT hidden_by FROM answers",
            # A branch's time zone, named where its times are shown (Asia/Vladivostok): an id.
            "SELECT timezone FROM branch_settings",
        ):
            found |= {run for (v,) in db.execute(sql) if v for run in LATIN_RUN.findall(str(v))}
    finally:
        db.close()
    return found


def _foreign_text(page: Any, lang: str, allowed: set[str] | frozenset[str]) -> list[str]:
    """Latin-script words (ru, fa) and, in Persian, Latin digits the reader sees that are no id or name."""
    words, digits = [], []
    for text in page.evaluate(VISIBLE_TEXT):
        for run in LATIN_RUN.findall(text):
            parts = run.split("/")
            if run in allowed or run in ALLOWED_WORDS or all(p in allowed for p in parts):
                continue
            if re.search("[A-Za-z]", run):
                words.append(run)
            elif lang == "fa":
                digits.append(run)
    found = []
    if words:
        found.append(f"{len(words)} Latin words: {sorted(set(words))[:12]}")
    if digits:
        found.append(f"{len(digits)} Latin numbers on a Persian page: {sorted(set(digits))[:12]}")
    return found


def _outside(page: Any, selector: str = "body *", keep_clipped: bool = False, text: bool = False) -> list[str]:
    return page.evaluate(OUTSIDE, {"selector": selector, "keepClipped": keep_clipped, "text": text})


@dataclass(frozen=True)
class Visit:
    name: str
    path: str
    status: int = 200
    ready: str | None = None  # a selector the page's own scripts fill in; wait for it
    user: str = "admin"  # "admin", "manager" (central only), "technician" or "" (logged out)
    controls: str | None = None  # buttons that must stay on screen without scrolling
    echoed: tuple[str, ...] = ()  # what the visit typed into the address, which the page may repeat as typed


PAGES = (
    Visit("login", "/login", user=""),
    Visit("overview", "/", ready="#overview[data-updated]"),
    Visit("branch", "/branch/central", ready="#heatmap table"),
    Visit("branch-rtl-names", "/branch/tehran", ready="#heatmap table"),
    Visit("employees", "/employees"),
    Visit("employee", "/employees/central/c-anna"),
    Visit("roster", "/roster"),
    Visit("fleet", "/fleet"),
    Visit("alerts", "/alerts", controls="#alerts button"),
    Visit("reasons", "/reasons", ready="#reasons-chart"),
    Visit("reasons-by-hour", "/reasons?by=hour&branch=riverside", ready="#reasons-chart"),
    Visit("reasons-by-employee", "/reasons?by=employee", ready="#reasons-chart", user="manager"),
    Visit("comments", "/comments", controls="#comments button"),
    Visit("comments-tehran", "/comments?branch=tehran&reason=queue"),
    Visit("comments-hidden", "/comments?hidden=1"),
    Visit("error-400-comments", "/comments?score=7", status=400, echoed=("7",)),
    Visit("alerts-all", "/alerts?state=all"),
    Visit("alerts-branch", "/alerts?branch=central", controls="#alert-branches a"),
    # Date filters: in Persian with Solar Hijri a text field with the Jalali date, elsewhere the browser's own.
    Visit("employees-dates", "/employees?from=2026-11-01&to=2026-11-30"),
    Visit("error-400", "/employees?from=2026-13-01", status=400, echoed=("2026-13-01",)),
    # A branch a manager may not see answers as one that does not exist; 403 is for a role without figures.
    Visit("error-404-other-branch", "/branch/tehran", status=404, user="manager"),
    Visit("error-403", "/employees", status=403, user="technician"),
    Visit("error-404", "/no-such-page", status=404),
)


@dataclass
class Findings:
    console: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("demo") / "hub.db"
    db = open_db(path)
    try:
        summary = demo_seed.seed(db, days=DEMO_DAYS, seed=1, now=datetime.now(UTC))
    finally:
        db.close()
    assert summary.alerts_open, "the demo chain must have open alerts for the alerts page to show its controls"
    return path


@pytest.fixture(scope="module")
def allowed_ids(demo_db: Path) -> set[str]:
    return _allowed_ids(demo_db)


@pytest.fixture(scope="module")
def demo_server(demo_db: Path) -> Iterator[str]:
    app: Flask = create_app({"OTKLIK_DB": str(demo_db), "SECRET_KEY": "test", "TESTING": True})
    store = accounts.open_store(app.config["OTKLIK_AUTH_DB"])
    for lang in LANGUAGES:
        accounts.add_user(store, f"admin-{lang}", PASSWORD, "admin", language=lang)
        accounts.add_user(store, f"manager-{lang}", PASSWORD, "manager", ["central"], language=lang)
        accounts.add_user(store, f"technician-{lang}", PASSWORD, "technician", language=lang)
    store.conn.close()
    port = free_port()
    httpd = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}"
    httpd.shutdown()


@pytest.fixture(scope="module")
def chromium(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is not installed: apt-get install -y chromium (the browser tests never skip)")
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def _log_in(context: Any, server: str, username: str) -> None:
    page = context.new_page()
    page.goto(server + "/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    with page.expect_navigation():
        page.click("#login")
    assert "/login" not in page.url, f"{username} could not log in"
    page.close()


def _problems(page: Any, visit: Visit, response: Any, console: list[str]) -> list[str]:
    found: list[str] = []
    if response is None or response.status != visit.status:
        found.append(f"status {response and response.status}, expected {visit.status}")
    # A chart redraws once its data arrive and again when a scroll bar appears; the page must
    # settle within the screen, not merely pass through it.
    fits = "() => document.documentElement.scrollWidth <= window.innerWidth"
    with contextlib.suppress(PlaywrightTimeout):
        page.wait_for_function(fits, timeout=2000)
    scroll = page.evaluate("document.documentElement.scrollWidth")
    inner = page.evaluate("window.innerWidth")
    if scroll > inner:
        found.append(f"page is {scroll} px wide on a {inner} px screen")
        # Nothing unclipped sticks out, yet the page is too wide: say what reaches furthest.
        found += [f"reaches past the screen: {what}" for what in _outside(page, keep_clipped=True)]
    found += [f"off screen: {what}" for what in _outside(page, text=True)]
    header = page.evaluate("document.querySelector('header.top').getBoundingClientRect().width")
    if header < inner - 1:
        found.append(f"the header is {header:.0f} px wide on a {inner} px screen")
    if visit.controls:
        found += [f"control off screen: {what}" for what in _outside(page, visit.controls, keep_clipped=True)]
    # A general cell rule once outranked td.num and left every number at the start of its cell.
    misaligned = page.evaluate(
        "[...document.querySelectorAll('td.num, th.num')].filter((c) => getComputedStyle(c).textAlign !== 'end').length"
    )
    if misaligned:
        found.append(f"{misaligned} number cells not aligned to the end")
    found += [f"CSP refused: {what}" for what in page.evaluate("window.__csp")]
    found += [f"console: {line}" for line in console]
    return found


# Every language on the phone and the laptop, and the narrowest phone the layout supports in
# Russian, whose labels are the longest.
SIZES = [(lang, width) for lang in LANGUAGES for width in (390, 1366)] + [("ru", 360)]


@pytest.mark.parametrize(("lang", "width"), SIZES)
def test_every_page_fits_the_screen_without_errors(
    demo_server: str, chromium: Any, allowed_ids: set[str], lang: str, width: int
) -> None:
    contexts: dict[str, Any] = {}
    # One tab per user, each visit a fresh document in it (a new tab per visit cost a third of a
    # second each, 161 times): the pages keep nothing in the tab's storage. What the console says
    # goes to the current visit's list; anything a page says while it is left comes up with the
    # next visit, never lost.
    tabs: dict[str, Any] = {}
    current: dict[str, Any] = {}
    problems: dict[str, list[str]] = {}

    def on_console(msg: Any) -> None:
        visit: Visit = current["visit"]
        # Chromium reports an error page's own status as a failed load; that status is the point.
        own_status = (
            visit.status != 200 and "status of" in msg.text and msg.location.get("url", "").endswith(visit.path)
        )
        if msg.type == "error" and not own_status:
            current["console"].append(msg.text)

    try:
        for visit in PAGES:
            if visit.user not in contexts:
                context = chromium.new_context(
                    viewport={"width": width, "height": SCREENS[width]}, locale=lang, device_scale_factor=1
                )
                context.add_init_script(WATCH_CSP)
                if visit.user:
                    _log_in(context, demo_server, f"{visit.user}-{lang}")
                contexts[visit.user] = context
                tab = tabs[visit.user] = context.new_page()
                tab.on("console", on_console)
                tab.on("pageerror", lambda exc: current["console"].append(f"uncaught {exc}"))
            page = tabs[visit.user]
            console: list[str] = []
            current.update(visit=visit, console=console)
            response = page.goto(demo_server + visit.path, wait_until="load")
            if visit.ready:
                page.wait_for_selector(visit.ready, state="attached", timeout=10_000)
            if page.evaluate("!!document.querySelector('canvas')"):
                # Drawn from data fetched after the page loaded: wait for the charts themselves.
                page.wait_for_function(
                    "() => window.Chart && [...document.querySelectorAll('canvas')].every((c) => Chart.getChart(c))",
                    timeout=10_000,
                )
            assert page.get_attribute("html", "lang") == lang, f"{visit.name} is not in {lang}"
            assert page.get_attribute("html", "dir") == ("rtl" if lang == "fa" else "ltr")
            page.screenshot(path=str(ARTIFACTS / f"layout-{visit.name}-{lang}-{width}.png"), full_page=True)
            found = _problems(page, visit, response, console)
            if lang != "en":
                found += _foreign_text(page, lang, allowed_ids | set(visit.echoed))
            if found:
                problems[visit.name] = found
    finally:
        for context in contexts.values():
            context.close()
    assert not problems, "\n".join(f"{name}: {'; '.join(found)}" for name, found in problems.items())


def _admin_page(chromium: Any, server: str, lang: str, width: int) -> tuple[Any, Any]:
    context = chromium.new_context(viewport={"width": width, "height": SCREENS[width]}, locale=lang)
    context.add_init_script(WATCH_CSP)
    _log_in(context, server, f"admin-{lang}")
    return context, context.new_page()


def test_charts_follow_the_screen_when_it_turns(demo_server: str, chromium: Any) -> None:
    context, page = _admin_page(chromium, demo_server, "fa", 1366)
    try:
        page.goto(demo_server + "/branch/central")
        page.wait_for_function("() => window.Chart && Chart.getChart(document.getElementById('series-chart'))")
        wide = page.evaluate("document.getElementById('series-chart').getBoundingClientRect().width")
        page.set_viewport_size({"width": 390, "height": 844})
        # The chart redraws to its card's new width; the page never scrolls sideways on the way.
        page.wait_for_function(
            """() => { const c = document.getElementById('series-chart');
                       return c.getBoundingClientRect().width <= c.parentElement.clientWidth + 0.5
                         && document.documentElement.scrollWidth <= window.innerWidth; }""",
            timeout=3000,
        )
        narrow = page.evaluate("document.getElementById('series-chart').getBoundingClientRect().width")
        assert narrow < 390 < wide, (wide, narrow)
        assert page.evaluate("window.__csp") == []
    finally:
        context.close()


def test_live_overview_colours_cards_by_the_server_rule(demo_server: str, chromium: Any) -> None:
    context, page = _admin_page(chromium, demo_server, "en", 390)
    try:
        response = page.goto(demo_server + "/")
        served = {
            branch: level
            for level, branch in re.findall(r'class="card (level-\w+)" data-branch="([^"]+)"', response.text())
        }
        assert len(set(served.values())) > 1, served  # the demo chain has branches in different bands
        page.wait_for_selector("#overview[data-updated]", state="attached")  # the live figures arrived
        live = page.evaluate(
            "Object.fromEntries([...document.querySelectorAll('#overview [data-branch]')]"
            ".map((c) => [c.dataset.branch, [...c.classList].find((k) => k.startsWith('level-'))]))"
        )
        assert live == served
    finally:
        context.close()


# What each chart says, read from Chart.js itself: legend entries, axis titles, the index's own axis.
CHART_FACTS = """
(id) => {
  const chart = Chart.getChart(document.getElementById(id));
  if (!chart) return null;
  const scales = Object.fromEntries(Object.entries(chart.options.scales).map(([k, s]) => [k, {
    title: s.title && s.title.display ? s.title.text : "", grid: s.grid ? s.grid.drawOnChartArea !== false : true,
    reverse: !!s.reverse}]));
  return {legend: chart.legend.legendItems.map((i) => i.text), scales,
          datasets: chart.data.datasets.map((d) => ({label: d.label, order: d.order || 0, radius: d.pointRadius || 0,
                                                     points: d.data.length}))};
}
"""


@pytest.mark.parametrize(("lang", "width"), [("en", 1366), ("fa", 390)])
def test_charts_say_what_they_show(demo_server: str, chromium: Any, lang: str, width: int) -> None:
    context, page = _admin_page(chromium, demo_server, lang, width)
    try:
        page.goto(demo_server + "/branch/central")
        page.wait_for_function("() => window.Chart && Chart.getChart(document.getElementById('series-chart'))")
        page.wait_for_selector(".heat-legend .heat-scale", state="attached")
        text = page.evaluate("window.otklik.format.t('charts')")
        series = page.evaluate(CHART_FACTS, "series-chart")
        # The buttons by name, not "1, 2, 3, 4"; both axes titled; the index's axis draws no gridlines.
        assert series["legend"] == [text["index"], *text["buttons"]]
        assert series["scales"]["n"]["title"] == text["responses"] and series["scales"]["index"]["title"]
        assert series["scales"]["x"]["title"] and not series["scales"]["index"]["grid"]
        assert series["scales"]["x"]["reverse"] == (lang == "fa")
        funnel = page.evaluate(CHART_FACTS, "funnel-chart")
        f = text["funnel"]
        assert {f["mean"], f["limit95"], f["limit998"]} <= set(funnel["legend"])
        assert funnel["scales"]["x"]["title"] == f["x"] and funnel["scales"]["y"]["title"] == f["y"]
        assert sum(d["points"] for d in funnel["datasets"] if d["label"] in (f["above"], f["below"], f["within"])) >= 5
        legend = page.inner_text(".heat-legend")
        assert text["heat"]["colour"] in legend and text["heat"]["number"] in legend
        # The heat map opens on the hours someone pressed in: no night columns on show.
        shown = page.evaluate("[...document.querySelectorAll('table.heat tr:first-child td')]"
                              ".filter((td) => td.offsetWidth).length")  # fmt: skip
        assert 8 <= shown - 1 < 24, shown
        # One period: the index is a marked point drawn over the bars, with its value written beside it.
        page.check("#grain input[value=month]")
        shows_months = "() => Chart.getChart(document.getElementById('series-chart')).options.scales.x.title.text === "
        page.wait_for_function(shows_months + json.dumps(text["grain"]["month"]))
        month = page.evaluate(CHART_FACTS, "series-chart")
        index = month["datasets"][0]
        assert index["label"] == text["index"] and index["radius"] >= 4
        assert all(index["order"] < d["order"] for d in month["datasets"][1:])
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        page.goto(demo_server + "/employees")
        page.wait_for_function("() => window.Chart && Chart.getChart(document.getElementById('funnel-chart'))")
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        assert page.evaluate("window.__csp") == []
    finally:
        context.close()


NUMBERS = [0, 7, 42.25, 999.95, 1234, 12345.678, 1_000_000, -3.5, 0.05, 2.675]
STAMPS = ["2026-11-22T09:05:00Z", "2026-03-20T23:59:00Z", "2026-03-21T00:30:00Z"]  # Nowruz falls between


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_browser_writes_numbers_and_times_as_the_server_does(
    demo_server: str, demo_db: Path, chromium: Any, lang: str
) -> None:
    # One rule, two homes (dashboard/i18n.py, static/format.js): a live update must not change
    # how a figure reads ("78.0", then "۷۸٫۰" a second later).
    # In the reader's own zone on a page of no one branch (the log-in page), on both sides.
    context = chromium.new_context(locale=lang, timezone_id="Asia/Tehran")
    try:
        page = context.new_page()
        page.goto(demo_server + "/login")  # the browser's language picks the page's (Accept-Language)
        assert page.get_attribute("html", "lang") == lang
        browser = page.evaluate(
            """([numbers, stamps]) => { const f = window.otklik.format;
                 return [numbers.map((v) => [f.num(v), f.num(v, 1), f.pct(v)]), stamps.map((t) => f.dateTime(t))]; }""",
            [NUMBERS, STAMPS],
        )
    finally:
        context.close()
    app = create_app({"OTKLIK_DB": str(demo_db), "SECRET_KEY": "test", "TESTING": True})
    with app.test_request_context(headers={"Accept-Language": lang}):
        server = [
            [[fmt_num(v), fmt_num(v, 1), fmt_pct(v)] for v in NUMBERS],
            [fmt_dt(t, "Asia/Tehran") for t in STAMPS],
        ]
    assert browser == server
    if lang == "fa":
        written = "".join(text for row in browser[0] for text in row) + "".join(browser[1])
        assert not re.search("[0-9]", written), browser
        assert browser[1][2].startswith("۱۴۰۵/۱/۱"), browser  # Solar Hijri: 21 March 2026 is 1 Farvardin 1405
