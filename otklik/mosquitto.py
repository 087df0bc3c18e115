"""Running a Mosquitto broker as a child process: for `otklik demo` and for the tests."""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

# Options after a `listener` line configure that listener; written before the
# first one, Mosquitto applies them to an extra default listener on 1883 instead.
BASE_CONF = """\
listener {port} {host}
{listener_options}allow_anonymous {anonymous}
{auth}persistence true
persistence_location {dir}/
autosave_interval 1
# The default of 1000 silently drops QoS 1 messages queued for a slow subscriber.
max_queued_messages 1000000
max_inflight_messages 1000
{user}log_dest file {dir}/mosquitto.log
log_type error
log_type warning
log_type notice
"""


def mosquitto_binary() -> str | None:
    for candidate in (shutil.which("mosquitto"), "/usr/sbin/mosquitto"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def dynsec_plugin() -> str | None:
    """Mosquitto's dynamic-security plugin on this machine (any architecture), if installed."""
    found = sorted(
        glob.glob("/usr/lib/*/mosquitto_dynamic_security.so") + glob.glob("/usr/lib/mosquitto_dynamic_security.so")
    )
    return found[0] if found else None


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
        return True


@dataclass(frozen=True)
class BrokerAuth:
    """A password file and an ACL (rendered by hub.provisioning.broker_files) for a local broker."""

    passwd: Path
    acl: Path


def listener_options(*, identity: bool, max_packet_size: int | None) -> str:
    """The lines under the listener: client ids tied to credentials, and the packet bound."""
    lines = []
    if identity:
        from hub.provisioning.broker_files import IDENTITY  # the deploy config's same line

        lines.append(IDENTITY)
    if max_packet_size:
        # A global option in Mosquitto 2.0 (it holds wherever it is written); kept
        # beside the listener it protects.
        lines.append(f"max_packet_size {max_packet_size}")
    return "".join(line + "\n" for line in lines)


def auth_lines(auth: BrokerAuth, state_dir: Path) -> str:
    from hub.provisioning.broker_files import dynsec_lines  # the deploy config's same lines

    plugin = dynsec_plugin()
    if not plugin:
        raise RuntimeError("Mosquitto's dynamic-security plugin is missing (Debian's mosquitto package ships it)")
    return f"password_file {auth.passwd}\nacl_file {auth.acl}\n" + dynsec_lines(plugin, str(state_dir))


class MosquittoProcess:
    """A local Mosquitto for development and tests (never for production: see deploy/).

    Anonymous unless ``auth`` is given; with it, only its users may connect, the
    ACL applies, every client id is its username and, as deployed, the hub can
    cut off a flooding kiosk through the dynamic-security plugin.
    """

    def __init__(
        self,
        workdir: Path,
        *,
        port: int | None = None,
        host: str = "127.0.0.1",
        extra_conf: str = "",
        auth: BrokerAuth | None = None,
        max_packet_size: int | None = None,
    ) -> None:
        binary = mosquitto_binary()
        if not binary:
            raise RuntimeError("Mosquitto is not installed (Debian: apt-get install mosquitto)")
        self.binary = binary
        self.dir = Path(workdir).resolve()
        self.dir.mkdir(parents=True, exist_ok=True)
        self.host = host
        self.port = port or free_port(host)
        self.conf = self.dir / "mosquitto.conf"
        # Started as root, Mosquitto drops to its own user, which cannot write
        # into a root-owned temporary folder; staying root is fine for a
        # loopback-only development broker.
        user = "user root\n" if os.geteuid() == 0 else ""
        self.conf.write_text(
            BASE_CONF.format(
                port=self.port,
                host=host,
                dir=self.dir,
                user=user,
                listener_options=listener_options(identity=auth is not None, max_packet_size=max_packet_size),
                anonymous="false" if auth else "true",
                auth=auth_lines(auth, self.dir) if auth else "",
            )
            + extra_conf
        )
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    @property
    def log_file(self) -> Path:
        return self.dir / "mosquitto.log"

    def start(self, timeout: float = 10) -> MosquittoProcess:
        self.proc = subprocess.Popen(
            [self.binary, "-c", str(self.conf)], stderr=subprocess.PIPE, start_new_session=True
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                log = self.log_file.read_text() if self.log_file.exists() else ""
                raise RuntimeError(f"mosquitto exited with {self.proc.returncode}: {err}{log}")
            try:
                with socket.create_connection((self.host, self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"mosquitto did not listen on port {self.port} within {timeout} s")

    def stop(self) -> None:
        """A clean stop (SIGTERM): Mosquitto saves its persistent sessions first."""
        self._end(signal.SIGTERM)

    def kill(self) -> None:
        self._end(signal.SIGKILL)

    def _end(self, sig: int) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=10)
        self.proc = None

    def reload(self) -> None:
        """SIGHUP: Mosquitto rereads its password and ACL files without dropping clients."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGHUP)
