"""Search latency: warm single queries at 10k and 100k chunks, exact vs HNSW.

A real index (SQLite + FAISS) is filled with synthetic unit vectors that behave like
real ones: random convex mixtures of 3 real MiniLM chunk vectors (Dirichlet(1, 1, 1)
weights; ``bench/real_vectors.py``, ~20k real vectors, so 100k synthetic = ~5 per real
one).  The Gaussian blobs used before had ~6x the intrinsic dimension of real vectors,
which made HNSW look bad (recall 0.43 at 100k): the bench, not HNSW.  The index is then
queried one query at a time through ``Index.search`` (dense mode,
real query embedding included) and through the ranking path alone (embedding
excluded).  Queries are embedded as the API does by default (ONNX Runtime) and as
the CLI does (PyTorch).  The scans: ours (exact, screened through an int8 copy),
FAISS's flat scan (the baseline, same vectors, same run), and FAISS HNSW (M=32,
efSearch=64), whose recall@10 is measured against the exact search.

Usage:  python bench/search_latency.py [--sizes 10000,100000] [--queries 200]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import faiss
import numpy as np
from common import SCIFACT, add_repo_to_path, percentile, table, write_results
from real_vectors import synthetic

add_repo_to_path()
from semsearch import Index  # noqa: E402
from semsearch.chunking import Chunk  # noqa: E402
from semsearch.searching import to_hits  # noqa: E402


def synthetic_vectors(n: int, dimension: int, seed: int = 0) -> np.ndarray:
    vectors = synthetic(n, seed)
    if vectors.shape[1] != dimension:
        raise SystemExit(f"real vectors have {vectors.shape[1]} dimensions, the index {dimension}")
    return vectors


def fill(index: Index, vectors: np.ndarray) -> None:
    store = index.store
    for start in range(0, len(vectors), 10_000):
        with store.transaction():
            for i in range(start, min(start + 10_000, len(vectors))):
                text = f"synthetic document {i}"
                store.insert_document(f"doc-{i}", text=text, title=None, source=None, metadata={"n": i},
                                      content_hash=str(i), chunks=[Chunk(0, 0, len(text), text)],
                                      vectors=vectors[i : i + 1])
    index.vectors  # noqa: B018 - rebuilds the FAISS file from the stored vectors


def queries(limit: int) -> list[str]:
    path = SCIFACT / "queries.jsonl"
    if path.exists():
        with open(path) as handle:
            return [json.loads(line)["text"] for line, _ in zip(handle, range(limit))]
    return [f"query about topic {i} and its effects" for i in range(limit)]


def timed(function, items) -> list[float]:
    latencies = []
    for item in items:
        started = time.perf_counter()
        function(item)
        latencies.append((time.perf_counter() - started) * 1000)
    return latencies


def summary(latencies: list[float]) -> dict:
    return {f"p{q}": percentile(latencies, q / 100) for q in (50, 95, 99)}


def measure(size: int, texts: list[str], path: Path) -> tuple[dict, list[list], str]:
    """Fill an index of ``size`` chunks and time single queries against it."""
    index = Index.open(path)
    vectors = synthetic_vectors(size, index.settings["dimension"])
    started = time.perf_counter()
    fill(index, vectors)
    fill_seconds = time.perf_counter() - started
    embedder = index.embedder
    query_vectors = embedder.encode(texts)
    by_torch = Index.open(path, query_backend="torch")
    for text in texts[:10]:  # warm caches, the chunk map, the ONNX session and the thread pools
        index.search(text, k=10, mode="dense")
        by_torch.search(text, k=10, mode="dense")

    def ranking_only(vector):
        with index._reading() as (store, backend):
            return to_hits(store, index._dense(store, backend, vector[None, :], 10, [], "cosine")[0])

    timings = {
        "dense, with query embedding": timed(lambda t: index.search(t, k=10, mode="dense"), texts),
        "dense, with query embedding (PyTorch)": timed(lambda t: by_torch.search(t, k=10, mode="dense"), texts),
        "dense, without embedding": timed(ranking_only, query_vectors),
        "hybrid, with query embedding": timed(lambda t: index.search(t, k=10, mode="hybrid"), texts),
        "query embedding, ONNX Runtime": timed(lambda t: embedder.encode_queries([t]), texts),
        "query embedding, PyTorch": timed(lambda t: embedder.encode([t]), texts),
    }
    ours = index.vectors
    flat = ours.index
    hnsw = faiss.IndexHNSWFlat(vectors.shape[1], 32, faiss.METRIC_INNER_PRODUCT)
    hnsw.hnsw.efConstruction = 80
    started = time.perf_counter()
    hnsw.add(vectors)
    hnsw_build = time.perf_counter() - started
    hnsw.hnsw.efSearch = 64
    # The ranking asks for 40 chunks to find 10 documents (several chunks may share one).
    timings["exact scan alone: ours, int8-screened"] = timed(lambda v: ours.search(v[None, :], 40), query_vectors)
    timings["exact scan alone: FAISS flat"] = timed(lambda v: flat.search(v[None, :], 40), query_vectors)
    timings["FAISS HNSW alone"] = timed(lambda v: hnsw.search(v[None, :], 40), query_vectors)
    _, exact = flat.search(query_vectors, 10)
    _, screened = ours.search(query_vectors, 10)
    _, approx = hnsw.search(query_vectors, 10)
    approx_ids = ours.ids()[approx]  # HNSW positions -> chunk ids (same insertion order)
    recall = float(np.mean([len(set(e) & set(a)) / 10 for e, a in zip(exact, approx_ids)]))
    screened_recall = float(np.mean([len(set(e) & set(a)) / 10 for e, a in zip(exact, screened)]))
    by_torch.close()
    figures = {
        "fill_seconds": fill_seconds,
        **{name: summary(values) for name, values in timings.items()},
        "hnsw_build_seconds": hnsw_build,
        "hnsw_recall_at_10": recall,
        "screened_recall_at_10": screened_recall,
        "database_mb": sum(p.stat().st_size for p in path.glob("index.db*")) / 1e6,
    }
    rows = []
    for name, values in timings.items():
        s = summary(values)
        if name == "FAISS HNSW alone":
            name += f" (recall@10 {recall:.3f})"
        elif name.startswith("exact scan alone: ours"):
            name += f" (recall@10 vs FAISS {screened_recall:.3f})"
        rows.append([f"{size:,}", name, f"{s['p50']:.2f}", f"{s['p95']:.2f}", f"{s['p99']:.2f}"])
    precision = embedder.precision
    index.close()
    return figures, rows, precision


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    texts = queries(args.queries)
    rows, figures = [], {"queries": len(texts), "sizes": {}}
    with tempfile.TemporaryDirectory() as scratch:
        for size in (int(s) for s in args.sizes.split(",")):
            figures["sizes"][size], size_rows, precision = measure(size, texts, Path(scratch) / f"index-{size}")
            rows.extend(size_rows)
    figures["precision"] = precision
    print(f"{len(texts)} single queries per row, k=10, precision {precision}")
    print(table(rows, ["chunks", "what", "p50 ms", "p95 ms", "p99 ms"]))
    print("target: dense p50 <= 15 ms at 100k chunks, query embedding included")
    print(f"wrote {write_results('search_latency', figures)}")


if __name__ == "__main__":
    main()
