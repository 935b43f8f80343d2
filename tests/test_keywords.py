import json
import math
import subprocess
import sys
import threading
from collections import Counter

import numpy as np
import pytest
from click.testing import CliRunner

from semsearch import Index, SemsearchError, storing
from semsearch.cli import cli
from semsearch.keywords import (
    EMBED_POOL,
    EMBED_POOL_FREQUENT,
    FRAGMENT_WEIGHT,
    Keyword,
    PhraseVectors,
    candidates,
    class_tfidf,
    document_terms,
    embed,
    embed_pool,
    mmr,
    pagerank,
    phrases,
    textrank,
    tfidf,
    word_ranks,
)
from semsearch.storing import FORMAT_VERSION, Store
from semsearch.topics import lda_topics

from .conftest import SAMPLE_DATA


def test_candidates_never_cross_stop_words_or_punctuation():
    text = "Wavelength services were hyped, but optical networks of the future carry data."
    phrases = set(candidates(text))
    assert {"wavelength services", "hyped", "optical networks", "future carry data"} <= phrases
    # KeyBERT's failure mode: phrases that never occur in the text.
    assert "services hyped" not in phrases and "hyped optical" not in phrases
    assert "networks future" not in phrases
    assert all(1 <= len(p.split()) <= 3 for p in phrases)
    for phrase in phrases:
        assert phrase in text.lower()


def test_candidates_count_occurrences():
    assert candidates("Neural networks. Neural networks!", max_words=2) == [
        "neural", "neural networks", "networks", "neural", "neural networks", "networks"]


def test_class_tfidf_labels_each_class_by_its_own_terms():
    classes = {
        0: ["the goalkeeper saved the penalty", "a late penalty won the football match"],
        1: ["the central bank raised interest rates", "interest rates and inflation"],
        2: ["football and interest both appear here"],
    }
    labels = class_tfidf(classes, top_n=3, max_words=1)
    assert labels[0][0][0] == "penalty"
    assert {"interest", "rates"} <= {term for term, _ in labels[1]}
    assert all(score > 0 for terms in labels.values() for _, score in terms)


# -- candidates for keyphrase extraction -------------------------------------------------------


def test_phrases_keep_short_chunks_whole_and_cut_long_ones():
    text = "Optical networks of the future carry data.\nWavelength division multiplexing services grow."
    found = phrases(text)
    assert ("optical networks", True) in found and ("future carry data", True) in found
    assert ("optical", False) not in found and ("optical", True) not in found  # no pieces of short chunks
    # "wavelength division multiplexing services grow" is 5 words: 2-3-word pieces, no single words.
    fragments = {p for p, whole in found if not whole}
    assert {"wavelength division", "division multiplexing services", "services grow"} <= fragments
    assert all(2 <= len(p.split()) <= 3 for p in fragments)
    assert "data wavelength" not in {p for p, _ in found}  # a line break ends a chunk
    assert {p for p, _ in phrases(text, max_words=1)} == {
        "future", "carry", "data", "wavelength", "division", "multiplexing", "services", "grow", "optical", "networks"}
    assert phrases("the of and, to") == []


# -- the methods on hand-checked texts -------------------------------------------------------------

GRAPH_TEXT = (
    "Graph neural networks are models for graphs. We train the graph neural networks on citation data, "
    "and graph neural networks are better than label propagation. Training is done with mini-batches."
)


def test_pagerank_solves_the_pagerank_equations():
    rng = np.random.default_rng(0)
    weights = rng.random((6, 6)) * (rng.random((6, 6)) > 0.4)
    np.fill_diagonal(weights, 0)
    weights[5] = 0  # a dangling node
    rank = pagerank(weights, damping=0.85)
    # Exact solution: r = (1 - d)/n + d (M^T r + dangling mass / n), sum(r) = 1.
    n = 6
    out = weights.sum(axis=1)
    transition = np.where(out[:, None] > 0, weights / np.where(out > 0, out, 1)[:, None], 1.0 / n)
    expected = np.linalg.solve(np.eye(n) - 0.85 * transition.T, np.full(n, 0.15 / n))
    assert rank == pytest.approx(expected / expected.sum(), abs=1e-8)
    assert rank.sum() == pytest.approx(1.0)
    star = np.zeros((4, 4))
    star[0, 1:] = star[1:, 0] = 1
    assert np.argmax(pagerank(star)) == 0
    assert pagerank(np.zeros((0, 0))).shape == (0,)


def test_textrank_finds_the_central_phrase():
    found = textrank(GRAPH_TEXT, n=5)
    assert "graph neural networks" in [k.phrase for k in found[:3]]
    assert all(isinstance(k, Keyword) for k in found)
    assert [k.score for k in found] == sorted((k.score for k in found), reverse=True)
    ranks = word_ranks(GRAPH_TEXT)
    assert max(ranks, key=ranks.get) in {"graph", "neural", "networks"}
    assert sum(ranks.values()) == pytest.approx(1.0)
    assert textrank("of the and", n=5) == []


def test_tfidf_prefers_phrases_rare_in_the_corpus():
    df = {term: 5 for term in document_terms(GRAPH_TEXT)}  # every phrase in 5 documents of 50 ...
    df["graph neural networks"] = 1  # ... but this one
    found = tfidf(GRAPH_TEXT, df, documents=50, n=5)
    assert found[0].phrase == "graph neural networks"  # 3 occurrences, in 1 document of 50
    common = tfidf(GRAPH_TEXT, {**df, "graph neural networks": 50}, documents=50, n=10)
    assert [k.phrase for k in common].index("graph neural networks") > 0
    assert [k.score for k in found] == sorted((k.score for k in found), reverse=True)


def test_fragments_score_less_than_whole_chunks():
    text = "Deep convolutional neural network classifiers. Neural network."
    scores = dict(tfidf(text, {}, documents=10, n=20))
    idf = math.log(11) + 1  # df 0 of N = 10
    # Pieces of the 5-word chunk are fragments: weighted down.
    assert scores["deep convolutional"] == pytest.approx(FRAGMENT_WEIGHT * idf)
    assert scores["network classifiers"] == pytest.approx(FRAGMENT_WEIGHT * idf)
    # "neural network" is a whole chunk once (and a piece once): it counts twice, at full weight.
    assert scores["neural network"] == pytest.approx((1 + math.log(2)) * idf)
    assert "deep" not in scores and "neural" not in scores


def test_mmr_trades_relevance_for_novelty():
    # Three near-duplicates of the most relevant direction, and one different, slightly less relevant vector.
    vectors = np.array([[1.0, 0.0, 0.0], [0.99, 0.14, 0.0], [0.98, 0.0, 0.2], [0.0, 0.0, 1.0]])
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    relevance = np.array([0.9, 0.88, 0.87, 0.8])
    assert mmr(relevance, vectors, 3, 0.0) == [0, 1, 2]
    assert mmr(relevance, vectors, 3, 0.5)[:2] == [0, 3]
    assert sorted(mmr(relevance, vectors, 10, 0.3)) == [0, 1, 2, 3]
    assert mmr(relevance, vectors, 0, 0.3) == []
    with pytest.raises(ValueError):
        mmr(relevance, vectors, 3, 1.5)


def test_embed_uses_the_given_encoder_and_document_vector(tiny_embedder):
    found = embed(GRAPH_TEXT, tiny_embedder.encode, n=4, diversity=0.0)
    vectors = tiny_embedder.encode([k.phrase for k in found] + [GRAPH_TEXT])
    for k, vector in zip(found, vectors):
        weight = 1.0 if (k.phrase, True) in phrases(GRAPH_TEXT) else FRAGMENT_WEIGHT
        assert k.score == pytest.approx(float(vector @ vectors[-1]) * weight, abs=1e-5)
    # With the document's own vector given, the text itself is not embedded.
    calls = []

    def encode(texts):
        calls.append(list(texts))
        return tiny_embedder.encode(texts)

    embed(GRAPH_TEXT, encode, n=3, document_vector=vectors[-1])
    assert GRAPH_TEXT not in calls[0] and len(calls) == 1


def test_embed_pool_keeps_the_best_candidates_by_textrank_and_the_most_frequent(tiny_embedder):
    names = ("alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho sigma tau "
             "upsilon phi chi psi omega aleph beth gimel daleth").split()
    text = ". ".join(f"{name} system" for name in names) + ". Quasar. Quasar. Quasar."
    everything, _ = embed_pool(text, 10, pool=0)
    assert len(everything) == len(names) + 1
    counts = Counter(p for p, _ in phrases(text))
    frequent = sorted(everything, key=lambda p: -counts[p])[:EMBED_POOL_FREQUENT]
    assert frequent[0] == "quasar"
    pooled, weights = embed_pool(text, 10)
    best = [k.phrase for k in textrank(text, n=max(EMBED_POOL, 10 + 10))]
    assert "quasar" not in best  # a lone word is weakly connected in the word graph ...
    assert set(pooled) == set(best) | set(frequent) and len(weights) == len(pooled)  # ... but frequent
    assert len(embed_pool(text, 40)[0]) == len(everything)
    seen = []

    def encode(texts):
        seen.extend(texts)
        return tiny_embedder.encode(texts)

    found = embed(text, encode, n=3, pool=5, document_vector=tiny_embedder.encode([text])[0])
    best = [k.phrase for k in textrank(text, n=5)]
    assert set(seen) == set(best) | set(frequent) and {k.phrase for k in found} <= set(seen)


def test_phrase_vectors_cache_embeds_each_phrase_once(tiny_embedder):
    seen = []

    def encode(texts):
        seen.extend(texts)
        return tiny_embedder.encode(texts)

    cache = PhraseVectors(encode, capacity=3)
    cache.prefetch(["cat", "dog", "cat"])
    first = cache(["dog", "cat", "bird"])
    assert seen == ["cat", "dog", "bird"]
    assert first == pytest.approx(tiny_embedder.encode(["dog", "cat", "bird"]), abs=1e-6)
    cache(["fish"])  # over capacity: the least recently used ("dog") goes
    cache(["dog"])
    assert seen.count("dog") == 2


@pytest.mark.slow
def test_embed_with_the_bundled_model_finds_the_obvious_phrase(bundled_embedder):
    texts = {
        "photosynthesis": "Photosynthesis lets plants turn sunlight, water and carbon dioxide into sugar. "
                          "Chlorophyll in the leaves absorbs the light that drives photosynthesis.",
        "offside rule": "The offside rule stops attackers from waiting beside the goalkeeper. A player is "
                        "caught by the offside rule when nearer the goal line than the last defender.",
        "wavelength services": "Wavelength services have been hyped for years. Carriers still expect "
                               "wavelength services to flourish despite their slow adoption.",
    }
    for expected, text in texts.items():
        found = embed(text, bundled_embedder.encode, n=5)
        assert expected in [k.phrase for k in found[:3]], (expected, found)


@pytest.mark.slow
def test_mmr_diversity_reduces_overlap_between_phrases(bundled_embedder):
    text = ("Neural network training. Neural networks, deep neural networks and recurrent neural networks "
            "are neural network models. Training data quality and hardware cost also matter for the training.")

    def overlap(found):
        words = [set(k.phrase.split()) for k in found]
        return sum(1 for i, w in enumerate(words) if any(w & other for other in words[:i]))

    plain = embed(text, bundled_embedder.encode, n=5, diversity=0.0)
    diverse = embed(text, bundled_embedder.encode, n=5, diversity=0.7)
    assert overlap(diverse) < overlap(plain), (plain, diverse)

    def mean_similarity(found):
        vectors = bundled_embedder.encode([k.phrase for k in found])
        return ((vectors @ vectors.T).sum() - len(found)) / (len(found) * (len(found) - 1))

    assert mean_similarity(diverse) < mean_similarity(plain)


# -- document frequencies in the index --------------------------------------------------------------

DF_TEXTS = {
    "a": "Neural networks learn. Graph theory.",
    "b": "Neural networks can predict stock prices.",
    "c": "Graph theory and prices.",
}


def stored_df(idx):
    return dict(idx.store.conn.execute("SELECT term, df FROM term_df"))


def recount(texts):
    counts = {}
    for text in texts:
        for term in document_terms(text):
            counts[term] = counts.get(term, 0) + 1
    return counts


@pytest.fixture
def df_index(tmp_path, tiny_model):
    idx = Index.open(tmp_path / "idx", model=tiny_model, chunk_size=60)
    idx.add(list(DF_TEXTS.values()), ids=list(DF_TEXTS))
    yield idx
    idx.close()


def all_df(idx, texts):
    """What document_frequencies answers for every term of ``texts`` (stored plus not counted yet)."""
    return idx.store.document_frequencies({t for text in texts for t in document_terms(text)})


def test_document_frequencies_follow_adds_updates_and_removals(df_index):
    # The writer does not count terms: the documents are pending, answered from memory until counted.
    assert stored_df(df_index) == {} and df_index.store.terms_pending() == 3
    assert all_df(df_index, DF_TEXTS.values()) == recount(DF_TEXTS.values())
    assert df_index.count_terms() == 3 and df_index.store.terms_pending() == 0
    df = stored_df(df_index)
    assert df["neural networks"] == 2 and df["neural"] == 2 and df["graph theory"] == 2
    assert df["prices"] == 2 and df["stock prices"] == 1 and df["predict stock prices"] == 1 and df["learn"] == 1
    assert "graph theory and" not in df and "and" not in df  # never across a stop word
    assert df == recount(DF_TEXTS.values())
    assert df_index.count_terms() == 0

    df_index.remove(["a"])  # counted: its terms come off in the same transaction
    df = stored_df(df_index)
    assert df["neural networks"] == 1 and df["graph theory"] == 1 and "learn" not in df
    assert df == recount([DF_TEXTS["b"], DF_TEXTS["c"]])

    df_index.add(["Graph theory of neural networks.", "Quantum prices."], ids=["b", "d"])  # b changes, d is new
    texts = ["Graph theory of neural networks.", DF_TEXTS["c"], "Quantum prices."]
    assert stored_df(df_index) == recount([DF_TEXTS["c"]])  # the old b is off; the new b and d are pending
    assert all_df(df_index, texts) == recount(texts)
    df_index.add(["Pending words only."], ids=["e"])
    df_index.remove(["e"])  # never counted: nothing to take off
    assert stored_df(df_index) == recount([DF_TEXTS["c"]])
    assert df_index.store.terms_pending() == 2
    assert df_index.keywords("d", method="tfidf")  # tfidf counts what is pending first, and stores it
    df = stored_df(df_index)
    assert df == recount(texts) and df_index.store.terms_pending() == 0
    assert df["graph theory"] == 2 and df["prices"] == 2 and df["quantum prices"] == 1
    assert "predict" not in df and "stock prices" not in df
    assert df_index.store.term_df_current()


# Run in a fresh interpreter: workers are forked only from a process without other threads, which
# pytest's may not be by then (forking one that has them could copy a held lock and hang the test).
WORKERS_SCRIPT = """
import json, sqlite3, sys
from collections import Counter
from semsearch import Index, storing

storing.TERMS_PART = 4  # 6 parts: worker processes are used
real = storing._count_part

def marked(path, analyzer_name, low, high):  # found by name in the forked worker (__main__)
    documents, counts = real(path, analyzer_name, low, high)
    counts["bogus"] += 1
    return documents, counts

def miscounted(path, analyzer_name, low, high):
    return 999, Counter({"bogus": 1})

model, root, texts = sys.argv[1], sys.argv[2], json.loads(sys.stdin.read())
out = {}
for name, worker, processes, remove in (("plain", real, 0, True), ("workers", real, 2, True),
                                        ("marked", marked, 2, False), ("miscounted", miscounted, 2, False)):
    storing._count_part = worker
    with Index.open(f"{root}/{name}", model=model) as idx:
        idx.add(texts, ids=[f"d{i}" for i in range(len(texts))])
        if remove:
            idx.remove(["d5"])  # a gap in the pks
        counted = idx.count_terms(processes=processes)
        out[name] = {"counted": counted, "df": dict(idx.store.conn.execute("SELECT term, df FROM term_df"))}
print(json.dumps(out))
"""


def test_terms_counted_by_worker_processes_are_the_same(tmp_path, tiny_model):
    texts = [f"{DF_TEXTS['abc'[i % 3]]} Extra words {i % 5} and topic {i % 7}." for i in range(23)]
    done = subprocess.run([sys.executable, "-c", WORKERS_SCRIPT, str(tiny_model), str(tmp_path)],
                          input=json.dumps(texts), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["plain"]["counted"] == out["workers"]["counted"] == 22
    assert out["plain"]["df"] == out["workers"]["df"] == recount(texts[:5] + texts[6:])
    # The workers' counts are the ones stored (marked here), unless a part does not match the
    # database (here: a wrong document count), which is then counted again in that process.
    marked, miscounted = out["marked"]["df"], out["miscounted"]["df"]
    assert marked.pop("bogus") == 6  # one mark a part: every part came from a worker
    assert "bogus" not in miscounted
    assert marked == miscounted == recount(texts)


def test_a_process_with_other_threads_counts_terms_itself(tmp_path, tiny_model, monkeypatch):
    monkeypatch.setattr(storing, "TERMS_PART", 4)
    monkeypatch.setattr(storing, "_count_part", _marked_part)  # what a worker would count: marked
    release = threading.Event()
    other = threading.Thread(target=release.wait)
    other.start()
    try:
        with Index.open(tmp_path / "idx", model=tiny_model) as idx:
            idx.add([f"Words of document {i}." for i in range(20)], ids=[f"d{i}" for i in range(20)])
            assert idx.count_terms(processes=2) == 20
            assert "bogus" not in stored_df(idx)  # never forked: the other thread might hold a lock
    finally:
        release.set()
        other.join()


def _marked_part(path, analyzer_name, low, high):  # what a worker would count, marked
    documents, counts = _real_count_part(path, analyzer_name, low, high)
    counts["bogus"] += 1
    return documents, counts


_real_count_part = storing._count_part


def test_document_frequencies_roll_back_with_a_failed_write(df_index, monkeypatch):
    df_index.count_terms()
    before = stored_df(df_index)
    original = Store.insert_documents

    def failing(self, documents):
        ids = original(self, documents)
        if any(doc.id in ("a", "boom") for doc in documents):
            raise RuntimeError("disk on fire")
        return ids

    monkeypatch.setattr(Store, "insert_documents", failing)
    with pytest.raises(RuntimeError):
        df_index.add(["Brand new words here.", "Another fresh sentence."], ids=["new", "boom"])
    with pytest.raises(RuntimeError):  # an update: the counted old "a" is taken off, then the insert fails
        df_index.add(["Entirely different words."], ids=["a"])
    assert stored_df(df_index) == before
    assert df_index.store.counts()["documents"] == 3 and df_index.store.terms_pending() == 0


def test_old_index_gains_document_frequencies_on_open(df_index):
    path = df_index.path
    conn = df_index.store.conn
    conn.execute("DROP TABLE term_df")
    conn.execute("DELETE FROM settings WHERE key LIKE 'term_df_%'")
    df_index.close()
    with Index.open(path, create=False) as idx:  # an index written before term_df existed
        assert idx.store.term_df_current() and idx.store.terms_pending() == 3
        idx.count_terms()
        assert stored_df(idx) == recount(DF_TEXTS.values())
        assert idx.settings["format_version"] == FORMAT_VERSION  # term_df needed no format change
        # A write by an older semsearch bumps the generation without touching term_df.
        idx.store.conn.execute("DELETE FROM documents WHERE id = 'c'")
        idx.store.conn.execute(
            "UPDATE settings SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation'")
        assert not idx.store.term_df_current()
    with Index.open(path, create=False) as idx:
        idx.count_terms()
        assert stored_df(idx) == recount([DF_TEXTS["a"], DF_TEXTS["b"]])


def test_terms_counted_by_an_earlier_version_are_adopted_not_recounted(df_index):
    # Versions before lazy counting kept term_df exact at every write, under `term_df_generation`.
    df_index.count_terms()
    conn = df_index.store.conn
    conn.execute("DELETE FROM settings WHERE key IN ('term_df_lazy_generation', 'term_df_through')")
    conn.execute("INSERT OR REPLACE INTO settings(key, value) "
                 "SELECT 'term_df_generation', value FROM settings WHERE key = 'generation'")
    conn.execute("UPDATE term_df SET df = df + 100 WHERE term = 'neural'")  # a mark that a recount would erase
    path = df_index.path
    df_index.close()
    with Index.open(path, create=False) as idx:
        assert idx.store.terms_pending() == 0
        assert stored_df(idx)["neural"] == 102
        assert idx.store.settings()["term_df_through"] == idx.store.conn.execute(
            "SELECT max(pk) FROM documents").fetchone()[0]


# -- Index.keywords / keywords_many / topics ------------------------------------------------------


def test_index_keywords_by_id_and_text(df_index):
    found = df_index.keywords("b", n=3)
    assert found and all(isinstance(k, Keyword) for k in found) and len(found) <= 3
    # "predict stock prices" is in one document of three, "neural networks" in two.
    assert found[0].phrase == "predict stock prices"
    outside = df_index.keywords(text="Predict prices with neural networks.", method="textrank", n=2)
    assert len(outside) == 2
    for method in ("tfidf", "textrank", "embed"):
        assert df_index.keywords("a", method=method, n=2)
    # A text from outside counts as one more document for TF-IDF.
    assert df_index.keywords(text=DF_TEXTS["b"], n=3)[0].phrase == "predict stock prices"


@pytest.mark.parametrize("call, message", [
    (lambda idx: idx.keywords("nope"), "no document 'nope'"),
    (lambda idx: idx.keywords(text="   "), "empty"),
    (lambda idx: idx.keywords("a", n=0), "n must be at least 1"),
    (lambda idx: idx.keywords("a", method="yake"), "unknown keyword method"),
    (lambda idx: idx.keywords("a", method="tfidf", diversity=0.3), "embed method only"),
    (lambda idx: idx.keywords("a", method="embed", diversity=1.5), "between 0 and 1"),
    (lambda idx: idx.keywords("a", text="x"), "one of them"),
    (lambda idx: idx.keywords(), "one of them"),
    (lambda idx: idx.keywords("a", max_words=4), "max_words"),
    (lambda idx: idx.keywords("a", method="tfidf", pool=5), "pool applies to the embed method only"),
    (lambda idx: idx.keywords("a", method="embed", pool=-1), "pool must be 0"),
    (lambda idx: list(idx.keywords_many(["a", "nope"])), "no document 'nope'"),
    (lambda idx: idx.topics(n=0), "n must be at least 1"),
    (lambda idx: idx.topics(method="nmf"), "unknown topic method"),
])
def test_keyword_errors(df_index, call, message):
    with pytest.raises(SemsearchError, match=message):
        call(df_index)


def test_keywords_many_equals_one_at_a_time(df_index):
    for method in ("tfidf", "textrank", "embed"):
        many = dict(df_index.keywords_many(method=method, n=4))
        assert list(many) == ["a", "b", "c"]
        for doc_id, found in many.items():
            single = df_index.keywords(doc_id, method=method, n=4)
            assert [k.phrase for k in found] == [k.phrase for k in single]
            assert [k.score for k in found] == pytest.approx([k.score for k in single], abs=1e-5)
    assert [d for d, _ in df_index.keywords_many(["c", "a"])] == ["c", "a"]


TOPIC_TEXTS = [
    "football goal striker penalty match referee",
    "goal striker football league match penalty",
    "referee penalty football match striker goal",
    "inflation interest rates central bank prices",
    "central bank interest rates inflation bonds",
    "prices inflation bank interest rates bonds",
]


def test_lda_topics_separate_two_themes(tmp_path, tiny_model):
    with Index.open(tmp_path / "t", model=tiny_model) as idx:
        idx.add(TOPIC_TEXTS, ids=[f"d{i}" for i in range(6)])
        found = idx.topics(n=2, words=4, seed=0)
    assert sum(t.weight for t in found) == pytest.approx(1.0)
    assert found[0].weight >= found[1].weight
    members = [{d for d, _ in t.documents} for t in found]
    assert sorted(map(sorted, members)) == [["d0", "d1", "d2"], ["d3", "d4", "d5"]]
    football = next(t for t in found if "d0" in {d for d, _ in t.documents})
    assert {w.phrase for w in football.words} <= {"football", "goal", "striker", "penalty", "match", "referee"}
    assert all(0 < share <= 1 for t in found for _, share in t.documents)
    data = found[0].to_dict()
    assert set(data) == {"topic", "weight", "words", "documents"}
    assert "documents" not in found[0].to_dict(with_documents=False)


def test_lda_topics_on_tiny_or_empty_corpora():
    topics, shares = lda_topics(["solitary document about glaciers"], 3, top_words=2)
    assert len(topics) == 3 and shares.shape == (1, 3)
    with pytest.raises(ValueError):
        lda_topics(["the of and"], 2)


# -- CLI ----------------------------------------------------------------------------------------


@pytest.fixture
def cli_index(df_index):
    path = df_index.path
    df_index.close()
    return path


def invoke(*args, **kwargs):
    return CliRunner().invoke(cli, [str(a) for a in args], **kwargs)


def test_cli_keywords_table_and_json(cli_index):
    result = invoke("keywords", "b", "-i", cli_index, "-n", "3")
    assert result.exit_code == 0, result.output
    first = result.output.splitlines()[0].split()
    assert first[0] == "1" and " ".join(first[2:]) == "predict stock prices"
    result = invoke("keywords", "b", "a", "-i", cli_index, "--method", "embed", "--diversity", "0.5", "--json")
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["id"] for r in records] == ["b", "a"]
    assert set(records[0]["keywords"][0]) == {"phrase", "score"}
    result = invoke("keywords", "--text", "Cold glaciers carve deep valleys.", "-i", cli_index, "--json",
                    "--method", "textrank")
    record = json.loads(result.stdout)
    assert record["id"] is None and "deep valleys" in [k["phrase"] for k in record["keywords"]]
    result = invoke("keywords", "--text", "-", "-i", cli_index, "--json", input="Quantum chromodynamics rocks.")
    assert json.loads(result.stdout)["keywords"][0]["phrase"] == "quantum chromodynamics rocks"


def test_cli_keywords_all_writes_jsonl(cli_index, tmp_path):
    out = tmp_path / "kw.jsonl"
    result = invoke("keywords", "--all", "--method", "tfidf", "-n", "2", "--out", out, "-i", cli_index)
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in records] == ["a", "b", "c"]
    assert all(1 <= len(r["keywords"]) <= 2 for r in records)
    scores = [k["score"] for k in records[1]["keywords"]]
    assert scores == sorted(scores, reverse=True)
    result = invoke("keywords", "--all", "-i", cli_index, "--method", "textrank")
    assert len(result.stdout.splitlines()) == 3


@pytest.mark.parametrize("args, message", [
    (["keywords", "nope"], "no document 'nope'"),
    (["keywords", "--text", "  "], "empty"),
    (["keywords", "a", "--diversity", "0.3"], "embed method only"),
    (["keywords"], "one of them"),
    (["keywords", "a", "--all"], "one of them"),
    (["keywords", "a", "--out", "x.jsonl"], "--out goes with --all"),
    (["keywords", "a", "-n", "0"], "0 is not in the range"),
    (["keywords", "a", "--method", "lda"], "'lda' is not one of"),
    (["topics", "-n", "2", "--topic", "5"], "out of range"),
])
def test_cli_keyword_errors(cli_index, args, message):
    result = invoke(*args, "-i", cli_index)
    assert result.exit_code in (1, 2)
    assert "Traceback" not in result.output and message in result.output


def test_cli_keywords_needs_an_index(tmp_path):
    result = invoke("keywords", "a", "-i", tmp_path / "none")
    assert result.exit_code == 1 and "no index at" in result.output


def test_cli_topics(tmp_path, tiny_model):
    path = tmp_path / "t"
    with Index.open(path, model=tiny_model) as idx:
        idx.add(TOPIC_TEXTS, ids=[f"d{i}" for i in range(6)])
    result = invoke("topics", "-n", "2", "--words", "3", "-i", path)
    assert result.exit_code == 0, result.output
    assert result.output.count("Topic ") == 2 and "d0" not in result.output
    result = invoke("topics", "-n", "2", "--documents", "-i", path, "--json")
    data = json.loads(result.stdout)
    assert len(data) == 2 and sorted(d["id"] for t in data for d in t["documents"]) == [f"d{i}" for i in range(6)]
    assert len(data[0]["words"]) == 10
    topic = data[1]["topic"]
    result = invoke("topics", "-n", "2", "--documents", "--topic", topic, "-i", path)
    assert result.output.count("Topic ") == 1 and "d" in result.output.split("\n", 2)[2]


@pytest.mark.slow
def test_keywords_on_the_sample_corpus(sample_index):
    photosynthesis = f"{(SAMPLE_DATA / 'articles').as_posix()}/photosynthesis.md"
    with Index.open(sample_index, create=False) as idx:
        for method in ("tfidf", "textrank", "embed"):
            found = [k.phrase for k in idx.keywords(photosynthesis, method=method, n=10)]
            assert len(found) == 10
        assert "photosynthesis" in [k.phrase for k in idx.keywords(photosynthesis, method="embed", n=3)]
