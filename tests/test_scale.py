"""Index types by size, calibrated recall, vectors from elsewhere, and the format 1 -> 2 migration.

Real components throughout: a tiny random BERT for the index's settings (no text is
embedded: vectors are given), real FAISS, real SQLite.
"""

from __future__ import annotations

import json
import sqlite3

import numpy as np
import pytest

from semsearch import Index
from semsearch.cli import describe_vector_index
from semsearch.errors import InvalidArgument, SettingsMismatch
from semsearch.vectors import policy

D = 32  # the tiny BERT's hidden size


def clustered(n: int, seed: int = 0, topics: int = 40) -> np.ndarray:
    centres = np.random.default_rng(99).standard_normal((topics, D)).astype(np.float32)
    rng = np.random.default_rng(seed)
    x = centres[rng.integers(0, topics, n)] + 0.6 * rng.standard_normal((n, D)).astype(np.float32)
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def fill(index: Index, vectors: np.ndarray, start: int = 0) -> None:
    n = len(vectors)
    index.add([f"text number {i}" for i in range(start, start + n)], ids=[f"d{i}" for i in range(start, start + n)],
              metadata=[{"n": i, "half": i % 2} for i in range(start, start + n)], vectors=vectors)


@pytest.fixture
def lowered(monkeypatch):
    """The size policy with thresholds a test can reach: exact < 1,500 <= ivf < 3,000 <= ivfpq."""
    monkeypatch.setattr(policy, "AUTO_IVF_AT", 1500)
    monkeypatch.setattr(policy, "AUTO_IVFPQ_AT", 3000)


def test_choose_kind():
    assert policy.choose_kind("exact", 10**9) == "flat"
    assert policy.choose_kind("ivfpq", 0) == "ivfpq"
    assert policy.choose_kind("auto", policy.AUTO_IVF_AT - 1) == "flat"
    assert policy.choose_kind("auto", policy.AUTO_IVF_AT) == "ivf"
    assert policy.choose_kind("auto", policy.AUTO_IVFPQ_AT) == "ivfpq"


def test_auto_switches_type_as_the_index_grows(tmp_path, tiny_model, lowered):
    path = tmp_path / "idx"
    x = clustered(3200)
    with Index.open(path, model=tiny_model) as index:
        assert index.info()["settings"]["vector_policy"] == "auto"
        fill(index, x[:1000])
        info = index.info()
        assert info["settings"]["index_type"] == "flat" and info["vector_index"]["exact"]
        fill(index, x[1000:1600], start=1000)
        info = index.info()
        assert info["settings"]["index_type"] == "ivf"
        cal = info["vector_index"]["calibration"]
        assert cal["size"] == 1600 and cal["recall"] >= 0.95 and cal["low"] <= cal["recall"] <= cal["high"]
        assert info["vector_index"]["nprobe"] == cal["nprobe"] and cal["date"]
        hits = index.search_vectors(x[:5], k=3)
        assert [h[0].id for h in hits] == [f"d{i}" for i in range(5)]
        fill(index, x[1600:3200], start=1600)
        assert index.info()["settings"]["index_type"] == "ivfpq"
    # Another process sees the switched type and loads the saved file (no rebuild).
    with Index.open(path) as index:
        assert index.vectors.kind == "ivfpq" and index.vectors.size == 3200
        assert index.search_vectors(x[3000:3003], k=1)[0][0].id == "d3000"


@pytest.mark.parametrize("index_type", ["exact", "ivf", "ivfpq"])
def test_delete_and_re_add_on_every_type(tmp_path, tiny_model, index_type):
    x = clustered(2000, seed=1)
    with Index.open(tmp_path / "idx", model=tiny_model, index_type=index_type) as index:
        fill(index, x)
        assert index.vectors.kind == policy.choose_kind(index_type, 2000)
        assert index.remove(["d3", "d4"]) == ["d3", "d4"]
        got = index.search_vectors(x[[3, 4]], k=5)
        assert all(h.id not in ("d3", "d4") for hits in got for h in hits)
        # Re-add d3 with another vector (an upsert of new content) and d4 as it was.
        index.add(["text number 3, changed", "text number 4"], ids=["d3", "d4"], vectors=x[[10, 4]])
        got = index.search_vectors(x[[4]], k=1)[0]
        assert got[0].id == "d4" and got[0].score == pytest.approx(1.0, abs=1e-5)
        assert {h.id for h in index.search_vectors(x[[10]], k=2)[0]} == {"d3", "d10"}
        assert index.get("d3")["text"] == "text number 3, changed"
        # Filters and --exact agree with the approximate search on these well-separated points.
        exact = index.search_vectors(x[:20], k=5, exact=True)
        approx = index.search_vectors(x[:20], k=5)
        agree = np.mean([len({h.id for h in a} & {h.id for h in e}) / 5 for a, e in zip(approx, exact)])
        assert agree >= 0.9
        filtered = index.search_vectors(x[:3], k=5, where={"half": 1})
        assert all(h.metadata["half"] == 1 for hits in filtered for h in hits)
        l1 = index.search_vectors(x[:2], k=1, metric="manhattan")
        assert [hits[0].id for hits in l1] == ["d0", "d1"]


def test_similar_exact_bypasses_the_approximate_index(tmp_path, tiny_model):
    x = clustered(2000, seed=3)
    with Index.open(tmp_path / "idx", model=tiny_model, index_type="ivf") as index:
        fill(index, x)
        index.vectors.nprobe, index.vectors.refine = 1, 1  # starve the approximate search
        differs = 0
        for row in range(40):
            scores = x @ x[row]
            scores[row] = -np.inf
            truth = [f"d{i}" for i in np.argsort(-scores, kind="stable")[:10]]
            exact = [h.id for h in index.similar(f"d{row}", k=10, exact=True)]
            assert exact == truth
            differs += [h.id for h in index.similar(f"d{row}", k=10)] != truth
        assert differs  # else this test would not show that exact=True changed anything


def test_searches_log_their_query_vectors_and_the_next_write_calibrates_on_them(tmp_path, tiny_model):
    x = clustered(2100, seed=4)
    queries = clustered(120, seed=5)
    path = tmp_path / "idx"
    with Index.open(path, model=tiny_model, index_type="ivf") as index:
        fill(index, x[:2000])
        assert index.info()["vector_index"]["calibration"]["logged"] == 0
        index.search_vectors(queries, k=3)
        index.search("text number", k=3, mode="dense")  # a text query is logged too
        assert index.search_vectors(x[[7]], k=1)[0][0].id == "d7"  # (logged as well: 122 in all)
        assert (path / "query-vectors.f32").stat().st_size == 122 * 4 * D
        index.similar("d1", k=3)  # a stored vector, not a query: not logged
        assert (path / "query-vectors.f32").stat().st_size == 122 * 4 * D
        fill(index, x[2000:2100], start=2000)  # any write: upkeep re-calibrates on the logged queries
        described = index.info()["vector_index"]
        cal = described["calibration"]
        assert cal["logged"] == 122 and cal["queries"] == 122 and cal["required"] == cal["target"]
        assert "122 logged queries" in describe_vector_index(described)  # what `semsearch info` prints
    exact = tmp_path / "exact"
    with Index.open(exact, model=tiny_model, index_type="exact") as index:  # never calibrates: keeps nothing
        fill(index, x[:50])
        index.search_vectors(queries, k=3)
    assert not (exact / "query-vectors.f32").exists()


def test_reindex_changes_type_and_target_without_re_embedding(tmp_path, tiny_model):
    x = clustered(2500, seed=2)
    path = tmp_path / "idx"
    with Index.open(path, model=tiny_model, index_type="exact") as index:
        fill(index, x)
        with pytest.raises(SettingsMismatch, match="reindex"):
            Index.open(path, index_type="ivf")
        described = index.reindex(index_type="ivf", recall=0.99)
        assert described["index_type"] == "ivf" and described["calibration"]["recall"] >= 0.99
        assert index.info()["settings"]["vector_policy"] == "ivf"
        assert index.info()["settings"]["recall_target"] == 0.99
        assert index.search_vectors(x[:1], k=1)[0][0].id == "d0"
        assert index.reindex(index_type="exact")["exact"]
    with Index.open(path) as index:
        assert index.vectors.kind == "flat"


def test_vectors_from_elsewhere_are_checked_and_normalised(tmp_path, tiny_model):
    with Index.open(tmp_path / "idx", model=tiny_model) as index:
        with pytest.raises(InvalidArgument, match="dimensions"):
            index.add(["a"], vectors=np.ones((1, D + 1)))
        with pytest.raises(InvalidArgument, match="2 vectors for 1 texts"):
            index.add(["a"], vectors=np.ones((2, D)))
        with pytest.raises(InvalidArgument, match="zeros"):
            index.add(["a"], vectors=np.zeros((1, D)))
        with pytest.raises(InvalidArgument, match="NaN"):
            index.add(["a"], vectors=np.full((1, D), np.nan))
        given = np.arange(1, D + 1, dtype=np.float64)[None, :] * 3.0
        report = index.add(["a long text " * 200], ids=["a"], vectors=given)
        assert report.added == 1 and report.chunks == 1  # one chunk per text, however long
        stored = index.store.document_vector(index.store.find("a")[0], D)
        np.testing.assert_allclose(stored, given[0] / np.linalg.norm(given[0]), rtol=1e-6)
        hits = index.search_vectors(given * 7, k=3)  # queries are normalised too
        assert len(hits) == 1 and hits[0][0].id == "a" and hits[0][0].score == pytest.approx(1.0, abs=1e-5)
        with pytest.raises(InvalidArgument, match="dimensions"):
            index.search_vectors(np.ones((2, 5)), k=1)
        assert index.search_vectors(np.ones((3, D)), k=2) == [[index.search_vectors(np.ones(D), k=2)[0][0]]] * 3


# -- migration: an index written by format 1 (semsearch before issue 14) -----------------------
# The schema and rows exactly as `Store.create` / `Store.insert_document` of format 1 wrote them
# (main at 6bca0ff): a chunk's text copied beside its vector in `chunks`.
FORMAT_1_SCHEMA = """
CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE documents (pk INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, title TEXT, source TEXT,
    text TEXT NOT NULL, metadata TEXT NOT NULL DEFAULT '{}', content_hash TEXT NOT NULL,
    chunk_count INTEGER NOT NULL, added TEXT NOT NULL, updated TEXT NOT NULL);
CREATE INDEX documents_source ON documents(source);
CREATE TABLE chunks (id INTEGER PRIMARY KEY AUTOINCREMENT, document INTEGER NOT NULL REFERENCES documents(pk),
    position INTEGER NOT NULL, start INTEGER NOT NULL, "end" INTEGER NOT NULL, text TEXT NOT NULL,
    vector BLOB NOT NULL);
CREATE INDEX chunks_document ON chunks(document);
CREATE VIRTUAL TABLE documents_fts USING fts5(title, text, content='documents', content_rowid='pk',
    tokenize='porter unicode61');
CREATE TRIGGER documents_fts_insert AFTER INSERT ON documents BEGIN
    INSERT INTO documents_fts(rowid, title, text) VALUES (new.pk, new.title, new.text);
END;
CREATE TRIGGER documents_fts_delete AFTER DELETE ON documents BEGIN
    INSERT INTO documents_fts(documents_fts, rowid, title, text) VALUES ('delete', old.pk, old.title, old.text);
END;
"""


def make_format_1(path, tiny_embedder, texts: list[str]) -> dict[str, list[tuple[str, bytes]]]:
    """A format 1 index of ``texts`` (two chunks each, one of them not a plain slice), as the old
    writer stored it; returns each document's (chunk text, vector blob) as written."""
    path.mkdir()
    conn = sqlite3.connect(path / "index.db", isolation_level=None)
    conn.executescript(FORMAT_1_SCHEMA)
    settings = {**tiny_embedder.settings(), "chunk_size": 8, "chunk_overlap": 2, "format_version": 1,
                "created": "2026-01-01T00:00:00+00:00", "generation": 1, "faiss_generation": -1,
                "term_df_generation": 0}
    conn.executemany("INSERT INTO settings VALUES (?, ?)", [(k, json.dumps(v)) for k, v in settings.items()])
    written = {}
    rng = np.random.default_rng(5)
    for i, text in enumerate(texts):
        pk = conn.execute(
            "INSERT INTO documents (id, title, source, text, metadata, content_hash, chunk_count, added, updated) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (f"old{i}", None, None, text, json.dumps({"i": i}), f"h{i}", 2, "2026-01-01", "2026-01-01"),
        ).lastrowid
        half = len(text) // 2
        # The second chunk's stored text is not the slice (as a chunker that strips might have made).
        chunks = [(0, 0, half, text[:half]), (1, half, len(text), text[half:].strip() + " ")]
        written[f"old{i}"] = []
        for position, start, end, chunk in chunks:
            vector = rng.standard_normal(D).astype(np.float32)
            vector /= np.linalg.norm(vector)
            conn.execute('INSERT INTO chunks (document, position, start, "end", text, vector) '
                         "VALUES (?, ?, ?, ?, ?, ?)", (pk, position, start, end, chunk, vector.tobytes()))
            written[f"old{i}"].append((chunk, vector.tobytes()))
    conn.execute("DELETE FROM chunks WHERE id = (SELECT max(id) FROM chunks)")  # a deleted id: never reused
    last = written[f"old{len(texts) - 1}"].pop()
    conn.close()
    return written, last


def test_format_1_index_migrates_on_open_and_nothing_is_lost(tmp_path, tiny_embedder):
    path = tmp_path / "old"
    texts = [f"document {i} about glaciers and the interest rates of banks, number {i}" for i in range(30)]
    written, _ = make_format_1(path, tiny_embedder, texts)
    with Index.open(path) as index:
        info = index.info()
        assert info["settings"]["format_version"] == 2 and info["chunks"] == 59
        conn = index.store.conn
        assert "vector" not in [r[1] for r in conn.execute("PRAGMA table_info(chunks)")]
        # Texts that are the slice are now offsets; the one that is not was kept.
        kept = conn.execute("SELECT count(*) FROM chunks WHERE text IS NOT NULL").fetchone()[0]
        assert kept == 29
        for doc_id, chunks in written.items():
            pk = index.store.find(doc_id)[0]
            ids = [r[0] for r in conn.execute("SELECT id FROM chunks WHERE document = ? ORDER BY position", (pk,))]
            assert [index.store.chunk_texts(ids)[i][1] for i in ids] == [c for c, _ in chunks]
            assert index.store.vectors_by_id(np.array(ids), D).tobytes() == b"".join(v for _, v in chunks)
        assert index.get("old3")["text"] == texts[3] and index.get("old3")["metadata"] == {"i": 3}
        # The vectors are rebuilt from the stored ones; keyword statistics and full text still work.
        vector = np.frombuffer(written["old7"][0][1], dtype=np.float32)
        assert index.search_vectors(vector, k=1)[0][0].id == "old7"
        assert index.search("glaciers", mode="keyword", k=3)
        assert index.keywords("old2", method="tfidf", n=3)
        # New chunks never reuse the deleted chunk's id.
        before = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'chunks'").fetchone()[0]
        assert before == 60
        index.add(["new text"], ids=["new"], vectors=np.ones((1, D)))
        assert conn.execute("SELECT max(id) FROM chunks").fetchone()[0] == 61
    with Index.open(path) as index:  # opening again: nothing to do
        assert index.info()["settings"]["format_version"] == 2 and index.info()["chunks"] == 60


def test_migrate_vacuum_compacts_a_migrated_index_and_keeps_everything(tmp_path, tiny_embedder):
    from click.testing import CliRunner

    from semsearch.cli import cli

    path = tmp_path / "old"
    texts = [f"document {i} about glaciers and the interest rates of banks, number {i} " * 20 for i in range(30)]
    written, _ = make_format_1(path, tiny_embedder, texts)
    result = CliRunner().invoke(cli, ["migrate", "--index", str(path), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"format_version": 2}  # migrated by the write-access open
    result = CliRunner().invoke(cli, ["migrate", "--index", str(path), "--vacuum", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["page_size"] == 8192  # format 1 was made with SQLite's default 4 KiB pages
    assert report["free_pages_before"] > 0 and report["free_pages_after"] == 0  # the dropped format-1 table
    with Index.open(path) as index:
        assert index.info()["chunks"] == sum(len(c) for c in written.values())
        assert index.store.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        vector = np.frombuffer(written["old7"][0][1], dtype=np.float32)
        assert index.search_vectors(vector, k=1)[0][0].id == "old7"
        assert index.get("old3")["text"] == texts[3]
    result = CliRunner().invoke(cli, ["migrate", "--index", str(path), "--vacuum"])
    assert result.exit_code == 0 and "index format 2, 8192 B pages" in result.stdout
