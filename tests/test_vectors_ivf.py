"""The approximate backends (IVF-SQ8, IVF-PQ fast-scan) on their own: calibration, deletes, files."""

from __future__ import annotations

import numpy as np
import pytest

from semsearch.vectors.ivf import IVFPQVectors, IVFVectors, exact_top, recall_interval

KINDS = [IVFVectors, IVFPQVectors]
D = 64


def clustered(n: int, seed: int = 0, topics: int = 60) -> np.ndarray:
    """Unit vectors around topic centres (a low intrinsic dimension, as real embeddings have);
    the same centres whatever ``seed``, which draws the points."""
    centres = np.random.default_rng(1234).standard_normal((topics, D)).astype(np.float32)
    rng = np.random.default_rng(seed)
    x = centres[rng.integers(0, topics, n)] + 0.5 * rng.standard_normal((n, D)).astype(np.float32)
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def batches(ids: np.ndarray, x: np.ndarray, size: int = 1000) -> list:
    return [(ids[i : i + size], x[i : i + size]) for i in range(0, len(ids), size)]


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(f) & set(t)) / len(t) for f, t in zip(found, truth)]))


@pytest.fixture(scope="module")
def data():
    x = clustered(4000)
    ids = np.arange(len(x), dtype=np.int64) * 2 + 5  # not positions: ids the database gave
    return ids, x


@pytest.mark.parametrize("cls", KINDS)
def test_calibration_reaches_its_target_on_held_out_queries(cls, data):
    ids, x = data
    backend = cls.build(D, batches(ids, x), recall=0.95)
    cal = backend.calibration
    assert cal is not None and cal.reached and cal.recall >= 0.95 and cal.low <= cal.recall <= cal.high
    assert cal.queries == 400 and cal.size == len(ids) and cal.nprobe == backend.nprobe
    assert backend.nprobe < backend.index.nlist  # it is approximate: not every cell
    # Queries it never saw (new points from the same topics): the calibrated settings hold.
    queries = clustered(300, seed=7)
    _, truth = exact_top(queries, batches(ids, x), 10)
    scores, found = backend.search(queries, 10)
    assert recall(found, truth) >= 0.92
    # Scores are exact (refined from the floats), best first.
    assert np.allclose(scores[:, 0], np.einsum("ij,ij->i", queries, x[(found[:, 0] - 5) // 2]), atol=1e-5)
    assert (np.diff(scores, axis=1) <= 1e-7).all()


def test_a_higher_target_costs_more_probes(data):
    ids, x = data
    low = IVFVectors.build(D, batches(ids, x), recall=0.8)
    high = IVFVectors.build(D, batches(ids, x), recall=0.99)
    assert low.calibration.recall >= 0.8 and high.calibration.recall >= 0.99
    assert (low.nprobe, low.refine) != (high.nprobe, high.refine)
    assert low.nprobe <= high.nprobe


def test_recall_interval():
    mean, low, high = recall_interval(np.array([1.0] * 90 + [0.5] * 10))
    assert mean == pytest.approx(0.95) and low < 0.95 < high and high - low < 0.06


@pytest.mark.parametrize("cls", KINDS)
def test_delete_and_re_add(cls, data):
    ids, x = data
    backend = cls.build(D, batches(ids, x))
    gone = ids[:50]
    backend.remove(gone)
    assert backend.size == len(ids) - 50
    _, found = backend.search(x[:50], 5)
    assert not np.isin(found, gone).any()
    # The same ids again, with new vectors: found by their new vectors, exactly scored.
    fresh = clustered(50, seed=3)
    backend.add(gone, fresh)
    scores, found = backend.search(fresh, 1)
    assert (found[:, 0] == gone).all() and np.allclose(scores[:, 0], 1.0, atol=1e-5)
    assert backend.removed_since_train == 50


@pytest.mark.parametrize("cls", KINDS)
def test_filters_and_metrics(cls, data):
    ids, x = data
    backend = cls.build(D, batches(ids, x))
    allowed = ids[100:160]
    scores, found = backend.search(x[:3], 5, allowed=allowed)
    _, truth = exact_top(x[:3], [(allowed, x[100:160])], 5)
    assert np.array_equal(found, truth)
    # A wide filter goes through the cells, restricted: only allowed ids come back.
    wide = ids[::2]
    _, found = backend.search(x[:20], 10, allowed=wide)
    assert np.isin(found[found >= 0], wide).all() and (found >= 0).all()
    cosine, by_cosine = backend.search(x[:5], 5)
    euclid, by_euclid = backend.search(x[:5], 5, metric="euclidean")
    assert np.array_equal(by_cosine, by_euclid)
    assert np.allclose(euclid, 1 / (1 + np.sqrt(np.maximum(2 - 2 * cosine, 0))), atol=1e-5)
    _, by_l1 = backend.search(x[:3], 1, metric="manhattan")  # floats in memory: exact
    assert (by_l1[:, 0] == ids[:3]).all()


@pytest.mark.parametrize("cls", KINDS)
def test_save_load_in_memory_and_codes_only(cls, data, tmp_path):
    ids, x = data
    backend = cls.build(D, batches(ids, x))
    path = tmp_path / "vectors.ivf"
    backend.save(path)
    loaded = cls.load(path, D)
    assert loaded.size == backend.size and loaded.nprobe == backend.nprobe
    assert loaded.calibration == backend.calibration
    assert np.array_equal(loaded.search(x[:10], 10)[1], backend.search(x[:10], 10)[1])
    # Codes only: the floats come from a reader by id (the index's database), not the file.
    reads = []

    def fetch(wanted):
        reads.append(len(wanted))
        return x[(np.asarray(wanted) - 5) // 2]

    backend.fetch = fetch
    backend.save(path)
    codes_only = path.stat().st_size
    assert codes_only < len(x) * D * 4  # no float copy in the file
    loaded = cls.load(path, D, fetch=fetch)
    assert np.array_equal(loaded.search(x[:10], 10)[1], backend.search(x[:10], 10)[1]) and reads


@pytest.mark.parametrize("cls", KINDS)
def test_unusable_files_raise_value_error(cls, data, tmp_path):
    ids, x = data
    path = tmp_path / "vectors.ivf"
    path.write_bytes(b"not an index")
    with pytest.raises(ValueError):
        cls.load(path, D)
    cls.build(D, batches(ids[:500], x[:500])).save(path)
    with pytest.raises(ValueError):
        cls.load(path, D + 1)
    other = IVFPQVectors if cls is IVFVectors else IVFVectors
    with pytest.raises(ValueError):
        other.load(path, D)
    data_bytes = path.read_bytes()
    path.write_bytes(data_bytes[: len(data_bytes) // 2])
    with pytest.raises(ValueError):
        cls.load(path, D)


@pytest.mark.parametrize("cls", KINDS)
def test_maintenance_recalibrates_when_doubled_and_retrains_when_quadrupled(cls):
    x = clustered(5000, seed=1)
    ids = np.arange(len(x), dtype=np.int64)
    backend = cls.build(D, batches(ids[:1000], x[:1000]))
    assert backend.maintenance() is None and backend.trained_size == 1000
    backend.add(ids[1000:2000], x[1000:2000])
    assert backend.maintenance() == "recalibrate"
    assert backend.maintain() == "recalibrate"
    assert backend.calibration.size == 2000 and backend.trained_size == 1000
    backend.add(ids[2000:4000], x[2000:4000])
    assert backend.maintenance() == "retrain"
    nlist = backend.index.nlist
    assert backend.maintain() == "retrain"
    assert backend.trained_size == 4000 and backend.index.nlist > nlist and backend.maintenance() is None
    # Heavy deletes: more than half of what it was trained on.
    backend.remove(ids[:2500])
    assert backend.maintenance() == "retrain"
    backend.maintain()
    assert backend.trained_size == 1500 and backend.removed_since_train == 0
    _, found = backend.search(x[2500:2510], 1)
    assert (found[:, 0] == ids[2500:2510]).all()


@pytest.mark.parametrize("cls", KINDS)
def test_built_empty_trains_on_first_add(cls):
    backend = cls.build(D, [])
    assert backend.size == 0 and backend.search(np.ones((1, D), np.float32), 3)[1].shape == (1, 0)
    x = clustered(300, seed=2)
    backend.add(np.arange(300), x)
    _, found = backend.search(x[:5], 1)
    assert (found[:, 0] == np.arange(5)).all()
    assert backend.maintenance() == "recalibrate"  # never measured yet


def test_query_log_keeps_the_last_queries_and_survives_a_torn_write(tmp_path):
    from semsearch.vectors.querylog import QueryLog

    log = QueryLog(tmp_path / "q.f32", D, capacity=50)
    assert log.count() == 0 and log.read().shape == (0, D)
    x = clustered(130, seed=8)
    log.append(x[:30])
    log.append(np.full((2, D), np.nan, np.float32))  # not unit, not finite: not logged
    assert log.count() == 30
    np.testing.assert_array_equal(log.read(), x[:30])
    for start in range(30, 130, 20):
        log.append(x[start : start + 20])
    assert log.count() == 50 and (tmp_path / "q.f32").stat().st_size <= 2 * 50 * 4 * D
    np.testing.assert_array_equal(log.read(), x[80:130])  # the last ones, oldest first
    with open(tmp_path / "q.f32", "ab") as handle:
        handle.write(b"\0\0\0")  # a torn row
    assert log.count() == 0 and len(log.read()) == 0
    log.append(x[:5])
    np.testing.assert_array_equal(log.read(), x[:5])


def test_calibration_on_logged_queries_when_stored_vectors_are_easy(tmp_path):
    """Every stored vector has 9 near-duplicate siblings, so held-out stored vectors find their
    neighbours in the first cells probed while real queries (no sibling) need many more: the
    held-out calibration under-delivers; calibrated on logged queries, unseen queries of the same
    kind get the target."""
    from semsearch.vectors.querylog import QueryLog

    dimension = 32
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((60, dimension))

    def unit(v: np.ndarray) -> np.ndarray:
        return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)

    def queries(n: int, seed: int) -> np.ndarray:
        r = np.random.default_rng(seed)
        return unit(centres[r.integers(0, 60, n)] + 1.5 * r.standard_normal((n, dimension)))

    base = unit(centres[rng.integers(0, 60, 1000)] + 1.5 * rng.standard_normal((1000, dimension)))
    corpus = unit(np.repeat(base, 10, axis=0) + 0.08 * rng.standard_normal((10000, dimension)))
    source = [(np.arange(len(corpus)), corpus)]
    unseen = queries(300, 5)
    _, truth = exact_top(unseen, source, 10)
    held_out = IVFVectors.build(dimension, source, recall=0.95)
    assert held_out.calibration.logged == 0 and held_out.calibration.recall >= 0.95
    assert recall(held_out.search(unseen, 10)[1], truth) < 0.9  # fooled by the siblings

    log = QueryLog(tmp_path / "q.f32", dimension)
    log.append(queries(99, 7))
    assert IVFVectors.build(dimension, source, recall=0.95, query_log=log).calibration.logged == 0  # too few
    log.append(queries(201, 8))
    logged = IVFVectors.build(dimension, source, recall=0.95, query_log=log)
    cal = logged.calibration
    assert cal.logged == 300 and cal.queries == 300 and cal.required == 0.95 and cal.recall >= 0.95
    assert logged.nprobe > held_out.nprobe
    assert recall(logged.search(unseen, 10)[1], truth) >= 0.94

    # An index calibrated on held-out vectors re-calibrates once enough queries are logged.
    held_out.query_log = QueryLog(tmp_path / "other.f32", dimension)
    assert held_out.maintenance() is None
    held_out.query_log.append(queries(150, 9))
    assert held_out.maintenance() == "recalibrate"
    held_out.calibrate(source)
    assert held_out.calibration.logged == 150 and held_out.maintenance() is None
    assert recall(held_out.search(unseen, 10)[1], truth) >= 0.94

