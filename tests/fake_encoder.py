"""A model-free encoder and tokenizer for the fast tier: no torch, no weights, deterministic.

The encoder hashes words into a bag-of-words vector, so texts that share words are
close; that is enough to test ingestion, storage, search and threads end to end.
"""

from __future__ import annotations

import hashlib
import json
import re
import string
from collections.abc import Sequence
from pathlib import Path

import numpy as np

DIMENSION = 32
_WORD = re.compile(r"\w+")


class HashingEncoder:
    """``encode(texts) -> unit vectors``: the :class:`semsearch.ingest.Encoder` protocol."""

    dimension = DIMENSION

    def __init__(self) -> None:
        self.calls = 0

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        self.calls += 1
        out = np.zeros((len(texts), DIMENSION), np.float32)
        for row, text in enumerate(texts):
            for word in _WORD.findall(text.lower()):
                out[row, int(hashlib.md5(word.encode()).hexdigest(), 16) % DIMENSION] += 1.0
            out[row, 0] += 1e-3  # no zero vector for a text without words
        return out / np.linalg.norm(out, axis=1, keepdims=True)


def make_tokenizer_dir(directory: Path) -> Path:
    """A model directory with a WordPiece tokenizer and a config, but no weights."""
    from transformers import BertTokenizerFast

    directory.mkdir(parents=True, exist_ok=True)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *string.punctuation, *string.digits,
             *string.ascii_lowercase, *(f"##{c}" for c in string.ascii_lowercase + string.digits)]
    (directory / "vocab.txt").write_text("\n".join(dict.fromkeys(vocab)) + "\n")
    BertTokenizerFast(str(directory / "vocab.txt"), do_lower_case=True).save_pretrained(directory)
    (directory / "config.json").write_text(json.dumps({"model_type": "bert", "hidden_size": DIMENSION,
                                                       "num_hidden_layers": 1, "max_position_embeddings": 128}))
    return directory


def create_index(path: Path, model_dir: Path, chunk_size: int = 40):
    """A new index whose settings say: this tokenizer, hashing vectors of DIMENSION."""
    from semsearch import Index
    from semsearch.settings import IndexSettings
    from semsearch.storing import Store

    settings = IndexSettings(model=str(model_dir.resolve()), dimension=DIMENSION, num_layers=1, max_length=128,
                             layers="last", layer_indices=(1,), pooling="mean", precision="fp32",
                             chunk_size=chunk_size, chunk_overlap=8)
    path.mkdir(parents=True, exist_ok=True)
    Store.create(path / "index.db", settings.to_stored()).close()
    return Index.open(path, encoder=HashingEncoder())
