"""Alerts: each rule fires, the same condition does not fire twice while live, the state machine,
and delivery to a real local SMTP server, a real local HTTP server and a real Mosquitto."""

from __future__ import annotations

import email
import email.policy
import json
from datetime import UTC, datetime, timedelta

import paho.mqtt.client as mqtt
import pytest

from hub import alerts, branches, ingest, notify
from hub.db import open_db
from otklik import protocol
from tests.analytics_util import feed, press
from tests.broker import Collector

NOW = datetime(2026, 11, 16, 12, 0, tzinfo=UTC)


@pytest.fixture
def db(hub_target):
    database = open_db(hub_target)
    branches.update(database, "b1", timezone="Europe/Moscow", day_index_below="off")
    yield database
    database.close()


def unhappy_burst(db, scores_: list[int], end: datetime = NOW, kiosk: str = "k1") -> None:
    feed(db, [press(end - timedelta(minutes=len(scores_) - i), s, kiosk=kiosk) for i, s in enumerate(scores_)], end)


def test_unhappy_share_fires_once_and_follows_the_state_machine(db):
    unhappy_burst(db, [1, 4, 4])  # 33 %, and only 3 presses
    assert alerts.evaluate(db, NOW, only=["b1"]) == []
    unhappy_burst(db, [2])  # 2 of 4 = 50 %: at the default limit (at or above)
    [alert] = alerts.evaluate(db, NOW, only=["b1"])
    assert (alert["rule"], alert["state"], alert["value"]) == ("unhappy_share", "open", 50.0)
    assert "2 of 4" in alert["message"]
    # still true a minute later: no second alert while this one is live
    unhappy_burst(db, [1], NOW + timedelta(minutes=1))
    assert alerts.evaluate(db, NOW + timedelta(minutes=1), only=["b1"]) == []
    acked = alerts.acknowledge(db, alert["id"], "olga", "calling the store", now=NOW + timedelta(minutes=2))
    assert (acked["state"], acked["acknowledged_by"], acked["acknowledge_note"]) == (
        "acknowledged",
        "olga",
        "calling the store",
    )
    assert alerts.evaluate(db, NOW + timedelta(minutes=2), only=["b1"]) == []
    with pytest.raises(alerts.AlertError, match="only an open alert"):
        alerts.acknowledge(db, alert["id"], "olga")
    done = alerts.resolve(db, alert["id"], "olga", "extra till opened", now=NOW + timedelta(minutes=3))
    assert (done["state"], done["resolved_by"]) == ("resolved", "olga")
    with pytest.raises(alerts.AlertError, match="already resolved"):
        alerts.resolve(db, alert["id"], "olga")
    with pytest.raises(alerts.AlertError, match="needs the name"):
        alerts.acknowledge(db, 999, " ")
    # once resolved, a condition that still holds opens a new alert
    [again] = alerts.evaluate(db, NOW + timedelta(minutes=3), only=["b1"])
    assert again["id"] != alert["id"]
    assert [a["id"] for a in alerts.list_alerts(db)] == [again["id"]]
    assert len(alerts.list_alerts(db, state=None)) == 2
    # two hours on the unhappy window is empty; only the now-silent kiosk is news
    alerts.resolve(db, again["id"], "olga")
    assert [a["rule"] for a in alerts.evaluate(db, NOW + timedelta(hours=2), only=["b1"])] == ["kiosk_offline"]


def test_rules_are_per_branch(db):
    branches.update(db, "b2", unhappy_share_pct=80, day_index_below="off")
    for branch in ("b1", "b2"):
        feed(db, [press(NOW - timedelta(minutes=i + 1), s, branch=branch) for i, s in enumerate([1, 1, 1, 4, 4])], NOW)
    opened = alerts.evaluate(db, NOW, only=["b1", "b2"])
    assert [(a["branch"], a["rule"]) for a in opened] == [("b1", "unhappy_share")]


def test_day_index_kiosk_offline_and_backlog(db):
    branches.update(db, "b1", day_index_below=50, day_min_responses=5, unhappy_share_pct=101)
    feed(db, [press(NOW - timedelta(hours=2, minutes=5 * i), s) for i, s in enumerate([1, 2, 2, 3, 1, 4])], NOW)
    hb = protocol.heartbeat_payload(
        branch="b1", kiosk="k2", uptime_s=10, version="1.0", outbox_depth=250, last_seq_sent=3
    )
    topic = protocol.topic("b1", "k2", "heartbeat")
    assert ingest.handle_message(db, topic, protocol.encode(hb), NOW - timedelta(minutes=30)).result == "updated"
    opened = {(a["rule"], a["kiosk"]): a for a in alerts.evaluate(db, NOW, only=["b1"])}
    # index (0 + 33.3*2 + 66.7 + 0 + 100) / 6 = 38.9 < 50
    assert opened[("day_index", "")]["value"] == 38.9
    assert opened[("backlog", "k2")]["value"] == 250
    # k1 was last heard from at NOW (its presses), k2 30 min ago: only k2 is silent
    assert ("kiosk_offline", "k2") in opened and ("kiosk_offline", "k1") not in opened
    assert alerts.evaluate(db, NOW + timedelta(minutes=5), only=["b1"]) == []


@pytest.mark.broker
def test_delivery_to_smtp_webhook_and_mqtt(db, tmp_path, smtp_server, webhook_server, mosquitto):
    controller, inbox = smtp_server
    url, posted = webhook_server
    password_file = tmp_path / "smtp-password"
    password_file.write_text("s3cret-never-shown\n")
    notify.set_smtp(db, smtp_host="127.0.0.1", smtp_port=controller.port,
                    smtp_from="otklik@example.com")  # fmt: skip
    notify.add_channel(db, "webhook", f"{url}/hooks/otklik")
    notify.add_channel(db, "email", "manager-b1@example.com", branch="b1")
    notify.add_channel(db, "email", "manager-b2@example.com", branch="b2")  # not for this branch
    notify.add_channel(db, "webhook", "http://127.0.0.1:9/nothing-listens-here")  # fails, others still go
    collector = Collector(mosquitto, "otklik/v1/alerts/#")
    publisher = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    publisher.connect(mosquitto.host, mosquitto.port)
    publisher.loop_start()
    try:
        unhappy_burst(db, [1, 1, 2, 4])
        [alert] = notify.check_and_deliver(db, lambda t, p: publisher.publish(t, p, qos=1).wait_for_publish(5), NOW)
        [msg] = collector.wait_for(1)
    finally:
        publisher.loop_stop()
        publisher.disconnect()
        collector.close()
    assert msg.topic == "otklik/v1/alerts/b1"
    assert json.loads(msg.payload)["rule"] == "unhappy_share"
    assert posted[0]["path"] == "/hooks/otklik" and posted[0]["type"] == "application/json"
    assert posted[0]["body"]["id"] == alert["id"] and posted[0]["body"]["state"] == "open"
    assert inbox.arrived.wait(5)
    [mail] = inbox.messages
    assert mail.rcpt_tos == ["manager-b1@example.com"]
    parsed = email.message_from_bytes(mail.content, policy=email.policy.default)
    assert parsed["Subject"].strip() == "[Otklik] b1: 75% unhappy (3 of 4 presses) in the last 15 min (limit 50%)"
    assert "75% unhappy" in parsed.get_content()
    stored = alerts.get(db, alert["id"])["delivered"]
    # A webhook URL's path is a secret: the record (shown to managers) names only its host.
    assert "hooks/otklik" not in json.dumps(stored) and "nothing-listens-here" not in json.dumps(stored)
    hooks = {name.split(":", 1)[1]: result for name, result in stored.items() if name.startswith("webhook#")}
    assert hooks[f"{url}/…"].startswith("ok") and hooks["http://127.0.0.1:9/…"].startswith("failed")
    assert stored["mqtt"] == "ok" and stored["email:manager-b1@example.com"] == "ok"
    assert "s3cret" not in json.dumps(notify.smtp_settings(db))


def test_e_mails_in_each_language_write_details_as_lines_in_its_digits_and_calendar(db, smtp_server):
    """Through a real SMTP server: a Persian manager reads Persian digits and Solar Hijri dates
    throughout, details included (as "label: value" lines, not JSON); en and ru Gregorian, Latin digits."""
    controller, inbox = smtp_server
    notify.set_smtp(db, smtp_host="127.0.0.1", smtp_port=controller.port, smtp_from="otklik@example.com")
    for lang in ("en", "ru", "fa"):
        notify.add_channel(db, "email", f"manager-{lang}@example.com", branch="b1", language=lang)
    since = "2026-11-16T08:50:00.000Z"  # 11:50 in Moscow (the branch's zone): 1405/8/25 in Solar Hijri
    details = {"state": "offline", "last_seen": "2026-11-16T08:49:00.000Z", "state_at": since}
    params = {"text": "kiosk_offline", "since": since, "limit_min": 10}
    alert = alerts.fire(db, "kiosk_offline", "b1", kiosk="k1", now=NOW, params=params, details=details)
    assert alert is not None
    results = notify.deliver(db, alert)
    assert all(result == "ok" for result in results.values()) and len(results) == 3, results
    mails = {}
    for envelope in inbox.messages:
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        mails[envelope.rcpt_tos[0].split("-")[1].split("@")[0]] = (
            parsed["Subject"],
            parsed.get_content().replace("\r\n", "\n"),
        )
    fa_subject, fa = mails["fa"]
    assert "از ۱۴۰۵/۸/۲۵، ۱۱:۵۰ آفلاین است" in fa_subject and "۱۴۰۵/۸/۲۵، ۱۵:۰۰ (Europe/Moscow)" in fa, fa
    assert "- آخرین سیگنال: ۱۴۰۵/۸/۲۵، ۱۱:۴۹\n- وضعیت کیوسک: آفلاین\n- وضعیت از: ۱۴۰۵/۸/۲۵، ۱۱:۵۰" in fa, fa
    # Latin digits only in the ids and in the command to type; no JSON left.
    assert {
        c for c in fa.replace("b1/k1", "").replace(f"ack {alert['id']}", "") if c.isascii() and c.isdigit()
    } == set()
    assert "{" not in fa and "2026" not in fa
    _, ru = mails["ru"]
    assert "не в сети с 2026-11-16 11:50" in ru and "2026-11-16 15:00 (Europe/Moscow)" in ru, ru
    assert "- Последний сигнал: 2026-11-16 11:49\n- Состояние киоска: не в сети" in ru and "{" not in ru, ru
    _, en = mails["en"]
    assert (
        "offline since 2026-11-16 11:50" in en and "- Last heard from: 2026-11-16 11:49\n- Kiosk state: offline" in en
    )
    assert "{" not in en, en
    # The state is said once in each: "(открыта) открыта" said it twice.
    assert ru.count("открыта") == 1 and en.count("open") == 1 and fa.count("باز") == 1, (ru, en, fa)
