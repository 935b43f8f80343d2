"""The writer: chunks stored per second with precomputed vectors, against raw SQLite.

N documents of one chunk each (SciFact abstracts cut to ~1,000 characters, the size of
a default chunk, and made unique; random unit vectors), written three ways, in one run,
on one disk, with the same pragmas (WAL, synchronous FULL):

- **raw sqlite**: plain ``executemany`` of the same rows (id, text, metadata, vector)
  into one table without indexes, 256 per transaction: the baseline (and at 4096).
- **store**: ``Store.insert_documents`` (what ``ingest.commit`` calls) in transactions of
  256 or 4096 chunks, with each document's ``Analysis`` (full-text values, language) made
  ahead of the writer, as workers can, or by the writer itself.
- **Index.add(texts, vectors=...)**: the whole user path (plan: hash and skip unchanged;
  one chunk per text; 4096 per transaction; commit; the in-memory vectors and the vector
  file), with the analysis made by the writer, and by cores - 1 worker processes
  (``SEMSEARCH_ANALYSIS_PROCESSES``, off by default; from 8,192 texts).  Then
  ``Index.count_terms()``: the keyword terms (tfidf's document frequencies), which the
  writer leaves to their first use, counted for all the documents, and both together.

``--main DIR`` also times another checkout (e.g. the code before this change) in a child
process: its ``Store.insert_document`` one document at a time and its ``Index.add``.
Also reported: the database bytes per chunk (WAL checkpointed).

The texts repeat after 2,000 (SciFact abstracts, each copy with its own id and a
"(copy N)" suffix): a transaction has as many distinct keyword terms as fresh text would
give, but ``term_df`` grows more slowly than on a real corpus.

Usage:  python bench/writer.py [--docs 20000] [--main /work/main]
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from common import add_repo_to_path, corpus_texts, table, write_results

BATCH = 256
DIMENSION = 384


def rows(n: int) -> tuple[list[str], np.ndarray]:
    base, _ = corpus_texts(2000)
    texts = [f"{base[i % len(base)][:1000]} (copy {i})" for i in range(n)]
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((n, DIMENSION)).astype(np.float32)
    return texts, vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def db_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))


def time_store(path: Path, texts: list[str], vectors: np.ndarray, batch: int = BATCH,
               ahead: bool = False) -> dict:
    """``Store.insert_documents`` in transactions of ``batch``; with ``ahead`` each document's
    analysis is made before the clock starts (as the chunking/embedding workers can)."""
    from semsearch.chunking import Chunk
    from semsearch.storing import NewDocument, Store

    store = Store.create(path, {"dimension": DIMENSION})
    analyses = [store.analyze(None, t) for t in texts] if ahead else [None] * len(texts)
    started, cpu = time.perf_counter(), time.process_time()
    for start in range(0, len(texts), batch):
        with store.transaction():
            store.insert_documents([
                NewDocument(f"doc-{i}", texts[i], None, None, {"n": i}, str(i), [Chunk(0, 0, len(texts[i]), texts[i])],
                            vectors[i : i + 1], analysis=analyses[i])
                for i in range(start, min(start + batch, len(texts)))
            ])
    return _finish(store.conn, path, started, len(texts), cpu)


def time_store_one_by_one(path: Path, texts: list[str], vectors: np.ndarray) -> dict:
    """``Store.insert_document``, one call per document, transactions of 256 (any version's API)."""
    from semsearch.chunking import Chunk
    from semsearch.storing import Store

    store = Store.create(path, {"dimension": DIMENSION})
    started, cpu = time.perf_counter(), time.process_time()
    for start in range(0, len(texts), BATCH):
        with store.transaction():
            for i in range(start, min(start + BATCH, len(texts))):
                store.insert_document(f"doc-{i}", text=texts[i], title=None, source=None, metadata={"n": i},
                                      content_hash=str(i), chunks=[Chunk(0, 0, len(texts[i]), texts[i])],
                                      vectors=vectors[i : i + 1])
    return _finish(store.conn, path, started, len(texts), cpu)


def _finish(conn: sqlite3.Connection, path: Path, started: float, n: int, cpu: float) -> dict:
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return {"seconds": seconds, "chunks_per_s": n / seconds, "bytes_per_chunk": db_bytes(path) / n,
            "cpu_us_per_chunk": cpu / n * 1e6}


def time_index_add(path: Path, texts: list[str], vectors: np.ndarray) -> dict:
    """The whole API path: plan (hash, skip unchanged), one chunk per text, commit, vector file."""
    from semsearch import Index

    with Index.open(path, index_type="exact") as index:
        started, cpu = time.perf_counter(), time.process_time()
        index.add(texts, ids=[f"doc-{i}" for i in range(len(texts))],
                  metadata=[{"n": i} for i in range(len(texts))], vectors=vectors)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        index.store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        found = {"seconds": seconds, "chunks_per_s": len(texts) / seconds,
                 "bytes_per_chunk": db_bytes(path / "index.db") / len(texts),
                 "cpu_us_per_chunk": cpu / len(texts) * 1e6}
        if hasattr(index, "count_terms"):  # since the writer stopped counting keyword terms: when first needed
            started, cpu = time.perf_counter(), time.process_time()
            counted = index.count_terms()
            terms_seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
            index.store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            found["count_terms"] = {"seconds": terms_seconds, "chunks_per_s": counted / terms_seconds,
                                    "bytes_per_chunk": db_bytes(path / "index.db") / len(texts),
                                    "cpu_us_per_chunk": cpu / counted * 1e6}
            found["with_count_terms"] = {"seconds": seconds + terms_seconds,
                                         "chunks_per_s": len(texts) / (seconds + terms_seconds),
                                         "bytes_per_chunk": found["count_terms"]["bytes_per_chunk"]}
    return found


def time_raw(path: Path, texts: list[str], vectors: np.ndarray, batch: int = BATCH) -> dict:
    conn = sqlite3.connect(str(path), isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("CREATE TABLE rows (id TEXT, text TEXT, metadata TEXT, vector BLOB)")
    started, cpu = time.perf_counter(), time.process_time()
    for start in range(0, len(texts), batch):
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany("INSERT INTO rows VALUES (?, ?, ?, ?)", [
            (f"doc-{i}", texts[i], json.dumps({"n": i}), vectors[i].tobytes())
            for i in range(start, min(start + batch, len(texts)))
        ])
        conn.execute("COMMIT")
    return _finish(conn, path, started, len(texts), cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=20_000)
    parser.add_argument("--main", type=Path, default=None, help="another checkout to time too (child processes)")
    parser.add_argument("--child", nargs=2, default=None, help=argparse.SUPPRESS)  # WHAT PATH, in --main's code
    args = parser.parse_args()
    texts, vectors = rows(args.docs)
    if args.child:
        what, path = args.child
        timer = time_store_one_by_one if what == "store" else time_index_add
        print(json.dumps(timer(Path(path), texts, vectors)))
        return
    add_repo_to_path()
    figures: dict = {"docs": args.docs}
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)

        def other(what: str) -> dict:
            out = subprocess.run(
                [sys.executable, __file__, "--docs", str(args.docs), "--child", what, str(scratch / f"main-{what}")],
                capture_output=True, text=True, env={"PYTHONPATH": str(args.main), "PATH": "/usr/bin:/bin"},
                check=True,
            ).stdout
            return json.loads(out.strip().splitlines()[-1])

        figures["raw sqlite"] = time_raw(scratch / "raw.db", texts, vectors)
        figures["raw sqlite, 4096/transaction"] = time_raw(scratch / "raw4096.db", texts, vectors, 4096)
        if args.main:
            (scratch / "main-index").mkdir()
            figures[f"{args.main}: Store.insert_document, 256/transaction"] = other("store")
        figures["Store.insert_document, 256/transaction"] = time_store_one_by_one(scratch / "one.db", texts, vectors)
        figures["Store.insert_documents, 256/transaction"] = time_store(scratch / "s256.db", texts, vectors)
        figures["Store.insert_documents, 4096/transaction"] = time_store(scratch / "s4096.db", texts, vectors, 4096)
        figures["Store.insert_documents, analysis ahead, 256/transaction"] = time_store(
            scratch / "a256.db", texts, vectors, ahead=True)
        figures["Store.insert_documents, analysis ahead, 4096/transaction"] = time_store(
            scratch / "a4096.db", texts, vectors, 4096, ahead=True)
        if args.main:
            figures[f"{args.main}: Index.add(texts, vectors=...)"] = other("index")
        os.environ["SEMSEARCH_ANALYSIS_PROCESSES"] = "0"
        found = figures["Index.add(texts, vectors=...), analysis in the writer"] = time_index_add(
            scratch / "index0", texts, vectors)
        figures["then Index.count_terms() (the first tfidf use; documents/s)"] = found.pop("count_terms")
        figures["Index.add + count_terms, end to end"] = found.pop("with_count_terms")
        os.environ["SEMSEARCH_ANALYSIS_PROCESSES"] = str(max(1, (os.cpu_count() or 1) - 1))
        from semsearch.precomputed import PARALLEL_AT, _analysis_workers

        workers = _analysis_workers(len(texts))
        name = f"{workers} analysis processes" if workers else f"no analysis processes below {PARALLEL_AT:,} texts"
        figures[f"Index.add(texts, vectors=...), {name}"] = time_index_add(scratch / "index", texts, vectors)
        del os.environ["SEMSEARCH_ANALYSIS_PROCESSES"]
    raw = figures["raw sqlite"]["chunks_per_s"]
    out_rows = [[name, f"{f['chunks_per_s']:,.0f}", f"{f['chunks_per_s'] / raw:.3f}",
                 f"{f.get('cpu_us_per_chunk', float('nan')):,.0f}", f"{f['bytes_per_chunk']:,.0f}"]
                for name, f in figures.items() if isinstance(f, dict)]
    print(f"{args.docs:,} one-chunk documents (~1,000 characters) with precomputed vectors")
    print(table(out_rows, ["writer", "chunks/s", "x raw sqlite", "CPU us/chunk", "db bytes/chunk"]))
    print("CPU us/chunk: this process's CPU time (not the analysis processes'), less sensitive than wall time "
          "to other work on the machine")
    print("target: >= 5,000 chunks/s")
    print(f"wrote {write_results('writer', figures)}")


if __name__ == "__main__":
    main()
