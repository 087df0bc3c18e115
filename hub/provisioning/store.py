"""A store broker: the store's own Mosquitto, bridged to the central broker.

The store's kiosks publish to it over the store's network; its bridge forwards
their messages to the central broker (QoS 1) and brings config and receipts
back. While the uplink is down the kiosks keep publishing: the bridge's
persistent session queues everything here (kept on disk with persistence), and
it drains when the uplink returns.

On the central broker the bridge is one user of role ``bridge`` with its own
password: the central ACL lets it write only its branch's kiosk kinds and read
only its branch's config and receipts, so a stolen store machine speaks for no
other branch. The store broker itself knows only its own kiosks (their password
hashes and per-kiosk ACLs) and ties every client id to its username, as the
central broker does.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from hub.provisioning import ProvisionError, broker_files, certs, registry
from hub.provisioning.registry import Credential
from hub.store import Database
from otklik.mqtt import BrokerURLError, parse_broker_url

BRIDGE_NAME = "central"  # the `connection` name; the bridge's state is at $SYS/broker/connection/<client id>/state
CONF = "mosquitto.conf"
EXAMPLE_NAME = "store.conf"  # deploy/mosquitto/store.conf: what `otklik provision store` writes, for reading


@dataclass
class BridgeOptions:
    branch: str
    central_url: str  # mqtts://HOST:PORT of the central broker's TLS listener
    username: str
    password: str
    cafile: str  # the private CA, which signed the central broker's certificate
    # Reconnect backoff, seconds (Mosquitto's "decorrelated jitter" from base to cap).
    restart_base_s: int = 2
    restart_cap_s: int = 30


def central_address(url: str) -> str:
    """``HOST:PORT`` for Mosquitto's ``address`` line; only TLS leaves the store."""
    try:
        broker = parse_broker_url(url)
    except BrokerURLError as err:
        raise ProvisionError(str(err)) from None
    if not broker.tls:
        raise ProvisionError(
            f"--central-url {url!r} must be mqtts://: the bridge password and every press cross the WAN",
            hint="the central broker's TLS listener, e.g. mqtts://central.example.com:8883",
        )
    return f"{broker.host}:{broker.port}"


def render_bridge(b: BridgeOptions) -> str:
    out, in_ = broker_files.bridge_topics(b.branch)
    topics = "\n".join([f"topic {t} out 1" for t in out] + [f"topic {t} in 1" for t in in_])
    return f"""
# --- uplink: the bridge to the central broker ---
# Its own user on the central broker (role bridge): there it may write only this
# branch's kiosk kinds and read only this branch's config and receipts.
connection {BRIDGE_NAME}
address {central_address(b.central_url)}
remote_clientid {b.username}
local_clientid {b.username}.local
remote_username {b.username}
remote_password {b.password}
# TLS, and the central broker's certificate checked against the private CA and its name.
bridge_cafile {b.cafile}
bridge_tls_version tlsv1.2
bridge_insecure false
# Persistent sessions at both ends: what the kiosks publish while the uplink is
# down waits here for the bridge (saved with persistence above), and what the
# hub sends meanwhile waits for it on the central broker. Both drain on reconnect.
cleansession false
local_cleansession false
start_type automatic
restart_timeout {b.restart_base_s} {b.restart_cap_s}
keepalive_interval 60
# The uplink's state (retained 1 or 0) at $SYS/broker/connection/{b.username}/state,
# on this broker only: the central ACL gives the bridge no $SYS topics.
notifications true
notifications_local_only true
# QoS 1 both ways. Out and in are disjoint, so nothing loops between the brokers.
{topics}
"""


def store_credentials(credentials: list[Credential], branch: str) -> list[Credential]:
    """The users the store broker knows: the branch's active kiosks and pads, nobody else."""
    return [c for c in credentials if c.active and c.role in registry.DEVICE_ROLES and c.branch == branch]


def write_store_users(out: Path, db: Database, branch: str, *, group: int | None) -> list[Credential]:
    """The store's passwd and acl from the registry (after adding a kiosk, copy them over and SIGHUP)."""
    users = store_credentials(registry.all_credentials(db), branch)
    broker_files.write_auth_files(out, users, group=group)
    return users


@dataclass
class StoreFiles:
    conf: Path
    bridge: Credential
    kiosks: list[Credential]


def write_store_broker(
    out: Path,
    db: Database,
    *,
    branch: str,
    central_url: str,
    central_certs: Path,
    hosts: list[str],
    conf: broker_files.ConfOptions,
    group: int | None = None,
) -> StoreFiles:
    """Register the branch's bridge and write everything its store broker needs into ``out``.

    ``conf.broker_dir`` is where ``out`` will live on the store machine (paths
    inside mosquitto.conf); ``central_certs`` holds the private CA, which signs
    the store broker's own server certificate for ``hosts``. mosquitto.conf
    holds the bridge's password (Mosquitto reads it from nowhere else): it is
    0640, readable only by the broker's group, like the key.
    """
    if not (central_certs / "ca.key").exists():
        raise ProvisionError(f"no CA in {central_certs}", hint="run `otklik provision ca` on the central hub first")
    central_address(central_url)  # a bad URL stops before anything is registered
    if conf.local_port:
        raise ProvisionError("a store broker has no plain listener: kiosks reach it over TLS only")
    out.mkdir(parents=True, exist_ok=True)
    # The broker (its group) must enter the folder; nobody else may.
    broker_files.give_to_group(out, group)
    os.chmod(out, 0o750)
    certs_out = out / broker_files.CERTS
    certs_out.mkdir(exist_ok=True)
    broker_files.give_to_group(certs_out, group)
    os.chmod(certs_out, 0o750)
    # One transaction: if anything below fails, no bridge is registered whose
    # password nobody has.
    with db.conn:
        cred, password = registry.add_bridge(db, branch)
        shutil.copyfile(central_certs / "ca.crt", certs_out / "ca.crt")
        (certs_out / "ca.crt").chmod(0o644)
        certs.make_server_cert(certs_out, hosts, broker_gid=group, ca_dir=central_certs)
        text = render_store_conf(conf, branch, central_url, cred.username, password)
        broker_files.write_atomic(out / CONF, text, mode=0o640, group=group)
    kiosks = write_store_users(out, db, branch, group=group)
    return StoreFiles(conf=out / CONF, bridge=cred, kiosks=kiosks)


def render_store_conf(
    conf: broker_files.ConfOptions, branch: str, central_url: str, username: str, password: str
) -> str:
    """The central broker's config (the same listeners, limits, persistence) plus the bridge."""
    cafile = f"{conf.broker_dir.rstrip('/')}/{broker_files.CERTS}/ca.crt"
    bridge = BridgeOptions(branch=branch, central_url=central_url, username=username, password=password, cafile=cafile)
    return broker_files.render_mosquitto_conf(conf) + render_bridge(bridge)


def render_example() -> str:
    """deploy/mosquitto/store.conf: branch b1's store broker, with a placeholder for the bridge's password."""
    return render_store_conf(
        store_conf_options("b1", broker_files.DEFAULT_BROKER_DIR, 8883),
        "b1",
        "mqtts://hub.example.com:8883",
        registry.bridge_username("b1"),
        "WRITTEN-BY-otklik-provision-store",
    )


def store_conf_options(branch: str, store_dir: str, tls_port: int) -> broker_files.ConfOptions:
    return broker_files.ConfOptions(
        broker_dir=store_dir,
        tls_port=tls_port,
        local_port=None,
        dynsec_plugin=None,
        title=f"Otklik store broker for branch {branch}",
        made_by="otklik provision store",
    )


if __name__ == "__main__":
    print(render_example(), end="")
