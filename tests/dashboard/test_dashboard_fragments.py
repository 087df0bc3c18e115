"""Page parts rendered once and shared (views.shared_fragment) must never cross users, languages or data."""

from __future__ import annotations

import re
import time
from pathlib import Path

from flask import Flask

from dashboard import cache
from tests.dashboard.conftest import login, publish


def _clients(app: Flask, *users: str) -> list:
    clients = []
    for user in users:
        client = app.test_client()
        assert login(client, user).status_code == 302
        clients.append(client)
    return clients


def test_a_manager_never_gets_what_was_rendered_for_an_admin(app: Flask, data: Path) -> None:
    root, olga = _clients(app, "root", "olga")
    for first, second in ((root, olga), (olga, root)):
        for client in (first, second):
            overview = client.get("/").get_data(as_text=True)
            employees = client.get("/employees?min_responses=0").get_data(as_text=True)
            fleet = client.get("/fleet").get_data(as_text=True)
            sees_b2 = client is root
            assert ('data-branch="b2"' in overview) is sees_b2
            assert ("Boris" in employees) is sees_b2
            assert ('data-kiosk="b2/k9"' in fleet) is sees_b2
            assert 'data-branch="b1"' in overview and "Anna" in employees and 'data-kiosk="b1/k1"' in fleet


def _figure(page: str, field: str, branch: str = "b1") -> str:
    card = page[page.index(f'data-branch="{branch}"') :]
    return re.search(rf'data-field="{re.escape(field)}">([^<]*)<', card).group(1)


def test_pages_show_a_press_stored_after_they_were_rendered(app: Flask, data: Path) -> None:
    (root,) = _clients(app, "root")
    assert _figure(root.get("/").get_data(as_text=True), "today.responses") == "4"
    branch_page = root.get("/branch/b1").get_data(as_text=True)
    employees = root.get("/employees?min_responses=0").get_data(as_text=True)
    publish(data, "b1", "k1", 4, 8, employee="e1")
    # Served while being recomputed for up to a second (dashboard/cache.py); never later than that.
    time.sleep(cache.MAX_STALE_S + 0.01)
    assert _figure(root.get("/").get_data(as_text=True), "today.responses") == "5"
    assert root.get("/branch/b1").get_data(as_text=True) != branch_page
    assert root.get("/employees?min_responses=0").get_data(as_text=True) != employees


def test_each_language_gets_its_own_rendering(app: Flask, data: Path) -> None:
    (root,) = _clients(app, "root")
    pages = {}
    for language in ("en", "ru", "fa", "en"):
        for path in ("/", "/branch/b1", "/employees", "/fleet"):
            html = root.get(path, headers={"Accept-Language": language}).get_data(as_text=True)
            # The live cue's "as of" is the request's own (when its figures were last known current).
            main = re.sub(r' data-as-of="[^"]*"', "", html.split("<main", 1)[1])
            pages.setdefault((path, language), set()).add(main)
    for path in ("/", "/branch/b1", "/employees", "/fleet"):
        assert "Responses" in next(iter(pages[path, "en"])) or "Kiosk" in next(iter(pages[path, "en"]))
        assert len({frozenset(pages[path, lang]) for lang in ("en", "ru", "fa")}) == 3, path
        assert len(pages[path, "en"]) == 1  # rendered the same the second time


def test_the_ranking_rendering_follows_its_filters_and_nothing_else(app: Flask, data: Path) -> None:
    (root,) = _clients(app, "root")
    everyone = root.get("/employees?min_responses=0").get_data(as_text=True)
    assert "Anna" in everyone and "Boris" in everyone
    only_b1 = root.get("/employees?min_responses=0&branch=b1").get_data(as_text=True)
    assert "Anna" in only_b1 and "Boris" not in only_b1
    entries = len(cache._entries)
    for junk in range(5):  # parameters the ranking ignores must not fill the cache
        assert root.get(f"/employees?min_responses=0&utm={junk}").status_code == 200
    assert len(cache._entries) == entries
