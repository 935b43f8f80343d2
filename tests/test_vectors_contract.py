"""One contract every vector backend passes (as txtai runs one suite over every ANN backend).

A backend added to ``semsearch.vectors.BACKENDS`` is picked up here automatically.
Approximate backends must still find every vector's own id at rank 1 on this small,
well-separated set; exactness against brute force is the flat backend's own test.
"""

from __future__ import annotations

import numpy as np
import pytest

from semsearch.vectors import BACKENDS, VectorBackend

DIM = 16


def unit(rows: int, seed: int = 0) -> np.ndarray:
    vectors = np.random.default_rng(seed).normal(size=(rows, DIM)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


@pytest.fixture(params=sorted(BACKENDS))
def backend_class(request) -> type[VectorBackend]:
    return BACKENDS[request.param]


def build(backend_class, vectors: np.ndarray, ids: np.ndarray) -> VectorBackend:
    return backend_class.build(DIM, [(ids, vectors)])


def test_is_a_backend(backend_class):
    backend = build(backend_class, unit(10), np.arange(10, dtype=np.int64))
    assert isinstance(backend, VectorBackend)
    assert backend.kind == backend_class.kind and backend.dimension == DIM and backend.size == 10


def test_finds_each_vector_first(backend_class):
    vectors, ids = unit(300), np.arange(1000, 1300, dtype=np.int64)
    backend = build(backend_class, vectors, ids)
    scores, found = backend.search(vectors[:20], 5)
    assert found.shape == (20, 5) and scores.shape == (20, 5)
    np.testing.assert_array_equal(found[:, 0], ids[:20])
    np.testing.assert_allclose(scores[:, 0], 1.0, atol=1e-3)
    assert np.all(np.diff(scores, axis=1) <= 1e-6), "scores come best first"


def test_add_remove_and_readd(backend_class):
    vectors, ids = unit(100, seed=1), np.arange(100, dtype=np.int64)
    backend = build(backend_class, vectors[:50], ids[:50])
    backend.add(ids[50:], vectors[50:])
    assert backend.size == 100
    backend.remove([3, 60, 12345])  # an unknown id is ignored
    assert backend.size == 98
    _, found = backend.search(vectors[[3, 60]], 3)
    assert 3 not in found and 60 not in found
    backend.add(np.array([3], dtype=np.int64), vectors[[3]])
    assert backend.search(vectors[[3]], 1)[1][0, 0] == 3


def test_allowed_ids_only(backend_class):
    vectors, ids = unit(200, seed=2), np.arange(200, dtype=np.int64)
    backend = build(backend_class, vectors, ids)
    allowed = np.arange(0, 200, 7, dtype=np.int64)
    _, found = backend.search(vectors[:5], 10, allowed=allowed)
    assert set(found[found >= 0].ravel()) <= set(allowed.tolist())


def test_more_than_there_is_pads_with_minus_one_or_truncates(backend_class):
    backend = build(backend_class, unit(3, seed=3), np.arange(3, dtype=np.int64))
    scores, found = backend.search(unit(1, seed=4), 10)
    assert sorted(found[found >= 0].tolist()) == [0, 1, 2]
    assert len(scores[0]) == len(found[0])


@pytest.mark.parametrize("metric", ["euclidean", "manhattan"])
def test_distance_metrics_score_higher_is_better(backend_class, metric):
    vectors, ids = unit(50, seed=5), np.arange(50, dtype=np.int64)
    backend = build(backend_class, vectors, ids)
    scores, found = backend.search(vectors[:3], 4, metric=metric)
    np.testing.assert_array_equal(found[:, 0], ids[:3])
    assert np.all(scores[:, 0] >= scores[:, 1])


def test_save_load_roundtrip_and_garbage(backend_class, tmp_path):
    vectors, ids = unit(80, seed=6), np.arange(80, dtype=np.int64) * 3
    backend = build(backend_class, vectors, ids)
    path = tmp_path / "v.faiss"
    backend.save(path)
    assert not list(tmp_path.glob(".*tmp")), "the temporary file is renamed into place"
    loaded = backend_class.load(path, DIM)
    assert loaded.size == 80
    np.testing.assert_array_equal(loaded.search(vectors[:4], 1)[1][:, 0], ids[:4])
    with pytest.raises(ValueError):
        backend_class.load(path, DIM + 1)
    path.write_bytes(b"not an index" * 10)
    with pytest.raises(ValueError):
        backend_class.load(path, DIM)


def test_empty(backend_class):
    backend = backend_class.build(DIM, [])
    assert backend.size == 0
    scores, found = backend.search(unit(2), 5)
    assert found.size == 0 or np.all(found == -1)
