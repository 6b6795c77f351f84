"""Encryption at rest for the document store: AES-256-GCM (the `cryptography` library).

Key: HAJIBOT_FILES_KEY = 32 random bytes as URL-safe base64 (`hajibot privacy keygen`) or 64 hex digits.
Several comma-separated keys rotate: the first encrypts, all are tried for reading. Without the environment
variable the keys come from the key file `storage.files_key_file` (created by `hajibot init`, mode 0600).
Rotation: `hajibot privacy rotate-key` (see docs/deployment.md).
File format: MAGIC (5 bytes) + nonce (12 bytes) + ciphertext with tag. The plaintext's SHA-256 (the file's
name in the store) is bound as associated data, so a file cannot be swapped for another one.
"""
from __future__ import annotations

import base64
import binascii
import functools
import os
from pathlib import Path
from typing import Any

MAGIC = b"HJE1\x00"
NONCE_BYTES = 12


class InvalidKeyError(ValueError):
    """HAJIBOT_FILES_KEY is not a valid key."""


class DecryptionError(Exception):
    """No configured key opens this file (wrong key, or the file was altered)."""


def generate_key() -> str:
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


def write_key_file(path: Path, keys: str | None = None, replace: bool = False) -> bool:
    """Write `keys` (default: a new key) to `path` with mode 0600; never overwrites unless `replace` (then
    atomically). Returns False when the file exists and `replace` is False."""
    path.parent.mkdir(parents=True, exist_ok=True)
    body = ((keys or generate_key()).strip() + "\n").encode()
    target = path.with_name(f".{path.name}.tmp") if replace else path
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        if replace:
            target.unlink()
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        else:
            return False
    with os.fdopen(fd, "wb") as fh:
        fh.write(body)
        fh.flush()
        os.fsync(fh.fileno())
    if replace:
        os.replace(target, path)
    return True


def parse_key(value: str) -> bytes:
    value = value.strip()
    if len(value) == 64:
        try:
            return bytes.fromhex(value)
        except ValueError:
            pass
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 32:
        raise InvalidKeyError("HAJIBOT_FILES_KEY must be 32 bytes as URL-safe base64 (hajibot privacy keygen) "
                        "or 64 hex digits")
    return raw


@functools.cache
def _aes_gcm() -> tuple[Any, type[Exception]]:
    """(AESGCM, InvalidTag), imported with the first document: cryptography's Rust core (~8 MB) is not loaded
    by a process that only chats."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    return AESGCM, InvalidTag


class FileCipher:
    def __init__(self, keys: str) -> None:
        self._keys = [parse_key(k) for k in keys.split(",") if k.strip()]
        if not self._keys:
            raise InvalidKeyError("HAJIBOT_FILES_KEY is empty")

    @functools.cached_property
    def _aeads(self) -> list[Any]:
        aes_gcm, _ = _aes_gcm()
        return [aes_gcm(key) for key in self._keys]

    def encrypt(self, data: bytes, sha256: str) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return MAGIC + nonce + self._aeads[0].encrypt(nonce, data, sha256.encode())

    def under_primary(self, blob: bytes, sha256: str) -> bool:
        """True when the first (current) key opens this file."""
        nonce, body = blob[len(MAGIC):len(MAGIC) + NONCE_BYTES], blob[len(MAGIC) + NONCE_BYTES:]
        _, invalid_tag = _aes_gcm()
        try:
            self._aeads[0].decrypt(nonce, body, sha256.encode())
            return True
        except invalid_tag:
            return False

    def decrypt(self, blob: bytes, sha256: str) -> bytes:
        nonce, body = blob[len(MAGIC):len(MAGIC) + NONCE_BYTES], blob[len(MAGIC) + NONCE_BYTES:]
        _, invalid_tag = _aes_gcm()
        for aead in self._aeads:
            try:
                return aead.decrypt(nonce, body, sha256.encode())
            except invalid_tag:
                continue
        raise DecryptionError("no configured HAJIBOT_FILES_KEY opens this file")


def is_encrypted(blob: bytes) -> bool:
    return blob.startswith(MAGIC)
