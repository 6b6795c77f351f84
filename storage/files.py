"""Content-addressed document store on local disk: files are named by their SHA-256, never by user input."""
from __future__ import annotations

import asyncio
import hashlib
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from storage.filetypes import sniff_content_type


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

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path_for(self, sha256: str) -> Path:
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise ValueError("invalid sha256")
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def put_sync(self, data: bytes, filename: str = "") -> StoredFile:
        digest = hashlib.sha256(data).hexdigest()
        target = self.path_for(digest)
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data)
                    fh.flush()
                    os.fsync(fh.fileno())
                os.replace(tmp, target)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        return StoredFile(sha256=digest, size=len(data), content_type=sniff_content_type(data),
                          filename=_safe_display_name(filename))

    async def put(self, data: bytes, filename: str = "") -> StoredFile:
        return await asyncio.to_thread(self.put_sync, data, filename)

    def read_sync(self, sha256: str) -> bytes:
        return self.path_for(sha256).read_bytes()

    async def read(self, sha256: str) -> bytes:
        return await asyncio.to_thread(self.read_sync, sha256)

    def delete_sync(self, sha256: str) -> bool:
        path = self.path_for(sha256)
        if path.exists():
            path.unlink()
            return True
        return False


def _safe_display_name(name: str) -> str:
    base = os.path.basename(name.replace("\\", "/"))
    return "".join(ch for ch in base if ch.isprintable())[:120]
