"""Provisioning without a broker: hashes, registry, ACL text, bundles and bootstrap tokens."""

from __future__ import annotations

import os
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

from hub import ingest
from hub.db import open_db
from hub.provisioning import ProvisionError, broker_files, bundle, registry
from hub.provisioning.passwords import hash_password, new_password, verify_password
from kiosk.config import config_from_dict


def test_our_hashes_match_mosquitto_passwd(tmp_path: Path) -> None:
    tool = shutil.which("mosquitto_passwd")
    assert tool, "mosquitto_passwd is not installed (apt-get install mosquitto)"
    pwfile = tmp_path / "pw"
    subprocess.run([tool, "-c", "-b", str(pwfile), "k-b1-k1", "s3cret pass"], check=True)
    theirs = pwfile.read_text().strip().split(":", 1)[1]
    assert verify_password("s3cret pass", theirs) and not verify_password("s3cret pasS", theirs)
    _, _, iterations, salt, _ = theirs.split("$")
    import base64

    assert hash_password("s3cret pass", salt=base64.b64decode(salt), iterations=int(iterations)) == theirs


def test_passwords_are_random_and_long() -> None:
    passwords = {new_password() for _ in range(50)}
    assert len(passwords) == 50 and all(len(p) >= 32 for p in passwords)


def test_registry_refuses_duplicates_and_collisions(hub_target: str | Path) -> None:
    db = registry.open_hub_db(hub_target)
    cred, password = registry.add_device(db, "b1", "k1")
    assert (
        cred.username == "k-b1-k1"
        and password not in repr(cred)
        and password not in str(db["credentials"].get("k-b1-k1"))
    )
    with pytest.raises(ProvisionError, match="already provisioned"):
        registry.add_device(db, "b1", "k1")
    registry.add_device(db, "a-b", "c")
    with pytest.raises(ProvisionError, match="already used"):
        registry.add_device(db, "a", "b-c")
    with pytest.raises(ProvisionError, match="not a valid id"):
        registry.add_device(db, "B1", "k/1")
    registry.revoke(db, "k-b1-k1")
    again, _ = registry.add_device(db, "b1", "k1")  # a replaced Pi gets the id back
    assert again.active


def test_acl_confines_each_kiosk_to_its_own_topics(hub_target: str | Path) -> None:
    db = registry.open_hub_db(hub_target)
    registry.add_device(db, "b1", "k1")
    registry.add_device(db, "b1", "k2")
    registry.add_service(db, "hub")
    registry.revoke(db, "k-b1-k2")
    acl = broker_files.render_acl(registry.all_credentials(db, active_only=False))
    k1 = acl.split("user k-b1-k1\n")[1].split("\n\n")[0].splitlines()
    assert all("otklik/v1/b1/k1/" in line for line in k1)
    assert "topic read otklik/v1/b1/k1/config" in k1 and "topic write otklik/v1/b1/k1/config" not in k1
    # The follow-up's answers, like ratings, only under the kiosk's own topics.
    assert "topic write otklik/v1/b1/k1/answer" in k1 and "otklik/v1/b1/+/answer" not in acl.split("user k-b1-k1")[1]
    assert "k-b1-k2" not in acl and "k-b1-k2" not in broker_files.render_passwd(registry.all_credentials(db))
    assert "user otklik-hub\ntopic read otklik/v1/#\n" in acl
    rules = [line for line in acl.splitlines() if not line.startswith("#")]
    assert not any("%c" in r or r.startswith("pattern") for r in rules)


def test_hub_rejects_a_payload_that_claims_another_kiosk(tmp_path: Path) -> None:
    db = open_db(tmp_path / "hub.db")
    body = b'{"v":1,"branch":"b1","kiosk":"k1","id":"abcdefgh1","seq":1,"ts":"2026-01-01T00:00:00.000Z","score":4}'
    ingest.handle_message(db, "otklik/v1/b1/k2/rating", body)
    assert db["events"].count == 0 and db["dead_letters"].count == 1


def test_bundle_is_a_valid_kiosk_config_and_the_token_round_trips(tmp_path: Path) -> None:
    spec = bundle.KioskSpec(branch="b1", kiosk="k1", username="k-b1-k1", broker_url="mqtts://hub.local:8883",
                            employee="e17", labels=["1", "2", "3", "4"], pins=[5, 6, 13, 19])  # fmt: skip
    config = bundle.kiosk_config(spec)
    files = bundle.write_kiosk_bundle(tmp_path / "out", config, "pw-123", "-----BEGIN CERTIFICATE-----\nX\n")
    assert oct(os.stat(files["password"]).st_mode & 0o777) == "0o600"
    assert oct(os.stat(tmp_path / "out").st_mode & 0o777) == "0o700"
    assert files["qr"].read_bytes().startswith(b"\x89PNG")
    parsed = tomllib.loads(files["config"].read_text())
    assert parsed == config and "pw-123" not in files["config"].read_text()
    line = files["bootstrap"].read_text().strip()
    # The token travels on stdin (printf is a builtin: no process's argv holds it).
    assert line.startswith("printf '%s\\n' 'otk1:") and line.endswith("| sudo sh setup-kiosk.sh --bootstrap -")
    etc = tmp_path / "etc"
    path = bundle.unpack_token(bundle.find_token(line), etc)
    (etc / "data").mkdir()
    unpacked = tomllib.loads(path.read_text())
    unpacked["kiosk"]["data_dir"] = str(etc / "data")
    checked = config_from_dict(unpacked)
    assert checked.broker.password == "pw-123" and checked.broker.ca_file == str(etc / "ca.crt")
    assert checked.kiosk.employee == "e17" and checked.buttons.labels == ("1", "2", "3", "4")
    with pytest.raises(ProvisionError, match="damaged"):
        bundle.read_token(bundle.find_token(line)[:-10])


def test_pad_config_is_accepted_by_the_firmware() -> None:
    import sys

    from hub.provisioning.pad import pad_config

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "firmware"))
    try:
        from otpad.config import PadConfig
    finally:
        sys.path.pop(0)
    raw = pad_config(
        branch="b1", kiosk="pad1", username="k-b1-pad1", password="pw", broker_url="mqtts://hub:8883",
        employee="e17", ca_pem=None, pins=[12, 13, 14, 15], wifi_ssid="Store", wifi_password="w",
    )  # fmt: skip
    pad = PadConfig(raw)
    assert (pad.branch, pad.device, pad.broker_user, pad.broker_password) == ("b1", "pad1", "k-b1-pad1", "pw")
    assert pad.broker_ssl and pad.broker_port == 8883 and pad.button_pins == [12, 13, 14, 15]


def _token(tmp_path: Path, password: str = "pw-secret-123") -> str:
    spec = bundle.KioskSpec(branch="b1", kiosk="k1", username="k-b1-k1", broker_url="mqtts://hub.local:8883")
    files = bundle.write_kiosk_bundle(tmp_path / "out", bundle.kiosk_config(spec), password, None)
    return files["bootstrap"].read_text()


def test_unpack_refuses_the_token_as_an_argument_and_reads_it_from_stdin_or_a_file(tmp_path: Path) -> None:
    """The token decodes to the kiosk's password: on a command line every user sees it in `ps`."""
    from click.testing import CliRunner

    from hub.provisioning.cli import provision

    line = _token(tmp_path)
    token = bundle.find_token(line)
    runner = CliRunner()
    refused = runner.invoke(provision, ["unpack", token, "--etc", str(tmp_path / "etc0")])
    assert refused.exit_code == 2 and "not taken on the command line" in refused.output
    assert not (tmp_path / "etc0").exists()
    # The whole bootstrap line on stdin, as setup-kiosk.sh pipes it.
    piped = runner.invoke(provision, ["unpack", "--etc", str(tmp_path / "etc1")], input=line)
    assert piped.exit_code == 0, piped.output
    assert (tmp_path / "etc1" / "mqtt-password").read_text() == "pw-secret-123\n"
    (tmp_path / "token.txt").write_text(token)
    filed = runner.invoke(
        provision, ["unpack", "--etc", str(tmp_path / "etc2"), "--token-file", str(tmp_path / "token.txt")]
    )
    assert filed.exit_code == 0 and (tmp_path / "etc2" / "kiosk.toml").exists()
    empty = runner.invoke(provision, ["unpack", "--etc", str(tmp_path / "etc3")], input="\n")
    assert empty.exit_code == 1 and "no bootstrap token" in empty.output
