"""A small CA and a server certificate for a store that has none, made with the openssl command.

EC P-256 keys: small certificates (they travel inside a kiosk's bootstrap QR
code) and fast handshakes on a Raspberry Pi.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from hub.provisioning import ProvisionError
from hub.provisioning.broker_files import give_to_group

CA_DAYS = 3650
SERVER_DAYS = 825  # the longest validity most TLS clients still accept for a server certificate


def _openssl(*args: str, cwd: Path) -> None:
    exe = shutil.which("openssl")
    if not exe:
        raise ProvisionError("the openssl command is not installed", hint="apt-get install openssl")
    # umask 077: a key openssl writes is never readable by others, not even for
    # the moment before we set its mode.
    done = subprocess.run([exe, *args], cwd=cwd, capture_output=True, text=True, umask=0o077)
    if done.returncode:
        raise ProvisionError(f"openssl {args[0]} failed: {done.stderr.strip()}")


def make_ca(certs_dir: Path, *, name: str = "Otklik store CA", force: bool = False) -> Path:
    certs_dir.mkdir(parents=True, exist_ok=True)
    ca_key, ca_crt = certs_dir / "ca.key", certs_dir / "ca.crt"
    if ca_crt.exists() and not force:
        raise ProvisionError(
            f"{ca_crt} already exists",
            hint="every kiosk trusts it; replacing it means re-provisioning them. Pass --force if you mean it",
        )
    _openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", str(ca_key), cwd=certs_dir)
    os.chmod(ca_key, 0o600)  # also when an old key was there with looser bits
    _openssl(
        "req", "-x509", "-new", "-key", str(ca_key), "-sha256", "-days", str(CA_DAYS),
        "-subj", f"/CN={name}", "-out", str(ca_crt),
        "-addext", "basicConstraints=critical,CA:TRUE,pathlen:0",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        cwd=certs_dir,
    )  # fmt: skip
    ca_crt.chmod(0o644)  # public: the broker and every kiosk read it
    return ca_crt


def make_server_cert(
    certs_dir: Path, hosts: list[str], *, broker_gid: int | None = None, ca_dir: Path | None = None
) -> Path:
    """server.crt/server.key signed by the CA in ``ca_dir`` (default ``certs_dir``), for every name/IP in ``hosts``.

    The key is 0640 with group ``broker_gid`` (the group Mosquitto runs as: it
    reads the key after dropping to its own user), or 0600 without one. A store
    broker's certificate is made into its own folder from the central CA.
    """
    if not hosts:
        raise ProvisionError("a server certificate needs at least one --host (the name kiosks connect to)")
    certs_dir.mkdir(parents=True, exist_ok=True)
    ca_key, ca_crt = (ca_dir or certs_dir) / "ca.key", (ca_dir or certs_dir) / "ca.crt"
    if not ca_key.exists():
        raise ProvisionError(f"no CA key at {ca_key}", hint="run `otklik provision ca` first")
    san = ",".join(f"IP:{h}" if _is_ip(h) else f"DNS:{h}" for h in hosts)
    key, crt = certs_dir / "server.key", certs_dir / "server.crt"
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        ext = work / "ext.cnf"
        ext.write_text(
            f"subjectAltName={san}\nbasicConstraints=critical,CA:FALSE\n"
            "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n"
        )
        _openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", str(key), cwd=work)
        _openssl("req", "-new", "-key", str(key), "-subj", f"/CN={hosts[0]}", "-out", "server.csr", cwd=work)
        _openssl(
            "x509", "-req", "-in", "server.csr", "-CA", str(ca_crt), "-CAkey", str(ca_key),
            "-CAcreateserial", "-CAserial", str(work / "ca.srl"), "-days", str(SERVER_DAYS), "-sha256",
            "-extfile", str(ext), "-out", str(crt),
            cwd=work,
        )  # fmt: skip
    crt.chmod(0o644)  # the certificate is public; kiosks get the CA's
    if broker_gid is None:
        os.chmod(key, 0o600)
    else:
        give_to_group(key, broker_gid)
        os.chmod(key, 0o640)
    return crt


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
