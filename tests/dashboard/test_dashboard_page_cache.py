"""A page's frame rendered once per reader and view (dashboard.page_cache), and a thread's SQLite
connections kept between its requests (dashboard.store): faster, and still each reader's own page
with their own session's token, reading the latest commit and the file that is there now."""

from __future__ import annotations

import os
import re
import sqlite3
from pathlib import Path

from flask import Flask, g, request_finished, template_rendered

from tests.dashboard.conftest import PASSWORD, login, publish


def _renders(app: Flask, name: str) -> list[str]:
    seen: list[str] = []

    def note(sender, template, context, **extra) -> None:
        if template.name == name:
            seen.append(name)

    template_rendered.connect(note, app, weak=False)
    return seen


def _without_moments(html: str) -> str:
    return re.sub(r'data-as-of="[^"]*"', "", re.sub(r'(csrf[-_]token"[^>]*(?:value|content)=")[^"]*', r"\1", html))


def _token(html: str) -> str:
    found = re.search(r'name="csrf-token" content="([^"]+)"', html)
    assert found, "no CSRF token on the page"
    return found.group(1)


def test_a_page_is_rendered_once_and_stays_each_readers_own(app: Flask) -> None:
    renders = _renders(app, "fleet.html")
    first, second, olga = app.test_client(), app.test_client(), app.test_client()
    login(first, "root")
    login(second, "root")
    login(olga, "olga")

    page = first.get("/fleet").get_data(as_text=True)
    again = first.get("/fleet").get_data(as_text=True)
    assert len(renders) == 1, "the frame was rendered again for the same reader and view"
    # Filled in per request: the live cue's moment (current at each request while nothing changed).
    assert 'data-as-of="' in again and "\x00" not in again
    assert _without_moments(page) == _without_moments(again)

    # The same reader in another session: the same frame, with that session's own token, which
    # its forms then pass with (and the first session's is nowhere in it).
    other = second.get("/fleet").get_data(as_text=True)
    assert len(renders) == 1
    assert _token(other) != _token(page) and _token(page) not in other
    assert "\x00" not in other, "a slot was left unfilled"
    changed = second.post("/settings/language", data={"language": "ru", "next": "/fleet", "csrf_token": _token(other)})
    assert changed.status_code == 302, changed.get_data(as_text=True)[:300]

    # Another reader: their own frame (name, role), never the first one's.
    hers = olga.get("/fleet").get_data(as_text=True)
    assert len(renders) == 2
    assert "olga" in hers and ">root<" not in hers
    # A language chosen is another frame.
    russian = second.get("/fleet").get_data(as_text=True)
    assert len(renders) == 3 and 'lang="ru"' in russian


def test_a_flashed_message_is_shown_once_not_kept_in_the_page(app: Flask) -> None:
    client = app.test_client()
    login(client, "root")
    page = client.get("/fleet").get_data(as_text=True)
    refused = client.post("/settings/language", data={"language": "xx", "next": "/fleet", "csrf_token": _token(page)})
    assert refused.status_code == 302
    shown = client.get("/fleet").get_data(as_text=True)
    assert "language: choose one of" in shown
    assert "language: choose one of" not in client.get("/fleet").get_data(as_text=True)


def test_a_kept_connection_reads_the_latest_commit_and_a_replaced_file(
    app: Flask, hub_path: Path, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv("OTKLIK_DASH_CACHE", "0")  # the connection's reads, not the figure cache's
    used: list[object] = []

    def note(sender, response, **extra) -> None:
        if "hub_db" in g:
            used.append(g.hub_db.conn)

    request_finished.connect(note, app, weak=False)
    client = app.test_client()
    login(client, "root", PASSWORD)
    publish(hub_path, "b1", "k1", 4, 1)
    assert [r["branch"] for r in client.get("/api/v1/overview").get_json()["branches"]] == ["b1"]
    publish(hub_path, "b2", "k1", 4, 1)
    assert [r["branch"] for r in client.get("/api/v1/overview").get_json()["branches"]] == ["b1", "b2"]
    assert used[-1] is used[-2], "the thread's connection was not kept for its next request"

    # A database restored at the same path (a backup put back): the kept connection would read
    # the file it opened, now deleted; the next request reads the one there.
    backup = tmp_path / "backup.db"
    with sqlite3.connect(hub_path) as source, sqlite3.connect(backup) as copy:
        source.backup(copy)
    source.close()
    copy.close()
    publish(hub_path, "b3", "k1", 4, 1)
    assert len(client.get("/api/v1/overview").get_json()["branches"]) == 3
    os.replace(backup, hub_path)
    for suffix in ("-wal", "-shm"):
        Path(f"{hub_path}{suffix}").unlink(missing_ok=True)
    assert [r["branch"] for r in client.get("/api/v1/overview").get_json()["branches"]] == ["b1", "b2"]
    assert used[-1] is not used[-2]
