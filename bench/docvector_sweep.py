"""Document-vector recipes (mean / first / lead, and weightings between them) measured two ways.

Usage:
    python bench/docvector_sweep.py retrieval --index SCIFACT_INDEX [--data ../shared/data/scifact] [--split train]
    python bench/docvector_sweep.py clustering [--data ../shared/data/ag_news] [--work DIR] [--seeds 0,1,2]
    (--json OUT on either)

retrieval: rank every SciFact abstract by the cosine between the query and the
  abstract's ONE document vector (as `similar` and clustering see a document), nDCG@10
  over the split's queries.  Real documents and judgements; only the abstracts that
  span two or more chunks differ between recipes (the script prints how many).

clustering: a visible long-document set built from AG News test (7,600 news items,
  4 classes; source and licence in ../shared/data/ag_news/SOURCES.md), because no
  visible set has long labelled documents.  Each document is a "post": its own text
  (3 news items of one class, about 130 tokens; the label is that class) followed by a
  tail of 6 more items, about 270 tokens, so that the document spans two chunks and
  the tail outweighs the opening in the mean.  Two variants, both seeded:
    offtopic: the tail is drawn from all classes (quoted text of other threads,
              boilerplate, signatures: material that says nothing about the label);
    ontopic:  the tail is drawn from the document's own class (a long document that
              stays on its subject; the case where the mean should do best).
  800 documents per variant (200 per class), indexed with `semsearch index`, then
  K-means (k = 4, the default 5 restarts) per recipe and seed; V-measure against the
  label.  Constructed data: it shows which recipe is robust to a noisy tail and what
  each costs when the tail is on topic, not how large the effect is on real posts.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
from pathlib import Path

import numpy as np

from semsearch import Index
from semsearch.evaluating import load_beir, ndcg_at

HERE = Path(__file__).resolve().parent
WEIGHTS = {"mean": 0.0, "lead w=0.25": 0.25, "lead (w=0.5)": 0.5, "lead w=0.75": 0.75, "first": 1.0}


def chunk_table(idx: Index) -> tuple[list[str], list[np.ndarray]]:
    """Document ids (pk order) and each document's chunk vectors in position order."""
    dimension = idx.settings["dimension"]
    rows = idx.store.conn.execute(
        "SELECT d.id, c.vector FROM chunks c JOIN documents d ON d.pk = c.document ORDER BY d.pk, c.position"
    ).fetchall()
    ids: list[str] = []
    chunks: list[list[np.ndarray]] = []
    for doc_id, blob in rows:
        if not ids or ids[-1] != doc_id:
            ids.append(doc_id)
            chunks.append([])
        chunks[-1].append(np.frombuffer(blob, dtype=np.float32, count=dimension))
    return ids, [np.stack(c) for c in chunks]


def recipe_vectors(chunks: list[np.ndarray], weight: float, decay: float | None = None) -> np.ndarray:
    """unit(weight * unit(first) + (1 - weight) * unit(mean)); or, with ``decay``, chunk i weighted decay**i."""
    out = []
    for c in chunks:
        c = c.astype(np.float64)
        if decay is not None:
            v = (c * (decay ** np.arange(len(c)))[:, None]).sum(axis=0)
        else:
            mean = c.mean(axis=0)
            v = weight * c[0] / np.linalg.norm(c[0]) + (1 - weight) * mean / np.linalg.norm(mean)
        out.append(v / max(np.linalg.norm(v), 1e-12))
    return np.stack(out).astype(np.float32)


def recipes(chunks: list[np.ndarray]) -> dict[str, np.ndarray]:
    found = {name: recipe_vectors(chunks, w) for name, w in WEIGHTS.items()}
    found["decay 0.5^i"] = recipe_vectors(chunks, 0.0, decay=0.5)
    return found


def retrieval(args) -> dict:
    dataset = load_beir(args.data, args.split)
    with Index.open(args.index, create=False, query_backend="torch") as idx:
        ids, chunks = chunk_table(idx)
        # An index of part of the corpus: keep the queries whose judged documents it holds.
        held = set(ids)
        qids = [q for q in dataset.queries if set(dataset.qrels[q]) <= held]
        queries = idx.embedder.encode_queries([dataset.queries[q] for q in qids], batch_size=32)
        # The shipped code path, to check the sweep's own arithmetic against it.
        shipped = {how: idx.store.document_vectors(idx.settings["dimension"], how) for how in ("mean", "first", "lead")}
    multi = sum(len(c) > 1 for c in chunks)
    print(f"{len(ids)} documents, {multi} with 2+ chunks; {len(qids)} {args.split} queries", file=sys.stderr)
    table = recipes(chunks)
    for how, name in (("mean", "mean"), ("first", "first"), ("lead", "lead (w=0.5)")):
        assert np.allclose(shipped[how], table[name], atol=1e-5), how
    figures = {}
    for name, vectors in table.items():
        scores = queries @ vectors.T
        values = []
        for row, qid in zip(scores, qids):
            top = np.argsort(-row, kind="stable")[:11]
            values.append(ndcg_at([ids[i] for i in top if ids[i] != qid][:10], dataset.qrels[qid]))
        figures[name] = round(float(np.mean(values)), 4)
        print(f"{name:<16}{figures[name]:.4f}")
    return {"split": args.split, "queries": len(qids), "documents": len(ids), "multi_chunk": multi,
            "ndcg@10": figures}


def build_posts(data: Path, variant: str, per_class: int = 200, own: int = 3, tail: int = 6, seed: int = 0) -> list:
    items = [json.loads(line) for line in open(data / "test.jsonl", encoding="utf-8")]
    by_class: dict[int, list[dict]] = {}
    for item in items:
        by_class.setdefault(item["label_id"], []).append(item)
    rng = random.Random(seed)
    posts = []
    for label in sorted(by_class):
        for n in range(per_class):
            opening = rng.sample(by_class[label], own)
            pool = by_class[label] if variant == "ontopic" else items
            rest = rng.sample(pool, tail)
            text = "\n\n".join(i["text"] for i in opening) + "\n\n" + "\n\n".join("> " + i["text"] for i in rest)
            posts.append({"id": f"{variant}-{label}-{n}", "text": text, "label_id": label})
    return posts


def clustering(args) -> dict:
    from sklearn.metrics import v_measure_score

    from semsearch.clustering import kmeans

    args.work.mkdir(parents=True, exist_ok=True)
    seeds = [int(s) for s in args.seeds.split(",")]
    results = {}
    for variant in ("offtopic", "ontopic"):
        posts = build_posts(args.data, variant)
        source = args.work / f"agnews-posts-{variant}.jsonl"
        source.write_text("".join(json.dumps(p) + "\n" for p in posts))
        path = args.work / f"agnews-posts-{variant}"
        subprocess.run([sys.executable, "-m", "semsearch", "index", str(source), "-i", str(path), "--json",
                        "--no-progress"], check=True, capture_output=True, text=True)
        truth = {p["id"]: p["label_id"] for p in posts}
        with Index.open(path, create=False) as idx:
            ids, chunks = chunk_table(idx)
        counts = [len(c) for c in chunks]
        y = [truth[i] for i in ids]
        row = {}
        for name, vectors in recipes(chunks).items():
            vs = [v_measure_score(y, kmeans(vectors, 4, seed)[0]) for seed in seeds]
            row[name] = {"V": round(float(np.mean(vs)), 4), "sd": round(float(np.std(vs)), 4)}
            print(f"{variant:<9}{name:<16}V {row[name]['V']:.4f} ± {row[name]['sd']:.4f}", file=sys.stderr)
        results[variant] = {"documents": len(ids), "chunks_per_document": round(float(np.mean(counts)), 2),
                            "V": row}
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    r = sub.add_parser("retrieval")
    r.add_argument("--index", type=Path, required=True)
    r.add_argument("--data", type=Path, default=HERE.parent.parent / "shared" / "data" / "scifact")
    r.add_argument("--split", default="train")
    r.add_argument("--json", type=Path)
    c = sub.add_parser("clustering")
    c.add_argument("--data", type=Path, default=HERE.parent.parent / "shared" / "data" / "ag_news")
    c.add_argument("--work", type=Path, default=HERE / "results" / "docvectors")
    c.add_argument("--seeds", default="0,1,2")
    c.add_argument("--json", type=Path)
    args = parser.parse_args()
    figures = retrieval(args) if args.what == "retrieval" else clustering(args)
    print(json.dumps(figures, indent=1))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
