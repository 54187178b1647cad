"""Keyed pseudonyms for ID numbers (HMAC-SHA256), so that sources can be joined on a
person without the number itself ever leaving the loader."""

from __future__ import annotations

import hashlib
import logging
import secrets
from pathlib import Path

import numpy as np

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
        self._text_key = _text_key(key)

    def __call__(self, canonical_id: str) -> str:
        inner = self._inner.copy()
        inner.update(canonical_id.encode())
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.hexdigest()

    def hex_rows(self, ids: np.ndarray, present: np.ndarray | None = None) -> np.ndarray:
        """The pseudonyms of many canonical ID numbers at once: (rows, width) ASCII bytes in, (rows, 64)
        ASCII hex bytes out (rows not `present` are left zero). With polars-hash (its HMAC-SHA256
        runs in Rust, at a third of hashlib's cost per number) where it is installed and the key
        is text; else hashlib."""
        rows = np.flatnonzero(present) if present is not None else np.arange(len(ids))
        out = np.zeros((len(ids), 64), np.uint8)
        if not len(rows):
            return out
        chosen = np.ascontiguousarray(ids[rows])
        out[rows] = _polars_hex(self._text_key, chosen) if self._text_key is not None else _hashlib_hex(self, chosen)
        return out


_HEX = np.frombuffer(b"0123456789abcdef", np.uint8)


def _text_key(key: bytes) -> str | None:
    """The key as polars-hash takes it (text), if polars-hash is there and the key is UTF-8."""
    try:
        import polars_hash  # noqa: F401  (optional: the hashlib way gives the same pseudonyms)
    except ImportError:
        return None
    try:
        return key.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _polars_hex(key: str, ids: np.ndarray) -> np.ndarray:
    import polars as pl
    import polars_hash as plh

    numbers = pl.Series("id", ids.view(f"S{ids.shape[1]}").ravel())
    hexed = pl.DataFrame([numbers]).select(plh.col("id").chash.hmac_sha256(key=key)).to_series()
    return np.frombuffer(hexed.str.join("").item().encode("ascii"), np.uint8).reshape(len(ids), 64)


def _hashlib_hex(p: Pseudonymizer, ids: np.ndarray) -> np.ndarray:
    inner, outer = p._inner.copy, p._outer.copy
    raw, width = ids.tobytes(), ids.shape[1]
    digests = []
    for at in range(0, len(raw), width):
        i = inner()
        i.update(raw[at:at + width])
        o = outer()
        o.update(i.digest())
        digests.append(o.digest())
    d = np.frombuffer(b"".join(digests), np.uint8).reshape(len(ids), 32)
    hexed = np.empty((len(ids), 64), np.uint8)
    hexed[:, 0::2] = _HEX[d >> 4]
    hexed[:, 1::2] = _HEX[d & 15]
    return hexed
