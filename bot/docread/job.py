"""The background job that reads identity documents of submitted cases with OCR, one at a time.

A document qualifies when its case was submitted, its checklist item is listed in
`dialogues/rules/document_reading.yml`, it is a photo or a PDF scan, and it was not read yet. The job claims
a document (ocr_status = reading; a claim older than STALE_CLAIM is taken over: its reader died), reads it
in the worker pool's background lane (`dialogues.offload.run_background`: the event loop never waits for
Tesseract, and Tesseract only gets CPU time that conversations and document checks leave idle) and stores what was
read on the document. Staff see the comparison on the case page (bot/docread/compare.py); nothing is ever
decided automatically and the pilgrim is told nothing. Logs carry document ids and counts, never a NIK or a
name.
"""
from __future__ import annotations

import asyncio
import logging
import subprocess
import time
from datetime import datetime, timedelta, timezone

from sqlalchemy import and_, or_, select, update

from bot.core.background import BackgroundLoop
from bot.docread.reader import OcrUnavailable, available, read_card
from dialogues import offload
from dialogues.schema import DocumentReadingRules
from storage.db import Database
from storage.files import FileStore
from storage.models import CaseDocument

log = logging.getLogger(__name__)

READING, RETRY, READ, FAILED = "reading", "retry", "read", "failed"
STALE_CLAIM = timedelta(minutes=10)
RETRY_AFTER = timedelta(minutes=2)  # a reading that timed out (busy machine) is tried again ...
MAX_ATTEMPTS = 3  # ... up to this many times, then staff read the document by eye
IDLE_SECONDS = 30.0  # between looks for waiting documents: nobody waits for OCR, an idle look costs ~5 ms
START_DELAY_SECONDS = 30.0  # not during start-up bursts (nor in short-lived test servers)
READABLE_TYPES = ("image/jpeg", "image/png", "image/webp", "application/pdf")


class DocumentReader:
    """Start with `start()` (checks that Tesseract is installed: otherwise OCR is off, with one log line)."""

    def __init__(self, db: Database, files: FileStore, rules: DocumentReadingRules | None) -> None:
        self.db = db
        self.files = files
        self.rules = rules
        self.available = False
        self.not_before = 0.0  # monotonic time before which the loop does not read
        self.loop = BackgroundLoop("document reader", log, self.run_pass, lambda: IDLE_SECONDS)

    @property
    def enabled(self) -> bool:
        return self.rules is not None and self.rules.enabled and bool(self.rules.items)

    async def check(self) -> bool:
        """Whether OCR can run here; logs one line when it cannot."""
        if not self.enabled:
            self.available = False
            return False
        assert self.rules is not None
        self.available = await asyncio.to_thread(available, self.rules.language)
        if not self.available:
            log.warning("OCR off: tesseract with language '%s' is not installed (apt-get install tesseract-ocr "
                        "tesseract-ocr-%s); identity documents are not read", self.rules.language, self.rules.language)
        return self.available

    async def start(self, delay: float | None = None) -> None:
        if await self.check():
            self.not_before = time.monotonic() + (START_DELAY_SECONDS if delay is None else delay)
            self.loop.start()

    async def stop(self) -> None:
        await self.loop.stop()

    async def run_pass(self) -> bool:
        """The loop's pass: read one waiting document, once the start-up delay is over."""
        if time.monotonic() < self.not_before:
            return False
        return await self.read_one()

    async def read_one(self) -> bool:
        """Read one waiting document. True when one was handled (another may be waiting)."""
        if not self.available or self.rules is None:
            return False
        claimed = await self._claim()
        if claimed is None:
            return False
        doc_id, sha256, attempts = claimed
        # the pool's limit covers a worker's start-up and a second OCR pass; Tesseract has its own limit
        limit = 2 * self.rules.timeout_seconds + 30
        try:
            data = await self.files.read(sha256)
            reading = await offload.run_background(read_card, data, self.rules.language, self.rules.timeout_seconds,
                                        timeout=limit)
        except OcrUnavailable:
            self.available = False
            await self._finish(doc_id, None, None)
            log.warning("OCR off: tesseract or its language data disappeared; identity documents are not read")
            return False
        except Exception as exc:  # noqa: BLE001 - an unreadable file, a timeout: staff read this one by eye
            busy = (offload.OffloadError, TimeoutError, subprocess.TimeoutExpired)  # a busy machine, not a bad file
            final = attempts + 1 >= MAX_ATTEMPTS or not isinstance(exc, busy)
            log.warning("OCR of document %d failed (%s)%s", doc_id, type(exc).__name__,
                        "" if final else "; tried again later")
            await self._finish(doc_id, FAILED if final else RETRY,
                               {"error": type(exc).__name__, "attempts": attempts + 1})
            return True
        await self._finish(doc_id, READ, reading.as_json())
        log.info("OCR of document %d: %d NIK found, name %s, %.1f s", doc_id, len(reading.niks),
                 "found" if reading.name else "not found", reading.seconds)
        return True

    async def _claim(self) -> tuple[int, str, int] | None:
        """The next waiting document, claimed: (id, sha256, attempts so far)."""
        assert self.rules is not None
        now = datetime.now(timezone.utc)
        waiting = or_(CaseDocument.ocr_status.is_(None),
                      and_(CaseDocument.ocr_status == READING, CaseDocument.ocr_at < now - STALE_CLAIM),
                      and_(CaseDocument.ocr_status == RETRY, CaseDocument.ocr_at < now - RETRY_AFTER))
        query = (select(CaseDocument.id, CaseDocument.sha256, CaseDocument.ocr)
                 .where(CaseDocument.case_id.is_not(None), CaseDocument.status != "replaced",
                        CaseDocument.item_key.in_(list(self.rules.items)),
                        CaseDocument.content_type.in_(READABLE_TYPES), waiting)
                 .order_by(CaseDocument.id).limit(1))
        async with self.db.session() as session:
            row = (await session.execute(query)).first()
            if row is None:
                return None
            taken = await session.execute(update(CaseDocument).where(CaseDocument.id == row.id, waiting)
                                          .values(ocr_status=READING, ocr_at=now))
            await session.commit()
        if taken.rowcount != 1:  # another process claimed it first
            return None
        return int(row.id), str(row.sha256), int((row.ocr or {}).get("attempts", 0))

    async def _finish(self, doc_id: int, status: str | None, findings: dict[str, object] | None) -> None:
        async with self.db.session() as session:
            await session.execute(update(CaseDocument).where(CaseDocument.id == doc_id).values(
                ocr_status=status, ocr_at=datetime.now(timezone.utc), ocr=findings))
            await session.commit()

    async def run_until_idle(self) -> int:
        """Read every waiting document now (CLI, tests). Returns how many were handled."""
        count = 0
        while await self.read_one():
            count += 1
        return count
