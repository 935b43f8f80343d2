"""K-means settings swept on an index's document vectors: restarts, iterations, initialisation.

Usage:
    python bench/kmeans_sweep.py --index DIR --labels test.jsonl [--label-field label_id] [--k 4]
                                 [--seeds 0,1,2,3,4] [--json OUT]

Reads the document vectors once (the index's own `document_vector` recipe, as
`semsearch cluster` does) and runs each setting for every seed: V-measure against the
labels, mean and spread over seeds, and the spherical K-means objective (mean cosine to
the assigned centroid) so that one can see whether a setting finds better optima or just
different ones.  AG News: `--labels ../shared/data/ag_news/test.jsonl`.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np


def faiss_kmeans(x, k, seed, niter, nredo):
    import faiss

    model = faiss.Kmeans(x.shape[1], k, niter=niter, nredo=nredo, spherical=True, seed=seed, verbose=False,
                         min_points_per_centroid=1, max_points_per_centroid=max(1, 200_000 // k))
    model.train(x)
    _, labels = model.index.search(x, 1)
    return labels[:, 0], model.centroids


def plusplus_kmeans(x, k, seed, niter, nredo):
    """Spherical K-means (Lloyd on unit vectors) from k-means++ seeds, best of nredo by objective."""
    rng = np.random.default_rng(seed)
    best = None
    for _ in range(nredo):
        first = rng.integers(len(x))
        centres = [x[first]]
        closest = 1 - x @ x[first]
        for _ in range(1, k):
            p = np.maximum(closest, 0) ** 2
            pick = rng.choice(len(x), p=p / p.sum()) if p.sum() > 0 else rng.integers(len(x))
            centres.append(x[pick])
            closest = np.minimum(closest, 1 - x @ x[pick])
        c = np.stack(centres)
        for _ in range(niter):
            labels = np.argmax(x @ c.T, axis=1)
            new = np.stack([x[labels == j].sum(axis=0) if (labels == j).any() else c[j] for j in range(k)])
            new /= np.maximum(np.linalg.norm(new, axis=1, keepdims=True), 1e-12)
            if np.allclose(new, c):
                break
            c = new
        labels = np.argmax(x @ c.T, axis=1)
        objective = float(np.mean(np.max(x @ c.T, axis=1)))
        if best is None or objective > best[0]:
            best = (objective, labels, c)
    return best[1], best[2]


SETTINGS = [
    ("faiss niter=50 nredo=5 (today)", faiss_kmeans, 50, 5),
    ("faiss niter=50 nredo=1", faiss_kmeans, 50, 1),
    ("faiss niter=50 nredo=10", faiss_kmeans, 50, 10),
    ("faiss niter=50 nredo=20", faiss_kmeans, 50, 20),
    ("faiss niter=100 nredo=10", faiss_kmeans, 100, 10),
    ("faiss niter=20 nredo=10", faiss_kmeans, 20, 10),
    ("k-means++ niter=100 nredo=5", plusplus_kmeans, 100, 5),
    ("k-means++ niter=100 nredo=10", plusplus_kmeans, 100, 10),
]


def main() -> None:
    from sklearn.metrics import v_measure_score

    from semsearch import Index

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path, required=True)
    parser.add_argument("--labels", type=Path, required=True)
    parser.add_argument("--label-field", default="label_id")
    parser.add_argument("--k", type=int, default=4)
    parser.add_argument("--seeds", default="0,1,2,3,4")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    truth = {}
    for line in open(args.labels, encoding="utf-8"):
        record = json.loads(line)
        truth[str(record["id"])] = record[args.label_field]
    with Index.open(args.index, create=False) as idx:
        ids, _, _ = idx.store.document_table()
        x = idx.store.document_vectors(idx.settings["dimension"], idx.settings.document_vector)
    y = [truth[i] for i in ids]
    x = np.ascontiguousarray(x, dtype=np.float32)
    seeds = [int(s) for s in args.seeds.split(",")]
    rows = {}
    print(f"{len(ids)} documents, k={args.k}, seeds {seeds}")
    for name, fn, niter, nredo in SETTINGS:
        vs, objs = [], []
        started = time.perf_counter()
        for seed in seeds:
            labels, centres = fn(x, args.k, seed, niter, nredo)
            vs.append(v_measure_score(y, labels))
            c = centres / np.maximum(np.linalg.norm(centres, axis=1, keepdims=True), 1e-12)
            objs.append(float(np.mean(np.max(x @ c.T, axis=1))))
        rows[name] = {"V": round(float(np.mean(vs)), 4), "V_sd": round(float(np.std(vs)), 4),
                      "V_min": round(float(np.min(vs)), 4), "objective": round(float(np.mean(objs)), 5),
                      "seconds_per_run": round((time.perf_counter() - started) / len(seeds), 2)}
        r = rows[name]
        print(f"{name:<32} V {r['V']:.4f} ± {r['V_sd']:.4f} (min {r['V_min']:.4f})  "
              f"objective {r['objective']:.5f}  {r['seconds_per_run']} s", flush=True)
    if args.json:
        args.json.write_text(json.dumps({"k": args.k, "seeds": seeds, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
