"""The model cache holds numbers and texts only: it round-trips exactly, and a tampered or old cache file is
trained anew, never executed."""
from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np

from nlu.builtin import BuiltinNLU
from nlu.training import fingerprint, model_path
from tests.nlu.conftest import DATA_DIR

MESSAGES = ["assalamualaikum", "cek porsi 0312345678 lahir 5 juni 60", "berapa biaya haji?",
            "bapak saya sudah meninggal, mau batal haji", "kntr kemenag dimana", "harga cabe hari ini"]


class _Exploit:
    """A pickle that creates a file when loaded."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (os.system, (f"touch {self.marker}",))


def _parses(nlu: BuiltinNLU) -> list[dict]:
    return [nlu.parse_sync(m) for m in MESSAGES]


def test_cache_round_trips(builtin_nlu: BuiltinNLU, nlu_cache_dir: Path, nlu_settings) -> None:
    path = model_path(nlu_cache_dir, fingerprint(DATA_DIR, nlu_settings))
    assert path.suffix == ".npz"
    with np.load(path, allow_pickle=False) as npz:  # plain arrays only: loads without pickle
        assert all(npz[name].dtype != object for name in npz.files)
    reloaded = BuiltinNLU.load(DATA_DIR, nlu_cache_dir, nlu_settings)
    original, again = builtin_nlu.model, reloaded.model
    assert again is not original and again.fingerprint == original.fingerprint
    assert again.featurizer.word_vocab == original.featurizer.word_vocab
    assert again.featurizer.char_vocab == original.featurizer.char_vocab
    assert np.array_equal(again.classifier.coef_t, original.classifier.coef_t)
    assert again.normalizer.speller is not None and original.normalizer.speller is not None
    assert again.normalizer.speller.counts == original.normalizer.speller.counts
    assert _parses(reloaded) == _parses(builtin_nlu)


def _copy_cache(src: Path, dst: Path) -> None:
    dst.mkdir()
    for f in src.iterdir():
        (dst / f.name).write_bytes(f.read_bytes())


def test_a_pickle_in_place_of_the_cache_is_never_executed(builtin_nlu: BuiltinNLU, nlu_cache_dir: Path,
                                                          nlu_settings, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    _copy_cache(nlu_cache_dir, cache)
    marker = tmp_path / "pwned"
    path = model_path(cache, fingerprint(DATA_DIR, nlu_settings))
    path.write_bytes(pickle.dumps(_Exploit(marker)))
    old = cache / "builtin-0123456789abcdef0123.pkl"  # a cache of an earlier version
    old.write_bytes(pickle.dumps(_Exploit(marker)))
    nlu = BuiltinNLU.load(DATA_DIR, cache, nlu_settings)
    assert not marker.exists()
    assert nlu.parse_sync("berapa biaya haji?")["intent"]["name"] == builtin_nlu.parse_sync("berapa biaya haji?")["intent"]["name"]
    assert not old.exists()  # older pickles are removed, not read
    with np.load(path, allow_pickle=False) as npz:  # rebuilt in the safe format
        assert "header" in npz.files


def test_a_cache_with_an_object_array_or_other_data_is_rebuilt(builtin_nlu: BuiltinNLU, nlu_cache_dir: Path,
                                                               nlu_settings, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    _copy_cache(nlu_cache_dir, cache)
    marker = tmp_path / "pwned"
    path = model_path(cache, fingerprint(DATA_DIR, nlu_settings))
    with np.load(path, allow_pickle=False) as npz:
        arrays = {name: npz[name] for name in npz.files}
    arrays["coef_t"] = np.array([_Exploit(marker)], dtype=object)  # needs pickle to load
    with path.open("wb") as fh:
        np.savez(fh, **arrays)
    nlu = BuiltinNLU.load(DATA_DIR, cache, nlu_settings)
    assert not marker.exists()
    assert np.array_equal(nlu.model.classifier.coef_t, builtin_nlu.model.classifier.coef_t)
    path.write_bytes(b"not a zip at all")  # truncated / corrupt
    assert BuiltinNLU.load(DATA_DIR, cache, nlu_settings).parse_sync("assalamualaikum")["intent"]["name"] == "greet"
