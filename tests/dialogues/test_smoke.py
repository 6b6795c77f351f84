from tests.dialogues.conftest import Chat


async def test_greet_and_menu(chat: Chat) -> None:
    out = await chat.say("assalamualaikum", parse={"intent": {"name": "greet", "confidence": 0.9}})
    assert "Selamat datang" in out
    out = await chat.say("1")
    assert "nomor porsi" in out.lower()
    out = await chat.say("0312345678")
    assert "tanggal lahir" in out
    out = await chat.say("3 Mei 1960")
    assert "SITI A***" in out and "2041" in out and "1463" in out
