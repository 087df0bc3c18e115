"""Several hubs on one stream: a shared subscription, each hub its own broker user and session.

Real parts: Mosquitto running deploy's configuration (TLS, passwd, ACL and
``use_username_as_clientid``, so each hub needs a user of its own), users made by
`otklik provision service hub --count 2`, two real hub services, a real kiosk
whose outbox keeps each press until a receipt names it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from gpiozero.pins.mock import MockFactory

from hub import flood_guard, ingest
from hub.alert_watch import AlertWatcher
from hub.db import open_db
from hub.provisioning import ProvisionError, registry
from hub.provisioning.cli import provision
from hub.service import HubService
from otklik.errors import OtklikError
from otklik.mqtt import Broker, shared
from tests.broker import wait_until
from tests.hub_db import migrate_target
from tests.test_provision_broker import events, make_kiosk
from tests.test_provision_env import Store, store_fixture

pytestmark = pytest.mark.broker

GROUP = "hubs"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    yield from store_fixture(tmp_path)


def start_hubs(store: Store, share_group: str | None) -> list[HubService]:
    """otklik-hub and otklik-hub-2, each on its own provisioned credentials."""
    out = store.run(provision, "service", "hub", "--count", "2", "--out", str(store.root / "etc"))
    assert "hub: 2 users, 1 new" in out  # otklik-hub was there already (the store's own hub)
    hubs = []
    for user in ("otklik-hub", "otklik-hub-2"):
        password = (store.root / "etc" / f"{user}.password").read_text().strip()
        broker = Broker("127.0.0.1", store.broker.port, tls=True, username=user, password=password, ca_file=store.ca)
        hubs.append(HubService(broker, store.db, client_id=user, share_group=share_group).start())
    for hub in hubs:
        assert hub.connected.wait(15), "a hub did not subscribe"
    return hubs


def run_presses(
    store: Store, mock_pins: MockFactory, share_group: str | None, presses: int, *, each_sees: int = 0
) -> list[HubService]:
    bundle_dir = store.provision_kiosk("b1", "k1")
    hubs = start_hubs(store, share_group)
    kiosk = make_kiosk(store, bundle_dir, mock_pins, cooldown_s=0, resend_s=1, resend_max_s=2)
    try:
        assert kiosk.wait_connected(10)
        for n in range(presses):
            kiosk.outbox.add_rating(branch="b1", kiosk="k1", score=n % 4 + 1)
            kiosk.publisher.wake()
        # Empty only once every press has a receipt, and a receipt only comes after a commit.
        wait_until(lambda: kiosk.outbox.depth() == 0, timeout=30, message="every press confirmed by a receipt")
        wait_until(lambda: sum(h.counts[ingest.STORED] for h in hubs) == presses, message="the hubs' counts")
        wait_until(lambda: all(seen(h) >= each_sees for h in hubs), timeout=20, message=f"{each_sees} for each hub")
    finally:
        kiosk.stop()
        for hub in hubs:
            hub.stop()
    return hubs


def seen(hub: HubService) -> int:
    return hub.counts[ingest.STORED] + hub.counts[ingest.DUPLICATE]


def test_two_hubs_in_a_share_group_split_the_stream_and_each_confirms_what_it_stored(
    store: Store, mock_pins: MockFactory
) -> None:
    hubs = run_presses(store, mock_pins, GROUP, presses=40)
    assert sorted(e["seq"] for e in events(store)) == list(range(1, 41))
    shares = [seen(h) for h in hubs]
    # Each message went to one of the two: both took a share, and together no more than
    # the presses and the few a kiosk re-sent before its receipt came.
    assert all(n > 0 for n in shares) and sum(shares) < 2 * 40, shares
    assert all(h.subscriptions[0] == f"$share/{GROUP}/otklik/v1/+/+/rating" for h in hubs)


def test_without_a_share_group_each_hub_gets_every_message(store: Store, mock_pins: MockFactory) -> None:
    """The control: two plain subscriptions each receive all 40 (stored once, by the id); sharing is what splits."""
    hubs = run_presses(store, mock_pins, None, presses=40, each_sees=40)
    assert sorted(e["seq"] for e in events(store)) == list(range(1, 41))
    assert all(seen(h) >= 40 for h in hubs)


def test_provisioning_several_hub_users(store: Store) -> None:
    out = store.run(provision, "service", "hub", "--count", "3", "--out", str(store.root / "etc3"))
    assert "user otklik-hub-2" in out and "user otklik-hub-3" in out and "3 users, 2 new" in out
    acl = (store.broker_dir / "acl").read_text()
    first = acl.split("user otklik-hub\n")[1].split("\n\n")[0]
    for n in (2, 3):
        assert acl.split(f"user otklik-hub-{n}\n")[1].split("\n\n")[0] == first  # the same access
        assert (store.root / "etc3" / f"otklik-hub-{n}.password").stat().st_mode & 0o077 == 0
    again = store.run(provision, "service", "hub", "--count", "3", "--out", str(store.root / "etc3"))
    assert "3 users, 0 new" in again
    db = open_db(store.db)
    with pytest.raises(ProvisionError, match="admins are people"):
        registry.numbered_names(registry.ROLE_ADMIN, 2)
    assert [c.username for c in registry.all_credentials(db) if c.role == "hub"] == [
        "otklik-hub", "otklik-hub-2", "otklik-hub-3", "otklik-hub-push",
    ]  # fmt: skip


def test_a_share_group_name_that_would_change_the_filter_is_refused() -> None:
    assert shared(None, "otklik/v1/+/+/rating") == "otklik/v1/+/+/rating"
    for bad in ("a/b", "a+", "#", ""):
        with pytest.raises(OtklikError, match="share group") as caught:
            shared(bad, "otklik/v1/+/+/rating")
        assert caught.value.field == "--share-group"


def test_a_cut_off_made_or_lifted_by_one_hub_holds_in_the_other(tmp_path: Path) -> None:
    """Two hubs' flood guards on one database: each reads the cut-offs in force when it polls."""
    db_a, db_b = open_db(tmp_path / "hub.db"), open_db(tmp_path / "hub.db")
    sent: list[tuple[str, bytes]] = []
    a, b = (flood_guard.FloodGuard(lambda t, body: sent.append((t, body)), per_s=5) for _ in range(2))
    a.load(db_a)
    b.load(db_b)
    source = "otklik/v1/b1/k1"
    with db_a.atomic():
        a._cut(db_a, source, 7)
    assert a.blocks(f"{source}/rating") and not b.blocks(f"{source}/rating")
    b._next_poll = 0.0
    b.poll(db_b)
    assert b.blocks(f"{source}/rating"), "the other hub still stores the cut-off kiosk's junk"
    flood_guard.request_restore(db_b, "b1", "k1")
    a._next_poll = 0.0
    a.poll(db_a)  # this one passes the restore on to the broker
    assert not a.blocks(f"{source}/rating") and sent[-1][0] == flood_guard.CONTROL_TOPIC
    b._next_poll = 0.0
    b.poll(db_b)
    assert not b.blocks(f"{source}/rating"), "the other hub would drop the restored kiosk's presses for good"


def test_of_several_hubs_alert_watchers_one_evaluates_and_another_takes_over_when_it_stops(pg_url: str) -> None:
    """PostgreSQL: the watcher holding the advisory lock evaluates; the lock goes with its connection."""
    migrate_target(pg_url)
    first = AlertWatcher(pg_url, None, poll_s=0.1, sweep_s=3600).start()
    second = AlertWatcher(pg_url, None, poll_s=0.1, sweep_s=3600)
    try:
        wait_until(lambda: first.evaluations >= 1, message="the first watcher's sweep")
        second.start()
        wait_until(lambda: second.polls >= 5, message="the second watcher's polls")
        assert first.leading and not second.leading and second.evaluations == 0
        first.stop()  # its hub stopped (or died): its connection, and the lock, are gone
        wait_until(lambda: second.leading and second.evaluations >= 1, message="the second watcher taking over")
    finally:
        first.stop()
        second.stop()
