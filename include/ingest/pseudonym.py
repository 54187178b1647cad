"""Keyed pseudonyms for ID numbers (HMAC-SHA256), so that sources can be joined on a
person without the number itself ever leaving the loader."""

from __future__ import annotations

import hashlib
import logging
import secrets
from pathlib import Path

from include import config
from include.errors import MissingPseudonymKey

log = logging.getLogger(__name__)


def load_key() -> bytes:
    """The key, from the environment, a key file, or an Airflow connection, in that order."""
    if value := config.env(config.PSEUDONYM_KEY_ENV):
        return value.encode()
    if path := config.env(config.PSEUDONYM_KEY_FILE_ENV):
        return Path(path).read_text().strip().encode()
    try:
        from airflow.sdk import BaseHook

        return BaseHook.get_connection(config.PSEUDONYM_KEY_CONN_ID).password.encode()
    except Exception:  # no Airflow, or no such connection: say how to provide a key
        raise MissingPseudonymKey(
            f"no pseudonymization key: set {config.PSEUDONYM_KEY_ENV}, or {config.PSEUDONYM_KEY_FILE_ENV} to a "
            f"key file, or an Airflow connection {config.PSEUDONYM_KEY_CONN_ID!r} with the key as its password"
        ) from None


def ensure_local_key_file(path: Path) -> Path:
    """Create a random key file for a local run if none exists (outside git), and say so."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
        log.warning("created a new pseudonymization key at %s (keep it: pseudonyms depend on it)", path)
    return path


class Pseudonymizer:
    """HMAC-SHA256 of the canonical ID number, as hex.

    Called once per ID number loaded, so the key is absorbed once: HMAC is
    H((K ^ opad) || H((K ^ ipad) || message)) (RFC 2104), and copying SHA-256 states that
    have already taken in the padded key costs a third of `hmac.new` per call. The
    result is the same as `hmac.new(key, message, hashlib.sha256).hexdigest()`.
    """

    def __init__(self, key: bytes):
        block = hashlib.sha256().block_size
        padded = (hashlib.sha256(key).digest() if len(key) > block else key).ljust(block, b"\0")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in padded))
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in padded))

    def __call__(self, canonical_id: str) -> str:
        inner = self._inner.copy()
        inner.update(canonical_id.encode())
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.hexdigest()
