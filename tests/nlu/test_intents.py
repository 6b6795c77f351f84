"""Intent classification on tricky informal, Minang and ambiguous messages."""
from __future__ import annotations

import pytest

CASES = [
    ("Assalamualaikum pak 🙏", "greet"),
    ("P", "greet"),
    ("makasih banyak bu, sangat membantu", "thanks"),
    ("iya bu", "affirm"),
    ("ok lanjut", "affirm"),
    ("iyo pak", "affirm"),
    ("tidak", "deny"),
    ("indak", "deny"),
    ("ndak", "deny"),
    ("ga jadi", "stop"),
    ("batal", "stop"),
    ("batal aja ngobrolnya", "stop"),
    ("mulai dari awal", "stop"),
    ("saya mau batalkan pendaftaran haji", "cancel_registration"),
    ("bapak sy sdh meninggal, kami ahli waris mau ambil uang hajinya", "cancel_registration"),
    ("ambo nio mambatalan haji, pitihnyo nio diambiak", "cancel_registration"),
    ("syarat pembatalan haji apa aja", "cancel_registration"),
    ("porsi amak ambo nan alah maninggal bisa dilimpahan ka ambo?", "transfer_porsi"),
    ("syarat pelimpahan porsi", "transfer_porsi"),
    ("GMN CARA DAFTAR HAJI", "register_hajj"),
    ("umur minimal daftar haji brp", "register_hajj"),
    ("porsi sy 0300123456 kpn brgkt", "check_porsi"),
    ("0300 1234 56", "check_porsi"),
    ("PBT-2026-00042", "check_case_status"),
    ("pengajuan pembatalan saya sudah sampai mana", "check_case_status"),
    ("bara biaya haji kini", "ask_cost"),
    ("setoran awal haji berapa", "ask_cost"),
    ("kapan jadwal manasik", "ask_schedule"),
    ("pelunasan tahap 2 sampai kapan", "ask_schedule"),
    ("alamat kantor kemenag dimana", "ask_office"),
    ("kantor buka jam brp", "ask_office"),
    ("saya mau bicara dengan petugas", "human_handoff"),
    ("botnya ga ngerti", "human_handoff"),
    ("kabari saya kalau ada pengumuman", "subscribe"),
    ("jangan kirim pengumuman lagi", "unsubscribe"),
    ("menu", "menu"),
    ("bisa bantu apa saja", "menu"),
    ("vaksin meningitis wajib ga", "faq"),
    ("apa bedanya haji khusus sama reguler", "faq"),
    ("SPH ambo hilang", "faq"),
    ("resep rendang padang", "out_of_scope"),
    ("👍", "affirm"),
    ("🙏🙏", "thanks"),
    ("I want to cancel my hajj registration", "cancel_registration"),
    ("dmn almt kntr kmng", "ask_office"),
    ("pembtalan porsi haji syaratnya apa", "cancel_registration"),
    ("Assalamualaikum pak, ayah saya sudah berpulang bulan lalu. Beliau daftar haji 2017. Kami ingin salah satu "
     "anaknya yang melanjutkan keberangkatan beliau. Bagaimana prosedurnya?", "transfer_porsi"),
]


@pytest.mark.parametrize("text,intent", CASES)
def test_intent(parse, text: str, intent: str) -> None:
    result = parse(text)
    assert result["intent"]["name"] == intent, result["intent_ranking"][:3]


@pytest.mark.parametrize("text", ["asdkjqwe zxcmnb", "qwertyuiop", "xkcd lorem ipsum dolor"])
def test_gibberish_falls_back(parse, text: str) -> None:
    assert parse(text)["intent"]["name"] in {"nlu_fallback", "out_of_scope"}


@pytest.mark.parametrize("text,key", [
    ("vaksin meningitis wajib ga", "faq/vaksin_meningitis"),
    ("apa itu istithaah", "faq/istithaah"),
    ("paspor haji dibuat dimana", "faq/paspor"),
    ("SPH saya hilang", "faq/dokumen_hilang"),
    ("perempuan boleh haji tanpa mahram?", "faq/mahram"),
    ("beda haji khusus dan reguler", "faq/haji_khusus_vs_reguler"),
    ("lansia dapat prioritas?", "faq/prioritas_lansia"),
    ("apa arti status lunas tunda", "faq/lunas_tunda"),
    ("BPJS saya tidak aktif, apa pengaruhnya ke haji?", "faq/jkn_asuransi"),
    ("ikut KBIHU itu wajib?", "faq/kbihu"),
    ("siskohat tu apo", "faq/siskohat"),
    ("ibu hamil bisa berangkat haji?", "faq/kesehatan_khusus"),
    ("pak saya janda dan tidak punya mahram laki-laki. Apakah saya tetap bisa berangkat haji sendiri?", "faq/mahram"),
])
def test_faq_retrieval(parse, text: str, key: str) -> None:
    selector = parse(text)["response_selector"]
    assert selector["all_retrieval_intents"] == ["faq"]
    response = selector["faq"]["response"]
    assert response["intent_response_key"] == key
    assert response["utter_action"] == "utter_" + key
    assert response["responses"][0]["text"].startswith("Bapak/Ibu")
    assert 0.0 < response["confidence"] <= 1.0
    assert selector["faq"]["ranking"][0]["intent_response_key"] == key


UNRELATED = ["berapa harga laptop asus", "kapan libur sekolah", "cara menanam cabai", "tim sepak bola favorit kamu apa",
             "bagaimana cara membuat kopi", "tolong hitung 25 kali 4", "siapa gubernur sumatera barat",
             "saya mau beli rumah di padang", "akun instagram saya diretas", "laptop saya tidak mau menyala",
             "jual mobil avanza 2015", "berapa suhu di padang hari ini", "cara bikin surat lamaran kerja",
             "harga tiket masuk ngarai sianok", "dimana beli sate padang enak", "apa itu artificial intelligence",
             "ambo sadang baraja masak", "kenapa langit biru", "lagu minang terbaru", "mau curhat", "saya bosan",
             "the quick brown fox jumps over the lazy dog", "tarif listrik naik", "jadwal sholat hari ini"]


def test_most_unrelated_messages_are_caught(parse) -> None:
    caught = [t for t in UNRELATED if parse(t)["intent"]["name"] in {"out_of_scope", "nlu_fallback"}]
    assert len(caught) / len(UNRELATED) >= 0.8, set(UNRELATED) - set(caught)


def test_fallback_has_rasa_shape(parse, nlu_settings) -> None:
    result = parse("qwertyuiop asdfgh")
    assert result["intent"] == {"name": "nlu_fallback", "confidence": nlu_settings.fallback_threshold}
    assert result["intent_ranking"][0]["name"] == "nlu_fallback"


def test_faq_confidence_separates_faq_from_other_messages(parse) -> None:
    from nlu.evaluation import load_rasa_examples
    from tests.nlu.conftest import HELDOUT

    def conf(text: str) -> float:
        return parse(text)["response_selector"]["faq"]["response"]["confidence"]

    examples = load_rasa_examples(HELDOUT)
    faq = [conf(t) >= 0.5 for t, i, _ in examples if i == "faq"]
    other = [conf(t) >= 0.5 for t, i, _ in examples if i != "faq"]
    assert sum(faq) / len(faq) >= 0.9
    assert sum(other) / len(other) <= 0.1
