"""Attribution to employees across shift boundaries, and roster corrections after the fact."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest

from hub import branches, ingest, roster, scores
from hub.db import open_db
from otklik import protocol
from tests.analytics_util import feed, local, press

TZ = "Europe/Moscow"


@pytest.fixture
def db(hub_target):
    database = open_db(hub_target)
    branches.update(database, "b1", timezone=TZ)
    roster.add_employee(database, "anna", "b1", "Anna", actor=roster.ADMIN)
    roster.add_employee(database, "boris", "b1", "Boris", actor=roster.ADMIN)
    # A shift may name only a kiosk the hub has heard from: these two say hello first.
    for kiosk in ("k1", "k2"):
        hello = protocol.heartbeat_payload(
            branch="b1", kiosk=kiosk, uptime_s=1.0, version="1", outbox_depth=0, last_seq_sent=0
        )
        ingest.handle_message(database, protocol.topic("b1", kiosk, "heartbeat"), protocol.encode(hello))
    yield database
    database.close()


def credited(db) -> dict:
    return {r["employee"]: r["responses"] for r in scores.report(db, "employee")}


def attribution(db) -> dict:
    rows = db.execute(
        "SELECT e.ts, COALESCE(a.employee, e.employee, ''), "
        "COALESCE(a.source, CASE WHEN e.employee IS NOT NULL THEN 'event' ELSE '' END) FROM events e "
        "LEFT JOIN attribution a ON a.event_id = e.id ORDER BY e.ts"
    )
    return {ts: (emp, src) for ts, emp, src in rows}


def test_shift_boundaries_and_precedence(db):
    roster.add_shift(db, "anna", "b1", "2026-11-16 09:00", "2026-11-16 13:00", kiosk="k1", actor=roster.ADMIN)
    roster.add_shift(db, "boris", "b1", "2026-11-16 13:00", "2026-11-16 17:00", kiosk="k1", actor=roster.ADMIN)
    roster.add_employee(db, "vera", "b1", "Vera", actor=roster.ADMIN)
    roster.add_shift(db, "vera", "b1", "2026-11-16 08:00", "2026-11-16 20:00", actor=roster.ADMIN)  # whole branch
    at = lambda *hms: local(TZ, 2026, 11, 16, *hms)  # noqa: E731
    feed(
        db,
        [
            press(at(8, 59, 59), 4),  # only the branch-wide shift: vera
            press(at(9, 0, 0), 4),  # start is inclusive: anna
            press(at(12, 59, 59), 3),  # anna
            press(at(13, 0, 0), 2),  # end is exclusive: boris
            press(at(16, 59, 59), 1),  # boris
            press(at(17, 0, 0), 4),  # vera again
            press(at(20, 0, 0), 4),  # nobody
            press(at(14, 0, 0), 3, employee="desk-7"),  # the event names its employee: that wins
            press(at(10, 0, 0), 4, kiosk="k2"),  # another kiosk: branch-wide vera
        ],
    )
    assert credited(db) == {"vera": 3, "anna": 2, "boris": 2, None: 1, "desk-7": 1}
    sources = {src for _, src in attribution(db).values()}
    assert sources == {"shift", "event", ""}


def test_roster_correction_moves_presses_and_keeps_totals(db):
    shift = roster.add_shift(db, "anna", "b1", "2026-11-16 09:00", "2026-11-16 13:00", kiosk="k1", actor=roster.ADMIN)
    feed(db, [press(local(TZ, 2026, 11, 16, 9, 30) + timedelta(minutes=20 * i), 1 + i % 4) for i in range(9)])
    # 9 presses 09:30 .. 12:10: all anna's
    assert credited(db) == {"anna": 9}
    # it was Boris, not Anna
    roster.update_shift(db, shift.id, employee="boris", actor=roster.ADMIN)
    assert credited(db) == {"boris": 9}
    # and he only came at 10:00: the 09:30 and 09:50 presses are nobody's
    roster.update_shift(db, shift.id, start="2026-11-16 10:00", actor=roster.ADMIN)
    assert credited(db) == {"boris": 7, None: 2}
    # a late event inside the shift arrives a day later: it is credited and counted
    feed(db, [press(local(TZ, 2026, 11, 16, 11, 11), 4)])
    assert credited(db) == {"boris": 8, None: 2}
    # the shift was entered by mistake
    roster.remove_shift(db, shift.id, actor=roster.ADMIN)
    assert credited(db) == {None: 10}
    assert scores.total(db)["responses"] == 10
    # the kiosk and day totals never moved
    assert [r["responses"] for r in scores.series(db, "day")] == [10]


def test_csv_import_is_all_or_nothing(db):
    good = "employee,branch,kiosk,start,end\nanna,b1,k1,2026-11-16 09:00,2026-11-16 13:00\n"
    assert roster.import_csv(db, io.StringIO(good), actor=roster.ADMIN) == {"shifts": 1}
    bad = good + "boris,b1,k1,2026-11-16 14:00,2026-11-16 13:00\n"
    with pytest.raises(roster.RosterError, match="line 3: end: the shift must end after it starts"):
        roster.import_csv(db, io.StringIO(bad), actor=roster.ADMIN)
    assert len(roster.list_shifts(db)) == 1
    employees = "id,name,branch\ngleb,Gleb,b2\n"
    assert roster.import_csv(db, io.StringIO(employees), actor=roster.ADMIN) == {"employees": 1}
    assert roster.get_employee(db, "gleb")["branch"] == "b2"
    with pytest.raises(roster.RosterError, match="neither employees"):
        roster.import_csv(db, io.StringIO("who,when\nx,y\n"), actor=roster.ADMIN)
