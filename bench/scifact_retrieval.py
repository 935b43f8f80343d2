"""SciFact retrieval: `semsearch index` throughput and nDCG@10 of each search mode.

Usage:  python bench/scifact_retrieval.py [--data ../shared/data/scifact] [--index DIR] [--json OUT] [--layers all]

Indexes the corpus with the real CLI (id field `_id`, text = title + text, default
settings), then runs the 300 test queries through `Index.search_many` in every mode,
and dense and hybrid again one query at a time.  Queries, judgements and nDCG@10 are
`semsearch eval`'s own (`evaluating.load_beir`, `evaluating.ndcg_at`: the trec_eval
definition); hits whose id equals the query id are dropped, as BEIR does.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from semsearch import Index
from semsearch.evaluating import load_beir, ndcg_at

HERE = Path(__file__).resolve().parent
DEFAULT_DATA = HERE.parent.parent / "shared" / "data" / "scifact"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--index", type=Path, help="index directory (default: a temp dir)")
    parser.add_argument("--json", type=Path, help="write the figures here as JSON")
    parser.add_argument("--layers", help="layer recipe for the index (default: the index default, auto)")
    args = parser.parse_args()
    if not (args.data / "corpus.jsonl").exists():
        sys.exit(f"no SciFact data at {args.data}")
    workdir = None
    if args.index is None:
        workdir = tempfile.TemporaryDirectory()
        args.index = Path(workdir.name) / "scifact-index"
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "semsearch", "index", str(args.data / "corpus.jsonl"), "-i", str(args.index),
         "--id-field", "_id", "--text-field", "title,text", "--json", "--no-progress",
         *(["--layers", args.layers] if args.layers else [])],
        check=True, capture_output=True, text=True,
    )
    wall = time.perf_counter() - started
    report = json.loads(proc.stdout)
    dataset = load_beir(args.data)
    queries, qrels = dataset.queries, dataset.qrels
    figures = {
        "documents": report["total_documents"], "chunks": report["total_chunks"],
        "index_seconds": report["seconds"], "index_wall_seconds": round(wall, 1),
        "chunks_per_second": round(report["chunks"] / report["seconds"], 1) if report["seconds"] else None,
        "layers": args.layers or "auto", "queries": len(queries), "ndcg@10": {},
    }
    with Index.open(args.index, create=False) as idx:
        for mode in ("dense", "keyword", "hybrid"):
            t0 = time.perf_counter()
            results = idx.search_many(list(queries.values()), k=11, mode=mode)
            elapsed = time.perf_counter() - t0
            scores = []
            for (query_id, _), hits in zip(queries.items(), results):
                ranked = [h.id for h in hits if h.id != query_id][:10]
                scores.append(ndcg_at(ranked, qrels[query_id]))
            figures["ndcg@10"][mode] = round(sum(scores) / len(scores), 4)
            figures[f"{mode}_search_seconds"] = round(elapsed, 2)
    # One query at a time through Index.search, as an application would: the API's
    # default query path (ONNX Runtime, float32) against the stored (bf16) vectors.
    with Index.open(args.index, create=False) as idx:
        idx.search("warm-up query", k=11, mode="dense")
        for mode in ("dense", "hybrid"):
            latencies, scores = [], []
            for query_id, text in queries.items():
                t0 = time.perf_counter()
                hits = idx.search(text, k=11, mode=mode)
                latencies.append(1000 * (time.perf_counter() - t0))
                scores.append(ndcg_at([h.id for h in hits if h.id != query_id][:10], qrels[query_id]))
            name = f"{mode}, one at a time"
            figures["ndcg@10"][name] = round(sum(scores) / len(scores), 4)
            figures[f"{name}_search_seconds"] = round(sum(latencies) / 1000, 2)
            figures[f"{name}_p50_ms"] = round(sorted(latencies)[len(latencies) // 2], 2)
    print(f"{'documents':<24}{figures['documents']}")
    print(f"{'chunks':<24}{figures['chunks']}")
    print(f"{'index time (s)':<24}{figures['index_seconds']}  (wall incl. start-up {figures['index_wall_seconds']})")
    print(f"{'chunks/s':<24}{figures['chunks_per_second']}")
    print(f"{'mode':<24}{'nDCG@10':>10}{'anchor':>10}{'search s':>10}{'p50 ms':>10}")
    anchors = {"dense": 0.645, "keyword": 0.685, "hybrid": 0.719}
    for mode, value in figures["ndcg@10"].items():
        anchor = anchors[mode.split(",")[0]]
        p50 = figures.get(f"{mode}_p50_ms", "")
        print(f"{mode:<24}{value:>10.4f}{anchor:>10.3f}{figures[mode + '_search_seconds']:>10.2f}{p50:>10}")
    print("(batch rows: all 300 queries through search_many, embedded in PyTorch batches; 'one at a time':"
          " Index.search per query, embedded by ONNX Runtime)")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
