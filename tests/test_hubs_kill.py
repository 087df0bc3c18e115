"""Two hubs on PostgreSQL sharing one stream, one SIGKILLed every few seconds: every press stored exactly once.

Real parts throughout (tests/several_hubs.py): Mosquitto, two `otklik hub
--share-group` processes, PostgreSQL, C publishers sending a stream in which a
share of the presses comes twice and re-sending what no receipt confirmed, as a
kiosk's outbox does. Counted from the database afterwards: each expected id
once, nothing else, and every aggregate table equal to a rebuild from the
stored events (a press counted twice, or an update lost between the two hubs,
would show there).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import several_hubs

pytestmark = pytest.mark.broker


def test_two_hubs_on_postgres_one_killed_every_few_seconds_store_every_press_once(tmp_path: Path, pg_url: str) -> None:
    out = several_hubs.run(
        tmp_path, pg_url, hubs=2, events=3000, kiosks=8, branches=4, duplicates=0.1, per_s=300,
        kill_every_s=3, resend_s=3, resend_max_s=12, timeout=55,
    )  # fmt: skip
    print(out.row("2 hubs, SIGKILL"))
    # The fault really happened while the stream ran, and the stream really had duplicates.
    assert out.kills >= 3, out.row("too few kills")
    assert out.published > out.unique * 1.09
    assert (out.unique, out.stored_ids, out.stored_rows, out.missing, out.unexpected) == (3000, 3000, 3000, 0, 0)
    assert out.counted == 3000, "the aggregates count a press twice (or lost one)"
    assert out.equal_rebuild, "the aggregates differ from a rebuild from the stored events"
