"""Ingestion end to end: `semsearch index` vs the bare embedding of the same chunks.

Runs the real CLI in a child process on N SciFact documents, records the indexing
time it reports (model loaded, reading included), then embeds exactly the chunks it
stored with one bare ``Embedder.encode`` call in another child process (model
loaded, no warm-up: as cold as the CLI's).  The two alternate for several rounds on
fresh indexes and the medians are compared, so a noisy neighbour hits both alike.
Overhead = (index time - bare embedding time) / index time: reading, chunking,
hashing, keyword document frequencies, SQLite, FAISS and commit batching.  The CLI
also runs once on 4N documents (the same texts under new ids) for peak RSS.

Usage:  python bench/ingestion.py [--docs 256] [--rounds 3]
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

from common import corpus_texts, percentile, table, write_results

# Runs the CLI and reports the child's own peak RSS, whatever the CLI's exit path.
LAUNCHER = """
import resource, runpy, sys
sys.argv = ["semsearch", *sys.argv[1:]]
try:
    runpy.run_module("semsearch", run_name="__main__")
finally:
    print("PEAK_RSS_KB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)
"""
# Embeds the chunks an index stored, with the index's own settings, and prints the seconds.
BARE = """
import json, sqlite3, sys, time
from semsearch.embedding import Embedder
with sqlite3.connect(sys.argv[1]) as conn:
    texts = [r[0] for r in conn.execute(
        'SELECT coalesce(c.text, substr(d.text, c.start + 1, c."end" - c.start)) '
        "FROM chunks c JOIN documents d ON d.pk = c.document ORDER BY c.id")]
    settings = {k: json.loads(v) for k, v in conn.execute("SELECT key, value FROM settings")}
embedder = Embedder(settings["model"], layers=settings["layers"], pooling=settings["pooling"],
                    max_length=settings["max_length"], precision=settings["precision"])
started = time.perf_counter()
embedder.encode(texts, batch_size=32)
print(json.dumps({"seconds": time.perf_counter() - started, "chunks": len(texts)}))
"""
REPO = Path(__file__).resolve().parent.parent


def run_index(corpus: Path, index: Path) -> dict:
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", LAUNCHER, "index", str(corpus), "-i", str(index), "--json", "--no-progress"],
        capture_output=True, text=True, cwd=REPO,
    )
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        sys.exit(proc.stderr)
    peak = next(int(line.split()[1]) for line in proc.stderr.splitlines() if line.startswith("PEAK_RSS_KB"))
    report = json.loads(proc.stdout)
    size = sum(p.stat().st_size for p in index.iterdir() if p.is_file())
    return {"seconds": report["seconds"], "embedding_seconds": report["embedding_seconds"],
            "wall_seconds": wall, "chunks": report["chunks"],
            "documents": report["added"], "peak_rss_mb": peak / 1024, "index_mb": size / 1e6}


def run_bare(index: Path) -> float:
    proc = subprocess.run([sys.executable, "-c", BARE, str(index / "index.db")], capture_output=True, text=True,
                          cwd=REPO)
    if proc.returncode != 0:
        sys.exit(proc.stderr)
    return json.loads(proc.stdout.splitlines()[-1])["seconds"]


def write_corpus(path: Path, texts: list[str], copies: int) -> Path:
    with open(path, "w") as handle:
        for copy in range(copies):
            for i, text in enumerate(texts):
                handle.write(json.dumps({"id": f"{copy}-{i}", "text": text}) + "\n")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    texts, source = corpus_texts(args.docs)
    runs, bare = [], []
    with tempfile.TemporaryDirectory() as scratch:
        corpus = write_corpus(Path(scratch) / "corpus-1x.jsonl", texts, 1)
        for round_ in range(args.rounds):
            index = Path(scratch) / f"index-1x-{round_}"
            runs.append(run_index(corpus, index))
            bare.append(run_bare(index))
        with sqlite3.connect(Path(scratch) / "index-1x-0" / "index.db") as conn:
            precision = json.loads(conn.execute("SELECT value FROM settings WHERE key = 'precision'").fetchone()[0])
        four = run_index(write_corpus(Path(scratch) / "corpus-4x.jsonl", texts, 4), Path(scratch) / "index-4x")
    index_seconds = percentile([r["seconds"] for r in runs], 0.5)
    bare_seconds = percentile(bare, 0.5)
    overhead = 100 * (index_seconds - bare_seconds) / index_seconds
    one = min(runs, key=lambda r: abs(r["seconds"] - index_seconds))
    results = {1: one, 4: four}
    rows = [[f"{scale}x", r["documents"], r["chunks"], f"{r['seconds']:.1f}", f"{r['chunks'] / r['seconds']:.1f}",
             f"{r['peak_rss_mb']:.0f}", f"{r['index_mb']:.1f}"] for scale, r in results.items()]
    print(f"{source}, precision {precision}")
    print(table(rows, ["corpus", "docs", "chunks", "index s", "chunks/s", "peak RSS MB", "index MB"]))
    index_list = ", ".join(f"{r['seconds']:.2f}" for r in runs)
    bare_list = ", ".join(f"{b:.2f}" for b in bare)
    print(f"{args.rounds} alternating rounds: semsearch index {index_list} s; "
          f"bare Embedder.encode of the same {one['chunks']} chunks {bare_list} s")
    print(f"medians {index_seconds:.2f} vs {bare_seconds:.2f} s -> ingestion overhead {overhead:.1f}% (target <= 10%)")
    # The same question inside each indexing run: its time outside Embedder.encode (immune to
    # the machine changing speed between processes, blind to batching that embeds less efficiently).
    split = percentile([100 * (1 - r["embedding_seconds"] / r["seconds"]) for r in runs], 0.5)
    print(f"within the indexing runs: {split:.1f}% of the time outside the model (median of {len(runs)})")
    growth = four["peak_rss_mb"] / one["peak_rss_mb"]
    print(f"peak RSS at 4x the corpus is {growth:.2f}x that at 1x (bounded by batch size, not corpus size)")
    figures = {"source": source, "precision": precision, "runs": results, "index_seconds": [r["seconds"] for r in runs],
               "bare_embedding_seconds": bare, "overhead_pct": overhead, "overhead_within_runs_pct": split,
               "rss_growth_4x": growth}
    print(f"wrote {write_results('ingestion', figures)}")


if __name__ == "__main__":
    main()
