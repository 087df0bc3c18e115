"""The hub's promise where it breaks: a real `otklik hub` process SIGKILLed between receive and commit,
a writer that dies, a database that is locked, read-only or full, a packet id reused after a reconnect.

Every fault is real: another process holds SQLite's write lock, the file is
mode 0444 for a hub without CAP_DAC_OVERRIDE, the kernel's file-size limit
makes writes fail with EFBIG, the broker loses its sessions. Nothing of ours
is mocked.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.db import open_db
from otklik import protocol, times
from tests.broker import Mosquitto, wait_until
from tests.hub_process import HubProcess
from tests.test_hub_service import count, publish_all, publisher, rating_message

pytestmark = pytest.mark.broker

# Run as root, the hub could write a 0444 file anyway; without these
# capabilities it meets file modes like the `otklik` user it runs as in production.
WITHOUT_ROOT_OVERRIDES = ["setpriv", "--bounding-set=-dac_override,-dac_read_search,-fowner", "--"]


@pytest.fixture
def hub_process(mosquitto: Mosquitto, tmp_path: Path) -> Iterator[HubProcess]:
    hub = HubProcess(mosquitto, tmp_path / "hub.db")
    yield hub
    hub.kill()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    path = tmp_path / "hub.db"
    open_db(path).close()
    return path


class WriteLock:
    """Another process's write transaction: the hub's writes wait out their busy timeout and fail."""

    def __init__(self, db_path: Path) -> None:
        self.conn = sqlite3.connect(db_path, isolation_level=None)
        self.conn.execute("BEGIN IMMEDIATE")

    def release(self) -> None:
        self.conn.execute("COMMIT")
        self.conn.close()


def ids_stored(db_path: Path) -> list[str]:
    db = open_db(db_path, migrate=False)
    try:
        return [r[0] for r in db.execute("SELECT id FROM events ORDER BY seq")]
    finally:
        db.close()


def sql(db_path: Path, statement: str) -> None:
    conn = sqlite3.connect(db_path, isolation_level=None)
    try:
        conn.execute(statement)
    finally:
        conn.close()


def test_hub_sigkilled_between_receive_and_commit_loses_nothing(mosquitto, db_path, hub_process):
    hub_process.start().wait_subscribed()
    lock = WriteLock(db_path)
    client = publisher(mosquitto)
    messages = [rating_message(seq) for seq in range(1, 51)]
    publish_all(client, messages)
    # The hub has these presses in memory and cannot commit them.
    hub_process.wait_for_log("could not write a batch")
    assert "database is locked" in hub_process.log()
    hub_process.kill()
    lock.release()
    assert count(db_path) == 0
    hub_process.start()
    wait_until(lambda: count(db_path) == 50, timeout=15, message="every press stored after the restart")
    sent = [json.loads(payload)["id"] for _, payload in messages]
    assert sorted(ids_stored(db_path)) == sorted(sent)
    client.loop_stop()


def test_storage_error_is_retried_unacknowledged_until_the_database_frees(mosquitto, db_path, hub_process):
    hub_process.start().wait_subscribed()
    lock = WriteLock(db_path)
    client = publisher(mosquitto)
    publish_all(client, [rating_message(seq) for seq in range(1, 21)])
    hub_process.wait_for_log("database is locked")
    lock.release()
    # The same process, without a restart.
    wait_until(lambda: count(db_path) == 20, timeout=15, message="the held presses stored once the lock is gone")
    assert hub_process.proc is not None and hub_process.proc.poll() is None
    client.loop_stop()


def test_a_database_writable_again_is_picked_up_without_a_restart(mosquitto, db_path, hub_process):
    db_path.chmod(0o444)
    hub_process.prefix = WITHOUT_ROOT_OVERRIDES
    hub_process.start().wait_subscribed()
    client = publisher(mosquitto)
    publish_all(client, [rating_message(seq) for seq in range(1, 21)])
    hub_process.wait_for_log("attempt to write a readonly database")
    db_path.chmod(0o644)
    wait_until(lambda: count(db_path) == 20, timeout=15, message="presses stored once the file is writable")
    assert len(set(ids_stored(db_path))) == 20
    client.loop_stop()


def test_writes_the_file_system_refuses_are_retried_and_the_hub_resumes(mosquitto, db_path, hub_process):
    hub_process.start().wait_subscribed()
    # The kernel's file-size limit on the running hub: every write past it
    # fails with EFBIG, as a full disk's fail with ENOSPC (SQLite: "disk I/O error").
    subprocess.run(["prlimit", f"--pid={hub_process.pid}", "--fsize=4096:"], check=True)
    client = publisher(mosquitto)
    publish_all(client, [rating_message(seq) for seq in range(1, 21)])
    hub_process.wait_for_log("disk I/O error")
    assert count(db_path) == 0
    subprocess.run(["prlimit", f"--pid={hub_process.pid}", "--fsize=unlimited:"], check=True)
    wait_until(lambda: count(db_path) == 20, timeout=15, message="presses stored once there is room")
    client.loop_stop()


def test_a_hub_whose_writer_dies_exits_non_zero(mosquitto, db_path, hub_process):
    hub_process.start().wait_subscribed()
    # A fault the writer has no answer for: the registry cannot be updated, and
    # the error is not a storage error (IntegrityError from the trigger).
    sql(db_path, "CREATE TRIGGER no_registry BEFORE UPDATE ON kiosks BEGIN SELECT RAISE(ABORT, 'registry frozen'); END")
    client = publisher(mosquitto)
    publish_all(client, [rating_message(1)])
    assert hub_process.wait_exit(timeout=15) == 1
    log = hub_process.log()
    assert "hub writer died: IntegrityError: registry frozen" in log
    assert "exiting so the service manager restarts it" in log
    # Nothing was acknowledged: the restarted hub gets the press again.
    sql(db_path, "DROP TRIGGER no_registry")
    hub_process.start()
    wait_until(lambda: count(db_path) == 1, timeout=15, message="the press stored by the restarted hub")
    client.loop_stop()


def reaction_message(kiosk: str = "k2") -> tuple[str, bytes]:
    body = {"v": 1, "branch": "b1", "kiosk": kiosk, "id": uuid.uuid4().hex, "window_start": times.now_ts(),
            "window_s": 60, "visitors": 3, "smiling": 1, "frames": 600, "fps": 10, "detector": "haar"}  # fmt: skip
    return protocol.topic("b1", kiosk, protocol.REACTION), protocol.encode(body)


class DamagedTable:
    """One table's root page overwritten on disk: storing into it fails as SQLite's "malformed" (SQLITE_CORRUPT),
    a storage error the hub retries, while every other table works. ``repair`` writes the page back."""

    def __init__(self, db_path: Path, table: str) -> None:
        conn = sqlite3.connect(db_path, isolation_level=None)
        try:
            # Every page in the main file, none in the WAL, so the file is what a reader gets.
            busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            assert busy == 0, "could not checkpoint"
            self.page_size = conn.execute("PRAGMA page_size").fetchone()[0]
            rootpage = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", [table]).fetchone()[0]
        finally:
            conn.close()
        self.path, self.offset = db_path, (rootpage - 1) * self.page_size
        with db_path.open("r+b") as f:
            f.seek(self.offset)
            self.original = f.read(self.page_size)
            f.seek(self.offset)
            f.write(b"\xff" * self.page_size)

    def repair(self) -> None:
        with self.path.open("r+b") as f:
            f.seek(self.offset)
            f.write(self.original)


def test_a_packet_id_reused_after_a_reconnect_is_not_acknowledged_for_the_old_message(mosquitto, db_path, hub_process):
    """The broker loses the hub's session while the hub holds press A (packet id 1, uncommitted).

    On the new session the broker numbers from 1 again: reaction B arrives as
    packet id 1. Acknowledging A after its commit would acknowledge B, which is
    not stored yet (its table is damaged), so a hub killed then would lose B.
    """
    hub_process.start().wait_subscribed()
    damage = DamagedTable(db_path, "reactions")
    # The lock's commit also tells the hub's connection that the file changed,
    # so it reads the damaged page instead of a cached copy.
    lock = WriteLock(db_path)
    lock.conn.execute("CREATE TABLE fault_probe (x)")
    client = publisher(mosquitto)
    publish_all(client, [rating_message(1, kiosk="k1")])
    hub_process.wait_for_log("could not write a batch of 1")
    client.loop_stop()
    mosquitto.kill()
    (mosquitto.dir / "mosquitto.db").unlink(missing_ok=True)
    mosquitto.start()
    hub_process.wait_subscribed(count=2)
    client = publisher(mosquitto)
    publish_all(client, [reaction_message()])
    lock.release()  # A commits now; B cannot be stored
    hub_process.wait_for_log("(database disk image is malformed); retrying")
    assert count(db_path) == 1, hub_process.log()
    hub_process.kill()
    damage.repair()
    hub_process.start()
    wait_until(lambda: count(db_path, "reactions") == 1, timeout=15, message="B redelivered and stored")
    client.loop_stop()
