"""AG News clustering quality (V-measure, ARI, NMI) and clustering speed at 10k / 100k documents.

Usage:  python bench/clustering_agnews.py [--data ../shared/data/ag_news] [--work DIR] [--json OUT]
                                         [--skip-quality] [--skip-timing] [--sizes 10000,100000]

Quality: indexes test.jsonl (7,600 news texts, 4 classes) with the real CLI, once per
layer recipe (`--layers auto`, the default = the bundled model's last layer, mean
pooled; and `--layers all`, the all-layer average), into DIR/agnews-<recipe>. Re-runs
reuse those indexes (indexing is incremental). Each method then runs through
`Index.cluster` with its defaults (K-means with k = 4), i.e. from the vectors stored in
the index, exactly as `semsearch cluster` does. Scores treat noise (-1) as one more
cluster, as the anchors in BASELINES.md do; "V non-noise" drops the noise points.

Timing: synthetic unit vectors (384-d, 50 Gaussian blobs on the sphere) through the
same code path as `Index.cluster` minus SQLite: K-means (k = 50) and UMAP(5-d) ->
HDBSCAN with the default min_cluster_size. Wall and CPU seconds; the machine is shared,
so CPU seconds are the steadier figure.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
DEFAULT_DATA = HERE.parent.parent / "shared" / "data" / "ag_news"
DEFAULT_WORK = HERE / "results" / "ag_news"

# Anchors from ../shared/data/ag_news/BASELINES.md (V-measure; noise counted as a cluster).
ANCHORS = {
    ("kmeans", "auto"): 0.590,  # sklearn KMeans / FAISS spherical, k=4, standard embedding
    ("kmeans", "all"): 0.551,  # all-layer average
    ("hdbscan", "auto"): 0.380,  # UMAP 5-d -> HDBSCAN mcs=50: 11 clusters, 6% noise
    ("hdbscan", "all"): 0.446,  # 3 clusters, 1% noise
    ("dbscan", "auto"): 0.240,  # best of an eps/min_samples grid on cosine: 69% noise
    ("dbscan", "all"): None,  # collapses to one cluster for eps >= 0.15
}

# (row name, method, Index.cluster parameters). The first row of each method is its default
# (document vectors: hybrid, the model's and the words' side by side).
RUNS = [
    ("kmeans k=4", "kmeans", {"k": 4}),
    ("kmeans k=4 --vectors model", "kmeans", {"k": 4, "vectors": "model"}),
    ("kmeans k=4 --vectors terms", "kmeans", {"k": 4, "vectors": "terms"}),
    ("kmeans k=auto", "kmeans", {}),
    ("hdbscan (defaults: umap:5)", "hdbscan", {}),
    ("hdbscan --vectors model", "hdbscan", {"vectors": "model"}),
    ("hdbscan --assign-noise", "hdbscan", {"assign_noise": True}),
    ("hdbscan --min-cluster-size 50", "hdbscan", {"min_cluster_size": 50}),
    ("dbscan (defaults: umap:5, eps auto)", "dbscan", {}),
    ("dbscan --assign-noise", "dbscan", {"assign_noise": True}),
    ("hdbscan --reduce pca:5", "hdbscan", {"reduce": "pca:5"}),
    ("hdbscan --reduce pca:50", "hdbscan", {"reduce": "pca:50"}),
    ("hdbscan --reduce none", "hdbscan", {"reduce": "none"}),
    ("dbscan --reduce none (cosine, eps auto)", "dbscan", {"reduce": "none"}),
]


def scores(truth: list[int], labels: list[int]) -> dict:
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score, v_measure_score

    y, p = np.asarray(truth), np.asarray(labels)
    keep = p != -1
    return {
        "V": round(float(v_measure_score(y, p)), 4),
        "ARI": round(float(adjusted_rand_score(y, p)), 4),
        "NMI": round(float(normalized_mutual_info_score(y, p)), 4),
        "V_non_noise": round(float(v_measure_score(y[keep], p[keep])), 4) if keep.any() else None,
        "clusters": int(len(set(p.tolist()) - {-1})),
        "noise": round(float((~keep).mean()), 4),
    }


def build_index(data: Path, path: Path, recipe: str) -> dict:
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "semsearch", "index", str(data / "test.jsonl"), "-i", str(path), "--layers", recipe,
         "--json", "--no-progress"],
        check=True, capture_output=True, text=True,
    )
    report = json.loads(proc.stdout)
    return {"documents": report["total_documents"], "chunks": report["total_chunks"], "added": report["added"],
            "index_seconds": report["seconds"], "wall_seconds": round(time.perf_counter() - started, 1)}


def quality(data: Path, work: Path) -> dict:
    from semsearch import Index

    truth_by_id = {}
    with open(data / "test.jsonl", encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            truth_by_id[record["id"]] = record["label_id"]
    results: dict = {}
    for recipe in ("auto", "all"):
        path = work / f"agnews-{recipe}"
        indexing = build_index(data, path, recipe)
        print(f"[{recipe}] index {path}: {indexing}", file=sys.stderr, flush=True)
        rows = []
        with Index.open(path, create=False) as idx:
            for row, method, params in RUNS:
                started, cpu = time.perf_counter(), time.process_time()
                result = idx.cluster(method, save=False, **params)
                ids = list(result.assignments)
                figures = scores([truth_by_id[i] for i in ids], [result.assignments[i] for i in ids])
                figures.update(
                    row=row, method=method, params=result.params, seconds=round(time.perf_counter() - started, 1),
                    cpu_seconds=round(time.process_time() - cpu, 1),
                    reduction_reused=bool(result.details.get("reduction_reused")),
                )
                for key in ("k_scores", "eps_chosen", "noise_before_assignment"):
                    if key in result.details:
                        figures[key] = result.details[key]
                if row == RUNS[0][0] or params == {}:
                    figures["titles"] = [c.title for c in result.clusters]
                rows.append(figures)
                print(f"[{recipe}] {row}: V {figures['V']} ARI {figures['ARI']} clusters {figures['clusters']} "
                      f"noise {figures['noise']:.1%} ({figures['seconds']}s)", file=sys.stderr, flush=True)
        results[recipe] = {"indexing": indexing, "runs": rows}
    return results


def synthetic(n: int, dimension: int = 384, centres: int = 50, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    middle = rng.normal(size=(centres, dimension))
    middle /= np.linalg.norm(middle, axis=1, keepdims=True)
    x = middle[rng.integers(0, centres, n)] + rng.normal(scale=0.06, size=(n, dimension))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def timing(sizes: list[int]) -> list[dict]:
    from semsearch.clustering import check_params, compute

    rows = []
    for n in sizes:
        x = synthetic(n)
        for method, params in (("kmeans", {"k": 50}), ("hdbscan", {})):
            checked = check_params(method, n, x.shape[1], **params)
            started, cpu = time.perf_counter(), time.process_time()
            computed = compute(x, method, checked)
            row = {
                "documents": n, "method": method, "params": computed.params,
                "wall_seconds": round(time.perf_counter() - started, 1),
                "cpu_seconds": round(time.process_time() - cpu, 1),
                "steps": computed.details["seconds"],
                "clusters": int(len(set(computed.labels.tolist()) - {-1})),
                "noise": round(float((computed.labels == -1).mean()), 4),
            }
            rows.append(row)
            print(f"[timing] {n} x {x.shape[1]} {method}: {row['wall_seconds']}s wall, {row['cpu_seconds']}s CPU "
                  f"{row['steps']}", file=sys.stderr, flush=True)
    return rows


def print_table(results: dict) -> None:
    auto = {r["row"]: r for r in results["auto"]["runs"]}
    multi = {r["row"]: r for r in results["all"]["runs"]}
    print("| run | V (default emb) | ARI | NMI | clusters | noise | V (all-layer avg) | ARI | NMI | clusters | noise |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for row, _, _ in RUNS:
        a, m = auto[row], multi[row]
        print(f"| {row} | {a['V']:.3f} | {a['ARI']:.3f} | {a['NMI']:.3f} | {a['clusters']} | {a['noise']:.1%} "
              f"| {m['V']:.3f} | {m['ARI']:.3f} | {m['NMI']:.3f} | {m['clusters']} | {m['noise']:.1%} |")
    print()
    print("| method (defaults) | ours, default emb | anchor | ours, all-layer avg | anchor |")
    print("| --- | --- | --- | --- | --- |")
    for row, method, params in RUNS:
        if method == "kmeans" and params != {"k": 4} or method != "kmeans" and params:
            continue
        anchors = [ANCHORS[(method, recipe)] for recipe in ("auto", "all")]
        cells = [f"{auto[row]['V']:.3f}", f"{anchors[0]:.3f}" if anchors[0] else "-",
                 f"{multi[row]['V']:.3f}", f"{anchors[1]:.3f}" if anchors[1] else "-"]
        print(f"| {row} | " + " | ".join(cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK, help="where the AG News indexes are kept")
    parser.add_argument("--json", type=Path, help="write every figure here as JSON")
    parser.add_argument("--skip-quality", action="store_true")
    parser.add_argument("--skip-timing", action="store_true")
    parser.add_argument("--sizes", default="10000,100000", help="synthetic corpus sizes to time")
    parser.add_argument("--faiss-threads", type=int,
                        help="OpenMP threads for FAISS (default: all cores; 1 is faster on a crowded machine)")
    args = parser.parse_args()
    import faiss

    if args.faiss_threads:
        faiss.omp_set_num_threads(args.faiss_threads)

    figures: dict = {
        "machine": {"cpus": os.cpu_count(), "faiss_threads": faiss.omp_get_max_threads(),
                    "load_average_at_start": os.getloadavg(), "python": platform.python_version()},
        "anchors": {f"{m}/{r}": v for (m, r), v in ANCHORS.items()},
    }
    if not args.skip_quality:
        if not (args.data / "test.jsonl").exists():
            sys.exit(f"no AG News data at {args.data}")
        args.work.mkdir(parents=True, exist_ok=True)
        figures["quality"] = quality(args.data, args.work)
        print_table(figures["quality"])
    if not args.skip_timing:
        figures["timing"] = timing([int(s) for s in args.sizes.split(",") if s])
        print("\n| documents | method | wall s | CPU s | steps (s) | clusters | noise |")
        print("| --- | --- | --- | --- | --- | --- | --- |")
        for row in figures["timing"]:
            print(f"| {row['documents']:,} | {row['method']} | {row['wall_seconds']} | {row['cpu_seconds']} | "
                  f"{row['steps']} | {row['clusters']} | {row['noise']:.1%} |")
    figures["machine"]["load_average_at_end"] = os.getloadavg()
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
