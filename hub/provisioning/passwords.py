"""Mosquitto 2.0 password-file hashes (``$7$``: PBKDF2-HMAC-SHA512) and random passwords.

Written with hashlib rather than by shelling out to ``mosquitto_passwd`` so the
hub can provision on a machine that has no Mosquitto tools installed; the tests
check that mosquitto_passwd's own hashes verify here and that the broker accepts ours.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

# mosquitto_passwd's defaults in 2.0: 101 iterations, 12-byte salt, 64-byte key.
ITERATIONS = 101
SALT_BYTES = 12

# 24 bytes of randomness: 192 bits, 32 URL-safe characters, no shell-hostile characters.
PASSWORD_BYTES = 24


def new_password() -> str:
    return secrets.token_urlsafe(PASSWORD_BYTES)


def hash_password(password: str, *, salt: bytes | None = None, iterations: int = ITERATIONS) -> str:
    """The ``$7$`` hash Mosquitto 2.0 reads from a password file."""
    salt = salt if salt is not None else secrets.token_bytes(SALT_BYTES)
    key = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations)
    return f"$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(key).decode()}"


def verify_password(password: str, hashed: str) -> bool:
    parts = hashed.split("$")
    if len(parts) != 5 or parts[1] != "7":
        raise ValueError("not a Mosquitto $7$ (PBKDF2-SHA512) hash")
    iterations, salt, key = int(parts[2]), base64.b64decode(parts[3]), base64.b64decode(parts[4])
    candidate = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations)
    return hmac.compare_digest(candidate, key)
