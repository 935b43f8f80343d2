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

- **Codes only** (``--codes-only``, for sizes where SQLite filled by this machine's writer
  would take hours: 10M): the same synthetic vectors written in blocks to a float32 file on
  disk (never all in RAM; ``SCALE_TMP``, 1.5 KB per vector), the backend ``auto`` picks at
  that size built by the library's own ``build`` (train on a sample, add in blocks, calibrate
  on held-out vectors) with its refine reading floats *by id from that file* (``os.pread``
  per vector: the file's pages stay out of the process's RSS) instead of from SQLite.
  Recall@10 of the real queries against an exact scan, computed while the vectors are
  generated.  The search runs in a fresh process that loads the saved codes, so its peak
  RSS is the search's alone; the build's is the ingest side (generation + train + add).

Usage:  nice python bench/scale.py [--sizes 100000,1000000] [--queries 300] [--types ivf,ivfpq]
        nice python bench/scale.py --codes-only --sizes 1000000,10000000 [--types auto] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
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
from semsearch.vectors.ivf import TopK, exact_top  # noqa: E402
from semsearch.vectors.policy import StoredVectors, choose_kind  # noqa: E402

BACKENDS = {"ivf": IVFVectors, "ivfpq": IVFPQVectors}


def rss_mb() -> float:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_fields() -> dict:
    """Now / peak resident memory of this process, and the anonymous part now (not file pages), in MB."""
    out = {}
    with open("/proc/self/status") as handle:
        for line in handle:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
                out[key] = int(value.split()[0]) / 1024
    return out


class FloatFile:
    """``size`` x ``dimension`` float32 vectors in a file (row = id): written in blocks, read in
    blocks with plain reads and by id with one ``pread`` per vector, never memory-mapped, so the
    page cache holding it is not counted in this process's RSS."""

    BLOCK = 100_000

    def __init__(self, path: Path, dimension: int, size: int) -> None:
        self.path, self.dimension, self.size = path, dimension, size
        self.row_bytes = dimension * 4
        self._fd: int | None = None

    def write(self, start: int, vectors: np.ndarray) -> None:
        with open(self.path, "r+b" if self.path.exists() else "wb") as handle:
            handle.seek(start * self.row_bytes)
            handle.write(np.ascontiguousarray(vectors, dtype=np.float32).tobytes())

    def __iter__(self):
        with open(self.path, "rb") as handle:
            for start in range(0, self.size, self.BLOCK):
                n = min(self.BLOCK, self.size - start)
                vectors = np.fromfile(handle, dtype=np.float32, count=n * self.dimension).reshape(n, self.dimension)
                yield np.arange(start, start + n, dtype=np.int64), vectors

    def fetch(self, ids: np.ndarray) -> np.ndarray:
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDONLY)
        out = np.empty((len(ids), self.dimension), np.float32)
        view = memoryview(out).cast("B")
        for row, i in enumerate(np.asarray(ids, dtype=np.int64)):
            if not 0 <= i < self.size:
                raise KeyError(f"vector id {i} is not stored")
            view[row * self.row_bytes : (row + 1) * self.row_bytes] = os.pread(self._fd, self.row_bytes,
                                                                                int(i) * self.row_bytes)
        return out


def codes_only_build(size: int, kind: str, real: np.ndarray, queries: np.ndarray, scratch: Path,
                     local: bool = True, logged: np.ndarray | None = None, nlist: int | None = None) -> dict:
    """Generate ``size`` synthetic vectors into a float file (exact top 10 of ``queries`` on the
    way), build ``kind`` from it with the library's build, save the codes; the figures.  With
    ``logged`` (other real queries), calibrate on them as an index with a query log does, and
    also measure what the held-out calibration would have chosen and given ``queries``."""
    from semsearch.vectors.querylog import QueryLog

    cls = BACKENDS[kind]
    floats = FloatFile(scratch / "vectors.f32", real.shape[1], size)
    truth = TopK(queries, 10)
    started = time.perf_counter()
    reused = floats.path.exists() and floats.path.stat().st_size == size * floats.row_bytes
    if reused and (scratch / "truth.npy").exists():
        truth.ids = np.load(scratch / "truth.npy")  # --reuse: generated (same seed) by an earlier run
        if truth.ids.shape != (len(queries), 10):
            raise SystemExit(f"{scratch} holds the truth of other queries")
    else:
        for start, block in mixtures(real, size, local=local):
            floats.write(start, block)
            truth.update(np.arange(start, start + len(block), dtype=np.int64), block)
        np.save(scratch / "truth.npy", truth.ids)
    generate = time.perf_counter() - started
    memory = {"after generation": rss_fields()}
    log = None
    if logged is not None and len(logged):
        log = QueryLog(scratch / "logged.f32", real.shape[1])
        log.append(logged)
    started = time.perf_counter()
    backend = cls.build(real.shape[1], floats, recall=0.95, fetch=floats.fetch, size=size, query_log=log, nlist=nlist)
    build = time.perf_counter() - started
    memory["after build"] = rss_fields()
    cal = backend.calibration
    compared = {}
    if log is not None:  # the same codes calibrated on held-out stored vectors instead: what do queries get?
        for source in ("held-out stored vectors", "logged queries"):
            backend.query_log = None if source.startswith("held") else log
            other = backend.calibrate(floats)
            compared[source] = {"calibration": other.to_dict(),
                                "recall@10 of the queries": recall_at(backend.search(queries, 10)[1], truth.ids)}
        backend.query_log = None
    backend.save(scratch / "codes.ivf")
    return {
        "calibration sources compared": compared,
        "size": size, "kind": kind, "float_file_bytes": floats.path.stat().st_size, "reused_float_file": reused,
        "generate_and_exact_truth_seconds": generate, "build_seconds": build,
        "build_phases_seconds": backend.build_seconds, "codes_file_bytes": (scratch / "codes.ivf").stat().st_size,
        "code_bytes_per_vector": int(backend.index.code_size), "nlist": int(backend.index.nlist),
        "calibration": cal.to_dict() if cal else None, "memory_mb": memory,
        "ingest_peak_rss_mb": rss_fields()["VmHWM"],
    }


def codes_only_search(scratch: Path, kind: str, size: int, dimension: int, queries: np.ndarray) -> dict:
    """In a fresh process: load the codes, search the real queries one at a time (refine from the
    float file), recall@10 against the exact truth; then deeper nprobe until recall 0.95."""
    floats = FloatFile(scratch / "vectors.f32", dimension, size)
    started = time.perf_counter()
    backend = BACKENDS[kind].load(scratch / "codes.ivf", dimension, fetch=floats.fetch)
    load_seconds = time.perf_counter() - started
    memory = {"after load": rss_fields()}
    truth = np.load(scratch / "truth.npy")
    out: dict = {"load_seconds": load_seconds, "nprobe": backend.nprobe, "refine": backend.refine, "rows": []}
    calibrated, depth = backend.nprobe, backend.refine
    for factor in (1, 2, 4, 8, 16):  # the calibrated setting, then deeper in both probes and refine
        backend.nprobe, backend.refine = min(calibrated * factor, backend.index.nlist), min(depth * factor, 64)
        for q in queries[:20]:  # warm
            backend.search(q[None, :], 10)
        latencies = timed(lambda q, b=backend: b.search(q[None, :], 10), queries)
        found = np.stack([backend.search(q[None, :], 10)[1][0] for q in queries])
        got = recall_at(found, truth)
        out["rows"].append({"nprobe": backend.nprobe, "refine": backend.refine,
                            "vector search k=10 with refine": summary(latencies), "recall@10 vs exact": got})
        if got >= 0.95 or backend.nprobe == backend.index.nlist:
            break
    # The refine's share: reading the candidates' floats by id, alone.
    _, candidates = backend.index.search(queries[:100], backend.refine * 10)
    out["fetch candidates ms"] = summary(timed(lambda c: floats.fetch(np.unique(c[c >= 0])), candidates))
    memory["after searches"] = rss_fields()
    out["memory_mb"] = memory
    out["search_peak_rss_mb"] = rss_fields()["VmHWM"]  # not ru_maxrss: Linux carries it across exec
    return out


def codes_only(sizes: list[int], types: str, real: np.ndarray, queries: np.ndarray, local: bool,
               threads: int, logged: np.ndarray | None = None, nlist: int | None = None,
               reuse: Path | None = None) -> tuple[dict, list]:
    import faiss

    figures, rows = {}, []
    for size in sizes:
        kind = choose_kind("auto", size) if types == "auto" else types
        if kind not in BACKENDS:
            raise SystemExit(f"--codes-only needs an approximate type at {size:,}: auto picks {kind}")
        with tempfile.TemporaryDirectory(dir=os.environ.get("SCALE_TMP")) as name:
            scratch = reuse or Path(name)
            faiss.omp_set_num_threads(threads)
            built = codes_only_build(size, kind, real, queries, scratch, local, logged, nlist)
            print(json.dumps({k: v for k, v in built.items() if k != "memory_mb"}, default=float), flush=True)
            faiss.omp_set_num_threads(1)
            np.save(scratch / "queries.npy", queries)
            done = subprocess.run([sys.executable, __file__, "--search-codes", str(scratch), "--types", kind,
                                   "--sizes", str(size)], check=True, capture_output=True, text=True)
            searched = json.loads(done.stdout.strip().splitlines()[-1])
        figures[size] = {**built, "search": searched}
        write_results("scale_codes_only_partial", json.loads(json.dumps(figures, default=float)))  # if cut short
        phases = built["build_phases_seconds"]
        for i, row in enumerate(searched["rows"]):
            lat = row["vector search k=10 with refine"]
            rows.append([f"{size:,}", f"{kind}, {built['nlist']:,} cells" if i == 0 else "", row["nprobe"],
                         f"{row['refine']}xk",
                         f"{row['recall@10 vs exact']:.3f}", f"{lat['p50']:.2f}", f"{lat['p95']:.2f}",
                         *([f"{built['build_seconds']:.0f}", f"{phases.get('train', 0):.0f}",
                            f"{phases.get('add', 0):.0f}", f"{built['codes_file_bytes'] / 1e6:,.0f}",
                            f"{built['ingest_peak_rss_mb']:,.0f}", f"{searched['search_peak_rss_mb']:,.0f}"]
                           if i == 0 else [""] * 6)])
    return figures, rows


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


def logged_recall(real: np.ndarray, queries: np.ndarray, kinds: list[str], logged: int = 500,
                  targets: tuple[float, ...] = (0.95, 0.99)) -> tuple[dict, list]:
    """Calibration on held-out stored vectors vs on logged real queries (the first ``logged``
    SciFact queries), judged on the other, unseen queries: the recall they get and the cost of
    the chosen setting against the cheapest setting of the same grid that reaches the target on
    them (what a perfect calibrator would spend; cost = the backend's own cost model)."""
    import faiss

    from semsearch.vectors.ivf import REFINE_FACTORS
    from semsearch.vectors.querylog import QueryLog

    ids = np.arange(len(real), dtype=np.int64)
    batches = [(ids[i : i + 20000], real[i : i + 20000]) for i in range(0, len(real), 20000)]
    unseen = queries[logged:]
    _, truth = exact_top(unseen, batches, 10)
    figures, rows = {"logged": logged, "unseen": len(unseen)}, []
    with tempfile.TemporaryDirectory() as scratch:
        log = QueryLog(Path(scratch) / "q.f32", real.shape[1])
        log.append(queries[:logged])
        for kind in kinds:
            for target in targets:
                backend = BACKENDS[kind].build(real.shape[1], batches, recall=target)
                oracle = None
                for nprobe in sorted({min(backend.index.nlist, p) for p in
                                      (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256)}):
                    params = faiss.SearchParametersIVF()
                    params.nprobe = nprobe
                    _, found = backend.index.search(unseen, max(REFINE_FACTORS[kind]) * 10, params=params)
                    for factor in REFINE_FACTORS[kind]:
                        got = recall_at(found[:, : factor * 10], truth)
                        cost = backend._cost(nprobe, factor * 10)
                        if got >= target and (oracle is None or cost < oracle[2]):
                            oracle = (nprobe, factor, cost, got)
                for source, log_used in (("held-out stored vectors", None), ("logged queries", log)):
                    if log_used is not None:
                        backend = BACKENDS[kind].build(real.shape[1], batches, recall=target, query_log=log_used)
                    cal = backend.calibration
                    got = recall_at(backend.search(unseen, 10)[1], truth)
                    cost = backend._cost(cal.nprobe, cal.refine * 10)
                    figures[f"{kind}@{target} {source}"] = {
                        "calibration": cal.to_dict(), "unseen queries recall@10": got, "cost": cost,
                        "cheapest setting reaching the target on the unseen queries":
                            None if oracle is None else {"nprobe": oracle[0], "refine": oracle[1], "cost": oracle[2],
                                                         "recall": oracle[3]}}
                    rows.append([kind, target, source, cal.nprobe, f"{cal.refine}xk", f"{cal.recall:.3f}", f"{got:.3f}",
                                 f"{cost:.0f}", "-" if oracle is None else f"{oracle[0]} / {oracle[1]}xk",
                                 "-" if oracle is None else f"{cost / oracle[2]:.2f}"])
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
    parser.add_argument("--codes-only", action="store_true",
                        help="no SQLite: floats in a file on disk, codes in RAM (for 10M); --types auto|ivf|ivfpq")
    parser.add_argument("--threads", type=int, default=2, help="FAISS threads for a --codes-only build")
    parser.add_argument("--logged", type=int, default=0,
                        help="--codes-only: calibrate on the first N SciFact queries as logged queries; "
                             "measure on the next --queries")
    parser.add_argument("--reuse", type=Path, default=None,
                        help="--codes-only: a directory whose vectors.f32 + truth.npy an earlier run left (same size)")
    parser.add_argument("--search-codes", type=Path, default=None, help=argparse.SUPPRESS)  # the search process
    args = parser.parse_args()
    if args.search_codes is not None:
        queries = np.load(args.search_codes / "queries.npy")
        print(json.dumps(codes_only_search(args.search_codes, args.types, int(args.sizes), queries.shape[1], queries),
                         default=float))
        return
    loaded = load()
    if loaded is None:
        raise SystemExit(f"no real vectors at {cache_file()}: run bench/real_vectors.py first")
    real, query_vectors = loaded
    queries = query_vectors[args.logged : args.logged + args.queries]
    kinds = [k for k in args.types.split(",") if k]
    figures: dict = {"generator": "convex mixtures (Dirichlet(1,1,1)) of 3 real MiniLM chunk vectors: "
                                  + ("3 random ones" if args.global_mixtures else "one and 2 of its 10 nearest"),
                     "real_vectors": len(real), "queries": len(queries), "threads": 1, "sizes": {}}
    if args.codes_only:
        sizes = [int(x) for x in args.sizes.split(",") if x]
        figures["codes_only"], rows = codes_only(sizes, args.types if args.types != "ivf,ivfpq" else "auto", real,
                                                 queries, not args.global_mixtures, args.threads,
                                                 query_vectors[: args.logged] if args.logged else None,
                                                 args.nlist, args.reuse)
        figures["refine_reads"] = "float32 file on disk, one pread per candidate (not SQLite)"
        print(f"\n{len(queries)} single real queries (k=10, 1 thread) over synthetic vectors; refine from a float "
              "file on disk; times in ms, build in s")
        print(table(rows, ["chunks", "type", "nprobe", "refine", "recall@10", "p50", "p95", "build s", "train s",
                           "add s", "codes MB", "ingest peak RSS MB", "search peak RSS MB"]))
        print("target at 10M: builds here, search p50 <= 10 ms with refine")
        compared = [[f"{size:,}", source, c["calibration"]["nprobe"], f"{c['calibration']['refine']}xk",
                     f"{c['calibration']['recall']:.3f}", f"{c['recall@10 of the queries']:.3f}"]
                    for size, f in figures["codes_only"].items()
                    for source, c in f["calibration sources compared"].items()]
        if compared:
            print(f"\ncalibrated on held-out stored vectors vs on {args.logged} logged real queries; "
                  f"recall@10 of the {len(queries)} other queries")
            print(table(compared, ["chunks", "calibrated on", "nprobe", "refine", "calibrated recall",
                                   "other queries recall"]))
        print(f"wrote {write_results(args.name or 'scale_codes_only', json.loads(json.dumps(figures, default=float)))}")
        return
    if not args.skip_real:
        figures["calibration_source"], logged_rows = logged_recall(real, query_vectors, kinds)
        print(f"Calibration source on real vectors: {len(real):,} chunk vectors; logged = the first 500 SciFact "
              f"queries, judged on the other {len(query_vectors) - 500}")
        print(table(logged_rows, ["type", "target", "calibrated on", "nprobe", "refine", "calibrated recall",
                                  "unseen queries recall", "cost us", "cheapest reaching target", "cost / cheapest"]),
              flush=True)
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
        write_results(f"{args.name or 'scale'}_partial", json.loads(json.dumps(figures, default=float)))  # if cut short
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
