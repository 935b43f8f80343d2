"""The writer: chunks stored per second with precomputed vectors, against raw SQLite.

N documents of one chunk each (SciFact abstracts cut to ~1,000 characters, the size of
a default chunk, and made unique; random unit vectors) are written the way
``Index.add_documents`` commits them: ``Store.insert_document`` in transactions of 256
chunks (keyword document frequencies, full-text index, chunk rows, vectors).  The
baseline, in the same run on the same disk: plain ``executemany`` of the same rows
(id, text, metadata, vector) into one table without indexes, same pragmas (WAL,
synchronous FULL), same transaction size.  ``--main DIR`` also times another
checkout's writer (e.g. the code before this change) in a child process.  Also reported:
the database bytes per chunk.

Usage:  python bench/writer.py [--docs 20000] [--main /work/main]
"""

from __future__ import annotations

import argparse
import json
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
               precomputed_terms: bool = False) -> dict:
    """``Store.insert_document`` in transactions of ``batch``; with ``precomputed_terms`` the keyword
    terms are extracted before the clock starts (as the chunking/embedding workers would)."""
    import inspect

    from semsearch.chunking import Chunk
    from semsearch.keywords import document_terms
    from semsearch.storing import Store

    store = Store.create(path, {"dimension": DIMENSION})
    terms = [document_terms(t) for t in texts] if precomputed_terms else None
    extra = {}
    started = time.perf_counter()
    for start in range(0, len(texts), batch):
        with store.transaction():
            for i in range(start, min(start + batch, len(texts))):
                text = texts[i]
                if terms is not None:
                    extra = {"terms": terms[i]}
                store.insert_document(f"doc-{i}", text=text, title=None, source=None, metadata={"n": i},
                                      content_hash=str(i), chunks=[Chunk(0, 0, len(text), text)],
                                      vectors=vectors[i : i + 1], **extra)
    seconds = time.perf_counter() - started
    assert terms is None or "terms" in inspect.signature(store.insert_document).parameters
    store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    return {"seconds": seconds, "chunks_per_s": len(texts) / seconds, "bytes_per_chunk": db_bytes(path) / len(texts)}


def time_index_add(path: Path, texts: list[str], vectors: np.ndarray) -> dict:
    """The whole API path: plan (hash, skip unchanged), one chunk per text, commit, vector file."""
    from semsearch import Index

    with Index.open(path, index_type="exact") as index:
        started = time.perf_counter()
        index.add(texts, ids=[f"doc-{i}" for i in range(len(texts))],
                  metadata=[{"n": i} for i in range(len(texts))], vectors=vectors)
        seconds = time.perf_counter() - started
    return {"seconds": seconds, "chunks_per_s": len(texts) / seconds,
            "bytes_per_chunk": db_bytes(path / "index.db") / len(texts)}


def time_raw(path: Path, texts: list[str], vectors: np.ndarray) -> dict:
    conn = sqlite3.connect(str(path), isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("CREATE TABLE rows (id TEXT, text TEXT, metadata TEXT, vector BLOB)")
    started = time.perf_counter()
    for start in range(0, len(texts), BATCH):
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany("INSERT INTO rows VALUES (?, ?, ?, ?)", [
            (f"doc-{i}", texts[i], json.dumps({"n": i}), vectors[i].tobytes())
            for i in range(start, min(start + BATCH, len(texts)))
        ])
        conn.execute("COMMIT")
    seconds = time.perf_counter() - started
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return {"seconds": seconds, "chunks_per_s": len(texts) / seconds, "bytes_per_chunk": db_bytes(path) / len(texts)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=20_000)
    parser.add_argument("--main", type=Path, default=None, help="another checkout whose writer to time too")
    parser.add_argument("--only-store", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    texts, vectors = rows(args.docs)
    if args.only_store:  # the child process of --main: its code, not ours
        print(json.dumps(time_store(args.only_store, texts, vectors)))
        return
    add_repo_to_path()
    figures: dict = {"docs": args.docs}
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        figures["raw sqlite"] = time_raw(scratch / "raw.db", texts, vectors)
        figures["Store.insert_document"] = time_store(scratch / "store.db", texts, vectors)
        figures["Store.insert_document, terms from the workers"] = time_store(
            scratch / "terms.db", texts, vectors, precomputed_terms=True)
        figures["Store.insert_document, terms from the workers, 4096/transaction"] = time_store(
            scratch / "big.db", texts, vectors, batch=4096, precomputed_terms=True)
        figures["Index.add(texts, vectors=...)"] = time_index_add(scratch / "index", texts, vectors)
        if args.main:
            out = subprocess.run(
                [sys.executable, __file__, "--docs", str(args.docs), "--only-store", str(scratch / "main.db")],
                capture_output=True, text=True, env={"PYTHONPATH": str(args.main), "PATH": "/usr/bin:/bin"},
                check=True,
            ).stdout
            figures[f"Store.insert_document at {args.main}"] = json.loads(out.strip().splitlines()[-1])
    raw = figures["raw sqlite"]["chunks_per_s"]
    out_rows = [[name, f"{f['chunks_per_s']:,.0f}", f"{f['chunks_per_s'] / raw:.2f}", f"{f['bytes_per_chunk']:,.0f}"]
                for name, f in figures.items() if isinstance(f, dict)]
    print(f"{args.docs:,} one-chunk documents with precomputed vectors, {BATCH} per transaction")
    print(table(out_rows, ["writer", "chunks/s", "x raw sqlite", "db bytes/chunk"]))
    print("target: >= 5,000 chunks/s (from 810)")
    print(f"wrote {write_results('writer', figures)}")


if __name__ == "__main__":
    main()
