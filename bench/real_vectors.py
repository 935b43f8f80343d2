"""Real MiniLM chunk vectors for the scale benchmarks, embedded once and cached.

Every text we can embed here in English (SciFact abstracts, AG News test, Inspec
train/validation/test) goes through a real index with the bundled model and default
settings (chunked as ``semsearch index`` would); the stored chunk vectors are saved,
with SciFact's queries embedded as queries, to ``$SEMSEARCH_CACHE/bench/real-minilm.npz``
(default ``~/.cache/semsearch``).  Re-running reuses the file.

Usage:  python bench/real_vectors.py [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from common import SHARED, add_repo_to_path

add_repo_to_path()
from semsearch import Index  # noqa: E402


def cache_file() -> Path:
    base = Path(os.environ.get("SEMSEARCH_CACHE") or Path.home() / ".cache" / "semsearch")
    return base / "bench" / "real-minilm.npz"


def corpus() -> tuple[list[str], list[str], list[str]]:
    """``(ids, texts, queries)`` of every English text under ../shared/data."""
    ids, texts, queries = [], [], []

    def read(path: Path, prefix: str, fields: tuple[str, ...], id_field: str) -> None:
        if not path.exists():
            return
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                record = json.loads(line)
                text = " ".join(str(record.get(f) or "") for f in fields).strip()
                if text:
                    ids.append(f"{prefix}{record[id_field]}")
                    texts.append(text)

    read(SHARED / "scifact" / "corpus.jsonl", "scifact-", ("title", "text"), "_id")
    read(SHARED / "ag_news" / "test.jsonl", "ag-", ("text",), "id")
    for split in ("train", "validation", "test"):
        read(SHARED / "inspec" / f"{split}.jsonl", f"inspec-{split}-", ("text",), "id")
    path = SHARED / "scifact" / "queries.jsonl"
    if path.exists():
        with open(path, encoding="utf-8") as handle:
            queries = [json.loads(line)["text"] for line in handle]
    return ids, texts, queries


def load(path: Path | None = None) -> tuple[np.ndarray, np.ndarray] | None:
    """``(chunk vectors, query vectors)`` from the cache, or None when not made yet."""
    path = path or cache_file()
    if not path.exists():
        return None
    data = np.load(path)
    return data["chunks"], data["queries"]


def neighbours(real: np.ndarray, k: int = 10) -> np.ndarray:
    """Each real vector's ``k`` nearest other real vectors (exact, by cosine)."""
    out = np.empty((len(real), k), np.int64)
    for start in range(0, len(real), 2048):
        scores = real[start : start + 2048] @ real.T
        scores[np.arange(len(scores)), np.arange(start, start + len(scores))] = -np.inf
        out[start : start + 2048] = np.argpartition(-scores, k, axis=1)[:, :k]
    return out


def mixtures(real: np.ndarray, n: int, seed: int = 0, block: int = 100_000,
             local: bool = True) -> Iterator[tuple[int, np.ndarray]]:
    """``n`` synthetic unit vectors that behave like real ones, in blocks ``(start, vectors)``.

    Each is a random convex mixture (weights ~ Dirichlet(1, 1, 1), renormalised) of 3 real
    vectors: with ``local`` (the default) a random real vector and 2 of its 10 nearest real
    neighbours, so the points stay on the real vectors' manifold (topics keep their shape);
    otherwise 3 random real vectors, which fills the space between topics (intrinsically
    higher-dimensional, harder for IVF than real data: 100k of them needed nprobe 256 of
    1,264 cells for recall 0.95, real vectors 32 of 236).
    """
    rng = np.random.default_rng(seed)
    near = neighbours(real) if local else None
    for start in range(0, n, block):
        size = min(block, n - start)
        if near is None:
            picks = rng.integers(0, len(real), (size, 3))
        else:
            anchors = rng.integers(0, len(real), size)
            others = near[anchors[:, None], rng.integers(0, near.shape[1], (size, 2))]
            picks = np.concatenate([anchors[:, None], others], axis=1)
        weights = rng.dirichlet(np.ones(3), size).astype(np.float32)
        x = np.einsum("nk,nkd->nd", weights, real[picks])
        yield start, (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def synthetic(n: int, seed: int = 0) -> np.ndarray:
    """:func:`mixtures` of the cached real vectors, all at once (SystemExit if not made yet)."""
    loaded = load()
    if loaded is None:
        raise SystemExit(f"no real vectors at {cache_file()}: run bench/real_vectors.py first")
    return np.concatenate([block for _, block in mixtures(loaded[0], n, seed)])


def make(path: Path) -> tuple[np.ndarray, np.ndarray]:
    ids, texts, queries = corpus()
    if not texts:
        raise SystemExit(f"no data under {SHARED}")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        index = Index.open(Path(scratch) / "real", query_backend="torch")
        index.add(texts, ids=ids, batch_size=64)
        chunks = np.concatenate([v for _, v in index.store.iter_vectors(index.settings["dimension"])])
        query_vectors = index.embedder.encode(queries) if queries else np.zeros((0, chunks.shape[1]), np.float32)
        index.close()
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, chunks=chunks.astype(np.float32), queries=query_vectors.astype(np.float32))
    print(f"{len(texts)} texts -> {len(chunks)} chunk vectors, {len(query_vectors)} queries "
          f"in {time.perf_counter() - started:.0f}s: {path}")
    return chunks, query_vectors


def from_index(db: Path, path: Path) -> tuple[np.ndarray, np.ndarray]:
    """The chunk vectors an index database holds so far (format 1 or 2, read-only), with the
    SciFact queries embedded by the bundled model: for when embedding everything takes too long."""
    import sqlite3

    from semsearch import Embedder

    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    table = "chunk_vectors" if "chunk_vectors" in tables else "chunks"
    blobs = [r[0] for r in conn.execute(f"SELECT vector FROM {table} ORDER BY id")]
    chunks = np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(len(blobs), -1)
    _, _, queries = corpus()
    query_vectors = Embedder().encode(queries)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, chunks=chunks, queries=query_vectors.astype(np.float32))
    print(f"{len(chunks)} chunk vectors from {db}, {len(query_vectors)} queries: {path}")
    return chunks, query_vectors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--from-index", type=Path, default=None,
                        help="take the chunk vectors of this index database (e.g. a partial run) instead")
    args = parser.parse_args()
    path = args.out or cache_file()
    if args.from_index:
        from_index(args.from_index, path)
    elif load(path) is None:
        make(path)
    else:
        print(f"already made: {path}")


if __name__ == "__main__":
    main()
