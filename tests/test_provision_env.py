"""A store set up the way deploy/ sets one up: provisioned users, TLS, deploy's mosquitto.conf.

Shared by the provisioning and config-push tests (no tests of its own here).
"""

from __future__ import annotations

import os
import pwd
import shutil
import ssl
import tempfile
import threading
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from click.testing import CliRunner
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from hub.provisioning import broker_files, bundle
from hub.provisioning.cli import config_group, provision
from otklik.mosquitto import free_port
from tests.broker import Mosquitto

BROKER_USER = "mosquitto"  # what deploy's config says; Debian's package creates it


class SecureMosquitto(Mosquitto):
    """Mosquitto running deploy's configuration, on free ports, with files in ``broker_dir``.

    Started as root (as systemd starts it) it drops to its own user, as deployed,
    and must then read the password file, ACL and TLS key that provisioning wrote.
    """

    def __init__(self, workdir: Path, broker_dir: Path) -> None:
        super().__init__(workdir)
        self.local_port = free_port()
        as_root = os.geteuid() == 0
        if as_root:
            # Its persistence file and log are written after it dropped to its user.
            os.chown(self.dir, pwd.getpwnam(BROKER_USER).pw_uid, -1)
        opts = broker_files.ConfOptions(
            broker_dir=str(broker_dir),
            tls_port=self.port,
            tls_bind="127.0.0.1",
            local_port=self.local_port,
            persistence_dir=f"{self.dir}/",
            log_dest=f"file {self.log_file}",
            run_as=BROKER_USER if as_root else os.environ.get("USER", "nobody"),
        )
        self.conf.write_text(broker_files.render_mosquitto_conf(opts))
        self.pidfile = self.dir / "mosquitto.pid"

    def start(self, timeout: float = 10) -> SecureMosquitto:
        super().start(timeout)
        assert self.proc is not None
        self.pidfile.write_text(f"{self.proc.pid}\n")
        return self


class Store:
    """One store: hub DB, broker files, the broker, and a CLI runner preset for them."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.db = root / "hub.db"
        # The broker's own user cannot enter pytest's 0700 tmp_path: its files live
        # in a 0755 folder of their own, as /etc/mosquitto/otklik does.
        self.public = Path(tempfile.mkdtemp(prefix="otklik-store-"))
        self.public.chmod(0o755)
        self.broker_dir = self.public / "broker"
        self.runner = CliRunner()
        self.run(provision, "ca", "--host", "127.0.0.1", "--host", "localhost", reload=False)
        self.broker = SecureMosquitto(self.public / "mosquitto", self.broker_dir)
        self.run(provision, "service", "hub", "--out", str(root / "etc"), reload=False)
        # Config pushes have their own hub credential: the broker ties a client id to
        # its username, so a push as otklik-hub would take over the running hub's session.
        self.run(provision, "service", "hub", "--name", "push", "--out", str(root / "etc"), reload=False)
        self.hub_password = (root / "etc" / "otklik-hub.password").read_text().strip()
        self.broker.start()
        self.ca = str(self.broker_dir / "certs" / "ca.crt")

    @property
    def url(self) -> str:
        return f"mqtts://127.0.0.1:{self.broker.port}"

    def env(self, reload: bool = True) -> dict[str, str]:
        return {
            "OTKLIK_DB": str(self.db),
            "OTKLIK_BROKER_DIR": str(self.broker_dir),
            "OTKLIK_BROKER_RELOAD": f"pidfile:{self.broker.pidfile}" if reload else "none",
            "OTKLIK_PUBLIC_BROKER_URL": self.url if reload else "mqtts://127.0.0.1:8883",
        }

    def run(self, group: Any, *args: str, reload: bool = True) -> str:
        result = self.runner.invoke(group, list(args), env=self.env(reload), catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.output

    def provision_kiosk(self, branch: str, kiosk: str, *extra: str) -> Path:
        out = self.root / f"bundle-{branch}-{kiosk}"
        self.run(provision, "kiosk", "--branch", branch, "--kiosk", kiosk, "--out", str(out), "--no-qr", *extra)
        return out

    def push_config(self, branch: str, kiosk: str, *settings: str) -> str:
        pw = self.root / "etc" / "otklik-hub-push.password"
        return self.run(
            config_group, "set", "--branch", branch, "--kiosk", kiosk, *settings,
            "--broker", self.url, "--password-file", str(pw), "--ca-file", self.ca,
        )  # fmt: skip

    def kiosk_config(self, bundle_dir: Path, **kiosk_overrides: Any) -> dict[str, Any]:
        """The kiosk's config as the Pi would get it, unpacked from the bootstrap line."""
        line = (bundle_dir / "bootstrap.txt").read_text()
        etc = bundle_dir / "etc"
        path = bundle.unpack_token(bundle.find_token(line), etc)
        data = tomllib.loads(path.read_text())
        data["kiosk"]["data_dir"] = str(bundle_dir / "data")
        data["kiosk"].update(kiosk_overrides)
        return data


def store_fixture(tmp_path: Path) -> Iterator[Store]:
    """``yield from`` this in a module's ``store`` fixture."""
    s = Store(tmp_path)
    yield s
    s.broker.stop()
    shutil.rmtree(s.public, ignore_errors=True)


class Client:
    """A bare MQTT 5 client that reports connect results, PUBACK reason codes and messages."""

    def __init__(self, port: int, username: str | None, password: str | None, ca: str | None, cid: str) -> None:
        self.connack: Any = None
        self.acks: dict[int, Any] = {}
        self.suback: list[Any] = []
        self.messages: list[mqtt.MQTTMessage] = []
        self.cond = threading.Condition()
        self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=cid, protocol=mqtt.MQTTv5)
        if username:
            self.c.username_pw_set(username, password)
        if ca:
            self.c.tls_set(ca_certs=ca, cert_reqs=ssl.CERT_REQUIRED)
        self.c.on_connect = self._on_connect
        self.disconnects: list[Any] = []
        self.c.on_disconnect = lambda _c, _u, _f, rc, _p: self._note(lambda: self.disconnects.append(rc))
        self.c.on_publish = lambda _c, _u, mid, rc, _p: self._note(lambda: self.acks.__setitem__(mid, rc))
        self.c.on_subscribe = lambda _c, _u, _m, rcs, _p: self._note(lambda: self.suback.extend(rcs))
        self.c.on_message = lambda _c, _u, msg: self._note(lambda: self.messages.append(msg))
        self.c.connect_async("127.0.0.1", port, properties=Properties(PacketTypes.CONNECT))
        self.c.loop_start()

    def _on_connect(self, _c: Any, _u: Any, _f: Any, rc: Any, _p: Any) -> None:
        self._note(lambda: setattr(self, "connack", rc))
        if rc.is_failure:
            self.c.disconnect()  # no reconnect loop against a broker that said no

    def _note(self, change: Any) -> None:
        with self.cond:
            change()
            self.cond.notify_all()

    def wait(self, predicate: Any, timeout: float = 10) -> Any:
        with self.cond:
            assert self.cond.wait_for(predicate, timeout), "timed out"
        return predicate()

    def connected(self, timeout: float = 10) -> bool:
        rc = self.wait(lambda: self.connack is not None, timeout)
        return not self.connack.is_failure if rc else False

    def close(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()


def connect(store: Store, username: str | None, password: str | None, *, tls: bool = True) -> Client:
    port = store.broker.port if tls else store.broker.local_port
    return Client(port, username, password, store.ca if tls else None, cid=f"t-{username}-{os.urandom(3).hex()}")
