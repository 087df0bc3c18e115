"""The broker's side: mosquitto.conf, the password file and the ACL file, and telling Mosquitto to reload.

The password and ACL files are rendered whole from the registry and swapped in
atomically, so Mosquitto never reads a half-written file on SIGHUP.
"""

from __future__ import annotations

import grp
import os
import shlex
import signal
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from hub import flood_guard
from hub.provisioning import ProvisionError
from hub.provisioning.registry import (
    ROLE_ADMIN,
    ROLE_BRIDGE,
    ROLE_DASHBOARD,
    ROLE_HUB,
    Credential,
)
from otklik import protocol

PASSWD = "passwd"
ACL = "acl"
CERTS = "certs"
DEFAULT_BROKER_DIR = "/etc/mosquitto/otklik"
DEFAULT_BROKER_GROUP = "mosquitto"  # Debian's package runs the broker as user and group mosquitto

# What a kiosk may publish, each under its own otklik/v1/<branch>/<kiosk>/. Not
# "#": a kiosk that could write its own retained config could lock itself out of
# config pushes.
DEVICE_WRITE_KINDS = protocol.DEVICE_KINDS

# What a store broker's bridge carries: out, what its kiosks publish; in, what the
# hub sends them. Disjoint, so nothing can loop between the two brokers.
BRIDGE_IN_KINDS = (protocol.CONFIG, protocol.RECEIPT)


def bridge_topics(branch: str) -> tuple[list[str], list[str]]:
    """(out, in) topic filters of ``branch``'s bridge, for its store config and the central ACL alike."""
    out = [protocol.subscription(kind, branch=branch) for kind in DEVICE_WRITE_KINDS]
    return out, [protocol.subscription(kind, branch=branch) for kind in BRIDGE_IN_KINDS]


def render_acl(credentials: list[Credential]) -> str:
    """Explicit ``user`` blocks for every active user; a user with no block may do nothing."""
    lines = [
        "# Written by `otklik provision` from the hub database; edits here are overwritten.",
        "# No %c patterns: a client picks its own client id, so only the username can be trusted.",
        "",
    ]
    for cred in credentials:
        if not cred.active:
            continue
        lines.append(f"user {cred.username}")
        if cred.role in (ROLE_HUB, ROLE_DASHBOARD):
            # The hub subscribes to otklik/v1/#; without read here the SUBSCRIBE is
            # accepted and nothing is ever delivered.
            lines.append(f"topic read {protocol.PREFIX}/#")
            lines.append(f"topic write {protocol.subscription(protocol.CONFIG)}")
            if cred.role == ROLE_HUB:
                # Alert evaluation runs inside the hub and publishes on its connection.
                lines.append(f"topic write {protocol.PREFIX}/alerts/#")
                # After each commit the hub tells each kiosk what it stored (hub/receipts.py).
                lines.append(f"topic write {protocol.subscription(protocol.RECEIPT)}")
                # It cuts off a kiosk that floods it, through the dynamic-security plugin (hub/flood_guard.py).
                lines.append(f"topic write {flood_guard.CONTROL_TOPIC}")
                lines.append(f"topic read {flood_guard.RESPONSE_TOPIC}")
        elif cred.role == ROLE_ADMIN:
            lines.append("topic readwrite otklik/#")
            lines.append("topic read $SYS/#")
        elif cred.role == ROLE_BRIDGE:
            # A store broker speaks for its branch's kiosks, never another branch's,
            # and never writes config or receipts (that would be the hub's voice).
            assert cred.branch
            out, in_ = bridge_topics(cred.branch)
            lines.extend(f"topic write {t}" for t in out)
            lines.extend(f"topic read {t}" for t in in_)
        else:
            assert cred.branch and cred.kiosk
            for kind in DEVICE_WRITE_KINDS:
                lines.append(f"topic write {protocol.topic(cred.branch, cred.kiosk, kind)}")
            lines.append(f"topic read {protocol.topic(cred.branch, cred.kiosk, protocol.CONFIG)}")
            lines.append(f"topic read {protocol.topic(cred.branch, cred.kiosk, protocol.RECEIPT)}")
        lines.append("")
    return "\n".join(lines)


def render_passwd(credentials: list[Credential]) -> str:
    return "".join(f"{c.username}:{c.pw_hash}\n" for c in credentials if c.active)


# A listener option (it must follow each `listener` line; before the first one it
# would configure a default listener on 1883): the client id becomes the username,
# so no kiosk can take the hub's id, kick it off or take over its queued session.
IDENTITY = "use_username_as_clientid true"

# Debian's Mosquitto 2.0 package ships it here (amd64; another architecture
# has its own triplet in the path).
DYNSEC_PLUGIN = "/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so"
DYNSEC_FILE = "dynamic-security.json"


def dynsec_lines(plugin: str, state_dir: str) -> str:
    """The plugin the hub cuts off a flooding kiosk with; every other user is still checked against the files.

    It knows only the kiosks the hub disabled (it defers every other user to
    the password file and ACL) and keeps them in its own file in the broker's
    state folder, which it creates on its first change.
    """
    return f"plugin {plugin}\nplugin_opt_config_file {state_dir.rstrip('/')}/{DYNSEC_FILE}\n"


@dataclass
class ConfOptions:
    """Where things live; the defaults are the Debian package's layout."""

    broker_dir: str = DEFAULT_BROKER_DIR
    tls_port: int = 8883
    tls_bind: str | None = None  # None: every interface
    local_port: int | None = 1883  # loopback-only plain listener for services on this host
    persistence_dir: str = "/var/lib/mosquitto/"
    log_dest: str = "syslog"
    run_as: str = "mosquitto"
    # None for a store broker: no hub cuts anyone off there.
    dynsec_plugin: str | None = DYNSEC_PLUGIN
    title: str = "Otklik production broker"
    made_by: str = "otklik provision broker-config"


def render_mosquitto_conf(opts: ConfOptions | None = None) -> str:
    o = opts or ConfOptions()
    d = o.broker_dir.rstrip("/")
    tls_listener = f"listener {o.tls_port}" + (f" {o.tls_bind}" if o.tls_bind else "")
    dynsec = (
        "# A kiosk flooding the hub is disabled here by the hub itself (hub/flood_guard.py).\n"
        + dynsec_lines(o.dynsec_plugin, o.persistence_dir)
        if o.dynsec_plugin
        else ""
    )
    local = (
        "# Plain MQTT only on loopback, for the hub and dashboard on this host; still password-checked.\n"
        f"listener {o.local_port} 127.0.0.1\n{IDENTITY}\n"
        if o.local_port
        else ""
    )
    return f"""\
# {o.title}, Mosquitto 2.0.
# Written by `{o.made_by}`; per-device users live in the
# password and ACL files next to it, which `otklik provision` rewrites.
user {o.run_as}
per_listener_settings false

# --- who may connect, and what they may do ---
allow_anonymous false
password_file {d}/{PASSWD}
acl_file {d}/{ACL}
{dynsec}
# --- listeners ---
# TLS for every connection that leaves this machine.
{tls_listener}
{IDENTITY}
cafile {d}/{CERTS}/ca.crt
certfile {d}/{CERTS}/server.crt
keyfile {d}/{CERTS}/server.key
tls_version tlsv1.2

{local}
# --- durability ---
# Queued QoS 1 messages for the hub's persistent session survive a broker restart,
# but only as of the last snapshot: a broker killed with SIGKILL (or a power cut)
# loses what it acknowledged since. That costs a re-send, not a press: a kiosk
# keeps each press until the hub's receipt (otklik/v1/<b>/<k>/receipt) says it is
# stored, so the receipt, not the broker, is what makes a press durable.
# A short interval keeps such re-sends few. It costs a rewrite of the whole
# snapshot every interval while messages are queued (the hub is away): about
# 230 bytes per queued press, so 100,000 waiting presses are a 23 MB write
# every 5 s (measured: tests/bench/bench_receipts.py).
persistence true
persistence_location {o.persistence_dir}
autosave_interval 5

# --- limits ---
# A PUBLISH of the protocol's largest payload ({protocol.MAX_PAYLOAD_BYTES} bytes) on its longest topic;
# a client sending more is disconnected before anything is stored (global option).
max_packet_size {protocol.MAX_PACKET_BYTES}
max_inflight_messages 100
# The default of 1000 silently drops QoS 1 messages queued for a slow hub
# (measured: 1k-5k lost in a 20k run). Never 0: buggy in some 2.0.x.
max_queued_messages 1000000
max_keepalive 300

# --- logging ---
log_dest {o.log_dest}
log_type error
log_type warning
log_type notice
connection_messages true
"""


def write_atomic(path: Path, text: str, *, mode: int = 0o640, group: int | None = None) -> None:
    """Replace a file in one rename, readable by the broker's group (``group``, a gid) and nobody else."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        give_to_group(Path(tmp), group)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def broker_gid(group: str | None = None) -> int | None:
    """The gid Mosquitto reads its files with: ``group`` by name, or ``mosquitto`` if it exists.

    Mosquitto drops to its own user after start and reads the password file, ACL
    and TLS key as that user (also on SIGHUP), so they must be group-readable by
    it. None: no group to give them to (no ``mosquitto`` group, or not root),
    and the files stay their creator's.
    """
    if group is None:
        if os.geteuid() != 0:
            return None
        try:
            return grp.getgrnam(DEFAULT_BROKER_GROUP).gr_gid
        except KeyError:
            return None
    try:
        return grp.getgrnam(group).gr_gid
    except KeyError:
        raise ProvisionError(
            f"--broker-group {group!r} is not a group on this machine",
            hint="name the group Mosquitto runs as (Debian: mosquitto)",
        ) from None


def give_to_group(path: Path, gid: int | None) -> None:
    if gid is None:
        return
    try:
        os.chown(path, -1, gid)
    except PermissionError:
        raise ProvisionError(
            f"cannot give {path} to group {gid}", hint="run as root, or as a member of the broker's group"
        ) from None


def write_auth_files(
    broker_dir: str | Path, credentials: list[Credential], *, mode: int = 0o640, group: int | None = None
) -> None:
    d = Path(broker_dir)
    write_atomic(d / PASSWD, render_passwd(credentials), mode=mode, group=group)
    write_atomic(d / ACL, render_acl(credentials), mode=mode, group=group)


def reload_broker(how: str) -> str:
    """Make Mosquitto reread its password and ACL files; returns what was done.

    ``how``: ``systemctl`` (``systemctl reload mosquitto``), ``pidfile:PATH``
    (SIGHUP to the pid in PATH), ``command:CMD`` or ``none``.
    """
    if how == "none":
        return "not reloaded (--reload none): send SIGHUP to mosquitto yourself"
    if how == "systemctl":
        return _run(["systemctl", "reload", "mosquitto"])
    if how.startswith("command:"):
        return _run(shlex.split(how.removeprefix("command:")))
    if how.startswith("pidfile:"):
        pidfile = Path(how.removeprefix("pidfile:"))
        try:
            pid = int(pidfile.read_text().strip())
        except (OSError, ValueError) as err:
            raise ProvisionError(
                f"cannot read the broker's pid from {pidfile}: {err}", hint="is Mosquitto running?"
            ) from None
        try:
            os.kill(pid, signal.SIGHUP)
        except ProcessLookupError:
            raise ProvisionError(f"no process {pid} (from {pidfile})", hint="is Mosquitto running?") from None
        return f"sent SIGHUP to mosquitto (pid {pid})"
    raise ProvisionError(f"--reload {how!r} must be systemctl, pidfile:PATH, command:CMD or none")


def _run(argv: list[str]) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    except FileNotFoundError:
        raise ProvisionError(f"cannot run {argv[0]!r}", hint="choose another --reload method") from None
    if done.returncode:
        raise ProvisionError(
            f"{' '.join(argv)} failed ({done.returncode}): {done.stderr.strip()}",
            hint="the files are written; reload the broker by hand",
        )
    return f"ran {' '.join(argv)}"
