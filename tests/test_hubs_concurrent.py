"""Two hubs' write paths on one PostgreSQL database at the same moment: overlapping batches, the same aggregate rows.

No MQTT here: two ``hub.ingest.Ingest`` on two connections, each batch started
together (a barrier) from two threads, as two hubs of a share group store a
stream in which a kiosk re-sent presses that reached both. Each press must be
stored by exactly one of them (the other sees a duplicate), no update to a
shared aggregate row may be lost, and neither may deadlock the other: each takes
its row locks in key order.
"""

from __future__ import annotations

import random
import threading
from datetime import UTC, datetime, timedelta

from hub import aggregates, ingest
from hub.db import open_db
from otklik import protocol, times
from tests import several_hubs
from tests.hub_db import migrate_target


def presses(n: int) -> list[tuple[str, bytes, datetime]]:
    """``n`` presses on a few kiosks and hours, so both hubs add to the same aggregate rows."""
    now = datetime.now(UTC).replace(microsecond=0)
    rng = random.Random(7)
    out = []
    for i in range(n):
        kiosk = f"k{i % 3}"
        body = protocol.rating_payload(
            branch="b1", kiosk=kiosk, id=f"press{i:08d}", seq=i + 1,
            ts=times.format_ts(now - timedelta(minutes=rng.randrange(180))), score=rng.randint(1, 4),
            employee=f"e{i % 2}",
        )  # fmt: skip
        out.append((protocol.topic("b1", kiosk, protocol.RATING), protocol.encode(body), now))
    return out


def test_two_hubs_storing_overlapping_batches_at_once_store_each_press_once(pg_url: str) -> None:
    migrate_target(pg_url)
    stream = presses(3000)
    hubs = [ingest.Ingest(open_db(pg_url, migrate=False)) for _ in range(2)]
    rng = random.Random(1)
    outcomes: list[list[list[ingest.Outcome]]] = [[], []]
    errors: list[BaseException] = []
    rounds = 10
    start = threading.Barrier(2)

    def run(n: int, batches: list[list[tuple[str, bytes, datetime]]]) -> None:
        for batch in batches:
            try:
                start.wait(30)
                outcomes[n].append(hubs[n].handle_batch(batch))
            except BaseException as err:  # reported below
                errors.append(err)
                start.abort()
                return

    # Each round: the two hubs get 300 presses each, half of them the same ones, in other orders.
    chunk = len(stream) // rounds
    plans: list[list[list[tuple[str, bytes, datetime]]]] = [[], []]
    for r in range(rounds):
        mine = stream[r * chunk : (r + 1) * chunk]
        shared, a_only, b_only = mine[: chunk // 2], mine[chunk // 2 : 3 * chunk // 4], mine[3 * chunk // 4 :]
        plans[0].append(rng.sample(shared + a_only, len(shared) + len(a_only)))
        plans[1].append(rng.sample(shared + b_only, len(shared) + len(b_only)))
    threads = [threading.Thread(target=run, args=(n, plans[n])) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, f"a hub's batch failed: {errors[0]!r}"
    stored = [o.id for hub in outcomes for batch in hub for o in batch if o.result == ingest.STORED]
    duplicates = [o.id for hub in outcomes for batch in hub for o in batch if o.result == ingest.DUPLICATE]
    assert len(stored) == len(set(stored)) == len(stream), "a press stored by both hubs, or by neither"
    assert len(duplicates) == len(stream) // 2  # the shared half: each seen once more
    db = open_db(pg_url, migrate=False)
    assert db.execute("SELECT count(*), count(DISTINCT id) FROM events").fetchone() == (3000, 3000)
    counted = db.execute("SELECT sum(n1 + n2 + n3 + n4 + flagged) FROM agg_hour").fetchone()[0]
    assert counted == 3000, "an aggregate update was lost (or made twice)"
    live = several_hubs.aggregate_rows(db)
    aggregates.rebuild(db)
    assert several_hubs.aggregate_rows(db) == live
