"""The bulk writer (issue 14, item 4): the same rows, terms and rankings as one document at a time.

``Store.insert_documents`` writes a batch table by table with the ids AUTOINCREMENT would
give; the analysis (full-text values, language, keyword terms) may be made ahead of the
writer; the faster ``Analyzer.terms`` and ``languages.detect`` must give exactly what the
plain definitions give.  Real SQLite and FTS5 throughout; SciFact texts where present.
"""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from semsearch import Index, precomputed
from semsearch.chunking import Chunk
from semsearch.ingest import Planned
from semsearch.reading import Document
from semsearch.storing import NewDocument, Store, analyze
from semsearch.text import english, get_analyzer, languages
from semsearch.text.english import STOP_WORDS
from semsearch.text.multilingual import has_cjk

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
D = 32  # the tiny BERT's hidden size

ODD_TEXTS = [
    "", "   ", "123 456 7.5", "×÷ ñandú café", "東京タワーは高い。Tokyo tower", "한국어 텍스트 test words here",
    "x β-cells y of the T-cell receptor's co-stimulation", "Ünïcödé wörds ünd mörë wörds",
    "ＡＰＩ 数据库 abc 数据库设计",
    "e.g. U.S. o'brien x-ray -- well... a b c d", "Naïve Bayes vs. naive bayes: 3.5% (p<0.05)", "αβγ δεζ ηθι κλμ",
    "混合 text 与 English words 在一起 mixed 的 sentence", "line one\nline two\r\nline three", "ÀÉÎÕÜ àéîõü" * 30,
]


def corpus(limit: int = 1500) -> list[str]:
    texts = list(ODD_TEXTS)
    scifact = DATA / "scifact" / "corpus.jsonl"
    if scifact.exists():
        with open(scifact, encoding="utf-8") as handle:
            for i, line in enumerate(handle):
                if i >= limit:
                    break
                record = json.loads(line)
                texts.append(f"{record['title']}\n{record['text']}")
    csl = DATA / "csl" / "retrieval-title" / "corpus.jsonl"
    if csl.exists():
        with open(csl, encoding="utf-8") as handle:
            for i, line in enumerate(handle):
                if i >= limit // 3:
                    break
                texts.append(" ".join(str(v) for v in json.loads(line).values() if isinstance(v, str)))
    return texts


# -- the analysis: faster, same results ------------------------------------------------
def reference_detect(text: str) -> str:
    """``languages.detect`` as first written (every count by findall)."""
    sample = text[: languages.SAMPLE_CHARS]
    letters = len(languages._LETTER.findall(sample))
    if not letters:
        return ""
    han, kana = len(languages._HAN.findall(sample)), len(languages._KANA.findall(sample))
    hangul, latin = len(languages._HANGUL.findall(sample)), len(languages._LATIN.findall(sample))
    if kana and kana >= 0.05 * (han + kana) and han + kana >= 0.2 * letters:
        return "ja"
    if hangul >= 0.2 * letters:
        return "ko"
    if han >= 0.2 * letters:
        return "zh"
    if latin >= 0.5 * letters:
        words = [w.lower() for w in languages._WORD.findall(sample)]
        common = sum(1 for w in words if w in languages.QUERY_STOP_WORDS)
        return "en" if len(words) < 20 or common >= 0.02 * len(words) else "latin"
    return "other"


def reference_scan(text: str) -> list[str | None]:
    token = re.compile(r"[^\W_]+(?:[-'.][^\W_]+)*|[^\w\s]", re.UNICODE)
    out: list[str | None] = []
    for match in token.finditer(text.lower()):
        t = match.group(0)
        out.append(None if not t[0].isalnum() or t in STOP_WORDS or t.isdigit() or len(t) < 2 else t)
    return out


@pytest.mark.parametrize("name", ["multilingual", "english"])
def test_terms_are_the_distinct_candidates(name):
    analyzer = get_analyzer(name)
    texts = corpus()
    differ = [t[:60] for t in texts if analyzer.terms(t) != set(analyzer.candidates(t, 3))]
    assert not differ
    assert any(" " in term for term in analyzer.terms(texts[6]))  # n-grams are there at all


def test_english_scan_unchanged():
    english = get_analyzer("english")
    assert all(english.scan(t) == reference_scan(t) for t in corpus(500))


@pytest.mark.parametrize("name", ["multilingual", "english"])
def test_runs_unchanged(name):
    analyzer = get_analyzer(name)
    texts = corpus(500)
    assert all(analyzer.runs(t) == english._runs(analyzer.scan(t), frozenset()) for t in texts if not has_cjk(t))
    # Hundreds of runs per SciFact abstract; a few dozen from the odd texts alone (no data).
    assert sum(len(analyzer.runs(t)) for t in texts) > (1000 if len(texts) > len(ODD_TEXTS) else 20)


def test_language_detection_unchanged():
    texts = corpus() + ["Ωμέγα " * 40, "Привет мир " * 20, "x" * 30_000, "é" * 10 + "a" * 9]
    found = [languages.detect(t) for t in texts]
    assert found == [reference_detect(t) for t in texts]
    assert {"en", "zh", "ja", "ko", ""} <= set(found)


# -- the bulk writer: the same rows as one at a time -------------------------------------
def snapshot(store: Store) -> dict:
    """Everything the writer writes, timestamps aside."""
    q = store.conn.execute
    return {
        "documents": q("SELECT pk, id, title, source, text, metadata, content_hash, chunk_count, pages "
                       "FROM documents ORDER BY pk").fetchall(),
        "chunks": q('SELECT id, document, position, start, "end", text FROM chunks ORDER BY id').fetchall(),
        "vectors": q("SELECT id, vector FROM chunk_vectors ORDER BY id").fetchall(),
        "stats": q("SELECT document, lang, tokens, unknown FROM text_stats ORDER BY document").fetchall(),
        "term_df": q("SELECT term, df FROM term_df ORDER BY term").fetchall(),
        "sequence": q("SELECT name, seq FROM sqlite_sequence ORDER BY name").fetchall(),
        "keyword": [store.keyword_search(store.analyzer.query(w), 50) for w in
                    ("cell", "protein expression", "数据库", "tower", "receptor", "bayes")],
    }


def documents(texts: list[str], start: int = 0) -> list[NewDocument]:
    rng = np.random.default_rng(start)
    out = []
    for i, text in enumerate(texts, start):
        half = len(text) // 2
        chunks = [Chunk(0, 0, half, text[:half]), Chunk(1, half, len(text), text[half:])]
        if i % 7 == 0:  # a chunk whose text is not the slice (kept as its own copy)
            chunks[1] = Chunk(1, half, len(text), "prefix: " + text[half:])
        out.append(NewDocument(
            f"doc-{i}", text, f"Title {i}" if i % 3 else None, f"src/{i}.txt" if i % 2 else None, {"n": i, "ü": "ö"},
            f"hash-{i}", chunks, rng.standard_normal((2, D)).astype(np.float32),
            unknown_tokens=(i % 5, 100) if i % 4 else None, pages=[0, half] if i % 5 == 0 else None,
        ))
    return out


def write_one_by_one(store: Store, docs: list[NewDocument]) -> None:
    for doc in docs:
        store.insert_document(doc.id, text=doc.text, title=doc.title, source=doc.source, metadata=doc.metadata,
                              content_hash=doc.content_hash, chunks=doc.chunks, vectors=doc.vectors,
                              unknown_tokens=doc.unknown_tokens, pages=doc.pages)


def test_bulk_insert_writes_what_one_at_a_time_writes(tmp_path):
    texts = [t for t in corpus(300) if t.strip()]
    first, second = documents(texts[:200]), documents(texts[200:], start=200)
    stores = {}
    for how in ("one", "bulk", "ahead"):
        store = Store.create(tmp_path / f"{how}.db", {"dimension": D})
        for batch in (first, second):
            with store.transaction():
                if how == "one":
                    write_one_by_one(store, batch)
                else:
                    if how == "ahead":  # made by the workers; one made by another analyzer is redone
                        for i, doc in enumerate(batch):
                            doc.analysis = analyze(get_analyzer("english" if i % 10 == 0 else "multilingual"),
                                                   doc.title, doc.text)
                    store.insert_documents(batch)
        with store.transaction():  # deletes and an update: pks and chunk ids are never reused
            store.delete_documents([3, 4, len(texts)])
            store.insert_documents(documents(["A replacement text about cell receptors."], start=len(texts) + 5))
        stores[how] = snapshot(store)
        store.close()
    assert stores["bulk"] == stores["one"]
    assert stores["ahead"] == stores["one"]
    assert stores["one"]["documents"][-1][0] == len(texts) + 1  # after the deleted last pk
    assert any(row[5] is not None for row in stores["one"]["chunks"])  # a chunk kept its own text


def test_a_failed_bulk_insert_leaves_nothing(tmp_path):
    store = Store.create(tmp_path / "x.db", {"dimension": D})
    with store.transaction():
        store.insert_documents(documents(["first text here", "second text here"]))
    before = snapshot(store)
    broken = documents(["third text", "fourth text"], start=2)
    broken[1].vectors = broken[1].vectors[:1]  # one vector for two chunks
    with pytest.raises(ValueError), store.transaction():
        store.insert_documents(broken)
    assert snapshot(store) == before
    duplicate = documents(["again"], start=0)  # an id that is stored
    with pytest.raises(sqlite3.IntegrityError), store.transaction():
        store.insert_documents(duplicate)
    assert snapshot(store) == before


# -- the user path: Index.add(texts, vectors=) in large transactions -----------------------
def test_given_vectors_merge_batches_into_larger_transactions(monkeypatch):
    monkeypatch.setattr(precomputed, "COMMIT_CHUNKS", 3)
    ids = [f"d{i}" for i in range(7)]
    given = precomputed.GivenVectors(ids, np.eye(7, D, dtype=np.float32), D)
    planned = [Planned(Document(id=i, text=f"text {i}"), i) for i in ids]
    out = list(given.prepare([planned[:2], planned[2:3], planned[3:6], planned[6:]], None))
    assert [[p.planned.doc.id for p in batch] for batch in out] == [ids[:3], ids[3:6], ids[6:]]
    assert all(np.array_equal(p.vectors[0], np.eye(7, D)[int(p.planned.doc.id[1:])]) for b in out for p in b)


def test_given_vectors_through_the_index(tmp_path, tiny_model):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((23, D)).astype(np.float32)
    texts = [f"text number {i} about cell receptors and protein {i % 4}" for i in range(23)]
    with Index.open(tmp_path / "idx", model=tiny_model) as index:
        report = index.add(texts, ids=[f"d{i}" for i in range(23)], vectors=x)
        assert report.added == 23 and report.chunks == 23
        # re-adding: unchanged skipped; a changed one and a repeated id (the later wins) replace
        report = index.add(texts[:3] + ["changed text", "later wins"], ids=["d0", "d1", "d2", "d3", "d3"],
                           vectors=np.concatenate([x[:4], x[5:6]]))
        assert (report.unchanged, report.added, report.updated) == (3, 0, 2)
        assert index.store.document("d3")["text"] == "later wins"
        assert {h.id for h in index.search_vectors(x[5:6], k=2, exact=True)[0]} == {"d5", "d3"}  # one vector
        assert [h.id for h in index.search("changed", k=5, mode="keyword")] == []
        assert [h.id for h in index.search("later wins", k=5, mode="keyword")] == ["d3"]
        assert index.store.term_df_current()
        df = index.store.document_frequencies(["receptors", "later wins", "changed text"])
        assert df == {"receptors": 22, "later wins": 1}
        assert index.store.counts() == {"documents": 23, "chunks": 23}


def test_analysis_in_worker_processes_stores_the_same(tmp_path, tiny_model, monkeypatch):
    """Large adds analyze in forked workers, a batch ahead of the writer: the same index as without."""
    monkeypatch.setattr(precomputed, "COMMIT_CHUNKS", 40)
    monkeypatch.setattr(precomputed, "PARALLEL_AT", 100)
    texts = [t for t in corpus(150) if t.strip()]
    rng = np.random.default_rng(7)  # without the shared data: made-up mixed texts, enough for the workers
    words = "cell receptor protein gene 数据库 设计 Tokyo tower café naïve Bayes 水稻 产量 the of".split()
    texts += [" ".join(rng.choice(words, size=40)) for _ in range(130 - len(texts))]
    texts = texts[:130]
    x = np.random.default_rng(1).standard_normal((len(texts), D)).astype(np.float32)
    monkeypatch.delenv("SEMSEARCH_ANALYSIS_PROCESSES", raising=False)
    assert precomputed._analysis_workers(10**6) == 0  # off unless asked for
    found = {}
    for workers in ("0", "2"):
        monkeypatch.setenv("SEMSEARCH_ANALYSIS_PROCESSES", workers)
        assert precomputed._analysis_workers(len(texts)) == int(workers)
        with Index.open(tmp_path / workers, model=tiny_model) as index:
            index.add(texts, ids=[f"d{i}" for i in range(len(texts))], vectors=x)
            assert index.count_terms() == len(texts)  # counted after, as the first tfidf use would
            found[workers] = snapshot(index.store)
    assert found["2"] == found["0"]
    assert len(found["0"]["documents"]) == len(texts) and found["0"]["term_df"]


def test_worker_processes_make_the_analysis(monkeypatch):
    monkeypatch.setattr(precomputed, "COMMIT_CHUNKS", 10)
    monkeypatch.setattr(precomputed, "PARALLEL_AT", 10)
    monkeypatch.setenv("SEMSEARCH_ANALYSIS_PROCESSES", "2")
    texts = [t for t in corpus(60) if t.strip()][:25]
    ids = [f"d{i}" for i in range(len(texts))]
    given = precomputed.GivenVectors(ids, np.ones((len(texts), D), dtype=np.float32), D)
    planned = [Planned(Document(id=i, text=t, title=f"T {i}"), i) for i, t in zip(ids, texts)]
    out = [p for batch in given.prepare([planned[:12], planned[12:]], None) for p in batch]
    analyzer = get_analyzer()
    assert [p.planned.doc.id for p in out] == ids
    assert all(p.analysis == analyze(analyzer, p.planned.doc.title, p.planned.doc.text) for p in out)
