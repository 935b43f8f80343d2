"""Ingestion end to end: `semsearch index` vs the bare embedding of the same chunks.

Runs the real CLI in a child process on N SciFact documents and on 4N (the same
documents under new ids), records the indexing time it reports, its peak RSS and the
index size on disk, then embeds exactly the chunks it stored with a bare
``Embedder.encode`` call in this process.  Overhead = (index time - bare embedding
time) / index time: reading, chunking, hashing, SQLite, FAISS and commit batching.

Usage:  python bench/ingestion.py [--docs 512]
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

from common import add_repo_to_path, corpus_texts, table, write_results

add_repo_to_path()
from semsearch.embedding import Embedder  # noqa: E402

# Runs the CLI and reports the child's own peak RSS, whatever the CLI's exit path.
LAUNCHER = """
import resource, runpy, sys
sys.argv = ["semsearch", *sys.argv[1:]]
try:
    runpy.run_module("semsearch", run_name="__main__")
finally:
    print("PEAK_RSS_KB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)
"""


def run_index(corpus: Path, index: Path) -> dict:
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", LAUNCHER, "index", str(corpus), "-i", str(index), "--json", "--no-progress"],
        capture_output=True, text=True, cwd=Path(__file__).resolve().parent.parent,
    )
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        sys.exit(proc.stderr)
    peak = next(int(line.split()[1]) for line in proc.stderr.splitlines() if line.startswith("PEAK_RSS_KB"))
    report = json.loads(proc.stdout)
    size = sum(p.stat().st_size for p in index.iterdir() if p.is_file())
    return {"seconds": report["seconds"], "wall_seconds": wall, "chunks": report["chunks"],
            "documents": report["added"], "peak_rss_mb": peak / 1024, "index_mb": size / 1e6}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=512)
    args = parser.parse_args()
    texts, source = corpus_texts(args.docs)
    results = {}
    with tempfile.TemporaryDirectory() as scratch:
        for scale in (1, 4):
            corpus = Path(scratch) / f"corpus-{scale}x.jsonl"
            with open(corpus, "w") as handle:
                for copy in range(scale):
                    for i, text in enumerate(texts):
                        handle.write(json.dumps({"id": f"{copy}-{i}", "text": text}) + "\n")
            index = Path(scratch) / f"index-{scale}x"
            results[scale] = run_index(corpus, index)
            if scale == 1:
                with sqlite3.connect(index / "index.db") as conn:
                    chunk_texts = [r[0] for r in conn.execute("SELECT text FROM chunks ORDER BY id")]
                    settings = {k: json.loads(v) for k, v in conn.execute("SELECT key, value FROM settings")}
        embedder = Embedder(precision=settings["precision"])
        embedder.encode(chunk_texts[:32])
        started = time.perf_counter()
        embedder.encode(chunk_texts, batch_size=32)
        bare = time.perf_counter() - started
    one = results[1]
    overhead = 100 * (one["seconds"] - bare) / one["seconds"]
    rows = [[f"{scale}x", r["documents"], r["chunks"], f"{r['seconds']:.1f}", f"{r['chunks'] / r['seconds']:.1f}",
             f"{r['peak_rss_mb']:.0f}", f"{r['index_mb']:.1f}"] for scale, r in results.items()]
    print(f"{source}, precision {settings['precision']}")
    print(table(rows, ["corpus", "docs", "chunks", "index s", "chunks/s", "peak RSS MB", "index MB"]))
    print(f"bare Embedder.encode of the same {len(chunk_texts)} chunks: {bare:.1f} s -> ingestion overhead "
          f"{overhead:.1f}% (target <= 10%)")
    growth = results[4]["peak_rss_mb"] / results[1]["peak_rss_mb"]
    print(f"peak RSS at 4x the corpus is {growth:.2f}x that at 1x (bounded by batch size, not corpus size)")
    figures = {"source": source, "precision": settings["precision"], "runs": results,
               "bare_embedding_seconds": bare, "overhead_pct": overhead, "rss_growth_4x": growth}
    print(f"wrote {write_results('ingestion', figures)}")


if __name__ == "__main__":
    main()
