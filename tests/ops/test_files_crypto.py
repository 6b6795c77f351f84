"""Documents encrypted at rest (AES-GCM), transparently for readers; plain without a key."""
from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any

import pytest

import storage.files as files_module
from storage.crypto import InvalidKeyError, generate_key, is_encrypted
from storage.files import FileStore

JPEG = b"\xff\xd8\xff\xe0" + b"JFIF-bytes" * 500


def test_encrypted_on_disk_plain_to_readers(tmp_path: Path) -> None:
    store = FileStore(tmp_path, generate_key())
    stored = store.put_sync(JPEG, "ktp.jpg")
    assert stored.sha256 == hashlib.sha256(JPEG).hexdigest()  # addressed by the plaintext
    assert stored.content_type == "image/jpeg" and stored.size == len(JPEG)
    raw = store.path_for(stored.sha256).read_bytes()
    assert is_encrypted(raw) and b"JFIF" not in raw
    assert store.read_sync(stored.sha256) == JPEG


async def test_async_read_and_dedup(tmp_path: Path) -> None:
    store = FileStore(tmp_path, generate_key())
    a = await store.put(JPEG)
    b = await store.put(JPEG)
    assert a.sha256 == b.sha256 and len(list(tmp_path.rglob("*/*/*"))) == 1
    assert await store.read(a.sha256) == JPEG


def test_wrong_key_fails_and_rotation_reads_old_files(tmp_path: Path) -> None:
    old, new = generate_key(), generate_key()
    sha = FileStore(tmp_path, old).put_sync(JPEG).sha256
    with pytest.raises(Exception):
        FileStore(tmp_path, new).read_sync(sha)
    rotated = FileStore(tmp_path, f"{new},{old}")
    assert rotated.read_sync(sha) == JPEG
    with pytest.raises(PermissionError):
        FileStore(tmp_path).read_sync(sha)


def test_tampered_file_is_rejected(tmp_path: Path) -> None:
    store = FileStore(tmp_path, generate_key())
    sha = store.put_sync(JPEG).sha256
    path = store.path_for(sha)
    blob = bytearray(path.read_bytes())
    blob[-1] ^= 1
    path.write_bytes(bytes(blob))
    with pytest.raises(Exception):
        store.read_sync(sha)


def test_without_key_plain_and_warned_once(tmp_path: Path, caplog: Any, monkeypatch: Any) -> None:
    monkeypatch.setattr(files_module, "_warned_plain", False)
    with caplog.at_level(logging.WARNING, logger="storage.files"):
        FileStore(tmp_path)
        store = FileStore(tmp_path)
    assert len([r for r in caplog.records if "documents are stored unencrypted" in r.getMessage()]) == 1
    sha = store.put_sync(JPEG).sha256
    assert store.path_for(sha).read_bytes() == JPEG


def test_existing_plain_files_readable_and_encrypted_later(tmp_path: Path) -> None:
    sha = FileStore(tmp_path).put_sync(JPEG).sha256
    key = generate_key()
    store = FileStore(tmp_path, key)
    assert store.read_sync(sha) == JPEG
    assert store.encrypt_existing_sync() == 1
    assert is_encrypted(store.path_for(sha).read_bytes())
    assert store.read_sync(sha) == JPEG
    assert store.encrypt_existing_sync() == 0


def test_bad_key_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidKeyError):
        FileStore(tmp_path, "too-short")
    assert FileStore(tmp_path, "ab" * 32).cipher is not None  # 64 hex digits


async def test_service_uses_the_key_and_back_office_reads_plain(make_settings: Any) -> None:
    from bot.services import build_services

    settings = make_settings(env={"HAJIBOT_FILES_KEY": generate_key()})
    services = await build_services(settings)
    try:
        stored = await services.files.put(JPEG, "x.jpg")
        assert is_encrypted(services.files.path_for(stored.sha256).read_bytes())
        assert await services.files.read(stored.sha256) == JPEG
    finally:
        await services.close()


async def test_malformed_key_stops_start_up(make_settings: Any) -> None:
    from bot.services import StartupError, build_services

    with pytest.raises(StartupError, match="HAJIBOT_FILES_KEY"):
        await build_services(make_settings(env={"HAJIBOT_FILES_KEY": "nope"}))
