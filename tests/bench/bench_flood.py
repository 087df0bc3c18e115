"""Junk flood benchmark: one kiosk floods 4 KB non-JSON payloads while other kiosks keep pressing.

A real Mosquitto set up as deployed (passwords, ACL, client id = username,
max_packet_size, the dynamic-security plugin) and `otklik hub` in its own
process with its provisioned credentials. Two valid kiosks (one in the flooding
kiosk's branch, one in another) publish presses at a steady rate (QoS 1)
throughout; in the middle phase C clients (`mosquitto_pub -l`, the fast
publisher) flood junk with the flooding kiosk's own credentials. The whole
scenario runs twice in one go, with the hub's flood cut-off off and on, and
prints side by side per phase: the valid presses' delay from publish to stored
(polling the database every 20 ms), junk the flooders sent and the broker
acknowledged (from `mosquitto_pub -d`), junk the hub received, dead-lettered
and dropped, hub.db growth, and Mosquitto's RSS.

    python -m tests.bench.bench_flood [--seconds 10] [--flooders 2] [--rate 20]
    python -m tests.bench.bench_flood --only on          # one scenario only
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import paho.mqtt.client as mqtt

from hub.db import open_db
from hub.provisioning import broker_files, registry
from otklik import protocol, times
from otklik.mosquitto import BrokerAuth, MosquittoProcess

FLOOD = ("b1", "flood")
VALID = (("b1", "valid"), ("b2", "valid"))
FLOOD_LINE = "x" * 4000  # just under the protocol's 4096 bytes, which the broker enforces
PHASES = ("no flood", "flood", "after")


class ValidKiosk:
    """Publishes a press every 1/rate s with its own credentials and remembers when; a poller notes when stored."""

    def __init__(self, port: int, db_path: Path, rate: float, branch: str, kiosk: str, password: str) -> None:
        self.branch, self.kiosk = branch, kiosk
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        self.client.username_pw_set(registry.device_username(branch, kiosk), password)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        self.db_path, self.interval = db_path, 1 / rate
        self.sent: dict[str, tuple[float, str]] = {}  # id -> (sent at, phase)
        self.stored: dict[str, float] = {}
        self.copies = 0
        self.phase = PHASES[0]
        self._stop = threading.Event()
        self._stopped_at = 0.0
        self._seq = 0
        self._threads = [threading.Thread(target=self._press, daemon=True), threading.Thread(target=self._poll)]
        for thread in self._threads:
            thread.start()

    def _press(self) -> None:
        next_at = time.perf_counter()
        while not self._stop.is_set():
            self._seq += 1
            event_id = uuid.uuid4().hex
            body = protocol.rating_payload(branch=self.branch, kiosk=self.kiosk, id=event_id, seq=self._seq,
                                           ts=times.now_ts(), score=4)  # fmt: skip
            self.sent[event_id] = (time.perf_counter(), self.phase)
            self.client.publish(protocol.topic(self.branch, self.kiosk, "rating"), protocol.encode(body), qos=1)
            next_at += self.interval
            self._stop.wait(max(0.0, next_at - time.perf_counter()))

    def _poll(self) -> None:
        db = open_db(self.db_path, migrate=False)
        query = "SELECT id FROM events WHERE branch = ? AND kiosk = ?"
        try:
            while not (self._stop.is_set() and len(self.stored) >= len(self.sent)):
                now = time.perf_counter()
                for (event_id,) in db.execute(query, [self.branch, self.kiosk]):
                    self.stored.setdefault(event_id, now)
                if self._stop.is_set() and now - self._stopped_at > 90:
                    break
                time.sleep(0.02)
            self.copies = db.execute(f"SELECT count(*) FROM ({query})", [self.branch, self.kiosk]).fetchone()[0]
        finally:
            db.close()

    def stop_pressing(self) -> None:
        self._stopped_at = time.perf_counter()
        self._stop.set()

    def stop(self) -> None:
        """Once every press is stored (or 90 s after the last)."""
        for thread in self._threads:
            thread.join()
        self.client.loop_stop()

    def delays(self, phase: str) -> tuple[int, list[float]]:
        mine = [(i, t) for i, (t, p) in self.sent.items() if p == phase]
        return len(mine), [self.stored[i] - t for i, t in mine if i in self.stored]


def flood(port: int, clients: int, password: str, work: Path) -> list[tuple[subprocess.Popen[bytes], Path]]:
    """C flooders on the flooding kiosk's credentials; `-d` logs each PUBACK, so we count what the broker took."""
    username = registry.device_username(*FLOOD)
    topic = protocol.topic(*FLOOD, "rating")
    # mosquitto_pub reads its credentials from $XDG_CONFIG_HOME/mosquitto_pub, not from a command line ps shows.
    config = work / "flooder"
    config.mkdir(mode=0o700, exist_ok=True)
    (config / "mosquitto_pub").write_text(f"-u {username}\n-P {password}\n")
    env = dict(os.environ, XDG_CONFIG_HOME=str(config))
    procs = []
    for n in range(clients):
        log = work / f"flood{n}.log"
        # Line-buffered, so a flooder stopped with SIGTERM leaves every line in its log.
        pub = f"stdbuf -oL mosquitto_pub -d -h 127.0.0.1 -p {port} -V 5 -q 1 -l -t {topic}"
        cmd = f"yes {FLOOD_LINE} | {pub} > {log} 2>&1"
        procs.append((subprocess.Popen(["bash", "-c", cmd], env=env, start_new_session=True), log))
    return procs


def flooder_counts(log: Path) -> tuple[int, int]:
    """PUBLISHes the flooder sent (first copies) and PUBACKs it got: up to its in-flight window apart."""
    sent = acked = 0
    with log.open("rb") as f:
        for line in f:
            sent += b"sending PUBLISH (d0" in line
            acked += b"received PUBACK" in line
    return sent, acked


def db_bytes(db_path: Path) -> int:
    return sum(p.stat().st_size for p in db_path.parent.glob(db_path.name + "*"))


def junk_counts(db_path: Path) -> dict[str, int]:
    """Of the flooding kiosk: dead letters stored, counted over the rate limit, dropped as cut off."""
    source = "/".join((protocol.PREFIX, *FLOOD))
    db = open_db(db_path, migrate=False)
    try:
        written = db.execute("SELECT count(*) FROM dead_letters WHERE topic LIKE ?", [source + "/%"]).fetchone()[0]
        over = db.execute("SELECT coalesce(sum(dropped), 0) FROM dead_letter_sources WHERE source = ?", [source])
        cut = 0
        if db["flood_cut_offs"].exists():
            cut = db.execute("SELECT coalesce(sum(dropped), 0) FROM flood_cut_offs WHERE source = ?", [source])
            cut = cut.fetchone()[0]
        return {"written": written, "over": over.fetchone()[0], "cut": cut}
    finally:
        db.close()


def rss_mb(pid: int) -> tuple[float, float]:
    """Mosquitto's resident memory now and at its peak (VmHWM), MB."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def provision(work: Path) -> tuple[BrokerAuth, dict[tuple[str, str], str], str]:
    """Users as `otklik provision` makes them: the hub, the valid kiosks, the flooding one."""
    db = registry.open_hub_db(work / "hub.db")
    try:
        _, hub_pw = registry.add_service(db, registry.ROLE_HUB)
        passwords = {who: registry.add_device(db, *who)[1] for who in (*VALID, FLOOD)}
        broker_files.write_auth_files(work / "broker", registry.all_credentials(db), mode=0o600)
    finally:
        db.close()
    return BrokerAuth(work / "broker" / broker_files.PASSWD, work / "broker" / broker_files.ACL), passwords, hub_pw


def scenario(seconds: float, flooders: int, rate: float, cut_off: bool) -> dict[str, dict[str, str]]:
    work = Path(tempfile.mkdtemp(prefix="otklik-flood-"))
    work.chmod(0o755)
    auth, passwords, hub_pw = provision(work)
    broker = MosquittoProcess(work / "mosquitto", auth=auth, max_packet_size=protocol.MAX_PACKET_BYTES).start()
    assert broker.proc is not None
    db_path = work / "hub.db"
    (work / "hub.password").write_text(hub_pw + "\n")
    hub = subprocess.Popen(
        [sys.executable, "-m", "otklik", "hub", "--broker", broker.url, "--db", str(db_path),
         "--username", registry.service_username(registry.ROLE_HUB), "--password-file", str(work / "hub.password"),
         "--no-alerts", "--cut-off-per-s", "200" if cut_off else "0"],
        stdout=subprocess.DEVNULL, stderr=(work / "hub.log").open("w"),
    )  # fmt: skip
    columns: dict[str, dict[str, str]] = {}
    try:
        # Presses published before the hub's first subscription reach nobody.
        deadline = time.monotonic() + 60
        while "hub subscribed" not in (work / "hub.log").read_text():
            if time.monotonic() > deadline or hub.poll() is not None:
                raise RuntimeError(f"the hub did not subscribe: {(work / 'hub.log').read_text()[-2000:]}")
            time.sleep(0.1)
        kiosks = [ValidKiosk(broker.port, db_path, rate, *who, passwords[who]) for who in VALID]
        raw: dict[str, dict[str, float]] = {}
        for phase in PHASES:
            for k in kiosks:
                k.phase = phase
            before_bytes, before = db_bytes(db_path), junk_counts(db_path)
            floods = flood(broker.port, flooders, passwords[FLOOD], work) if phase == "flood" else []
            time.sleep(seconds)
            for proc, _ in floods:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait()
            after = junk_counts(db_path)
            rss, peak = rss_mb(broker.proc.pid)
            raw[phase] = {
                "sent": sum(flooder_counts(log)[0] for _, log in floods),
                "accepted": sum(flooder_counts(log)[1] for _, log in floods),
                **{k: after[k] - before[k] for k in after},
                "growth": db_bytes(db_path) - before_bytes,
                "rss": rss,
                "peak": peak,
            }
        for k in kiosks:
            k.stop_pressing()
        for k in kiosks:
            k.stop()
        for phase in PHASES:
            sent, delays = 0, []
            for k in kiosks:
                n, d = k.delays(phase)
                sent, delays = sent + n, delays + d
            ordered = sorted(delays) or [float("nan")]
            r = raw[phase]
            received = r["written"] + r["over"] + r["cut"]
            columns[phase] = {
                "sent": str(sent),
                "stored": str(len(delays)),
                "p50": f"{statistics.median(ordered) * 1000:.0f} ms",
                "p95": f"{ordered[max(0, int(len(ordered) * 0.95) - 1)] * 1000:.0f} ms",
                "max": f"{ordered[-1] * 1000:.0f} ms",
                "junk": str(int(r["sent"])),
                "accepted": str(int(r["accepted"])),
                "received": str(int(received)),
                "written": str(int(r["written"])),
                "over": str(int(r["over"])),
                "cut": str(int(r["cut"])),
                "db": f"{r['growth'] / 1e6:+.1f} MB",
                "rss": f"{r['rss']:.0f} MB",
                "peak": f"{r['peak']:.0f} MB",
            }
        copies = sum(k.copies for k in kiosks)
        stored = sum(len(k.stored) for k in kiosks)
        columns["after"]["copies"] = f"{copies} rows/{stored} ids"
    finally:
        hub.terminate()
        hub.wait(30)
        broker.stop()
    return columns


LABELS = {
    "sent": "valid presses sent",
    "stored": "valid presses stored",
    "p50": "delay p50",
    "p95": "delay p95",
    "max": "delay max",
    "junk": "junk sent",
    "accepted": "  of it PUBACKed",
    "received": "junk hub received",
    "written": "  dead letters written",
    "over": "  over rate limit",
    "cut": "  dropped, cut off",
    "db": "hub.db growth",
    "rss": "Mosquitto RSS",
    "peak": "Mosquitto peak RSS",
    "copies": "valid rows in events",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10, help="length of each phase")
    # One credential is one connection (the broker ties the client id to the username): a second
    # flooder on the same credentials only kicks the first off.
    parser.add_argument("--flooders", type=int, default=1, help="flooding mosquitto_pub clients")
    parser.add_argument("--rate", type=float, default=10, help="presses per second from each valid kiosk")
    parser.add_argument("--only", choices=("off", "on"), help="run one scenario: cut-off off or on")
    args = parser.parse_args()
    runs = {"off": False, "on": True}
    results = {name: scenario(args.seconds, args.flooders, args.rate, on)
               for name, on in runs.items() if args.only in (None, name)}  # fmt: skip
    print(f"{args.flooders} flooding C clients on kiosk {'/'.join(FLOOD)}'s credentials, {len(FLOOD_LINE)} B "
          f"each; {len(VALID)} valid kiosks ({', '.join('/'.join(v) for v in VALID)}) at {args.rate:g} presses/s "
          f"each; {args.seconds:g} s per phase")  # fmt: skip
    heads = [f"{phase} ({name})" for name in results for phase in PHASES]
    print(f"{'cut-off:':22} " + " ".join(f"{h:>16}" for h in heads))
    for key, label in LABELS.items():
        values = [results[name][phase].get(key, "") for name in results for phase in PHASES]
        print(f"{label:22} " + " ".join(f"{v:>16}" for v in values))


if __name__ == "__main__":
    main()
