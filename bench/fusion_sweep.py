"""Hybrid-search settings swept on a BEIR set: fusion, its depth, BM25 columns and query words.

Usage:
    python bench/fusion_sweep.py --index DIR [--data ../shared/data/scifact] [--split train]
                                 [--json OUT] [--per-query OUT.jsonl]

Runs every query of the split ONCE per side (dense to depth 1,000 through the index's
own ranking; keyword once per keyword variant through FTS5), then scores each fusion
setting in memory, so a whole grid costs about as much as two searches per query.
The index must hold the set's corpus (`semsearch index corpus.jsonl --id-field _id
--text-field title,text`, as bench/scifact_retrieval.py builds it).

Tune on a dev split (SciFact: `--split train`, the 809 train claims, which no test
query shares) and report `--split test` once.  nDCG@10 is `semsearch eval`'s own
(trec_eval's definition); a hit whose id is the query's is dropped, as BEIR does.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from semsearch import Index
from semsearch.evaluating import load_beir, ndcg_at, recall_at
from semsearch.searching import Ranked, fuse, fuse_convex
from semsearch.text.english import QUERY_WORD

HERE = Path(__file__).resolve().parent
DEFAULT_DATA = HERE.parent.parent / "shared" / "data" / "scifact"
DEPTH = 1000


def keyword_variants() -> dict[str, dict]:
    """Keyword-side settings: BM25 column weights (title, text) and query construction."""
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    from semsearch.text.english import QUERY_STOP_WORDS as STOP_WORDS

    return {
        "w1,1 short-stop dedup": {"weights": (1.0, 1.0), "stop": STOP_WORDS, "dedupe": True},
        "w0,1 short-stop dedup": {"weights": (0.0, 1.0), "stop": STOP_WORDS, "dedupe": True},
        "w0.5,1 short-stop dedup": {"weights": (0.5, 1.0), "stop": STOP_WORDS, "dedupe": True},
        "w2,1 short-stop dedup": {"weights": (2.0, 1.0), "stop": STOP_WORDS, "dedupe": True},
        "w1,1 short-stop qtf": {"weights": (1.0, 1.0), "stop": STOP_WORDS, "dedupe": False},
        "w0,1 short-stop qtf": {"weights": (0.0, 1.0), "stop": STOP_WORDS, "dedupe": False},
        "w1,1 no-stop dedup": {"weights": (1.0, 1.0), "stop": frozenset(), "dedupe": True},
        "w0,1 no-stop qtf": {"weights": (0.0, 1.0), "stop": frozenset(), "dedupe": False},
        "w1,1 sklearn-stop dedup": {"weights": (1.0, 1.0), "stop": ENGLISH_STOP_WORDS, "dedupe": True},
        "w0,1 sklearn-stop qtf": {"weights": (0.0, 1.0), "stop": ENGLISH_STOP_WORDS, "dedupe": False},
    }


def keyword_query(text: str, *, stop_words, dedupe: bool) -> str | None:
    """The English analyzer's MATCH expression with the stop list and de-duplication as given
    (``semsearch.text.english.EnglishAnalyzer.query`` with its own list and
    ``QUERY_TERM_FREQUENCY``)."""
    words = [w for w in (m.group(0).lower() for m in QUERY_WORD.finditer(text)) if w not in stop_words]
    if dedupe:
        words = list(dict.fromkeys(words))
    return " OR ".join('"' + w.replace('"', '""') + '"' for w in words) or None


def convex(rankings, weights, k, norm):
    """semsearch's fuse_convex; "minmax" takes each list's own lowest score as its floor."""
    if norm == "minmax":
        floors = [min((r.score for r in ranking), default=0.0) for ranking, _ in rankings]
    else:  # "tmm": theoretical minimum (cosine -1 / BM25 0), observed maximum
        floors = [floor for _, floor in rankings]
    return fuse_convex([ranking for ranking, _ in rankings], k, weights=weights, floors=floors)


def score(run: dict[str, list[Ranked]], qrels) -> dict:
    ndcg, recall = [], []
    for query_id, ranked in run.items():
        ids = [r.doc_id for r in ranked if r.doc_id != query_id]
        ndcg.append(ndcg_at(ids[:10], qrels[query_id]))
        recall.append(recall_at(ids[:100], qrels[query_id]))
    return {"ndcg@10": sum(ndcg) / len(ndcg), "recall@100": sum(recall) / len(recall), "per_query": ndcg}


def keyword_only_store(dataset, directory: Path):
    """The index's SQLite schema (documents + FTS5) filled from the corpus without embedding:
    what the keyword side sees, built in seconds."""
    from semsearch.storing import Store

    store = Store.create(directory / "index.db", {"dimension": 1})
    with store.transaction():
        store.conn.executemany(
            "INSERT INTO documents (id, title, source, text, metadata, content_hash, chunk_count, added, updated) "
            "VALUES (?, ?, NULL, ?, '{}', '', 0, '', '')",
            [(d.id, d.title, d.text) for d in dataset.corpus],
        )
    return store


def long_query_set(dataset, n: int, seed: int = 0):
    """A known-item set with long natural-language queries, built from the corpus itself.

    For ``n`` seeded abstracts of 8 sentences or more, the query is the first half of
    the abstract's sentences (60-200 words of prose) and the document keeps its title and
    the second half; its only relevant document is itself.  The other abstracts stay
    whole.  Constructed from visible data (SciFact: CC BY-NC 2.0) to see how the keyword
    side treats long queries (stop words, repeated words), as no visible set has them.
    """
    import random
    import re

    from semsearch.evaluating import BeirDataset
    from semsearch.reading import Document

    split = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")
    rng = random.Random(seed)
    candidates = []
    for doc in dataset.corpus:
        body = doc.text[len(doc.title or ""):].strip() if doc.title and doc.text.startswith(doc.title) else doc.text
        sentences = split.split(body)
        if len(sentences) >= 8:
            candidates.append((doc, sentences))
    chosen = {doc.id: sentences for doc, sentences in rng.sample(candidates, min(n, len(candidates)))}
    corpus, queries, qrels = [], {}, {}
    for doc in dataset.corpus:
        if doc.id in chosen:
            sentences = chosen[doc.id]
            half = len(sentences) // 2
            queries[f"q{doc.id}"] = " ".join(sentences[:half])
            qrels[f"q{doc.id}"] = {doc.id: 1}
            rest = " ".join(sentences[half:])
            corpus.append(Document(doc.id, f"{doc.title} {rest}" if doc.title else rest, doc.title, {}))
        else:
            corpus.append(doc)
    return BeirDataset(corpus, queries, qrels)


def keyword_sweep(args, dataset) -> None:
    import tempfile

    if args.long_queries:
        dataset = long_query_set(dataset, args.long_queries)
        words = [len(q.split()) for q in dataset.queries.values()]
        print(f"long-query known-item set: {len(words)} queries of {min(words)}-{max(words)} words "
              f"(median {sorted(words)[len(words) // 2]})")
    qids = list(dataset.queries)
    with tempfile.TemporaryDirectory() as scratch:
        store = keyword_only_store(dataset, Path(scratch))
        print(f"{args.data.name} {args.split}: {len(qids)} queries, keyword side only")
        for name, spec in keyword_variants().items():
            lists = []
            for qid in qids:
                match = keyword_query(dataset.queries[qid], stop_words=spec["stop"], dedupe=spec["dedupe"])
                found = store.keyword_search(match, 100, weights=spec["weights"]) if match else []
                lists.append([Ranked(d, float(s)) for d, s in found])
            row = score(dict(zip(qids, lists)), dataset.qrels)
            print(f"{name:<28}  {row['ndcg@10']:.4f}  {row['recall@100']:.4f}")
        store.close()


def latency(args, dataset) -> None:
    """Hybrid search one query at a time: RRF (the previous default) and convex fusion at depth
    100, convex at 1,000, in alternating rounds so that drift in the machine's speed hits all."""
    import statistics

    import semsearch.index as index_module
    import semsearch.searching as searching

    texts = list(dataset.queries.values())[:100]
    settings = [("rrf", 100), ("convex", 100), ("convex", 1000)]
    times: dict[tuple[str, int], list[float]] = {s: [] for s in settings}
    default = (searching.FUSION, index_module.FUSION_DEPTH)
    try:
        with Index.open(args.index, create=False, query_backend="torch") as idx:
            idx.search("warm-up", k=10)
            for _ in range(3):
                for fusion, depth in settings:
                    searching.FUSION, index_module.FUSION_DEPTH = fusion, depth
                    for text in texts:
                        t0 = time.perf_counter()
                        idx.search(text, k=10)
                        times[fusion, depth].append(1000 * (time.perf_counter() - t0))
    finally:
        searching.FUSION, index_module.FUSION_DEPTH = default
    base = statistics.median(times[settings[0]])
    for (fusion, depth), values in times.items():
        p50 = statistics.median(values)
        print(f"hybrid, {fusion:<6} fusion, depth {depth:>5}: p50 {p50:.1f} ms ({p50 / base:.2f}x RRF at 100), "
              f"mean {statistics.fmean(values):.1f} ms ({len(values)} searches)")


def restrict_to_index(dataset, index: Path):
    """Only the queries whose judged documents are all in the index.

    For an index of part of the corpus (a machine too busy to embed all of it): every
    setting is then compared on the same documents and queries, which is what a sweep
    needs; absolute figures are not the full set's.
    """
    with Index.open(index, create=False) as idx:
        held = {row[0] for row in idx.store.conn.execute("SELECT id FROM documents")}
    keep = {q: j for q, j in dataset.qrels.items() if set(j) <= held}
    if len(held) < len(dataset.corpus):
        print(f"index holds {len(held)} of {len(dataset.corpus)} documents: {len(keep)} of {len(dataset.qrels)} "
              "queries have all their judged documents in it and are kept", file=sys.stderr)
    dataset.qrels = keep
    dataset.queries = {q: dataset.queries[q] for q in keep}
    return dataset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path, help="an index of the corpus (not needed with --keyword-only)")
    parser.add_argument("--keyword-only", action="store_true",
                        help="only the keyword variants, on an FTS5 table built from the corpus (no model)")
    parser.add_argument("--long-queries", type=int, default=0, metavar="N",
                        help="with --keyword-only: N known-item queries made of abstracts' first halves")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--split", default="train")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--per-query", type=Path, help="per-query nDCG@10 of every setting, JSON lines")
    parser.add_argument("--quick", action="store_true", help="only the main keyword variant")
    parser.add_argument("--final", action="store_true",
                        help="only the old and the new defaults (for the one test-split run)")
    parser.add_argument("--latency", action="store_true",
                        help="time hybrid search: RRF vs convex fusion, depth 100 vs 1,000")
    parser.add_argument("--keyword-variants", help="';'-separated names of keyword variants to fuse (default: all)")
    args = parser.parse_args()
    if not (args.data / "corpus.jsonl").exists():
        sys.exit(f"no BEIR data at {args.data}")
    dataset = load_beir(args.data, args.split)
    if args.keyword_only:
        return keyword_sweep(args, dataset)
    if args.latency:
        return latency(args, dataset)
    dataset = restrict_to_index(dataset, args.index)
    if args.index is None:
        sys.exit("--index is required (or --keyword-only)")
    qids = list(dataset.queries)
    texts = [dataset.queries[q] for q in qids]
    rows: dict[str, dict] = {}
    with Index.open(args.index, create=False, query_backend="torch") as idx:
        t0 = time.perf_counter()
        vectors = idx.embedder.encode_queries(texts, batch_size=32)
        with idx._reading() as (store, backend):
            dense = idx._dense(store, backend, vectors, DEPTH, [], "cosine")
        dense_seconds = time.perf_counter() - t0
        keyword: dict[str, list[list[Ranked]]] = {}
        variants = keyword_variants()
        if args.quick:
            variants = dict(list(variants.items())[:1])
        elif args.final:
            variants = {name: variants[name] for name in ("w1,1 short-stop dedup", "w1,1 short-stop qtf")}
        elif args.keyword_variants:
            wanted = [v.strip() for v in args.keyword_variants.split(";")]
            variants = {name: variants[name] for name in wanted}
        for name, spec in variants.items():
            t0 = time.perf_counter()
            lists = []
            for text in texts:
                match = keyword_query(text, stop_words=spec["stop"], dedupe=spec["dedupe"])
                found = idx.store.keyword_search(match, DEPTH, weights=spec["weights"]) if match else []
                lists.append([Ranked(d, float(s)) for d, s in found])
            keyword[name] = lists
            print(f"keyword {name}: {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    print(f"dense: {dense_seconds:.1f} s for {len(qids)} queries", file=sys.stderr)

    def add(name: str, lists: list[list[Ranked]]) -> None:
        rows[name] = score(dict(zip(qids, lists)), dataset.qrels)

    add("dense", [d[:100] for d in dense])
    for name, lists in keyword.items():
        add(f"keyword {name}", lists)
    base = next(iter(keyword))
    if args.final:
        old_kw, new_kw = keyword["w1,1 short-stop dedup"], keyword["w1,1 short-stop qtf"]
        add("before: rrf k=60 depth=100, keyword dedup",
            [fuse([d[:100], kw[:100]], 100) for d, kw in zip(dense, old_kw)])
        add("rrf k=60 depth=100, keyword qtf",
            [fuse([d[:100], kw[:100]], 100) for d, kw in zip(dense, new_kw)])
        add("convex minmax a=0.5 depth=100, keyword dedup",
            [fuse_convex([d[:100], kw[:100]], 100) for d, kw in zip(dense, old_kw)])
        add("after: convex minmax a=0.5 depth=100, keyword qtf",
            [fuse_convex([d[:100], kw[:100]], 100) for d, kw in zip(dense, new_kw)])
        keyword = {}
    for kname, klists in keyword.items():
        for depth in (100, 1000):
            for rrf_k in (60,) if kname != base else (10, 30, 60, 100):
                add(f"rrf k={rrf_k} depth={depth} | {kname}",
                    [fuse([d[:depth], kw[:depth]], 100, rrf_k=rrf_k) for d, kw in zip(dense, klists)])
        if kname == base:
            for w in (0.5, 0.7, 1.5, 2.0):
                add(f"rrf k=60 depth=1000 dense weight {w} | {kname}",
                    [fuse([d, kw], 100, weights=(w, 1.0)) for d, kw in zip(dense, klists)])
        for norm in ("minmax", "tmm"):
            for depth in (100, 1000):
                alphas = (0.3, 0.4, 0.5, 0.6, 0.7) if kname == base or depth == 1000 else ()
                for alpha in alphas:
                    add(f"convex {norm} a={alpha} depth={depth} | {kname}",
                        [convex([(d[:depth], -1.0), (kw[:depth], 0.0)], (alpha, 1 - alpha), 100, norm)
                         for d, kw in zip(dense, klists)])
    width = max(len(n) for n in rows)
    print(f"{args.data.name} {args.split}: {len(qids)} queries")
    print(f"{'setting':<{width}}  nDCG@10  R@100")
    for name, row in rows.items():
        print(f"{name:<{width}}  {row['ndcg@10']:.4f}  {row['recall@100']:.4f}")
    if args.json:
        args.json.write_text(json.dumps({n: {k: round(v, 4) for k, v in r.items() if k != "per_query"}
                                         for n, r in rows.items()}, indent=1))
    if args.per_query:
        with open(args.per_query, "w") as out:
            for name, row in rows.items():
                out.write(json.dumps({"setting": name, "query_ids": qids, "ndcg@10": row["per_query"]}) + "\n")


if __name__ == "__main__":
    main()
