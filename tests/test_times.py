"""otklik.times: one stored format written, every stored format read, the branch's local day."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from dashboard import accounts
from otklik import times

STORED = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z\Z")


def test_one_format_is_written_and_it_sorts_as_time():
    moments = [
        datetime(2026, 11, 22, 11, 24, 46, 123456, tzinfo=UTC),
        datetime(2026, 11, 22, 21, 0, tzinfo=ZoneInfo("Asia/Vladivostok")),
    ]
    texts = [times.format_ts(m) for m in moments]
    assert texts == ["2026-11-22T11:24:46.123Z", "2026-11-22T11:00:00.000Z"]
    assert all(STORED.match(t) for t in texts)
    assert sorted(texts) == [times.format_ts(m) for m in sorted(moments)]
    with pytest.raises(ValueError, match="aware"):
        times.format_ts(datetime(2026, 11, 22))


@pytest.mark.parametrize(
    "stored",
    [
        "2026-11-22T11:24:46.123Z",  # what everything writes
        "2026-11-22T11:24:46.123000Z",  # the dashboard's accounts before: microseconds
        "2026-11-22T11:24:46.123+00:00",
        "2026-11-22T14:24:46.123+03:00",
        "2026-11-22T11:24:46.123",  # naive: UTC
    ],
)
def test_every_stored_form_reads_back_as_the_same_moment(stored):
    assert times.read_ts(stored) == datetime(2026, 11, 22, 11, 24, 46, 123000, tzinfo=UTC)
    assert times.read_ts_or_none(stored) == times.read_ts(stored)


def test_unreadable_values_are_none_where_a_column_may_hold_junk():
    assert times.read_ts_or_none(None) is None
    assert times.read_ts_or_none("") is None
    assert times.read_ts_or_none("yesterday") is None
    with pytest.raises(ValueError):
        times.read_ts("yesterday")


def test_strict_parse_names_the_field():
    assert times.parse_ts("ts", "2026-11-22T11:24:46.123456789Z") == datetime(
        2026, 11, 22, 11, 24, 46, 123456, tzinfo=UTC
    )
    with pytest.raises(times.TimestampError, match="window_start '2026-11-22T11:24:46' has no UTC offset"):
        times.parse_ts("window_start", "2026-11-22T11:24:46")
    with pytest.raises(times.TimestampError, match="ts must be an RFC 3339 timestamp string, got int"):
        times.parse_ts("ts", 5)


def test_the_local_day_is_the_branch_clock_not_utc():
    now = datetime(2026, 11, 22, 20, 0, tzinfo=UTC)
    assert times.local_today(ZoneInfo("Asia/Vladivostok"), now) == date(2026, 11, 23)
    assert times.local_today(ZoneInfo("Europe/Moscow"), now) == date(2026, 11, 22)
    assert times.local_today(ZoneInfo("America/Los_Angeles"), now) == date(2026, 11, 22)
    assert times.local_today(ZoneInfo("Asia/Vladivostok"), now.replace(tzinfo=None)) == date(2026, 11, 23)
    assert times.local_today(ZoneInfo("UTC"), now.astimezone(timezone(timedelta(hours=-5)))) == date(2026, 11, 22)
    assert times.last_days(date(2026, 11, 23), 7) == (date(2026, 11, 17), date(2026, 11, 23))


def test_a_local_period_in_utc_bounds():
    lo, hi = times.utc_range(ZoneInfo("Asia/Vladivostok"), date(2026, 11, 23), date(2026, 11, 24))
    assert (lo, hi) == ("2026-11-22T14:00:00.000Z", "2026-11-23T14:00:00.000Z")
    assert times.utc_range(ZoneInfo("UTC"), None, None) == ("", "9999")


def test_accounts_store_the_one_format(tmp_path):
    store = accounts.open_store(str(tmp_path / "auth.db"))
    accounts.add_user(store, "root", "correct horse battery", "admin")
    [created] = [r[0] for r in store.execute("SELECT created_at FROM users")]
    store.conn.close()
    assert STORED.match(created), created
