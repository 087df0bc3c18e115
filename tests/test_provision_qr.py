"""``otklik provision qr``: the printed sheet holds a link that verifies, revoking stops it, and no secret leaks."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from hub import branches, config_push, scores
from hub.db import open_db
from hub.ingest import handle_message
from hub.provisioning import ProvisionError, qr
from otklik import protocol
from otklik.cli import cli
from tests.hub_db import migrate

URL = "https://feedback.example.com"


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def decode(png: Path) -> str:
    image = cv2.cvtColor(np.asarray(Image.open(png).convert("RGB")), cv2.COLOR_RGB2BGR)
    text, _points, _raw = cv2.QRCodeDetector().detectAndDecode(image)
    return text


@pytest.mark.parametrize("language", ["en", "ru", "fa"])
def test_the_sheet_holds_a_link_that_verifies_and_no_secret_is_printed(tmp_path: Path, language: str) -> None:
    hub = migrate(tmp_path / "hub.db")
    out = tmp_path / f"sheet-{language}.png"
    code, output = run("provision", "qr", "--db", str(hub), "--branch", "b1", "--kiosk", "k1", "--name", "Тверская, 12",
                       "--language", language, "--url", URL, "--out", str(out))  # fmt: skip
    assert code == 0, output
    link = decode(out)
    assert link.startswith(f"{URL}/q/")
    signed = link.removeprefix(f"{URL}/q/")
    db = open_db(hub)
    token = qr.verify(db, qr.signing_key(hub), signed)
    assert (token.branch, token.kiosk) == ("b1", "k1")
    key = qr.key_path(hub)
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert key.read_text().strip() not in output and signed not in output and token.id in output
    # A PDF of the same page, for a print shop.
    pdf = tmp_path / "sheet.pdf"
    assert run("provision", "qr", "--db", str(hub), "--branch", "b1", "--url", URL, "--out", str(pdf))[0] == 0
    assert pdf.read_bytes().startswith(b"%PDF")
    db.close()


def test_list_and_revoke(tmp_path: Path) -> None:
    hub = migrate(tmp_path / "hub.db")
    for kiosk in ("k1", "k2"):
        code, output = run("provision", "qr", "--db", str(hub), "--branch", "b1", "--kiosk", kiosk, "--url", URL,
                           "--out", str(tmp_path / f"{kiosk}.png"))  # fmt: skip
        assert code == 0, output
    code, output = run("provision", "qr", "list", "--db", str(hub), "--json")
    listed = json.loads(output)
    assert [t["kiosk"] for t in listed] == ["k1", "k2"] and all(t["revoked_at"] is None for t in listed)
    signed = decode(tmp_path / "k1.png").rsplit("/", 1)[1]
    code, output = run("provision", "qr", "revoke", "--db", str(hub), listed[0]["id"])
    assert code == 0 and "revoked" in output
    db = open_db(hub)
    with pytest.raises(qr.BadToken):
        qr.verify(db, qr.signing_key(hub), signed)
    db.close()
    assert [t["kiosk"] for t in json.loads(run("provision", "qr", "list", "--db", str(hub), "--json")[1])] == ["k2"]
    assert len(json.loads(run("provision", "qr", "list", "--db", str(hub), "--all", "--json")[1])) == 2
    code, output = run("provision", "qr", "revoke", "--db", str(hub), listed[0]["id"])
    assert code == 1 and "already revoked" in output
    code, output = run("provision", "qr", "revoke", "--db", str(hub), "nosuchcode")
    assert code == 1 and "no QR code" in output


def test_bad_options_are_named(tmp_path: Path) -> None:
    hub = migrate(tmp_path / "hub.db")
    base = ["provision", "qr", "--db", str(hub), "--branch", "b1", "--url", URL]
    code, output = run(*base, "--kiosk", "K 1", "--out", str(tmp_path / "x.png"))
    assert code == 2 and "--kiosk" in output
    code, output = run(*base, "--out", str(tmp_path / "x.jpg"))
    assert code == 2 and "--out" in output
    code, output = run("provision", "qr", "--db", str(hub), "--branch", "b1", "--url", "feedback.example.com",
                       "--out", str(tmp_path / "x.png"))  # fmt: skip
    assert code == 2 and "--url" in output
    code, output = run("provision", "qr", "--db", str(hub), "--branch", "b1", "--out", str(tmp_path / "x.png"))
    assert code == 2 and "--url" in output


def test_branch_set_phone_ratings_recounts_the_branch(tmp_path: Path) -> None:
    hub = migrate(tmp_path / "hub.db")
    db = open_db(hub)
    for i, channel in enumerate((protocol.CHANNEL_BUTTONS, protocol.CHANNEL_PHONE), start=1):
        body = protocol.rating_payload(branch="b1", kiosk="k1", id=f"event-{i:04d}", seq=i, ts="2026-12-01T10:00:00Z",
                                       score=4, channel=channel)  # fmt: skip
        handle_message(db, protocol.topic("b1", "k1", "rating"), protocol.encode(body))
    assert scores.total(db, branch="b1")["responses"] == 2
    code, output = run("branch", "set", "b1", "--db", str(hub), "--set", "phone_ratings=separate")
    assert code == 0, output
    assert "re-counted 1 presses" in output  # the kiosk's; the phone's is left out
    assert branches.get(db, "b1").phone_ratings == "separate"
    assert scores.total(db, branch="b1")["responses"] == 1
    code, output = run("branch", "set", "b1", "--db", str(hub), "--set", "phone_ratings=sometimes")
    assert code != 0 and "phone_ratings" in output
    # The branch's, in the one schema: never pushed to a kiosk.
    with pytest.raises(ProvisionError, match="is the branch's, never pushed"):
        config_push.set_settings(db, "b1", "k1", {"phone_ratings": "separate"})
    db.close()


def test_a_postgresql_hub_needs_the_key_file_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file "<url>.qr-key" would be a file named after the URL (its password too) under the working folder."""
    from otklik.errors import OtklikError

    monkeypatch.delenv("OTKLIK_QR_KEY_FILE", raising=False)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(OtklikError) as refused:
        qr.signing_key("postgresql://otklik:s3cret@127.0.0.1:5432/otklik")
    assert refused.value.field == "OTKLIK_QR_KEY_FILE" and "s3cret" not in str(refused.value)
    assert list(tmp_path.iterdir()) == []
    monkeypatch.setenv("OTKLIK_QR_KEY_FILE", str(tmp_path / "qr-key"))
    key = qr.signing_key("postgresql://otklik:s3cret@127.0.0.1:5432/otklik")
    assert key == (tmp_path / "qr-key").read_text().strip()
