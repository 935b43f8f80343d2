import json

import numpy as np
import pytest
import torch

from semsearch import Embedder, SemsearchError
from semsearch.embedding import parse_layers, pool_layers, resolve_recipe


@pytest.mark.parametrize(
    "spec, expected",
    [
        ("all", (1, 2, 3, 4, 5, 6)),
        ("last", (6,)),
        ("first-last", (1, 6)),
        ("-4:", (3, 4, 5, 6)),
        ("0:2", (0, 1)),
        ("1,3,6", (1, 3, 6)),
        ("0", (0,)),
        ("-1", (6,)),
        ("2, 2, 4", (2, 4)),
    ],
)
def test_parse_layers(spec, expected):
    assert parse_layers(spec, 6) == expected


@pytest.mark.parametrize("spec", ["7", "1,9", "best", "5:2", ""])
def test_parse_layers_rejects(spec):
    with pytest.raises(SemsearchError):
        parse_layers(spec, 6)


def test_pool_layers_by_hand():
    # Two texts, three tokens (the second text has one pad token), dim 2, layers 0..2.
    h0 = torch.tensor([[[1.0, 0.0], [3.0, 0.0], [5.0, 0.0]], [[0.0, 2.0], [0.0, 4.0], [99.0, 99.0]]])
    h1 = torch.tensor([[[0.0, 1.0], [0.0, 1.0], [0.0, 4.0]], [[2.0, 0.0], [4.0, 0.0], [-99.0, 7.0]]])
    h2 = h0 * 10
    mask = torch.tensor([[1, 1, 1], [1, 1, 0]])
    # Text 1: mean of layer1 = (0, 2); mean of layer2 = (30, 0); average (15, 1).
    # Text 2: mean of layer1 = (3, 0); mean of layer2 = (0, 30); average (1.5, 15).
    out = pool_layers([h0, h1, h2], mask, (1, 2), "mean").numpy()
    expected = np.array([[15.0, 1.0], [1.5, 15.0]])
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    np.testing.assert_allclose(out, expected, rtol=1e-6)
    # CLS pooling takes token 0 of each layer: text 1 -> (0,1) and (10,0) -> (5, .5).
    cls = pool_layers([h0, h1, h2], mask, (1, 2), "cls").numpy()
    expected_cls = np.array([[5.0, 0.5], [1.0, 10.0]])
    expected_cls /= np.linalg.norm(expected_cls, axis=1, keepdims=True)
    np.testing.assert_allclose(cls, expected_cls, rtol=1e-6)


def test_auto_recipe_is_model_aware(tiny_model, tmp_path, bundled_embedder):
    # A plain checkpoint: the mean of all encoder layers.
    plain = resolve_recipe(tiny_model, 3, "auto")
    assert plain.layers == (1, 2, 3) and plain.pooling == "mean"
    # The bundled sentence-transformers model declares last-layer mean pooling.
    assert bundled_embedder.recipe.layers == (6,)
    assert bundled_embedder.recipe.pooling == "mean"
    # A model declaring CLS pooling gets CLS.
    st_dir = tmp_path / "st"
    (st_dir / "1_Pooling").mkdir(parents=True)
    (st_dir / "modules.json").write_text(json.dumps([
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
    ]))
    (st_dir / "1_Pooling" / "config.json").write_text(json.dumps({"pooling_mode_cls_token": True}))
    recipe = resolve_recipe(st_dir, 12, "auto")
    assert recipe.layers == (12,) and recipe.pooling == "cls"
    # An explicit pooling wins over the declared one.
    assert resolve_recipe(st_dir, 12, "auto", "mean").pooling == "mean"


def test_encode_shapes_and_norms(tiny_embedder):
    vectors = tiny_embedder.encode(["a cat", "a dog in the river", "x"])
    assert vectors.dtype == np.float32 and vectors.shape == (3, 32)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    assert tiny_embedder.encode([]).shape == (0, 32)


def test_batching_does_not_change_vectors(tiny_embedder):
    texts = ["short", "a much longer text about the city and the river and the mountain " * 3,
             "medium length text here", "x y z", "the cat"]
    together = tiny_embedder.encode(texts, batch_size=8)
    in_pairs = tiny_embedder.encode(texts, batch_size=2)
    for i, text in enumerate(texts):
        alone = tiny_embedder.encode([text])[0]
        np.testing.assert_allclose(alone, together[i], atol=1e-5)
        np.testing.assert_allclose(alone, in_pairs[i], atol=1e-5)


def test_model_must_be_a_local_directory(tmp_path):
    with pytest.raises(SemsearchError, match="never downloads"):
        Embedder("bert-base-uncased-not-here")
    with pytest.raises(SemsearchError, match="config.json"):
        Embedder(tmp_path)


@pytest.mark.slow
def test_matches_sentence_transformers(bundled_embedder):
    from sentence_transformers import SentenceTransformer

    texts = ["How do vaccines train the immune system?", "Photosynthesis turns light into sugar.",
             "a", "The offside rule " * 40]
    reference = SentenceTransformer(str(bundled_embedder.model_path), device="cpu").encode(
        texts, normalize_embeddings=True, convert_to_numpy=True)
    ours = Embedder(layers="last", pooling="mean", precision="fp32").encode(texts)
    np.testing.assert_allclose(ours, reference, atol=1e-5)
    np.testing.assert_allclose(bundled_embedder.encode(texts), reference, atol=1e-5)


@pytest.mark.slow
def test_real_model_batch_invariance(bundled_embedder):
    texts = [f"sentence number {i} " + "about vaccines " * (i % 7) for i in range(20)]
    batched = bundled_embedder.encode(texts, batch_size=16)
    for i in (0, 5, 13, 19):
        np.testing.assert_allclose(bundled_embedder.encode([texts[i]])[0], batched[i], atol=1e-5)


def test_precision_resolution(monkeypatch):
    from semsearch.embedding import resolve_precision

    assert resolve_precision("fp32") == "fp32" and resolve_precision("bf16") == "bf16"
    monkeypatch.setattr("semsearch.embedding.cpu_has_bf16", lambda: False)
    assert resolve_precision("auto") == "fp32" and resolve_precision(None) == "fp32"
    monkeypatch.setattr("semsearch.embedding.cpu_has_bf16", lambda: True)
    assert resolve_precision("auto") == "bf16"
    with pytest.raises(SemsearchError, match="unknown precision"):
        resolve_precision("int4")


def test_precision_is_stored_and_enforced(tmp_path, tiny_model):
    from semsearch import Index

    with Index.open(tmp_path / "i", model=tiny_model, precision="bf16") as idx:
        assert idx.settings["precision"] == "bf16" and idx.embedder.precision == "bf16"
        idx.add(["some text"])
    with pytest.raises(SemsearchError, match="precision"):
        Index.open(tmp_path / "i", precision="fp32")


@pytest.mark.slow
def test_bf16_vectors_are_close_to_fp32(bundled_embedder):
    texts = ["How do vaccines train the immune system?", "Glaciers carve valleys. " * 30]
    fp32 = Embedder(precision="fp32").encode(texts)
    bf16 = Embedder(precision="bf16").encode(texts)
    assert (fp32 * bf16).sum(axis=1).min() > 0.999


# -- the ONNX Runtime query path ---------------------------------------------------
QUERIES = ["vaccine immune cell", "a", "the river and the mountain city music art science history"]


@pytest.mark.parametrize("layers, pooling", [("auto", None), ("first-last", "mean"), ("all", "cls")])
def test_onnx_queries_equal_torch_queries(tiny_model, layers, pooling):
    embedder = Embedder(tiny_model, layers=layers, pooling=pooling, precision="fp32", query_backend="onnx")
    reference = embedder.encode(QUERIES)
    np.testing.assert_allclose(embedder.encode_queries(QUERIES), reference, atol=1e-5)  # padded batch
    for i, text in enumerate(QUERIES):
        np.testing.assert_allclose(embedder.encode_queries(text)[0], reference[i], atol=1e-5)
    assert embedder._onnx is not None and embedder.query_backend == "onnx"


def test_onnx_export_is_cached_and_a_bad_cache_file_is_replaced(tiny_model, tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("SEMSEARCH_CACHE", str(tmp_path / "cache"))
    first = Embedder(tiny_model, precision="fp32", query_backend="onnx")
    vector = first.encode_queries(["cat dog"])
    path = first._onnx.path
    assert path.is_file() and path.parent == tmp_path / "cache" / "onnx"
    stamp = path.stat().st_mtime_ns
    second = Embedder(tiny_model, precision="fp32", query_backend="onnx")
    np.testing.assert_array_equal(second.encode_queries(["cat dog"]), vector)
    assert second._onnx.path == path and path.stat().st_mtime_ns == stamp  # read, not exported again
    # A different recipe is a different export.
    other = Embedder(tiny_model, layers="last", precision="fp32", query_backend="onnx")
    other.encode_queries(["cat dog"])
    assert other._onnx.path != path
    path.write_bytes(b"not an onnx file")
    third = Embedder(tiny_model, precision="fp32", query_backend="onnx")
    np.testing.assert_allclose(third.encode_queries(["cat dog"]), vector, atol=1e-6)
    assert "ignoring cached ONNX export" in caplog.text and path.stat().st_size > 1000


def test_onnx_works_without_a_writable_cache(tiny_model, tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache directory would be")
    monkeypatch.setenv("SEMSEARCH_CACHE", str(blocker / "cache"))
    embedder = Embedder(tiny_model, precision="fp32", query_backend="onnx")
    np.testing.assert_allclose(embedder.encode_queries(["cat"]), embedder.encode(["cat"]), atol=1e-5)
    assert embedder._onnx is not None


def test_many_queries_take_the_batched_torch_path(tiny_model):
    embedder = Embedder(tiny_model, precision="fp32", query_backend="onnx")
    texts = [f"query {i} about cats" for i in range(20)]
    np.testing.assert_array_equal(embedder.encode_queries(texts), embedder.encode(texts))
    assert embedder._onnx is None  # never needed
    with pytest.raises(SemsearchError, match="query backend"):
        Embedder(tiny_model, query_backend="tensorrt")


@pytest.mark.slow
def test_onnx_queries_on_the_real_model(bundled_embedder):
    texts = ["How do vaccines train the immune system?", "0-dimensional biomaterials show inductive properties."]
    onnx = Embedder(precision="fp32", query_backend="onnx").encode_queries(texts)
    np.testing.assert_allclose(onnx, bundled_embedder.encode(texts), atol=1e-5)
    bf16 = Embedder(precision="bf16").encode(texts)
    assert (onnx * bf16).sum(axis=1).min() > 0.9999


def test_a_stale_onnx_export_is_caught_and_replaced(tiny_model, tmp_path, monkeypatch, caplog):
    """A cached graph of other weights (same key, e.g. a model changed in place) is never served."""
    from tests.conftest import make_tiny_model

    monkeypatch.setenv("SEMSEARCH_CACHE", str(tmp_path / "cache"))
    other = Embedder(make_tiny_model(tmp_path / "other", seed=1), precision="fp32", query_backend="onnx")
    other.encode_queries(["cat"])
    ours = Embedder(tiny_model, precision="fp32", query_backend="onnx")
    path = tmp_path / "cache" / "onnx" / f"{type(other._onnx)._cache_key(ours)}.onnx"
    path.write_bytes(other._onnx.path.read_bytes())
    np.testing.assert_allclose(ours.encode_queries(["cat dog"]), ours.encode(["cat dog"]), atol=1e-5)
    assert "disagrees with the PyTorch model" in caplog.text and ours._onnx is not None
