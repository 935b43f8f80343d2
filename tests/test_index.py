"""The Index object over a tiny random model: storage, FAISS upkeep, locking, filters."""

import numpy as np
import pytest

from semsearch import Index, SemsearchError
from semsearch.index import FAISS_FILE, LOCK_FILE
from semsearch.locking import WriterLock
from semsearch.searching import keyword_query
from semsearch.vectors import FlatVectors as VectorIndex

TEXTS = {
    "cats": "the cat sat on the mat and the cat slept",
    "dogs": "a dog ran to the river with another dog",
    "birds": "birds in the tree sing music at dawn",
    "city": "the city by the mountain has art and history",
    "food": "bread and coffee make a good breakfast food",
}


@pytest.fixture
def index(tmp_path, tiny_model):
    idx = Index.open(tmp_path / "idx", model=tiny_model, chunk_size=100)
    idx.add(list(TEXTS.values()), ids=list(TEXTS), metadata=[{"kind": k, "n": i} for i, k in enumerate(TEXTS)])
    yield idx
    idx.close()


def test_add_search_and_info(index):
    info = index.info()
    assert info["documents"] == 5 and info["chunks"] >= 5
    assert info["settings"]["layers"] == "auto" and info["settings"]["layer_indices"] == [1, 2, 3]
    assert info["faiss_up_to_date"]
    hits = index.search(TEXTS["dogs"], k=3, mode="dense")
    assert hits[0].id == "dogs" and hits[0].score == pytest.approx(1.0, abs=1e-4)
    assert hits[0].metadata == {"kind": "dogs", "n": 1}


def test_readd_unchanged_is_noop_and_changed_replaces(index):
    before = index.store.counts()
    metadata = [{"kind": k, "n": i} for i, k in enumerate(TEXTS)]
    report = index.add(list(TEXTS.values()), ids=list(TEXTS), metadata=metadata)
    assert (report.added, report.updated, report.unchanged) == (0, 0, 5)
    assert index.store.counts() == before
    long_text = " ".join(["mountain river city art history"] * 30)
    report = index.add([long_text], ids=["cats"])
    assert report.updated == 1
    assert index.get("cats")["text"] == long_text
    counts = index.store.counts()
    assert counts["documents"] == 5 and counts["chunks"] > before["chunks"]
    assert index.vectors.size == counts["chunks"]
    assert "cats" not in [h.id for h in index.search("cat sat on the mat", k=5, mode="keyword")]
    assert index.search("mountain river", k=1, mode="keyword")[0].id == "cats"


def test_ids_default_to_content_hash(tmp_path, tiny_model):
    with Index.open(tmp_path / "i", model=tiny_model) as idx:
        assert idx.add(["one text", "two text"]).added == 2
        assert idx.add(["one text"]).unchanged == 1
        assert idx.store.counts()["documents"] == 2


def test_remove(index):
    assert index.remove(["cats", "nope"]) == ["cats"]
    assert index.get("cats") is None
    assert "cats" not in [h.id for h in index.search("cat mat", k=5)]
    assert index.vectors.size == index.store.counts()["chunks"]


def test_filters_apply_before_ranking(index):
    hits = index.search(TEXTS["cats"], k=3, mode="dense", where={"kind": "food"})
    assert [h.id for h in hits] == ["food"]
    hits = index.search("dog", k=5, mode="dense", where=[("n", "3")])  # numbers match numerically
    assert [h.id for h in hits] == ["city"]
    assert index.search("dog", k=5, mode="keyword", where={"kind": "cats"}) == []
    hits = index.search("dog", k=10, mode="hybrid", where={"id": "dogs"})
    assert [h.id for h in hits] == ["dogs"]


def test_filtered_search_returns_k_when_k_exist(tmp_path, tiny_model):
    with Index.open(tmp_path / "f", model=tiny_model) as idx:
        texts = [f"document number {i} about {'cats' if i % 10 == 0 else 'dogs'}" for i in range(200)]
        idx.add(texts, ids=[str(i) for i in range(200)], metadata=[{"rare": i % 10 == 0} for i in range(200)])
        hits = idx.search("dogs", k=20, mode="dense", where={"rare": True})
        assert len(hits) == 20 and all(int(h.id) % 10 == 0 for h in hits)


def test_metrics(index):
    query = TEXTS["birds"]
    for metric in ("cosine", "euclidean", "manhattan"):
        hits = index.search(query, k=5, mode="dense", metric=metric)
        assert hits[0].id == "birds", metric
        assert hits[0].score == pytest.approx(1.0, abs=1e-3)
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    # Euclidean over unit vectors ranks exactly like cosine.
    cos = [h.id for h in index.search(query, k=5, mode="dense")]
    assert cos == [h.id for h in index.search(query, k=5, mode="dense", metric="euclidean")]


@pytest.mark.parametrize("query", ['"unbalanced', "cat*", "title:cat", "-dog", "(a OR", "NEAR(cat dog)",
                                   "AND", "cat AND NOT", "'; DROP TABLE documents; --", "", "   ", "the of a"])
def test_keyword_syntax_never_raises(index, query):
    index.search(query, k=3, mode="keyword")
    index.search(query, k=3, mode="hybrid")


def test_keyword_query_escapes_and_drops_stop_words():
    assert keyword_query('the "cat" NEAR dog*') == '"cat" OR "near" OR "dog"'
    assert keyword_query("the of") is None


def test_hybrid_is_rrf(index):
    dense = index.search("cat mat", k=5, mode="dense")
    keyword = index.search("cat mat", k=5, mode="keyword")
    hybrid = index.search("cat mat", k=5, mode="hybrid")
    expected = {}
    for ranking in (dense, keyword):
        for rank, hit in enumerate(ranking, start=1):
            expected[hit.id] = expected.get(hit.id, 0) + 1 / (60 + rank)
    for hit in hybrid:
        assert hit.score == pytest.approx(expected[hit.id])


def test_similar_excludes_itself(index):
    hits = index.similar("dogs", k=4)
    assert "dogs" not in [h.id for h in hits] and len(hits) == 4
    with pytest.raises(SemsearchError, match="no document"):
        index.similar("missing")


def test_min_score_and_bad_arguments(index):
    assert all(h.score >= 0.5 for h in index.search("cat", k=5, mode="dense", min_score=0.5))
    with pytest.raises(SemsearchError):
        index.search("cat", mode="fuzzy")
    with pytest.raises(SemsearchError):
        index.search("cat", metric="hamming")
    with pytest.raises(SemsearchError):
        index.search("cat", k=0)


def test_settings_mismatch_is_an_error(index, tiny_model, tmp_path):
    path = index.path
    with pytest.raises(SemsearchError, match="other settings"):
        Index.open(path, layers="last")
    with pytest.raises(SemsearchError, match="other settings"):
        Index.open(path, pooling="cls")
    with pytest.raises(SemsearchError, match="other settings"):
        Index.open(path, chunk_size=32)
    with pytest.raises(SemsearchError, match="other settings"):
        Index.open(path).settings.check_requested(path, chunk_overlap=9)
    other = tmp_path / "other-model"
    from .conftest import make_tiny_model

    make_tiny_model(other, layers=2)
    with pytest.raises(SemsearchError, match="other settings"):
        Index.open(path, model=other)
    # The same settings spelled another way are fine: all = 1..3 = auto for this plain model.
    Index.open(path, layers="all", model=tiny_model).close()


def test_missing_index_is_not_created_on_read(tmp_path):
    with pytest.raises(SemsearchError, match="no index"):
        Index.open(tmp_path / "absent", create=False)
    assert not (tmp_path / "absent").exists()


@pytest.mark.parametrize("damage", ["missing", "corrupt", "stale", "wrong_count"])
def test_faiss_file_is_rebuilt(index, damage, caplog):
    path = index.path / FAISS_FILE
    expected = [h.id for h in index.search(TEXTS["city"], k=5, mode="dense")]
    index.close()
    if damage == "missing":
        path.unlink()
    elif damage == "corrupt":
        path.write_bytes(b"garbage" * 100)
    elif damage == "stale":
        with Index.open(index.path) as idx, idx.store.transaction():
            pass  # bumps the generation without saving FAISS, as a crash would
    else:
        vectors = VectorIndex.load(path, 32)
        vectors.remove(vectors.ids()[:1])
        vectors.save(path)
    with caplog.at_level("WARNING", logger="semsearch"), Index.open(index.path) as idx:
        assert [h.id for h in idx.search(TEXTS["city"], k=5, mode="dense")] == expected
        assert "rebuilt" in caplog.text
        assert idx.info()["faiss_up_to_date"]
    assert VectorIndex.load(path, 32).size == Index.open(index.path).store.counts()["chunks"]


def test_second_writer_is_refused(index, tmp_path):
    other = Index.open(index.path)
    with index._sync.writing():
        with pytest.raises(SemsearchError, match=r"locked by process \d+"):
            other.add(["more text"])
    other.add(["more text"])  # free again
    other.close()


def test_stale_lock_from_dead_process_is_taken_over(index, caplog):
    (index.path / LOCK_FILE).write_text("999999")  # a PID that is not running, lock not held
    with caplog.at_level("WARNING", logger="semsearch"):
        index.add(["after the crash"])
    assert "stale lock" in caplog.text


def test_lock_releases(tmp_path):
    lock = WriterLock(tmp_path / "l")
    with lock:
        assert lock.held
    assert not lock.held
    with WriterLock(tmp_path / "l"):
        pass


def test_vectors_in_sqlite_match_faiss(index):
    vectors = index.vectors
    ids, vecs = next(index.store.iter_vectors(32))
    order = np.argsort(vectors.ids())
    np.testing.assert_array_equal(vectors.ids()[order], ids)
    np.testing.assert_allclose(vectors.vectors()[order], vecs)


def test_snippets(index):
    keyword = index.search("bread coffee", k=1, mode="keyword")[0]
    assert keyword.id == "food" and "coffee" in keyword.text and keyword.chunk is None
    dense = index.search("bread coffee", k=5, mode="dense")
    food = next(h for h in dense if h.id == "food")
    assert food.text == TEXTS["food"] and food.chunk == 0


def test_query_backends_rank_alike(tmp_path, tiny_model):
    """The ONNX Runtime query path (the API's default) ranks as the PyTorch one does."""
    with Index.open(tmp_path / "q", model=tiny_model, precision="fp32", chunk_size=100) as idx:
        idx.add(list(TEXTS.values()), ids=list(TEXTS))
    for query in ["dog by the river", "coffee", "music at dawn in the tree"]:
        with Index.open(tmp_path / "q", query_backend="torch") as by_torch, Index.open(tmp_path / "q") as by_onnx:
            expected = by_torch.search(query, k=5, mode="dense")
            got = by_onnx.search(query, k=5, mode="dense")
            assert by_onnx.embedder._onnx is not None and by_torch.embedder._onnx is None
        assert [h.id for h in got] == [h.id for h in expected]
        np.testing.assert_allclose([h.score for h in got], [h.score for h in expected], atol=1e-5)
    with pytest.raises(SemsearchError, match="query backend"):
        Index.open(tmp_path / "q", query_backend="gpu")


def test_add_report_splits_embedding_time_from_the_rest(tmp_path, tiny_model):
    with Index.open(tmp_path / "r", model=tiny_model) as idx:
        report = idx.add(list(TEXTS.values()), ids=list(TEXTS))
        assert 0 < report.embedding_seconds < report.seconds
        assert report.to_dict()["embedding_seconds"] == round(report.embedding_seconds, 3)
        assert idx.add(list(TEXTS.values()), ids=list(TEXTS)).embedding_seconds == 0  # all unchanged
