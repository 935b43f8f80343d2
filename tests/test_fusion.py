"""Hybrid fusion and the keyword side's settings: per-side weights, BM25 column weights, query words."""

import pytest

from semsearch import Index
from semsearch.searching import Ranked, fuse, keyword_query


def ranking(*ids):
    return [Ranked(d, 1.0 / (i + 1)) for i, d in enumerate(ids)]


def test_rrf_scores_and_weights():
    dense, keyword = ranking("a", "b", "c"), ranking("c", "d")
    fused = fuse([dense, keyword], 10, rrf_k=60)
    scores = {r.doc_id: r.score for r in fused}
    assert scores["c"] == pytest.approx(1 / 63 + 1 / 61)
    assert scores["a"] == pytest.approx(1 / 61)
    assert [r.doc_id for r in fused][0] == "c"
    # A weight scales one side's contributions; weight 0 leaves the other side's order.
    weighted = {r.doc_id: r.score for r in fuse([dense, keyword], 10, weights=(1.0, 0.5))}
    assert weighted["c"] == pytest.approx(1 / 63 + 0.5 / 61)
    assert [r.doc_id for r in fuse([dense, keyword], 3, weights=(1.0, 0.0))] == ["a", "b", "c"]
    assert len(fuse([dense, keyword], 2)) == 2


def test_keyword_query_words():
    # A repeated word is a repeated phrase: FTS5's bm25() counts each phrase, i.e. the
    # query's term frequency (the default).
    from semsearch.text import ENGLISH

    assert keyword_query("cats and cats and dogs") == '"cats" OR "cats" OR "dogs"'
    assert ENGLISH.query_words("cats and cats and dogs") == ["cats", "dogs"]
    assert ENGLISH.query_keys("cats and cats and dogs") == ENGLISH.query_keys("cats and dogs")
    # The default analyzer of new indexes counts repeated words too (it once dropped them, so
    # the setting did nothing there); a CJK bigram shared by two keywords counts once.
    from semsearch.text.multilingual import MultilingualAnalyzer

    multilingual = MultilingualAnalyzer()
    assert multilingual.query("cats and cats and dogs") == '"cats" OR "cats" OR "dogs"'
    assert multilingual.query("学习率 深度学习") == '"学习" OR "习率" OR "深度" OR "度学"'


@pytest.fixture
def titled(tmp_path, tiny_model):
    from semsearch.reading import Document

    idx = Index.open(tmp_path / "idx", model=tiny_model)
    # The second document's title names the river; its text does not.
    idx.add_documents([Document("in-text", "river fish swim in the cold water of the river"),
                       Document("in-title", "a mountain city with music and art", title="river")])
    yield idx
    idx.close()


def test_bm25_column_weights(titled):
    store = titled.store
    both = dict(store.keyword_search('"river"', 10))
    assert set(both) == {"in-text", "in-title"} and all(v > 0 for v in both.values())
    no_title = dict(store.keyword_search('"river"', 10, weights=(0.0, 1.0)))
    assert no_title["in-title"] == pytest.approx(0.0, abs=1e-9) and no_title["in-text"] > 0
    heavy = dict(store.keyword_search('"river"', 10, weights=(5.0, 1.0)))
    assert heavy["in-title"] > both["in-title"]
    assert [d for d, _ in store.keyword_search('"river"', 10, weights=(5.0, 1.0))][0] == "in-title"


def test_convex_fusion_normalises_each_side():
    from semsearch.searching import fuse_convex

    dense = [Ranked("a", 0.8), Ranked("b", 0.6)]
    keyword = [Ranked("b", 12.0), Ranked("c", 3.0)]
    fused = {r.doc_id: r.score for r in fuse_convex([dense, keyword], 10, weights=(1, 1), floors=(-1.0, 0.0))}
    # dense: (s + 1) / 1.8; keyword: s / 12; a missing document gets its side's lowest value.
    assert fused["a"] == pytest.approx(0.5 * 1.0 + 0.5 * (3.0 / 12))
    assert fused["b"] == pytest.approx(0.5 * (1.6 / 1.8) + 0.5 * 1.0)
    assert fused["c"] == pytest.approx(0.5 * (1.6 / 1.8) + 0.5 * 0.25)
    assert [r.doc_id for r in fuse_convex([dense, keyword], 10, floors=(-1.0, 0.0))][0] == "b"
    only_dense = fuse_convex([dense, keyword], 10, weights=(1, 0), floors=(-1.0, 0.0))
    assert [r.doc_id for r in only_dense][:2] == ["a", "b"]


def test_convex_min_max_by_default_and_single_hits():
    from semsearch.searching import fuse_convex, fuse_hybrid

    dense = [Ranked("a", 0.9), Ranked("b", 0.5), Ranked("c", 0.4)]
    keyword = [Ranked("c", 7.0)]
    fused = {r.doc_id: r.score for r in fuse_convex([dense, keyword], 10)}
    # dense min-max: a 1, b 0.2, c 0; the lone keyword hit is at its top (1), the rest at 0.
    assert fused == pytest.approx({"a": 0.5, "b": 0.1, "c": 0.5})
    assert [r.doc_id for r in fuse_hybrid(dense, keyword, 10)] == [r.doc_id for r in fuse_convex([dense, keyword], 10)]
    down = {r.doc_id: r.score for r in fuse_hybrid(dense, keyword, 10, weights=(1.0, 0.25))}
    assert down["a"] == pytest.approx(0.8) and down["c"] == pytest.approx(0.2)
