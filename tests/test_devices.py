"""Devices, pre-tokenised input and the batch shapes of a GPU, checked on the CPU."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from semsearch import Embedder, SemsearchError
from semsearch.chunking import chunk_ids, chunk_text
from semsearch.embedding import AGREEMENT_COSINE, pool_layers, resolve_device

TEXTS = [
    "the cat sat on the mat",
    "vaccine immune cell virus " * 12,
    "x",
    "the river flows from the mountain to the city " * 20,  # longer than max_length (128): truncated
    "Café, naïve façade: ACCENTS and punctuation!? 123",
]


def test_auto_device_is_the_cpu_without_a_gpu():
    expected = "cuda" if torch.cuda.is_available() else None
    resolved = resolve_device("auto")
    assert resolved == (expected or resolved) and resolved in ("cuda", "mps", "cpu")
    if not torch.cuda.is_available() and resolved != "mps":
        assert resolved == "cpu"
    assert resolve_device("cpu") == "cpu"


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
@pytest.mark.parametrize("device", ["cuda", "cuda:1"])
def test_cuda_without_cuda_fails_clearly(device, tiny_model):
    with pytest.raises(SemsearchError, match="CUDA"):
        resolve_device(device)
    with pytest.raises(SemsearchError, match="--device cpu"):
        Embedder(tiny_model, device=device)


@pytest.mark.parametrize("device", ["tpu", "cuda:x", "gpu"])
def test_unknown_device(device):
    with pytest.raises(SemsearchError, match="unknown device"):
        resolve_device(device)


def test_encode_ids_equals_encode(tiny_embedder):
    ids = tiny_embedder.tokenizer(TEXTS, add_special_tokens=False)["input_ids"]
    assert max(len(row) for row in ids) > tiny_embedder.max_length  # truncation is exercised
    np.testing.assert_array_equal(tiny_embedder.encode_ids(ids), tiny_embedder.encode(TEXTS))
    assert tiny_embedder.encode_ids([]).shape == (0, tiny_embedder.dimension)


@pytest.mark.parametrize("layers", ["1", "all", "first-last", "0,2"])
def test_only_the_needed_layers_same_vectors(tiny_model, layers):
    """Hooks keep the recipe's layers and stop after the deepest; the vectors are those of all hidden states."""
    embedder = Embedder(tiny_model, layers=layers, precision="fp32")
    features = embedder.tokenizer(TEXTS, padding=True, truncation=True, max_length=embedder.max_length,
                                  return_tensors="pt")
    with torch.inference_mode():
        output = embedder.model(**features, output_hidden_states=True)
        expected = pool_layers(output.hidden_states, features["attention_mask"], embedder.recipe.layers,
                               embedder.recipe.pooling).numpy()
    np.testing.assert_allclose(embedder.encode(TEXTS), expected, atol=1e-6)

    ran = []
    handles = [layer.register_forward_hook(lambda *a, i=i: ran.append(i))
               for i, layer in enumerate(embedder.model.encoder.layer, start=1)]
    try:
        embedder.encode(TEXTS[:1])
    finally:
        for handle in handles:
            handle.remove()
    assert ran == list(range(1, max(embedder.recipe.layers) + 1)), "layers above the recipe's are not run"


def test_token_budget_batches_same_vectors(tiny_model):
    by_rows = Embedder(tiny_model, precision="fp32")
    by_tokens = Embedder(tiny_model, precision="fp32", token_budget=64)
    np.testing.assert_allclose(by_tokens.encode(TEXTS * 3), by_rows.encode(TEXTS * 3), atol=1e-6)

    rows = by_tokens._tokenize(TEXTS * 3)
    shapes = [(len(p), mask.shape[1]) for p, _, mask in by_tokens._batches(rows, 32, False, (1,))]
    assert all(n * width <= 64 or n == 1 for n, width in shapes), shapes
    assert len(shapes) > 3


def test_cpu_agreement(tiny_model):
    embedder = Embedder(tiny_model, precision="fp32")
    assert embedder.cpu_agreement() == pytest.approx(1.0, abs=1e-6)
    assert embedder.device_agreement is None  # no check needed on the CPU
    bf16 = Embedder(tiny_model, precision="bf16")
    assert 0.9 < bf16.cpu_agreement() < 1.0 + 1e-6


@pytest.mark.slow
def test_bundled_model_bf16_within_the_gpu_tolerance():
    """The tolerance held to off the CPU is one that half precision meets on the real model."""
    assert Embedder(precision="bf16").cpu_agreement() >= AGREEMENT_COSINE


@pytest.mark.parametrize("size, overlap", [(12, 3), (30, 5), (200, 20)])
def test_chunk_ids_are_each_chunks_own_tokenisation(tiny_embedder, size, overlap):
    tokenizer = tiny_embedder.tokenizer
    # Character-level pieces: most windows end inside a word, where the ids are cut differently.
    text = "  Mountain rivers, extraordinary: café 42 naïve!  " * 8 + "the end"
    chunks, ids = chunk_ids(text, tokenizer, size, overlap)
    assert chunks == chunk_text(text, tokenizer, size, overlap)
    for chunk, row in zip(chunks, ids):
        assert row == tokenizer(chunk.text, add_special_tokens=False)["input_ids"]
    np.testing.assert_array_equal(tiny_embedder.encode_ids(ids), tiny_embedder.encode([c.text for c in chunks]))


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cli_device_cuda_without_cuda_is_one_line(tiny_model, tmp_path):
    from click.testing import CliRunner

    from semsearch.cli import cli

    (tmp_path / "a.txt").write_text("the cat sat on the mat")
    result = CliRunner().invoke(cli, ["index", str(tmp_path / "a.txt"), "-i", str(tmp_path / "i"),
                                      "--model", str(tiny_model), "--device", "cuda"])
    assert result.exit_code == 1 and "CUDA" in result.output and "Traceback" not in result.output


def test_index_device_is_a_run_option(tiny_model, tmp_path):
    from semsearch import Index

    with Index.open(tmp_path / "i", model=tiny_model, device="auto") as idx:
        idx.add(["the cat sat on the mat"], ids=["a"])
        assert "device" not in idx.settings.to_stored()
    with Index.open(tmp_path / "i", device="cpu") as idx:
        assert idx.embedder.device == "cpu" and idx.search("cat", k=1)[0].id == "a"
