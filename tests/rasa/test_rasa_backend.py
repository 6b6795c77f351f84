"""End-to-end: a real Rasa 3.6 server trained on nlu/data, asked through RasaNLU."""
from __future__ import annotations

import pytest

from nlu.backend import ENTITIES, FALLBACK_INTENT, INTENTS
from nlu.rasa.client import RasaNLU
from nlu.rasa.server import free_port

pytestmark = pytest.mark.rasa
CONTRACT = set(INTENTS) | {FALLBACK_INTENT}


async def test_parses_through_real_rasa(rasa_server) -> None:
    nlu = RasaNLU(rasa_server.url, timeout=30)
    try:
        assert await nlu.check_health() is True
        assert nlu.is_ready()

        greet = await nlu.parse("assalamualaikum pak")
        porsi = await nlu.parse("mau cek nomor porsi 1234567890")
        thanks = await nlu.parse("terima kasih banyak ya")
        faq = await nlu.parse("apa itu istithaah kesehatan?")
    finally:
        await nlu.close()

    for result in (greet, porsi, thanks, faq):
        assert set(result) >= {"text", "intent", "entities", "intent_ranking", "response_selector"}
        assert result["intent"]["name"] in CONTRACT
        assert 0.0 <= result["intent"]["confidence"] <= 1.0
        assert {r["name"] for r in result["intent_ranking"]} <= CONTRACT
        for ent in result["entities"]:
            assert ent["entity"] in ENTITIES
            assert set(ent) >= {"entity", "value", "start", "end", "confidence", "extractor"}
            assert result["text"][ent["start"]:ent["end"]]

    assert greet["intent"]["name"] == "greet"
    assert thanks["intent"]["name"] == "thanks"
    assert porsi["intent"]["name"] == "check_porsi"
    # FAQ answers come from Rasa's ResponseSelector, where the dialogues read them.
    assert faq["intent"]["name"] == "faq"
    assert faq["response_selector"]["faq"]["response"]["responses"][0]["text"]
    assert faq["response_selector"]["faq"]["response"]["intent_response_key"].startswith("faq/")
    numbers = [e for e in porsi["entities"] if e["entity"] == "porsi_number"]
    assert numbers and numbers[0]["value"] == "1234567890"
    assert porsi["text"][numbers[0]["start"]:numbers[0]["end"]] == "1234567890"


async def test_server_down_gives_fallback(rasa_venv) -> None:
    nlu = RasaNLU(f"http://127.0.0.1:{free_port()}", timeout=2)
    try:
        result = await nlu.parse("cek porsi 1234567890")
        assert await nlu.check_health() is False
    finally:
        await nlu.close()
    assert result["intent"] == {"name": FALLBACK_INTENT, "confidence": 0.0}
    assert result["entities"] == []
    assert not nlu.is_ready()


async def test_stopped_server_gives_fallback(rasa_server) -> None:
    """The last test using `rasa_server`: it stops the shared server (saves a second start)."""
    nlu = RasaNLU(rasa_server.url, timeout=10)
    try:
        assert (await nlu.parse("halo"))["intent"]["name"] in CONTRACT
        assert nlu.is_ready()
        rasa_server.stop()
        result = await nlu.parse("halo")
        assert result["intent"]["name"] == FALLBACK_INTENT
        assert result["text"] == "halo"
        assert not nlu.is_ready()
    finally:
        await nlu.close()


OFFLINE_SCRIPT = """
import asyncio, sys
from pathlib import Path
from nlu.rasa.client import RasaNLU
from nlu.rasa.server import start_server

async def ask(url):
    nlu = RasaNLU(url, timeout=30, health_interval=None)
    try:
        return await nlu.parse("cek porsi 0300551122")
    finally:
        await nlu.close()

with start_server(Path(sys.argv[1]), Path(sys.argv[2]), timeout=600) as server:
    result = asyncio.run(ask(server.url))
print("intent=" + result["intent"]["name"])
"""


def test_serves_without_network(rasa_venv, rasa_model, tmp_path) -> None:
    """Rasa loads and answers inside a network namespace that has only loopback (no telemetry, no hubs)."""
    import shutil
    import subprocess
    import sys

    from tests.rasa.conftest import REPO

    unshare = shutil.which("unshare")
    if unshare is None or subprocess.run([unshare, "-n", "true"], capture_output=True).returncode != 0:
        pytest.skip("cannot create a network namespace here (unshare -n)")
    script = tmp_path / "offline.py"
    script.write_text(OFFLINE_SCRIPT, encoding="utf-8")
    shell = f'ip link set lo up 2>/dev/null; exec "{sys.executable}" "{script}" "{rasa_venv}" "{rasa_model}"'
    proc = subprocess.run([unshare, "-n", "sh", "-c", shell], cwd=REPO, capture_output=True, text=True,
                          timeout=900, env={**__import__("os").environ, "PYTHONPATH": str(REPO)})
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "intent=check_porsi" in proc.stdout
