"""Scale: exact vs approximate dense search at 100k and 1M chunks, and recall on real vectors.

Two parts, kept apart on purpose:

- **Systems figures** (build time, index bytes, RSS, latency) on synthetic vectors that
  behave like real ones: each synthetic vector is a random convex mixture of 3 real
  MiniLM chunk vectors (weights ~ Dirichlet(1, 1, 1), renormalised): a random real vector
  and 2 of its 10 nearest real neighbours (``--global-mixtures``: 3 random real vectors,
  a harder, flatter distribution), drawn from the real vectors of ``bench/real_vectors.py``
  (9.2k here, so 1M synthetic = ~110 per real one).
  Queries: SciFact's real query vectors.  A real index (SQLite + vector file) is filled
  by bulk SQL (one-chunk documents; the writer has its own bench, ``bench/writer.py``),
  then searched one query at a time: the vector search alone (k=10, and 40 = what
  ranking 10 documents asks for) and the whole dense search without query embedding
  (ranking + hits materialised from SQLite).  Exact = the int8-screened flat scan;
  approximate = IVF-SQ8 and IVF-PQ with the exact refine reading floats by id from SQLite.
  Recall@10 here is against the exact scan on the same synthetic data: a systems check,
  not a recall claim.
- **Recall claims**: the real vectors themselves, with SciFact's real queries, through the
  same backends (calibrated in-index on held-out stored vectors): calibrated recall with
  its confidence interval, and the recall the real queries get at those settings.

Usage:  nice python bench/scale.py [--sizes 100000,1000000] [--queries 300] [--types ivf,ivfpq]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
from common import add_repo_to_path, percentile, table, write_results
from real_vectors import cache_file, load, mixtures

add_repo_to_path()
from semsearch import Index  # noqa: E402
from semsearch.searching import to_hits  # noqa: E402
from semsearch.vectors import FlatVectors, IVFPQVectors, IVFVectors  # noqa: E402
from semsearch.vectors.ivf import exact_top  # noqa: E402
from semsearch.vectors.policy import StoredVectors  # noqa: E402

BACKENDS = {"ivf": IVFVectors, "ivfpq": IVFPQVectors}


def rss_mb() -> float:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def fill(index: Index, real: np.ndarray, n: int, local: bool = True) -> float:
    """Bulk SQL into the index's tables: one document and one chunk per vector."""
    conn = index.store.conn
    started = time.perf_counter()
    for start, block in mixtures(real, n, local=local):
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(
            "INSERT INTO documents (pk, id, title, source, text, metadata, content_hash, chunk_count, added, updated) "
            "VALUES (?, ?, NULL, NULL, ?, '{}', ?, 1, '', '')",
            ((start + i + 1, f"doc-{start + i}", f"synthetic document {start + i}", str(start + i))
             for i in range(len(block))),
        )
        conn.executemany('INSERT INTO chunks (id, document, position, start, "end", text) VALUES (?, ?, 0, 0, ?, NULL)',
                         ((start + i + 1, start + i + 1, len(f"synthetic document {start + i}"))
                          for i in range(len(block))))
        conn.executemany("INSERT INTO chunk_vectors (id, vector) VALUES (?, ?)",
                         ((start + i + 1, block[i].tobytes()) for i in range(len(block))))
        conn.execute("UPDATE settings SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation'")
        conn.execute("COMMIT")
    return time.perf_counter() - started


def timed(function, items) -> list[float]:
    out = []
    for item in items:
        started = time.perf_counter()
        function(item)
        out.append((time.perf_counter() - started) * 1000)
    return out


def summary(values: list[float]) -> dict:
    return {"p50": percentile(values, 0.5), "p95": percentile(values, 0.95)}


def recall_at(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(f[f >= 0]) & set(t[t >= 0])) / max(1, (t >= 0).sum()) for f, t in zip(found, truth)]))


def measure(size: int, real: np.ndarray, queries: np.ndarray, kinds: list[str], path: Path,
            nlist: int | None = None, local: bool = True) -> tuple[dict, list]:
    figures: dict = {"size": size}
    rows = []
    index = Index.open(path, index_type="exact")
    figures["fill_seconds"] = fill(index, real, size, local)
    db_bytes = sum(p.stat().st_size for p in path.glob("index.db*"))
    figures["database_bytes"] = db_bytes

    def search_figures(name: str, backend, build_seconds: float, file_bytes: int, rss: float) -> dict:
        index._sync.backend, index._sync.generation = backend, index.store.generation()
        for q in queries[:20]:  # warm
            backend.search(q[None, :], 40)
            to_hits(index.store, index._dense(index.store, backend, q[None, :], 10, [], "cosine")[0])
        vector10 = timed(lambda q: backend.search(q[None, :], 10), queries)
        vector40 = timed(lambda q: backend.search(q[None, :], 40), queries)
        whole = timed(lambda q: to_hits(index.store, index._dense(index.store, backend, q[None, :], 10, [],
                                                                  "cosine")[0]), queries)
        _, found = backend.search(queries, 10)
        out = {"build_seconds": build_seconds, "file_bytes": file_bytes, "rss_mb_after_build": rss,
               "vector search k=10": summary(vector10), "vector search k=40": summary(vector40),
               "dense search, hits materialised": summary(whole), "found": found}
        if hasattr(backend, "describe"):
            out["describe"] = backend.describe()
        rows.append([f"{size:,}", name, f"{build_seconds:.1f}", f"{file_bytes / 1e6:,.0f}", f"{rss:,.0f}",
                     f"{out['vector search k=10']['p50']:.2f}", f"{out['vector search k=10']['p95']:.2f}",
                     f"{out['dense search, hits materialised']['p50']:.2f}",
                     f"{out['dense search, hits materialised']['p95']:.2f}"])
        return out

    # Exact: the flat backend as an index of this size builds it (every float in RAM + an int8 copy).
    started = time.perf_counter()
    with index.store.snapshot():
        flat = FlatVectors.build(real.shape[1], index.store.iter_vectors(real.shape[1]))
    build = time.perf_counter() - started
    flat.search(queries[:1], 10)  # the int8 screen is made on first search
    flat.save(path / "flat.faiss")
    figures["exact"] = search_figures("exact (flat, int8-screened)", flat, build,
                                      (path / "flat.faiss").stat().st_size, rss_mb())
    truth = figures["exact"].pop("found")
    (path / "flat.faiss").unlink()
    del flat
    figures["exact"]["rows"] = size
    for kind in kinds:
        cls = BACKENDS[kind]
        started = time.perf_counter()
        with index.store.snapshot():
            if nlist is None:  # exactly as the index builds it
                backend = index._sync.build(index.store, cls)
            else:
                sync = index._sync
                backend = cls.build(real.shape[1], StoredVectors(index.store, real.shape[1]), nlist=nlist,
                                    recall=sync.recall, fetch=sync.fetch, size=size)
        build = time.perf_counter() - started
        backend.save(path / f"{kind}.ivf")
        figures[kind] = search_figures(f"{kind} (calibrated, refine from SQLite)", backend, build,
                                       (path / f"{kind}.ivf").stat().st_size, rss_mb())
        figures[kind]["recall@10 vs exact, synthetic"] = recall_at(figures[kind].pop("found"), truth)
        rows[-1][1] += f", recall@10 {figures[kind]['recall@10 vs exact, synthetic']:.3f}"
        # How latency grows with nprobe, and what the real queries get: the calibration was made
        # on held-out stored vectors, whose neighbours on a synthetic corpus may be closer than
        # a real query's.
        sweep = []
        calibrated = backend.nprobe
        for factor in (2, 4, 8, 16, 32):
            backend.nprobe = min(backend.index.nlist, calibrated * factor)
            _, found = backend.search(queries, 10)
            got = recall_at(found, truth)
            vec = timed(lambda q, b=backend: b.search(q[None, :], 10), queries[:100])
            whole = timed(lambda q, b=backend: to_hits(index.store, index._dense(index.store, b, q[None, :], 10, [],
                                                                                 "cosine")[0]), queries[:100])
            sweep.append({"nprobe": backend.nprobe, "recall@10 vs exact": got, "vector p50": percentile(vec, 0.5),
                          "dense p50": percentile(whole, 0.5)})
            rows.append([f"{size:,}", f"  {kind} at nprobe {backend.nprobe}, recall@10 {got:.3f}", "", "", "",
                         f"{percentile(vec, 0.5):.2f}", f"{percentile(vec, 0.95):.2f}",
                         f"{percentile(whole, 0.5):.2f}", f"{percentile(whole, 0.95):.2f}"])
            if got >= 0.97 or backend.nprobe == backend.index.nlist:
                break
        figures[kind]["nprobe sweep"] = sweep
        backend.nprobe = calibrated
        (path / f"{kind}.ivf").unlink()
        del backend
    index._sync.backend = None
    index.close()
    figures["peak_rss_mb"] = peak_mb()
    return figures, rows


def real_recall(real: np.ndarray, queries: np.ndarray, kinds: list[str]) -> tuple[dict, list]:
    """Calibrated (held-out stored vectors) vs measured (real queries) recall@10 on the real vectors."""
    ids = np.arange(len(real), dtype=np.int64)
    batches = [(ids[i : i + 20000], real[i : i + 20000]) for i in range(0, len(real), 20000)]
    _, truth = exact_top(queries, batches, 10)
    figures, rows = {"vectors": len(real), "queries": len(queries)}, []
    for kind in kinds:
        for target in (0.9, 0.95, 0.99):
            backend = BACKENDS[kind].build(real.shape[1], batches, recall=target)
            _, found = backend.search(queries, 10)
            cal = backend.calibration
            measured = recall_at(found, truth)
            figures[f"{kind}@{target}"] = {"calibration": cal.to_dict(), "real queries recall@10": measured,
                                           "nlist": backend.index.nlist}
            rows.append([kind, target, backend.index.nlist, cal.nprobe, f"{cal.refine}xk",
                         f"{cal.recall:.3f} [{cal.low:.3f}, {cal.high:.3f}]", f"{measured:.3f}"])
    return figures, rows


def main() -> None:
    import faiss
    import torch

    # One thread, as the figures: on a shared 2-core machine thread barriers cost more than
    # they give (and a server would run one query per core).
    faiss.omp_set_num_threads(1)
    torch.set_num_threads(1)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--types", default="ivf,ivfpq")
    parser.add_argument("--skip-real", action="store_true")
    parser.add_argument("--global-mixtures", action="store_true", help="mix 3 random real vectors, not neighbours")
    parser.add_argument("--nlist", type=int, default=None, help="IVF cells (default 4 sqrt N, as the index)")
    parser.add_argument("--name", default=None, help="results file name (default scale / scale_real)")
    args = parser.parse_args()
    loaded = load()
    if loaded is None:
        raise SystemExit(f"no real vectors at {cache_file()}: run bench/real_vectors.py first")
    real, query_vectors = loaded
    queries = query_vectors[: args.queries]
    kinds = [k for k in args.types.split(",") if k]
    figures: dict = {"generator": "convex mixtures (Dirichlet(1,1,1)) of 3 real MiniLM chunk vectors: "
                                  + ("3 random ones" if args.global_mixtures else "one and 2 of its 10 nearest"),
                     "real_vectors": len(real), "queries": len(queries), "threads": 1, "sizes": {}}
    if not args.skip_real:
        figures["real"], real_rows = real_recall(real, query_vectors, kinds)
        print(f"Recall on real vectors: {len(real):,} MiniLM chunk vectors, {len(query_vectors)} SciFact queries")
        print(table(real_rows, ["type", "target", "nlist", "nprobe", "refine", "calibrated recall@10 [95% CI]",
                                "real queries recall@10"]))
    all_rows = []
    for size in (int(s) for s in args.sizes.split(",") if s):
        with tempfile.TemporaryDirectory(dir=os.environ.get("SCALE_TMP")) as scratch:
            figures["sizes"][size], rows = measure(size, real, queries, kinds, Path(scratch) / "index", args.nlist,
                                                   not args.global_mixtures)
        all_rows.extend(rows)
        print(table(rows, ["chunks", "vectors", "build s", "file MB", "RSS MB", "vec p50", "vec p95",
                           "dense p50", "dense p95"]), flush=True)
    print(f"\n{len(queries)} single real queries per row (k=10), synthetic corpus; times in ms")
    print(table(all_rows, ["chunks", "vectors", "build s", "file MB", "RSS MB", "vec p50", "vec p95",
                           "dense p50", "dense p95"]))
    print("targets at 1M: approximate vector p50 <= 2 ms, dense p50 <= 5 ms, >= 10x faster than exact")
    name = args.name or ("scale" if figures["sizes"] else "scale_real")  # --sizes '': the real-vector part
    print(f"wrote {write_results(name, json.loads(json.dumps(figures, default=float)))}")


if __name__ == "__main__":
    main()
