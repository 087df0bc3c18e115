"""Alerts as deployed: `otklik hub` (a subprocess, TLS, provisioned users, deploy's broker ACL)
evaluates the rules after each commit and an alert reaches MQTT, a webhook (a real local HTTP
server) and e-mail (aiosmtpd) once each, within seconds of the press that crossed the rule.
Also the `otklik alerts watch / check / ack / resolve --broker` commands against the same broker."""

from __future__ import annotations

import email
import email.policy
import itertools
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from hub import branches, notify
from hub.db import open_db
from hub.provisioning.cli import provision
from otklik import protocol, times
from otklik.cli import cli
from tests.broker import wait_until
from tests.test_provision_env import Client, Store, connect, store_fixture

pytestmark = pytest.mark.broker

SECRET_PATH = "/hooks/T0-very-secret-token"
_ids = itertools.count(1)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    yield from store_fixture(tmp_path)


def service_user(store: Store, role: str, name: str | None = None) -> tuple[str, Path]:
    out = store.run(provision, "service", role, *(["--name", name] if name else []), "--out", str(store.root / "etc"))
    found = re.search(r"user (\S+); password in (\S+)", out)
    assert found, out
    return found[1], Path(found[2])


def kiosk_client(store: Store, branch: str, kiosk: str) -> Client:
    bundle_dir = store.provision_kiosk(branch, kiosk)
    client = connect(store, f"k-{branch}-{kiosk}", (bundle_dir / "mqtt-password").read_text().strip())
    assert client.connected(), "the provisioned kiosk could not connect"
    return client


def publish(client: Client, branch: str, kiosk: str, kind: str, body: dict) -> None:
    """A QoS 1 publish as a plain paho client, waiting for a PUBACK that says yes."""
    info = client.c.publish(protocol.topic(branch, kiosk, kind), protocol.encode(body), qos=1)
    code = client.wait(lambda: client.acks.get(info.mid))
    assert not code.is_failure, f"the broker refused the {kind}: {code}"


def press(client: Client, score: int, branch: str = "b1", kiosk: str = "k1") -> None:
    n = next(_ids)
    body = protocol.rating_payload(
        branch=branch, kiosk=kiosk, id=f"live{os.getpid()}x{n:06d}", seq=n, ts=times.now_ts(), score=score
    )
    publish(client, branch, kiosk, protocol.RATING, body)


def heartbeat(client: Client, branch: str = "b1", kiosk: str = "k1") -> None:
    body = protocol.heartbeat_payload(branch=branch, kiosk=kiosk, uptime_s=5, version="t", outbox_depth=0,
                                      last_seq_sent=0)  # fmt: skip
    publish(client, branch, kiosk, protocol.HEARTBEAT, body)


def listener(store: Store) -> Client:
    """Someone watching alerts: the dashboard's broker user, which may read otklik/v1/#."""
    user, password_file = service_user(store, "dashboard")
    client = connect(store, user, password_file.read_text().strip())
    assert client.connected()
    client.c.subscribe(protocol.alert_topic("b1").rsplit("/", 1)[0] + "/#", qos=1)
    client.wait(lambda: client.suback)
    return client


def kiosk_known(store: Store, kiosk: str = "k1") -> bool:
    db = open_db(store.db, migrate=False)
    try:
        return bool(db.execute("SELECT 1 FROM kiosks WHERE kiosk = ?", [kiosk]).fetchone())
    finally:
        db.close()


def start_hub(store: Store, kiosk: Client, *extra: str) -> subprocess.Popen[str]:
    """`otklik hub` as the systemd unit runs it, back once it is subscribed (it stored a heartbeat)."""
    hub = subprocess.Popen(
        [sys.executable, "-m", "otklik", "hub", *extra, "--broker", store.url, "--db", str(store.db),
         "--username", "otklik-hub", "--password-file", str(store.root / "etc" / "otklik-hub.password"),
         "--ca-file", store.ca],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        wait_until(lambda: heartbeat(kiosk) or kiosk_known(store), timeout=20, interval=0.3, message="the hub ready")
    except AssertionError:
        raise AssertionError(stop(hub)) from None
    return hub


def stop(proc: subprocess.Popen[str]) -> str:
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=30)
    return out


def test_a_press_that_crosses_a_rule_reaches_mqtt_webhook_and_email_once_within_seconds(
    store: Store,
    smtp_server,
    webhook_server,
    capsys,
) -> None:
    controller, inbox = smtp_server
    url, posted = webhook_server
    db = open_db(store.db)
    # MQTT messages in the branch's language, this manager's e-mail in Persian.
    branches.update(db, "b1", day_index_below="off", alert_language="ru")
    notify.set_smtp(db, smtp_host="127.0.0.1", smtp_port=controller.port, smtp_from="otklik@example.com")
    notify.add_channel(db, "webhook", url + SECRET_PATH, branch="b1")
    notify.add_channel(db, "email", "manager-b1@example.com", branch="b1", language="fa")
    db.close()
    kiosk = kiosk_client(store, "b1", "k1")
    watching = listener(store)
    hub = start_hub(store, kiosk)
    try:
        for score in (1, 4, 2):  # 2 of 3 unhappy: the rule wants 4 presses
            press(kiosk, score)
        time.sleep(1.5)  # three evaluation polls: nothing may fire yet
        assert watching.messages == [], "an alert fired before the rule was crossed"
        started = time.monotonic()
        press(kiosk, 1)  # 3 of 4 unhappy: crosses the 50 % rule
        [msg] = watching.wait(lambda: watching.messages, timeout=10)
        latency = time.monotonic() - started
        assert msg.topic == "otklik/v1/alerts/b1"
        body = json.loads(msg.payload)
        assert (body["rule"], body["state"], body["branch"], body["language"]) == ("unhappy_share", "open", "b1", "ru")
        assert body["message"].startswith("b1: 75% недовольных (3 из 4 нажатий)"), body["message"]
        assert body["state_text"] == "открыта" and body["params"]["responses"] == 4
        wait_until(lambda: posted and inbox.messages, timeout=10, message="the webhook and the e-mail")
        mailed = time.monotonic() - started
        # More presses while the alert is live, and a few evaluation rounds: nothing is sent again.
        press(kiosk, 1)
        press(kiosk, 2)
        time.sleep(2)
        assert len(watching.messages) == 1 and len(posted) == 1 and len(inbox.messages) == 1
        assert posted[0]["path"] == SECRET_PATH and posted[0]["body"]["id"] == body["id"]
        assert posted[0]["body"]["message"] == body["message"]  # the webhook has no language: the branch's
        mail = email.message_from_bytes(inbox.messages[0].content, policy=email.policy.default)
        assert inbox.messages[0].rcpt_tos == ["manager-b1@example.com"]
        assert "b1: ۷۵٪ ناراضی (۳ از ۴ فشار)" in mail.get_content(), mail.get_content()
        assert mail["Subject"].strip().startswith("[Otklik] b1: ۷۵٪ ناراضی")
    finally:
        output = stop(hub)
        kiosk.close()
        watching.close()
    with capsys.disabled():
        print(f"\nalert latency, press published -> alert on MQTT: {latency * 1000:.0f} ms; "
              f"-> webhook and e-mail done: {mailed * 1000:.0f} ms")  # fmt: skip
    assert latency < 3, f"the alert took {latency:.1f} s"
    assert "alert #" in output and "opened" in output, output
    assert "very-secret" not in output, "the hub logged a webhook URL's secret path"
    db = open_db(store.db, migrate=False)
    [(delivered,)] = db.execute("SELECT delivered FROM alerts").fetchall()
    assert "very-secret" not in delivered and json.loads(delivered)["mqtt"] == "ok"


def test_hub_killed_right_after_storing_the_crossing_press_still_alerts_once(store: Store, webhook_server) -> None:
    """SIGKILL the hub within milliseconds of the commit that crosses the rule, before its watcher's
    next poll: the restarted hub's first sweep finds the condition and sends the alert, once."""
    url, posted = webhook_server
    db = open_db(store.db)
    branches.update(db, "b1", day_index_below="off")
    notify.add_channel(db, "webhook", url + SECRET_PATH, branch="b1")
    db.close()
    kiosk = kiosk_client(store, "b1", "k1")
    watching = listener(store)
    hub = start_hub(store, kiosk)
    try:
        for score in (1, 4, 2):
            press(kiosk, score)
        press(kiosk, 1)
        wait_until(lambda: _events(store, "b1") == 4, interval=0.002, message="the crossing press stored")
        hub.send_signal(signal.SIGKILL)
        hub.wait(10)
        hub = start_hub(store, kiosk)
        wait_until(lambda: watching.messages and posted, timeout=15, message="the alert after the restart")
        time.sleep(1.5)  # a few more polls and the restart's sweep: nothing is sent twice
        assert len(watching.messages) == 1 and len(posted) == 1
        assert json.loads(watching.messages[0].payload)["rule"] == "unhappy_share"
    finally:
        stop(hub)
        kiosk.close()
        watching.close()


def test_hub_with_no_alerts_sends_nothing(store: Store) -> None:
    """The switch works, and this is what the hub did before alerts ran inside it."""
    db = open_db(store.db)
    branches.update(db, "b1", day_index_below="off")
    db.close()
    kiosk = kiosk_client(store, "b1", "k1")
    watching = listener(store)
    hub = start_hub(store, kiosk, "--no-alerts")
    try:
        for score in (1, 1, 2, 1):
            press(kiosk, score)
        time.sleep(2)
        assert watching.messages == []
    finally:
        stop(hub)
        kiosk.close()
        watching.close()


def run_cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def test_alerts_commands_over_the_broker(store: Store, start_hub_service) -> None:
    """`alerts watch` (standalone, its own broker user) publishes a new alert; `check`, `ack` and
    `resolve --broker` publish theirs; a refused connection and a refused publish are errors."""
    user, password_file = service_user(store, "hub", "alerts")
    broker_args = ["--broker", store.url, "--username", user, "--password-file", str(password_file),
                   "--ca-file", store.ca]  # fmt: skip
    db = open_db(store.db)
    branches.update(db, "b1", day_index_below="off")
    branches.update(db, "b2", day_index_below="off")
    db.close()
    start_hub_service(store)
    kiosk = kiosk_client(store, "b1", "k1")
    watching = listener(store)
    watch = subprocess.Popen(
        [sys.executable, "-m", "otklik", "alerts", "watch", "--db", str(store.db), *broker_args],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        wait_until(lambda: heartbeat(kiosk) or kiosk_known(store), timeout=20, interval=0.3, message="hub ready")
        for score in (1, 1, 2, 1):
            press(kiosk, score)
        [opened] = watching.wait(lambda: watching.messages, timeout=10)
        alert = json.loads(opened.payload)
        assert (alert["rule"], alert["state"]) == ("unhappy_share", "open")
    finally:
        output = stop(watch)
    assert watch.returncode == 0, output
    try:
        alert_id = str(alert["id"])
        code, out = run_cli("alerts", "ack", alert_id, "--db", str(store.db), "--by", "olga", *broker_args)
        assert code == 0, out
        code, out = run_cli("alerts", "resolve", alert_id, "--db", str(store.db), "--by", "olga",
                            "--note", "till opened", *broker_args)  # fmt: skip
        assert code == 0, out
        wait_until(lambda: len(watching.messages) == 3, message="the acknowledged and resolved states")
        states = [json.loads(m.payload) for m in watching.messages[1:]]
        assert [s["state"] for s in states] == ["acknowledged", "resolved"]
        assert states[1]["resolved_by"] == "olga" and states[1]["resolve_note"] == "till opened"
        # check --broker: a second branch crosses its rule; one run publishes it
        other = kiosk_client(store, "b2", "k1")
        for score in (2, 2, 1, 1):
            press(other, score, branch="b2")
        wait_until(lambda: kiosk_known(store) and _events(store, "b2") == 4, message="b2's presses stored")
        code, out = run_cli("alerts", "check", "--db", str(store.db), *broker_args)
        assert code == 0, out
        # b1's condition still holds after the manual resolve, so it opens again too (by design)
        assert "b2" in [a["branch"] for a in json.loads(out[out.index("[") :])]
        wait_until(lambda: any(m.topic == "otklik/v1/alerts/b2" for m in watching.messages), message="b2's alert")
        other.close()
        # A wrong password is a refused connection, not "connected": an error, and no change.
        bad = store.root / "wrong.password"
        bad.write_text("not-it\n")
        code, out = run_cli("alerts", "check", "--db", str(store.db), "--broker", store.url, "--username", user,
                            "--password-file", str(bad), "--ca-file", store.ca)  # fmt: skip
        assert code == 1 and "refused" in out, out
        # The dashboard's user may not write alerts: the PUBACK says so (MQTT 5), and so does the command.
        reader, reader_pw = service_user(store, "dashboard", "reader")
        b2 = json.loads(run_cli("alerts", "list", "--db", str(store.db), "--json", "--branch", "b2")[1])[0]
        code, out = run_cli("alerts", "resolve", str(b2["id"]), "--db", str(store.db), "--by", "olga",
                            "--broker", store.url, "--username", reader, "--password-file", str(reader_pw),
                            "--ca-file", store.ca)  # fmt: skip
        assert code == 1 and "refused the publish" in out and "Not authorized" in out, out
    finally:
        kiosk.close()
        watching.close()


def _events(store: Store, branch: str) -> int:
    db = open_db(store.db, migrate=False)
    try:
        return db.execute("SELECT count(*) FROM events WHERE branch = ?", [branch]).fetchone()[0]
    finally:
        db.close()


@pytest.fixture
def start_hub_service() -> Iterator:
    """The hub's ingest in-process (no alert evaluation: that is the standalone watcher's job here)."""
    from hub.service import HubService
    from otklik.mqtt import parse_broker_url

    started = []

    def start(store: Store) -> HubService:
        broker = parse_broker_url(store.url, username="otklik-hub", password=store.hub_password, ca_file=store.ca)
        service = HubService(broker, store.db).start()
        assert service.connected.wait(15)
        started.append(service)
        return service

    yield start
    for service in started:
        service.stop()
