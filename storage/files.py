"""Content-addressed document store on local disk: files are named by their SHA-256, never by user input.

With a key (HAJIBOT_FILES_KEY, settings.secrets.files_key) files are encrypted at rest with AES-256-GCM
(storage/crypto.py); the name stays the SHA-256 of the plaintext and `read` returns the plaintext, so readers
(pipeline, back office previews, channels) never notice. Without a key files are stored plain and a warning
is logged once. `hajibot init` creates a key file when no key is set, so documents are encrypted by default.
Files written before a key was configured stay readable (`hajibot privacy encrypt-files` encrypts them).
"""
from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from storage.crypto import FileCipher, is_encrypted
from storage.filetypes import sniff_content_type

log = logging.getLogger(__name__)
_warned_plain = False


@dataclass(frozen=True)
class StoredFile:
    """A file saved in the store, as referenced from messages and case documents."""

    sha256: str
    size: int
    content_type: str  # sniffed from the bytes, not the name
    filename: str = ""  # the name the user gave, for display only

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "StoredFile":
        return cls(sha256=data["sha256"], size=int(data["size"]), content_type=data["content_type"],
                   filename=data.get("filename", ""))


class FileStore:
    """Writes atomically (temp file + rename) so a crash or a full disk never leaves a half file in place."""

    def __init__(self, root: Path, key: str | None = None) -> None:
        self.root = Path(root)
        self.cipher = FileCipher(key) if key else None
        if self.cipher is None:
            _warn_plain_once()

    def path_for(self, sha256: str) -> Path:
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise ValueError("invalid sha256")
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def put_sync(self, data: bytes, filename: str = "") -> StoredFile:
        digest = hashlib.sha256(data).hexdigest()
        target = self.path_for(digest)
        if not target.exists():
            self._write(target, self.cipher.encrypt(data, digest) if self.cipher else data)
        return StoredFile(sha256=digest, size=len(data), content_type=sniff_content_type(data),
                          filename=_safe_display_name(filename))

    def _write(self, target: Path, payload: bytes) -> None:
        """Temp file + fsync + rename: on any error (ENOSPC too) the temp file is removed and the target
        is either absent or complete."""
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(payload)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    async def put(self, data: bytes, filename: str = "") -> StoredFile:
        return await asyncio.to_thread(self.put_sync, data, filename)

    def read_sync(self, sha256: str) -> bytes:
        blob = self.path_for(sha256).read_bytes()
        if not is_encrypted(blob):
            return blob
        if self.cipher is None:
            if hashlib.sha256(blob).hexdigest() == sha256:
                return blob  # a plain file that happens to start with the magic bytes
            raise PermissionError("document is encrypted: set HAJIBOT_FILES_KEY")
        try:
            return self.cipher.decrypt(blob, sha256)
        except Exception:
            if hashlib.sha256(blob).hexdigest() == sha256:
                return blob
            raise

    def exists(self, sha256: str) -> bool:
        return self.path_for(sha256).exists()

    def encrypt_existing_sync(self, rekey: bool = False) -> int:
        """Encrypt plain files written before a key was configured; with `rekey`, also re-encrypt files that
        only an older key opens (after a rotation) under the current key. Returns how many were rewritten."""
        if self.cipher is None:
            raise PermissionError("no HAJIBOT_FILES_KEY configured")
        count = 0
        for path in self.root.glob("??/??/*"):
            if path.name.startswith(".tmp-") or len(path.name) != 64:
                continue
            blob = path.read_bytes()
            if is_encrypted(blob) and hashlib.sha256(blob).hexdigest() != path.name:
                if not rekey or self.cipher.under_primary(blob, path.name):
                    continue
                blob = self.cipher.decrypt(blob, path.name)
            self._write(path, self.cipher.encrypt(blob, path.name))
            count += 1
        return count

    async def read(self, sha256: str) -> bytes:
        return await asyncio.to_thread(self.read_sync, sha256)

    def delete_sync(self, sha256: str) -> bool:
        path = self.path_for(sha256)
        if path.exists():
            path.unlink()
            return True
        return False


def _warn_plain_once() -> None:
    global _warned_plain
    if not _warned_plain:
        _warned_plain = True
        log.warning("no document key (HAJIBOT_FILES_KEY or storage.files_key_file; `hajibot init` creates one): "
                    "documents are stored unencrypted")


def _safe_display_name(name: str) -> str:
    base = os.path.basename(name.replace("\\", "/"))
    return "".join(ch for ch in base if ch.isprintable())[:120]
