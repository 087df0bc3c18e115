"""Sending alerts out: the MQTT alert topic, webhooks (HTTP POST of JSON) and e-mail (SMTP).

Channels are rows of ``alert_channels`` (branch or '*' for every branch).  The SMTP server is
a hub setting (``smtp_host``, ``smtp_port``, ``smtp_from``, ``smtp_starttls``, ``smtp_username``,
``smtp_password_file``); the password is read from its file when sending and never stored,
logged or shown.  Delivery runs outside any database transaction and its outcome per
channel is recorded on the alert.
"""

from __future__ import annotations

import json
import logging
import smtplib
import urllib.error
import urllib.request
from collections.abc import Callable, Collection
from datetime import UTC, datetime, timedelta, tzinfo
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from hub import alert_text, alerts, branches
from hub.store import Database
from otklik.errors import OtklikError
from otklik.protocol import alert_topic, encode
from otklik.times import format_ts

log = logging.getLogger(__name__)

SMTP_KEYS = ("smtp_host", "smtp_port", "smtp_from", "smtp_starttls", "smtp_username", "smtp_password_file")
Publish = Callable[[str, bytes], Any]


class ChannelError(OtklikError, ValueError):
    """A channel or SMTP setting that cannot be used."""


def add_channel(db: Database, kind: str, target: str, branch: str = "*", language: str = "") -> dict[str, Any]:
    """A webhook URL or e-mail address for one branch (or '*'); ``language`` (en, ru, fa) of what
    it receives, empty for the branch's ``alert_language``."""
    if kind == "webhook" and not target.startswith(("http://", "https://")):
        raise ChannelError(f"webhook {redact(target)!r} must be an http:// or https:// URL")
    if kind == "email" and "@" not in target:
        raise ChannelError(f"e-mail address {target!r} has no '@'")
    if kind not in ("webhook", "email"):
        raise ChannelError(f"channel kind {kind!r} must be webhook or email")
    if language and language not in alert_text.LANGUAGES:
        raise ChannelError(f"language {language!r} must be one of {', '.join(alert_text.LANGUAGES)}")
    with db.atomic():
        db.execute(
            "INSERT INTO alert_channels (branch, kind, target, language) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (branch, kind, target) DO UPDATE SET language = excluded.language",
            [branch, kind, target, language],
        )
    return {"branch": branch, "kind": kind, "target": target, "language": language}


def redact(url: str) -> str:
    """A webhook URL as it may be logged or shown: scheme and host only (its path is the secret)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or '?'}{':' + str(parts.port) if parts.port else ''}/…"


def remove_channel(db: Database, kind: str, target: str, branch: str = "*") -> bool:
    with db.atomic():
        cursor = db.execute(
            "DELETE FROM alert_channels WHERE branch = ? AND kind = ? AND target = ?", [branch, kind, target]
        )
    return cursor.rowcount > 0


def list_channels(db: Database, branch: str | None = None) -> list[dict[str, Any]]:
    sql, params = "SELECT id, branch, kind, target, language FROM alert_channels", []
    if branch:
        sql, params = sql + " WHERE branch IN (?, '*')", [branch]
    return [
        {"id": i, "branch": b, "kind": k, "target": t, "language": lang}
        for i, b, k, t, lang in db.execute(sql + " ORDER BY branch, kind, target", params)
    ]


def set_smtp(db: Database, **values: Any) -> dict[str, str]:
    for key, value in values.items():
        if key not in SMTP_KEYS:
            raise ChannelError(f"{key!r} is not an SMTP setting; known: {', '.join(SMTP_KEYS)}")
        if key == "smtp_port":
            try:
                int(value)
            except (TypeError, ValueError):
                raise ChannelError(f"smtp_port must be a number, got {value!r}") from None
    with db.atomic():
        for key, value in values.items():
            if value is None:
                continue
            db.execute(
                "INSERT INTO hub_settings (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                [key, str(value)],
            )
    return smtp_settings(db)


def smtp_settings(db: Database) -> dict[str, str]:
    marks = ", ".join("?" * len(SMTP_KEYS))
    return dict(db.execute(f"SELECT key, value FROM hub_settings WHERE key IN ({marks})", SMTP_KEYS).fetchall())


def payload(alert: dict[str, Any], lang: str = "en", zone: tzinfo = UTC) -> dict[str, Any]:
    """The alert as published on MQTT and posted to webhooks, its texts in ``lang`` (their moments
    by the branch's clock, ``zone``); the fields for programs (``opened_at``...) stay UTC timestamps."""
    keep = ("id", "rule", "branch", "kiosk", "state", "value", "details", "params", "opened_at",
            "acknowledged_at", "acknowledged_by", "resolved_at", "resolved_by", "resolve_note")  # fmt: skip
    body = {"v": 1, **{k: alert.get(k) for k in keep}}
    body.update(
        language=alert_text.language(lang),
        message=alert_text.render(alert, lang, zone=zone),
        state_text=alert_text.state(alert["state"], lang),
    )
    return body


def send_webhook(url: str, body: dict[str, Any], timeout: float = 5.0) -> str:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "User-Agent": "otklik-hub"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return f"ok {response.status}"


def send_email(
    settings: dict[str, str],
    to: str,
    alert: dict[str, Any],
    timeout: float = 10.0,
    lang: str = "en",
    zone: tzinfo = UTC,
) -> str:
    host = settings.get("smtp_host")
    if not host:
        raise ChannelError("no SMTP server set; use `otklik alerts smtp --host ...`")
    message = EmailMessage()
    message["From"] = settings.get("smtp_from", "otklik@localhost")
    message["To"] = to
    text = alert_text.render(alert, lang, zone=zone)
    message["Subject"] = f"[Otklik] {text if len(text) <= 140 else text[:139] + '…'}"
    message.set_content(alert_text.email_body(alert, lang, zone))
    with smtplib.SMTP(host, int(settings.get("smtp_port", "25")), timeout=timeout) as smtp:
        if settings.get("smtp_starttls", "").lower() in ("1", "true", "yes"):
            smtp.starttls()
        if settings.get("smtp_username"):
            password = Path(settings["smtp_password_file"]).read_text().splitlines()[0].strip()
            smtp.login(settings["smtp_username"], password)
        smtp.send_message(message)
    return "ok"


def channel_name(channel: dict[str, Any]) -> str:
    """How a channel is named in logs and in the alert's ``delivered``: a webhook by its host only."""
    if channel["kind"] == "webhook":
        return f"webhook#{channel['id']}:{redact(channel['target'])}"
    return f"email:{channel['target']}"


def deliver(
    db: Database,
    alert: dict[str, Any],
    publish: Publish | None = None,
    timeout: float = 5.0,
    only: Collection[str] | None = None,
) -> dict[str, str]:
    """Send one newly opened alert to MQTT (when ``publish`` is given), its branch's webhooks and e-mails
    (or ``only`` the channels of these names, as ``channel_name`` and ``"mqtt"`` name them).

    A failing channel does not stop the others; every outcome is recorded on the alert.
    ``publish`` raises when the broker did not accept the message (see otklik.mqtt.AckedPublisher).
    """
    settings = branches.get(db, alert["branch"])
    branch_language, zone = settings.alert_language, settings.zone
    results: dict[str, str] = {}
    if publish is not None and (only is None or "mqtt" in only):
        results["mqtt"] = _publish(alert, publish, branch_language, zone)
    smtp = None
    for channel in list_channels(db, alert["branch"]):
        name = channel_name(channel)
        if only is not None and name not in only:
            continue
        lang = channel["language"] or branch_language
        try:
            if channel["kind"] == "webhook":
                results[name] = send_webhook(channel["target"], payload(alert, lang, zone), timeout)
            else:
                smtp = smtp if smtp is not None else smtp_settings(db)
                results[name] = send_email(smtp, channel["target"], alert, timeout, lang, zone)
        except (OSError, urllib.error.URLError, smtplib.SMTPException, ChannelError) as err:
            results[name] = f"failed: {err}"
            log.warning("alert %s: %s failed: %s", alert["id"], name, err)
    alerts.mark_delivered(db, alert["id"], results)
    return results


RETRY_FOR = timedelta(hours=1)  # a channel still failing an hour after the alert opened is given up


def retry_failed(db: Database, publish: Publish | None, now: datetime) -> int:
    """Send again, to the channels that failed, every live alert opened within ``RETRY_FOR``: a
    webhook or mail server that was briefly down still gets the alert.  Returns how many were retried."""
    retried = 0
    for (alert_id,) in db.execute(
        "SELECT id FROM alerts WHERE state != 'resolved' AND opened_at > ? AND delivered LIKE '%failed%'",
        [format_ts(now - RETRY_FOR)],
    ).fetchall():
        alert = alerts.get(db, alert_id)
        failed = {name for name, result in alert["delivered"].items() if str(result).startswith("failed")}
        if failed - ({"mqtt"} if publish is None else set()):
            deliver(db, alert, publish, only=failed)
            retried += 1
    return retried


def _publish(alert: dict[str, Any], publish: Publish, lang: str, zone: tzinfo = UTC) -> str:
    try:
        publish(alert_topic(alert["branch"]), encode(payload(alert, lang, zone)))
        return "ok"
    except Exception as err:  # a broker fault must not stop the webhooks and e-mails
        log.warning("alert %s: MQTT publish failed: %s", alert["id"], err)
        return f"failed: {err}"


def check_and_deliver(db: Database, publish: Publish | None = None, now: Any = None) -> list[dict[str, Any]]:
    """Evaluate every rule once and send what newly opened (``otklik alerts check``)."""
    return send_changes(db, alerts.check(db, now=now), publish).opened


def send_changes(db: Database, changes: alerts.Changes, publish: Publish | None) -> alerts.Changes:
    """Deliver newly opened alerts everywhere, and publish auto-resolved ones' new state on MQTT."""
    for alert in changes.opened:
        alert["delivered"] = deliver(db, alert, publish)
    if publish is not None:
        for alert in changes.resolved:
            settings = branches.get(db, alert["branch"])
            _publish(alert, publish, settings.alert_language, settings.zone)
    return changes


def deliver_state(db: Database, alert: dict[str, Any], publish: Publish) -> str:
    """Publish an alert's new state (acknowledged, resolved) on the alert topic; raises if refused."""
    settings = branches.get(db, alert["branch"])
    publish(alert_topic(alert["branch"]), encode(payload(alert, settings.alert_language, settings.zone)))
    return f"published alert {alert['id']} ({alert['state']}) on {alert_topic(alert['branch'])}"
