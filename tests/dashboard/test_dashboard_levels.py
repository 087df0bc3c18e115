"""Good / watch / bad on the pages, the current filter and section marked, the open alerts a link."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from dashboard.levels import BAD_BELOW, GOOD_FROM, index_level
from tests.dashboard.conftest import login


@pytest.mark.parametrize(
    ("index", "level"),
    [(None, "none"), (100, "good"), (GOOD_FROM, "good"), (GOOD_FROM - 0.1, "watch"), (BAD_BELOW, "watch"),
     (BAD_BELOW - 0.1, "bad"), (0, "bad")],
)  # fmt: skip
def test_an_index_falls_in_one_band(index: float | None, level: str) -> None:
    assert index_level(index) == level


def test_overview_cards_carry_their_level_and_link_their_alerts(client: FlaskClient, data: Path) -> None:
    login(client, "root")
    page = client.get("/").get_data(as_text=True)
    # b1: 4, 4, 3, 1 = index 66.7; b2: 1, 1 = index 0 with an open alert.
    assert re.search(r'class="card level-watch" data-branch="b1"', page), page
    assert re.search(r'class="card level-bad" data-branch="b2"', page), page
    # The live script recolours a card by the limits on the page, the same ones as the server's.
    assert f'data-good-from="{GOOD_FROM:g}" data-bad-below="{BAD_BELOW:g}"' in page
    # Each branch has one open alert: a link to that branch's alerts, marked as needing attention.
    links = re.findall(r'<a href="/alerts\?branch=(\w+)" data-field="open_alerts"( class="warn")?>(\d+)</a>', page)
    assert links == [("b1", ' class="warn"', "1"), ("b2", ' class="warn"', "1")], links
    # The link's page lists that branch's alerts alone, and says which branch it is filtered to.
    filtered = client.get("/alerts?branch=b1").get_data(as_text=True)
    assert re.findall(r"<td><bdi>(\w+)</bdi></td><td><bdi>[^<]*</bdi></td>", filtered) == ["b1"]
    marked = re.findall(r'<a href="([^"]+)"[^>]*aria-current="page"', filtered)
    assert marked == ["/alerts", "/alerts?state=live&amp;branch=b1", "/alerts?state=live&amp;branch=b1"], marked
    assert "/live/alerts?state=live&amp;branch=b1" in filtered  # the live part keeps the filter


def test_the_current_filter_and_section_are_marked(client: FlaskClient, data: Path) -> None:
    login(client, "root")
    page = client.get("/alerts?state=resolved").get_data(as_text=True)
    current = re.findall(r'<a href="([^"]+)"[^>]*aria-current="page"', page)
    # The header's section, then the filters: the state, and "all branches".
    assert current == ["/alerts", "/alerts?state=resolved", "/alerts?state=resolved"], current
    page = client.get("/branch/b1").get_data(as_text=True)
    assert re.findall(r'<a href="([^"]+)"[^>]*aria-current="page"', page) == ["/"]  # a branch is under Overview
