"""Config push, hub side: each kiosk's settings, versioned in the hub DB, published retained.

A kiosk subscribes to ``otklik/v1/<b>/<k>/config``; because the message is
retained, a kiosk that was off when the change was made gets it on its next
connect. The version only goes up, so a kiosk can tell a new push from the
retained copy of the one it already runs.

What may be pushed, and its checks, is ``otklik.settings.SCHEMA``. A kiosk's own settings
(labels, cooldown, employee) are set per kiosk; its opening hours and time zone are the
branch's (``hub.branches``) and are copied into every kiosk of the branch by ``sync_branch``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from typing import Any

import paho.mqtt.client as mqtt

from hub import branches
from hub.provisioning import ProvisionError, registry
from hub.provisioning.registry import now
from hub.store import Database
from otklik import protocol
from otklik.mqtt import AckedPublisher, Broker, PublishError, connect_and_wait
from otklik.settings import BRANCH_SETTINGS, SettingsError, check_changes, parse_settings

log = logging.getLogger(__name__)


def get_settings(db: Database, branch: str, kiosk: str) -> tuple[int, dict[str, Any]]:
    rows = list(db["kiosk_settings"].rows_where("branch = ? AND kiosk = ?", [branch, kiosk]))
    if not rows:
        return 0, {}
    return rows[0]["version"], json.loads(rows[0]["settings"])


def set_settings(db: Database, branch: str, kiosk: str, changes: Mapping[str, Any]) -> int:
    """Merge ``changes`` (None clears a setting) into the kiosk's settings; returns the new version.

    Checked with the kiosk's own rules first, so the hub never publishes a push
    the kiosk would refuse.
    """
    try:
        check_changes(changes)
    except SettingsError as err:
        raise ProvisionError(str(err)) from None
    with db.conn:
        version, settings = get_settings(db, branch, kiosk)
        merged = dict(settings)
        for name, value in changes.items():
            if value is None and name != "employee":
                merged.pop(name, None)  # back to the kiosk's own config file value
            else:
                merged[name] = value  # employee None is kept: it unbinds the kiosk's employee
        try:
            parse_settings(version + 1, merged)
        except SettingsError as err:
            raise ProvisionError(str(err)) from None
        if merged == settings and version:
            return version  # nothing changed: no new version, no needless push
        db.table("kiosk_settings").upsert(
            {
                "branch": branch,
                "kiosk": kiosk,
                "version": version + 1,
                "settings": json.dumps(merged, sort_keys=True),
                "updated_at": now(),
            },
            pk=("branch", "kiosk"),
        )
    return version + 1


def branch_settings(db: Database, branch: str) -> dict[str, Any]:
    """The settings a kiosk takes from its branch: opening hours in the wire form, and the zone they are in.

    A branch without hours is always open: both are None, which leaves a kiosk awake.
    """
    hours = branches.get(db, branch).opening_hours()
    if hours is None:
        return dict.fromkeys(BRANCH_SETTINGS)
    return {"opening_hours": hours.to_wire(), "timezone": branches.get(db, branch).timezone}


def sync_branch(db: Database, branch: str) -> list[tuple[str, int]]:
    """Copy the branch's hours into each of its kiosks' settings; returns (kiosk, version) of each.

    Button pads are left out: the firmware does not sleep (otklik.settings.PAD_SETTINGS).
    """
    kiosks = [
        c.kiosk
        for c in registry.all_credentials(db)
        if c.branch == branch and c.kiosk and c.role == registry.ROLE_KIOSK
    ]
    changes = branch_settings(db, branch)
    return [(kiosk, set_settings(db, branch, kiosk, changes)) for kiosk in sorted(set(kiosks))]


def payload(version: int, settings: Mapping[str, Any]) -> bytes:
    # A setting left out means "keep the kiosk's own config file value"; an
    # explicit employee null means "unbind".
    return protocol.encode({"v": protocol.VERSION, "version": version, **settings})


def targets(db: Database, *, pending_only: bool) -> list[tuple[str, str]]:
    where = "published_version IS NULL OR published_version < version" if pending_only else None
    return [(r["branch"], r["kiosk"]) for r in db["kiosk_settings"].rows_where(where, order_by="branch, kiosk")]


def publish_with(client: mqtt.Client, db: Database, branch: str, kiosk: str) -> mqtt.MQTTMessageInfo:
    """Publish one kiosk's settings retained on an already connected client (e.g. the hub's own)."""
    version, settings = get_settings(db, branch, kiosk)
    if not version:
        raise ProvisionError(f"branch {branch!r} kiosk {kiosk!r} has no settings to push")
    topic = protocol.topic(branch, kiosk, protocol.CONFIG)
    return client.publish(topic, payload(version, settings), qos=1, retain=True)


def mark_published(db: Database, branch: str, kiosk: str, version: int) -> None:
    db.table("kiosk_settings").update((branch, kiosk), {"published_version": version, "published_at": now()})


def push(
    broker: Broker,
    db: Database,
    kiosks: Iterable[tuple[str, str]],
    *,
    client_id: str = "otklik-config-push",
    timeout: float = 15,
) -> list[tuple[str, str, int]]:
    """Connect, publish each kiosk's settings retained, wait for its PUBACK; returns what was published."""
    kiosks = list(kiosks)
    if not kiosks:
        return []
    try:
        client = connect_and_wait(broker, client_id, logger=log, timeout=timeout)
    except ConnectionError as err:
        raise ProvisionError(
            f"{err}; config not pushed", hint="the settings are saved; `otklik config push` publishes them later"
        ) from None
    publisher = AckedPublisher(client)
    try:
        done = []
        for branch, kiosk in kiosks:
            version, settings = get_settings(db, branch, kiosk)
            if not version:
                raise ProvisionError(f"branch {branch!r} kiosk {kiosk!r} has no settings to push")
            topic = protocol.topic(branch, kiosk, protocol.CONFIG)
            try:
                publisher.publish(topic, payload(version, settings), timeout=timeout, retain=True)
            except PublishError as err:
                raise ProvisionError(
                    f"config for {branch}/{kiosk} not pushed: {err}",
                    hint=f"the user {broker.username!r} needs write access to {protocol.subscription(protocol.CONFIG)}",
                ) from None
            mark_published(db, branch, kiosk, version)
            done.append((branch, kiosk, version))
        return done
    finally:
        client.disconnect()
        client.loop_stop()
