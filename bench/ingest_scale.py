"""Ingest at scale: the user path ``Index.add(texts, vectors=...)`` up to 1M chunks, with peak RSS.

One-chunk documents (SciFact abstracts cut to ~1,000 characters, made unique, as in
``bench/writer.py``) with vectors that behave like real ones (random convex mixtures of
real MiniLM chunk vectors: ``bench/real_vectors.py``; its cache must exist), added to a
new index with ``index_type="auto"`` in calls of ``--step`` texts, the way a pipeline
that embeds elsewhere would feed it.  So the run crosses ``auto``'s switch from the exact
scan to IVF (500k), with its training and calibration, and every later add keeps the
approximate index up to date.  Reported per add: chunks/s (the whole call: writing,
vector index upkeep, the vector file saved); and at the end the database and vector file
bytes per chunk, the process's peak RSS (``ru_maxrss``: the ingest side of issue 14's
memory question), the vector index as ``info`` describes it (measured recall), and the
time to count the keyword terms afterwards (``Index.count_terms``, what the first tfidf
use does).

Usage:  nice python bench/ingest_scale.py [--chunks 1000000] [--step 50000] [--no-count-terms]
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
from common import add_repo_to_path, corpus_texts, table, write_results
from real_vectors import cache_file, load, mixtures

add_repo_to_path()
from semsearch import Index  # noqa: E402


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=1_000_000)
    parser.add_argument("--step", type=int, default=50_000, help="texts per Index.add call")
    parser.add_argument("--no-count-terms", action="store_true", help="skip counting the keyword terms at the end")
    parser.add_argument("--dir", type=Path, default=None, help="where the index goes (default: a temporary folder)")
    args = parser.parse_args()
    found = load()
    if found is None:
        raise SystemExit(f"no real vectors at {cache_file()}: run bench/real_vectors.py first")
    real, queries = found
    base, source = corpus_texts(2000)
    rows, figures = [], {"chunks": args.chunks, "step": args.step, "texts": source}
    with tempfile.TemporaryDirectory(dir=args.dir) as scratch:
        path = Path(scratch) / "idx"
        add_seconds = 0.0
        with Index.open(path, index_type="auto") as index:
            for start, vectors in mixtures(real, args.chunks, block=args.step):
                texts = [f"{base[(start + i) % len(base)][:1000]} (copy {start + i})" for i in range(len(vectors))]
                started = time.perf_counter()
                index.add(texts, ids=[f"d{start + i}" for i in range(len(texts))], vectors=vectors)
                seconds = time.perf_counter() - started
                add_seconds += seconds
                described = index.info()["vector_index"]
                rows.append([f"{start + len(texts):,}", f"{len(texts) / seconds:,.0f}", f"{seconds:.1f}",
                             described.get("index_type", "flat"), f"{peak_rss_mb():,.0f}"])
                print(" | ".join(rows[-1]), flush=True)
            info = index.info()
            figures["add"] = {"seconds": add_seconds, "chunks_per_s": args.chunks / add_seconds,
                              "peak_rss_mb": peak_rss_mb(), "per_add": rows}
            latencies = []
            for query in queries[:200]:
                t = time.perf_counter()
                index.search_vectors(query[None, :], k=10)
                latencies.append((time.perf_counter() - t) * 1000)
            figures["search_vectors_ms_p50"] = float(np.median(latencies))
            if not args.no_count_terms:
                t = time.perf_counter()
                counted = index.count_terms()
                figures["count_terms"] = {"documents": counted, "seconds": time.perf_counter() - t}
            figures["peak_rss_mb"] = peak_rss_mb()
            figures["vector_index"] = info["vector_index"]
            figures["bytes_per_chunk"] = {name: size / args.chunks for name, size in info["size_bytes"].items()}
    print(table(rows, ["chunks after the add", "chunks/s", "seconds", "vectors", "peak RSS MB"]))
    add = figures["add"]
    print(f"{args.chunks:,} chunks in {add['seconds']:.0f}s: {add['chunks_per_s']:,.0f} chunks/s over the whole "
          f"ingest (the add calls); peak RSS {figures['peak_rss_mb']:,.0f} MB; bytes per chunk: database "
          f"{figures['bytes_per_chunk']['database']:,.0f}, vector file {figures['bytes_per_chunk']['faiss']:,.0f}")
    print(f"vector index: {figures['vector_index']}")
    print(f"search_vectors p50 {figures['search_vectors_ms_p50']:.2f} ms (200 real SciFact queries, k=10)")
    if "count_terms" in figures:
        terms = figures["count_terms"]
        print(f"count_terms: {terms['documents']:,} documents in {terms['seconds']:.0f}s "
              f"({terms['documents'] / terms['seconds']:,.0f}/s)")
    print(f"wrote {write_results('ingest_scale', figures)}")


if __name__ == "__main__":
    main()
