"""RasaNLU: the NluBackend that asks a running Rasa server (POST /model/parse)."""
from __future__ import annotations

import asyncio
import logging
import time

from pathlib import Path

import aiohttp

from nlu.backend import ParseResult
from nlu.lexicon import Lexicons, load_lexicons
from nlu.rasa.entities import EntityMode, merge_entities
from nlu.rasa.normalize import fallback_result, normalize_parse
from nlu.settings import NluSettings
from nlu.split import split_questions

log = logging.getLogger(__name__)


class RasaNLU:
    """NLU backend backed by a Rasa Open Source HTTP server.

    Never raises for a user message: if Rasa is down, slow or answers garbage, one log line is
    written (without the message text, which may hold personal data) and an `nlu_fallback`
    result is returned. `is_ready()` reflects the last health check or parse attempt.
    """

    name = "rasa"

    def __init__(self, url: str = "http://127.0.0.1:5005", timeout: float = 5.0,
                 max_chars: int = 1000, health_timeout: float | None = None,
                 health_interval: float | None = 15.0, entities: EntityMode = "hybrid",
                 lexicons: Lexicons | None = None) -> None:
        """`health_interval`: seconds between background GET /status checks (None: no background
        checks). They start when the client is built inside a running event loop.
        `entities`: "hybrid" takes porsi/NIK/phone/ticket/date from our rule extractors (normalised
        values), "rasa" returns Rasa's entities unchanged. With `lexicons` (question joiners), a message that asks
        several questions also gets `parts`, each question parsed by Rasa on its own (as the built-in backend)."""
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.max_chars = max_chars
        self.health_timeout = health_timeout if health_timeout is not None else min(timeout, 2.0)
        self.health_interval = health_interval
        self.entity_mode: EntityMode = entities
        self.lexicons = lexicons
        self._session: aiohttp.ClientSession | None = None
        self._ready = False
        self._down_logged = False
        self._health_task: asyncio.Task[None] | None = None
        self.last_error: str | None = None
        if health_interval:
            try:
                asyncio.get_running_loop()
            except RuntimeError:
                pass  # no loop yet: call start_health_checks() later
            else:
                self.start_health_checks()

    @classmethod
    def from_settings(cls, nlu_settings: NluSettings, data_dir: Path | None = None) -> RasaNLU:
        """Build from the `nlu:` section of config.yml (`data_dir`: nlu/data, for the question joiners)."""
        lexicons = load_lexicons(Path(data_dir) / "lexicons") if data_dir and (Path(data_dir) / "lexicons").is_dir() \
            else None
        return cls(url=nlu_settings.rasa_url, timeout=nlu_settings.rasa_timeout_seconds,
                   max_chars=nlu_settings.max_chars, entities=nlu_settings.rasa_entities, lexicons=lexicons)

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.timeout, connect=min(self.timeout, 2.0)),
                raise_for_status=False,
            )
        return self._session

    def _mark_down(self, what: str, exc: BaseException | str) -> None:
        reason = exc if isinstance(exc, str) else type(exc).__name__
        self.last_error = f"{what}: {reason}"
        if not self._down_logged:  # one line per outage, not one per message
            log.warning("rasa unavailable at %s (%s); answering nlu_fallback", self.url, self.last_error)
            self._down_logged = True
        else:
            log.debug("rasa still unavailable at %s (%s)", self.url, self.last_error)
        self._ready = False

    def _mark_up(self, what: str) -> None:
        if not self._ready:
            log.info("rasa %s at %s", what, self.url)
        self._ready = True
        self._down_logged = False
        self.last_error = None

    async def parse(self, text: str) -> ParseResult:
        """Parse one message via Rasa; `nlu_fallback` when Rasa can't be asked."""
        if not isinstance(text, str) or not text.strip():
            return fallback_result(text if isinstance(text, str) else "")
        result = await self._parse_one(text)
        if self.lexicons is not None and self._ready:
            parts = split_questions(text[: self.max_chars], self.lexicons)
            if len(parts) > 1:
                result["parts"] = [{k: r.get(k) for k in ("text", "intent", "entities", "response_selector")}
                                   | {"intent_ranking": (r.get("intent_ranking") or [])[:3]}
                                   for r in [await self._parse_one(p) for p in parts]]
        return result

    async def _parse_one(self, text: str) -> ParseResult:
        started = time.perf_counter()
        try:
            async with self._client().post(f"{self.url}/model/parse",
                                           json={"text": text[: self.max_chars]}) as resp:
                if resp.status != 200:
                    self._mark_down("parse", f"HTTP {resp.status}")
                    return fallback_result(text)
                raw = await resp.json(content_type=None)
        except asyncio.CancelledError:
            raise
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError, OSError) as exc:
            self._mark_down("parse", exc)
            return fallback_result(text)
        self._mark_up("reachable")
        result = normalize_parse(raw, text)
        try:
            result["entities"] = merge_entities(text, result["entities"], self.entity_mode)
        except Exception:  # a rule bug must not cost the intent
            log.exception("entity post-processing failed on a message of %d chars", len(text))
        log.debug("rasa parse %.1f ms intent=%s", (time.perf_counter() - started) * 1000,
                  result["intent"]["name"])
        return result

    async def check_health(self) -> bool:
        """GET /status: ready when the server answers and has a model loaded."""
        try:
            async with self._client().get(
                    f"{self.url}/status",
                    timeout=aiohttp.ClientTimeout(total=self.health_timeout)) as resp:
                body = await resp.json(content_type=None) if resp.status == 200 else None
        except asyncio.CancelledError:
            raise
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError, OSError) as exc:
            self._mark_down("health", exc)
            return False
        if not isinstance(body, dict) or not body.get("model_file"):
            self._mark_down("health", "no model loaded" if isinstance(body, dict) else "bad /status")
            return False
        self._mark_up("ready")
        return True

    def start_health_checks(self, interval: float | None = None) -> None:
        """Check /status now and then every `interval` seconds until close()."""
        if self._health_task is None or self._health_task.done():
            self._health_task = asyncio.get_running_loop().create_task(
                self._health_loop(interval or self.health_interval or 15.0), name="rasa-health")

    async def _health_loop(self, interval: float) -> None:
        while True:
            try:
                await self.check_health()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # never let the checker die silently
                self._mark_down("health", exc)
            await asyncio.sleep(interval)

    def is_ready(self) -> bool:
        return self._ready

    async def close(self) -> None:
        if self._health_task is not None:
            self._health_task.cancel()
            try:
                await self._health_task
            except (asyncio.CancelledError, Exception):
                pass
            self._health_task = None
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None
        self._ready = False
