"""otklik.settings: the one opening-hours grammar (human and wire form), the push schema, its errors."""

from __future__ import annotations

import re
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, seed
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from hub import branches, config_push
from hub.db import open_db
from hub.provisioning import ProvisionError, registry
from otklik.settings import (
    DAYS,
    PAD_SETTINGS,
    SETTING_NAMES,
    OpeningHours,
    SettingsError,
    parse_settings,
    wire_hours,
)
from tests.analytics_util import feed, local, press

MON = datetime(2026, 11, 16)  # a Monday


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return MON + timedelta(days=day, hours=hour, minutes=minute)


def test_human_form_days_lists_ranges_and_closed() -> None:
    hours = OpeningHours.parse("mon-fri 08:00-21:00; sat,sun 10:00-18:00")
    assert hours is not None
    assert hours.to_wire()["wed"] == ["08:00-21:00"] and hours.to_wire()["sun"] == ["10:00-18:00"]
    closed = OpeningHours.parse("mon-sat 09:00-20:00; sun closed")
    assert closed is not None and closed.to_wire()["sun"] == [] and not closed.is_open(at(6, 12))
    # days a spec leaves out are closed; an empty spec is always open
    assert OpeningHours.parse("mon 09:00-10:00").to_wire()["tue"] == []  # type: ignore[union-attr]
    assert OpeningHours.parse("  ") is None and wire_hours("") is None
    # a range may wrap over the week's end; several spans a day
    wrap = OpeningHours.parse("sat-mon 10:00-12:00,14:00-16:00")
    assert wrap is not None and [d for d in DAYS if wrap.to_wire()[d]] == ["mon", "sat", "sun"]
    assert wrap.is_open(at(0, 15)) and not wrap.is_open(at(0, 13)) and not wrap.is_open(at(1, 11))


def test_overnight_span_runs_into_the_next_day_and_is_split_on_the_wire() -> None:
    hours = OpeningHours.parse("fri 22:00-02:00; sun 22:00-02:00")
    assert hours is not None
    # the wire form keeps every span within its day, so kiosks older than overnight spans accept it
    wire = hours.to_wire()
    assert wire["fri"] == ["22:00-24:00"] and wire["sat"] == ["00:00-02:00"] and wire["mon"] == ["00:00-02:00"]
    assert hours.is_open(at(4, 23)) and hours.is_open(at(5, 1, 59)) and not hours.is_open(at(5, 2, 1))
    assert hours.is_open(at(0, 1)) and not hours.is_open(at(0, 3))  # Sunday night into Monday
    assert hours.is_open(at(5, 2, 10), grace_min=15) and not hours.is_open(at(5, 2, 20), grace_min=15)
    assert OpeningHours.from_wire(wire) == hours
    around = OpeningHours.parse("mon-sun 00:00-24:00")
    assert around is not None and all(around.is_open(at(d, h)) for d in range(7) for h in range(24))


def test_the_old_config_set_spelling_still_reads_the_same() -> None:
    old = OpeningHours.parse("mon-fri=08:00-20:00;sat=10:00-16:00;sun=")
    assert old == OpeningHours.parse("mon-fri 08:00-20:00; sat 10:00-16:00; sun closed")
    assert OpeningHours.parse("09:00-18:00") == OpeningHours.parse("mon-sun 09:00-18:00")


@pytest.mark.parametrize(
    ("spec", "reason"),
    [
        ("funday 09:00-10:00", "'funday' is not a weekday"),
        ("mon 9-5", "'9-5' is not a time span"),
        ("mon 08:00-24:30", "impossible time"),
        ("mon 08:61-20:00", "impossible time"),
        ("mon", "is not like 'mon-fri 08:00-21:00'"),
        ("mon-fri 08:00-21:00; sat-xyz 10:00-12:00", "'xyz' is not a weekday"),
    ],
)
def test_bad_human_form_names_the_field(spec: str, reason: str) -> None:
    with pytest.raises(SettingsError) as err:
        OpeningHours.parse(spec, field="--hours")
    assert err.value.field == "--hours" and reason in err.value.reason, err.value
    assert str(err.value).startswith("--hours ")


@pytest.mark.parametrize(
    ("wire", "field", "reason"),
    [
        ({"mon": ["22:00-02:00"]}, "opening_hours.mon", "split at 24:00"),
        ({"mon": "08:00-20:00"}, "opening_hours.mon", "must be a list"),
        ({"funday": []}, "opening_hours.funday", "not a weekday"),
        ({"tue": [8]}, "opening_hours.tue", "must be HH:MM-HH:MM"),
        (["mon"], "opening_hours", "must be an object"),
    ],
)
def test_bad_wire_form_names_the_field(wire: object, field: str, reason: str) -> None:
    with pytest.raises(SettingsError) as err:
        parse_settings(1, {"opening_hours": wire})
    assert err.value.field == field and reason in err.value.reason


def test_the_wire_form_of_an_older_hub_is_read() -> None:
    """Older hubs pushed every day, [] for closed; a day left out counts as closed."""
    pushed = parse_settings(7, {"opening_hours": {"mon": ["08:00-20:00"], "sun": []}, "locale": "ru"})
    assert pushed.opening_hours == OpeningHours.parse("mon 08:00-20:00")
    assert pushed.values["locale"] == "ru"  # still checked, applied to nothing (retired)


OLD_KIOSK_SPAN = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$")
spans = st.lists(
    st.tuples(st.integers(0, 1439), st.integers(1, 1440)).filter(lambda s: s[0] < s[1]).map(tuple), max_size=3
)
tables = st.fixed_dictionaries({d: spans for d in range(7)}).map(OpeningHours.from_table)


@seed(15)
@hsettings(max_examples=150, deadline=None)
@given(hours=tables)
def test_round_trip_through_both_forms(hours: OpeningHours) -> None:
    wire = hours.to_wire()
    # what kiosks older than overnight spans accept (their kiosk/remote_config.py rule)
    assert all(OLD_KIOSK_SPAN.match(s) and s[6:] > s[:5] for spans in wire.values() for s in spans), wire
    assert OpeningHours.from_wire(wire) == hours
    assert OpeningHours.parse(hours.to_spec()) == hours
    assert parse_settings(1, {"opening_hours": hours.to_wire()}).to_payload()["opening_hours"] == hours.to_wire()


@seed(15)
@hsettings(max_examples=150, deadline=None)
@given(hours=tables, minute=st.integers(0, 7 * 1440 - 1))
def test_minutes_to_change_never_sleeps_past_a_change(hours: OpeningHours, minute: int) -> None:
    """The kiosk waits this long before it looks again: no change of open/closed may fall inside."""
    moment = MON + timedelta(minutes=minute, seconds=15)
    step = hours.minutes_to_change(moment)
    assert 0 < step <= 7 * 1440
    for part in (0.1, 0.5, 0.9):
        assert hours.is_open(moment + timedelta(minutes=step * part)) == hours.is_open(moment)
    assert hours.is_open(moment + timedelta(minutes=step - 0.2)) == hours.is_open(moment)


def test_the_schema_names_what_is_pushed_and_what_a_pad_applies() -> None:
    assert SETTING_NAMES == ("labels", "cooldown_s", "employee", "opening_hours", "timezone", "followup")
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "firmware"))
    try:
        from otpad.config import PUSHED
    finally:
        sys.path.pop(0)
    assert tuple(PUSHED) == PAD_SETTINGS  # the firmware cannot import otklik: the two lists must agree
    with pytest.raises(SettingsError) as err:
        parse_settings(1, {"timezone": "Mars/Olympus"})
    assert err.value.field == "timezone"


def test_the_hub_refuses_to_push_locale_and_copies_branch_hours_to_its_kiosks(tmp_path: Path) -> None:
    db = registry.open_hub_db(tmp_path / "hub.db")
    with pytest.raises(ProvisionError, match="locale is no longer pushed"):
        config_push.set_settings(db, "b1", "k1", {"locale": "ru"})
    registry.add_device(db, "b1", "k1")
    registry.add_device(db, "b1", "pad1", role=registry.ROLE_PAD)
    config_push.set_settings(db, "b1", "k1", {"cooldown_s": 2})
    branches.update(db, "b1", timezone="Asia/Tehran", hours="sat-wed 08:00-22:00; thu 08:00-01:00; fri closed")
    assert config_push.sync_branch(db, "b1") == [("k1", 2)]  # the pad does not sleep: not given hours
    version, pushed = config_push.get_settings(db, "b1", "k1")
    assert version == 2
    assert pushed["timezone"] == "Asia/Tehran" and pushed["cooldown_s"] == 2
    assert pushed["opening_hours"]["thu"] == ["08:00-24:00"] and pushed["opening_hours"]["fri"] == ["00:00-01:00"]
    assert config_push.sync_branch(db, "b1") == [("k1", 2)]  # unchanged: no new version
    branches.update(db, "b1", hours="")
    assert config_push.sync_branch(db, "b1") == [("k1", 3)]
    assert config_push.get_settings(db, "b1", "k1")[1] == {"cooldown_s": 2}  # always open: nothing to sleep by


def test_misuse_rule_reads_overnight_branch_hours(tmp_path: Path) -> None:
    db = open_db(tmp_path / "hub.db")
    tz = "Europe/Moscow"
    branches.update(db, "b1", timezone=tz, hours="fri 18:00-02:00", hours_grace_min=0)
    # Friday 23:00 and Saturday 01:30 are open; Saturday 02:30 and Friday 17:00 are not.
    feed(db, [press(local(tz, 2026, 11, 20, 23, 0), 4), press(local(tz, 2026, 11, 21, 1, 30), 4),
              press(local(tz, 2026, 11, 21, 2, 30), 4), press(local(tz, 2026, 11, 20, 17, 0), 4)])  # fmt: skip
    flags = [f for (f,) in db.execute("SELECT flags FROM events ORDER BY ts")]
    assert flags == ["hours", "", "", "hours"]


def test_branch_set_hours_gives_every_kiosk_of_the_branch_a_new_config_version(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from hub.analytics_cli import branch_group

    db = registry.open_hub_db(tmp_path / "hub.db")
    registry.add_device(db, "b1", "k1")
    config_push.set_settings(db, "b1", "k1", {"cooldown_s": 5})
    base = ["set", "b1", "--db", str(tmp_path / "hub.db")]
    result = CliRunner().invoke(branch_group, [*base, "--hours", "mon 9-5"])
    assert result.exit_code != 0 and "'9-5' is not a time span" in result.output
    result = CliRunner().invoke(branch_group, [*base, "--hours", "mon-sat 09:00-22:00", "--timezone", "Asia/Tehran"])
    assert result.exit_code == 0, result.output
    assert "b1/k1: config version 2" in result.output
    version, pushed = config_push.get_settings(db, "b1", "k1")
    assert version == 2 and pushed["timezone"] == "Asia/Tehran" and pushed["opening_hours"]["sun"] == []
    assert config_push.targets(db, pending_only=True) == [("b1", "k1")]
