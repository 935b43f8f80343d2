"""Shared fixtures: a tiny random BERT for plumbing tests, the real bundled model for quality."""

from __future__ import annotations

import string
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SAMPLE_DATA = REPO / "data"
SHARED_DATA = REPO.parent / "shared" / "data"

WORDS = """the a of and to in is it that on for with as was by be are this an or from at which
document text search index vector query cat dog bird fish tree river mountain city music art
science history health food sport vaccine immune cell virus bread coffee football goal""".split()


def make_tiny_model(directory: Path, layers: int = 3, hidden: int = 32, seed: int = 0) -> Path:
    """A randomly initialised BertModel with a small character-level vocabulary."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizer

    directory.mkdir(parents=True, exist_ok=True)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *string.punctuation, *string.digits,
             *string.ascii_lowercase, *(f"##{c}" for c in string.ascii_lowercase + string.digits), *WORDS]
    (directory / "vocab.txt").write_text("\n".join(dict.fromkeys(vocab)) + "\n")
    # The vocabulary path is positional: its keyword differs between transformers 4 and 5.
    tokenizer = BertTokenizer(str(directory / "vocab.txt"), do_lower_case=True)
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=hidden, num_hidden_layers=layers,
                        num_attention_heads=4, intermediate_size=hidden * 2, max_position_embeddings=128)
    BertModel(config).eval().save_pretrained(directory, safe_serialization=True)
    tokenizer.save_pretrained(directory)
    return directory


@pytest.fixture(scope="session", autouse=True)
def private_cache(tmp_path_factory):
    """ONNX exports go to a per-run cache, not the user's."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SEMSEARCH_CACHE", str(tmp_path_factory.mktemp("semsearch-cache")))
        yield


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    return make_tiny_model(tmp_path_factory.mktemp("tiny-bert"))


@pytest.fixture(scope="session")
def tiny_embedder(tiny_model):
    from semsearch import Embedder

    return Embedder(tiny_model)


@pytest.fixture(scope="session")
def bundled_embedder():
    from semsearch import Embedder

    return Embedder(precision="fp32")  # tests comparing exact vectors pin fp32


@pytest.fixture(scope="session")
def sample_index(tmp_path_factory):
    """The sample corpus indexed with the real bundled model and default settings."""
    from semsearch import Index
    from semsearch.reading import read_inputs

    path = tmp_path_factory.mktemp("sample") / "index"
    with Index.open(path) as idx:
        idx.add_documents(read_inputs([SAMPLE_DATA / "articles", SAMPLE_DATA / "notes.jsonl"]))
    return path
