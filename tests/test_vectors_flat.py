"""The vector index: screened exact search agrees with brute force, whatever the data."""

import numpy as np
import pytest

from semsearch.vectors import FlatVectors as VectorIndex


def unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def brute_force(vectors: np.ndarray, ids: np.ndarray, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    scores = vectors.astype(np.float64) @ query.astype(np.float64)
    order = np.argsort(-scores, kind="stable")[:k]
    return scores[order], ids[order]


def make_index(vectors: np.ndarray, ids: np.ndarray | None = None) -> VectorIndex:
    index = VectorIndex(vectors.shape[1])
    index.add(np.arange(10, 10 + len(vectors)) if ids is None else ids, vectors)
    return index


def assert_exact(index: VectorIndex, vectors: np.ndarray, ids: np.ndarray, queries: np.ndarray, k: int) -> None:
    """The same ids in the same order as brute force (continuous random data has no ties)."""
    scores, found = index.search(queries, k)
    for query, row_scores, row_ids in zip(queries, scores, found):
        want_scores, want_ids = brute_force(vectors, ids, query, k)
        assert list(row_ids) == list(want_ids)
        np.testing.assert_allclose(row_scores, want_scores, atol=1e-6)


@pytest.mark.parametrize("k", [1, 10, 100])
def test_screened_search_equals_brute_force_on_clustered_vectors(k):
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((20, 64))
    vectors = unit(centres[rng.integers(0, 20, 6000)] + 0.5 * rng.standard_normal((6000, 64)))
    ids = np.arange(100, 6100)
    queries = unit(centres[:8] + 0.5 * rng.standard_normal((8, 64)))
    assert_exact(make_index(vectors, ids), vectors, ids, queries, k)


def test_screened_search_is_exact_when_int8_cannot_tell_the_vectors_apart():
    """Near-ties below int8 resolution: the first pool is not enough, the bound widens it."""
    rng = np.random.default_rng(1)
    base = unit(rng.standard_normal((1, 32)))[0]
    vectors = unit(base + 0.02 * rng.standard_normal((3000, 32)))
    ids = np.arange(3000)
    assert_exact(make_index(vectors, ids), vectors, ids, base[None, :], 10)


def test_screened_search_on_random_queries_far_from_the_data():
    rng = np.random.default_rng(2)
    vectors = unit(rng.standard_normal((5000, 48)))
    ids = rng.permutation(100_000)[:5000]
    assert_exact(make_index(vectors, ids), vectors, ids, unit(rng.standard_normal((6, 48))), 40)


def test_screen_follows_additions_and_removals():
    rng = np.random.default_rng(3)
    vectors = unit(rng.standard_normal((500, 16)))
    index = make_index(vectors[:400], np.arange(400))
    query = vectors[450]
    _, ids = index.search(query[None, :], 1)
    assert ids[0, 0] != 450
    index.add(np.arange(400, 500), vectors[400:])
    _, ids = index.search(query[None, :], 1)
    assert ids[0, 0] == 450
    index.remove([450])
    scores, ids = index.search(query[None, :], 3)
    assert 450 not in ids[0]
    keep = np.arange(500) != 450
    want_scores, want_ids = brute_force(vectors[keep], np.arange(500)[keep], query, 3)
    assert list(ids[0]) == list(want_ids)
    np.testing.assert_allclose(scores[0], want_scores, atol=1e-5)


def test_k_larger_than_the_index_returns_everything_once():
    vectors = unit(np.random.default_rng(4).standard_normal((7, 8)))
    scores, ids = make_index(vectors, np.arange(7)).search(vectors[:1], 50)
    assert sorted(ids[0]) == list(range(7))
    assert ids[0][0] == 0 and scores[0][0] == pytest.approx(1.0, abs=1e-6)


def test_filtered_search_and_empty_index():
    vectors = unit(np.random.default_rng(5).standard_normal((50, 8)))
    index = make_index(vectors, np.arange(50))
    _, ids = index.search(vectors[:1], 5, allowed=np.array([3, 4, 5]))
    assert set(ids[0][ids[0] >= 0]) == {3, 4, 5}
    scores, ids = VectorIndex(8).search(vectors[:1], 5)
    assert scores.shape == (1, 0) and ids.shape == (1, 0)


def test_without_an_int8_matrix_multiply_the_scan_is_plain_float(monkeypatch):
    monkeypatch.setattr("semsearch.vectors.flat.int8_matmul_is_exact", lambda: False)
    rng = np.random.default_rng(6)
    vectors = unit(rng.standard_normal((300, 16)))
    ids = np.arange(300)
    index = make_index(vectors, ids)
    assert_exact(index, vectors, ids, vectors[:3], 10)
    assert index._screen.codes is None


def test_quantise_rounds_each_row_to_its_own_scale():
    from semsearch.vectors.flat import quantise

    rows = np.array([[0.5, -0.25, 0.0], [0.0, 0.0, 0.0], [1e-3, 2e-3, -4e-3]], dtype=np.float32)
    codes, scales = quantise(rows)
    assert codes.dtype == np.int8 and np.abs(codes).max() == 127
    np.testing.assert_array_equal(codes[0], [127, -64, 0])  # -0.25 / (0.5 / 127) = -63.5 -> -64 (to even)
    np.testing.assert_array_equal(codes[1], [0, 0, 0])
    half_step = np.abs(rows).max(axis=1, keepdims=True) / 254  # rounding moves a value at most half a step
    assert np.all(np.abs(codes * scales[:, None] - rows) <= half_step + 1e-9)


def test_int8_matmul_probe_passes_here():
    """The screen needs exact int32 sums; if this CPU's kernels saturate, search falls back to floats."""
    from semsearch.vectors.flat import int8_matmul_is_exact

    assert int8_matmul_is_exact() in (True, False)
    vectors = unit(np.random.default_rng(7).standard_normal((100, 16)))
    index = make_index(vectors, np.arange(100))
    index.search(vectors[:1], 5)
    assert (index._screen.codes is not None) == int8_matmul_is_exact()


def test_identical_vectors_tie_to_the_earliest_added():
    """Duplicate chunks score the same: the first added ranks first, in both passes of the screen."""
    rng = np.random.default_rng(8)
    vectors = unit(rng.standard_normal((2000, 24)))
    query = vectors[5]
    duplicates = np.repeat(vectors[5:6], 6, axis=0)
    everything = np.concatenate([vectors, duplicates])
    ids = np.arange(len(everything))
    index = make_index(everything, ids)
    for k in (3, 7, 80):
        _, found = index.search(query[None, :], k)
        assert list(found[0][:7]) == [5, 2000, 2001, 2002, 2003, 2004, 2005][: min(k, 7)]


def test_screen_grows_with_additions_like_a_fresh_one():
    rng = np.random.default_rng(9)
    vectors = unit(rng.standard_normal((900, 32)))
    grown = make_index(vectors[:300], np.arange(300))
    grown.search(vectors[:1], 1)  # make the screen, then extend it twice
    grown.add(np.arange(300, 600), vectors[300:600])
    grown.add(np.arange(600, 900), vectors[600:])
    fresh = make_index(vectors, np.arange(900))
    fresh.search(vectors[:1], 1)
    assert np.array_equal(grown._screen.ids, fresh._screen.ids)
    assert np.array_equal(grown._screen.codes.numpy(), fresh._screen.codes.numpy())
    assert grown._screen.max_error == fresh._screen.max_error
    assert_exact(grown, vectors, np.arange(900), vectors[[1, 450, 899]], 10)
