"""CSL (Chinese scientific abstracts): keyword, dense and hybrid retrieval, keyphrases, clustering.

Usage:  python bench/csl_chinese.py [--split dev|test] [--index DIR] [--tasks retrieval,keyphrases,clustering]
                                   [--modes keyword,dense,hybrid] [--json OUT]

Retrieval: one index of the 2,000 abstracts (``retrieval-title/corpus.jsonl``), scored with
``semsearch eval``'s own loader and metrics on both query sets (title -> abstract, two author
keywords -> abstract); also the number of queries with no hit at all.  Keyphrases: every
method on ``keyphrases/SPLIT.jsonl`` (title + abstract indexed as one document), F1@5 and
F1@10 by exact match after NFKC, lower-casing and removing spaces, against all gold
keywords (``embed`` with the bundled model, which cannot read Chinese, falls back to
``tfidf`` for such documents: the same figure).  Hybrid search leaves the abstracts the model
cannot read out of its dense side, so its figures equal keyword search's.  Clustering: K-means
with k = 13 on the split's documents (CSL's 13 categories), V-measure.  Tune on
``--split dev``; report ``test``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import unicodedata
from pathlib import Path

from semsearch import Index
from semsearch.evaluating import load_beir, score_run

HERE = Path(__file__).resolve().parent
DEFAULT_DATA = HERE.parent.parent / "shared" / "data" / "csl"


def norm(phrase: str) -> str:
    return unicodedata.normalize("NFKC", phrase).lower().replace(" ", "")


def retrieval(data: Path, index_dir: Path, split: str, modes: list[str]) -> dict:
    out: dict = {}
    with Index.open(index_dir, query_backend="torch") as index:
        title = load_beir(data / "retrieval-title", split)
        started = time.perf_counter()
        report = index.add_documents(iter(title.corpus))
        out["indexing_seconds"] = round(time.perf_counter() - started, 2)
        out["indexed"] = report.to_dict()
        for task in ("retrieval-title", "retrieval-keywords"):
            dataset = load_beir(data / task, split)
            ids = list(dataset.queries)
            for mode in modes:
                started = time.perf_counter()
                results = index.search_many([dataset.queries[q] for q in ids], k=100, mode=mode)
                seconds = time.perf_counter() - started
                run = {q: {h.id: h.score for h in hits} for q, hits in zip(ids, results)}
                scores = score_run(run, dataset.qrels)
                scores.pop("per_query")
                empty = sum(1 for hits in results if not hits)
                out[f"{task}/{mode}"] = {**{k: round(v, 4) for k, v in scores.items() if isinstance(v, float)},
                                         "queries": len(ids), "no_hit": empty, "seconds": round(seconds, 2)}
                print(task, mode, out[f"{task}/{mode}"], flush=True)
        out["info"] = {k: v for k, v in index.info().items() if k != "settings"}
    return out


def keyphrases(data: Path, split: str, workdir: Path, methods: list[str]) -> dict:
    records = [json.loads(line) for line in open(data / "keyphrases" / f"{split}.jsonl", encoding="utf-8")]
    out: dict = {}
    with Index.open(workdir / "kp", query_backend="torch") as index:
        index.add([f"{r['title']}\n{r['text']}" for r in records], ids=[r["id"] for r in records])
        for method in methods:
            started = time.perf_counter()
            f1 = {5: [], 10: []}
            for record, (_, found) in zip(records, index.keywords_many([r["id"] for r in records],
                                                                             method=method, n=10)):
                gold = {norm(k) for k in record["keywords"]}
                ranked = list(dict.fromkeys(norm(k.phrase) for k in found))
                for k in (5, 10):
                    top = ranked[:k]
                    hits = len(set(top) & gold)
                    p = hits / len(top) if top else 0.0
                    r = hits / len(gold) if gold else 0.0
                    f1[k].append(2 * p * r / (p + r) if p + r else 0.0)
            out[method] = {"f1@5": round(sum(f1[5]) / len(f1[5]), 4), "f1@10": round(sum(f1[10]) / len(f1[10]), 4),
                           "seconds_per_doc": round((time.perf_counter() - started) / len(records), 4)}
            print("keyphrases", method, out[method], flush=True)
    return out


def clustering(data: Path, split: str, workdir: Path) -> dict:
    from sklearn.metrics import v_measure_score

    records = [json.loads(line) for line in open(data / "clustering" / f"{split}.jsonl", encoding="utf-8")]
    out: dict = {}
    with Index.open(workdir / "cl", query_backend="torch") as index:
        index.add([f"{r['title']}\n{r['text']}" for r in records], ids=[r["id"] for r in records])
        run = index.cluster("kmeans", k=13, save=False)
        truth = {r["id"]: r["label"] for r in records}
        ids = list(run.assignments)
        out["kmeans-k13"] = {"v_measure": round(v_measure_score([truth[i] for i in ids],
                                                                 [run.assignments[i] for i in ids]), 4),
                             "vectors": run.details.get("vectors", "model")}
        print("clustering", out, flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--split", default="dev")
    parser.add_argument("--index", type=Path, help="retrieval index directory (default: a temp dir)")
    parser.add_argument("--tasks", default="retrieval,keyphrases,clustering")
    parser.add_argument("--modes", default="keyword,dense,hybrid")
    parser.add_argument("--methods", default="tfidf,textrank,embed")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if not (args.data / "retrieval-title" / "corpus.jsonl").exists():
        sys.exit(f"no CSL data at {args.data}")
    tasks = args.tasks.split(",")
    results: dict = {"split": args.split}
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        if "retrieval" in tasks:
            results["retrieval"] = retrieval(args.data, args.index or work / "retrieval", args.split,
                                             args.modes.split(","))
        if "keyphrases" in tasks:
            results["keyphrases"] = keyphrases(args.data, args.split, work, args.methods.split(","))
        if "clustering" in tasks:
            results["clustering"] = clustering(args.data, args.split, work)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
