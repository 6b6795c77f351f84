"""One-off tool: derive the filtered public lexicons in nlu/data/lexicons/ from /work/shared/lexicons.

Run: python -m nlu.tools.filter_lexicons /work/shared/lexicons nlu/data/lexicons
Not used at run time. Filtering keeps single-word alphabetic keys, drops keys that are Indonesian words
themselves (they would rewrite ordinary Indonesian), drops protected Hajj keywords and long values.
"""
from __future__ import annotations

import csv
import re
import sys
from pathlib import Path

WORD = re.compile(r"^[a-z]+$")
VALUE = re.compile(r"^[a-z]+( [a-z]+)?$")


def _protected(out: Path) -> set[str]:
    lines = (out / "protected.txt").read_text(encoding="utf-8").splitlines()
    return {w.strip() for w in lines if w.strip() and not w.startswith("#")}


def main(src: Path, out: Path) -> None:
    protected = _protected(out)
    minang: list[tuple[str, str]] = []
    for line in (src / "minangnlp-kamus-minang-id.dic").read_text(encoding="utf-8").splitlines():
        if ", " in line:
            k, v = line.split(", ", 1)
            minang.append((k.strip().lower(), v.strip().lower()))
    nusax: list[tuple[str, str]] = []
    with (src / "nusax-lexicon-minangkabau.csv").open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            for variant in (row.get("minangkabau") or "").split(","):
                nusax.append((variant.strip().lower(), (row.get("indonesian") or "").strip().lower()))
    informal: list[tuple[str, str]] = []
    with (src / "indocollex-informal-formal.tsv").open(encoding="utf-8") as fh:
        next(fh)
        for line in fh:
            parts = line.rstrip("\n").split("\t")
            if len(parts) == 2:
                informal.append((parts[0].strip().lower(), parts[1].strip().strip('"').lower()))

    indonesian = {w for _, v in minang + nusax + informal for w in v.split()}
    (out / "indonesian_words.txt").write_text(
        "# Indonesian vocabulary (Indonesian side of minangNLP, NusaX and IndoCollex lexicons)\n"
        + "\n".join(sorted(w for w in indonesian if WORD.match(w))) + "\n", encoding="utf-8")

    def keep(k: str, v: str, drop_indonesian_keys: bool) -> bool:
        if k == v or not WORD.match(k) or not VALUE.match(v) or len(k) < 2:
            return False
        if k in protected or any(w in protected for w in v.split()):
            return False
        return not (drop_indonesian_keys and k in indonesian)

    def write(name: str, header: str, pairs: list[tuple[str, str]], drop: bool) -> None:
        seen: dict[str, str] = {}
        for k, v in pairs:
            if keep(k, v, drop) and k not in seen:
                seen[k] = v
        body = "".join(f"{k}\t{v}\n" for k, v in sorted(seen.items()))
        (out / name).write_text(header + body, encoding="utf-8")
        print(name, len(seen))

    write("00_indocollex.tsv", "# derived from IndoCollex (MIT), filtered; informal\tformal\n", informal, False)
    write("01_minangnlp.tsv", "# derived from minangNLP kamus (MIT), filtered; minang\tindonesian\n", minang, True)
    write("02_nusax_minang.tsv",
          "# derived from NusaX Minangkabau lexicon (CC BY-SA 4.0, share alike), filtered; minang\tindonesian\n",
          nusax, True)


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
