"""Evaluating: retrieval metrics on BEIR-style data, STS correlation, the layer and fusion sweeps.

Metrics follow trec_eval (and so pytrec_eval and BEIR):

* a run is re-sorted the trec_eval way before scoring: score descending, ties broken
  by document id in *descending* string order;
* ``nDCG@10`` uses linear gains (the judged relevance grade), log2(rank + 1)
  discounts and an ideal ranking of all judged relevant documents;
* ``Recall@100`` = relevant documents in the top 100 / all relevant documents;
* ``MRR@10`` = 1 / rank of the first relevant document in the top 10, else 0.

Relevant means grade > 0.  Means are over every query with a relevant judgement: a
query the run has no hits for scores 0 (trec_eval would leave it out of the mean).
"""

from __future__ import annotations

import csv
import json
import math
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .chunking import chunk_text
from .embedding import Embedder, combine_layers, parse_layers
from .errors import SemsearchError
from .reading import Document

Run = dict[str, dict[str, float]]
Qrels = dict[str, dict[str, int]]
METRIC_NAMES = ("nDCG@10", "Recall@100", "MRR@10")


# -- metrics -------------------------------------------------------------------
def trec_order(scores: dict[str, float]) -> list[str]:
    """Document ids in trec_eval's order: score descending, then id descending."""
    by_id = sorted(scores, reverse=True)
    return sorted(by_id, key=lambda doc_id: -scores[doc_id])  # stable: keeps id order on ties


def ndcg_at(ranked: Sequence[str], judged: dict[str, int], k: int = 10) -> float:
    dcg = sum(judged.get(doc_id, 0) / math.log2(rank + 2) for rank, doc_id in enumerate(ranked[:k])
              if judged.get(doc_id, 0) > 0)
    ideal = sorted((g for g in judged.values() if g > 0), reverse=True)[:k]
    idcg = sum(g / math.log2(rank + 2) for rank, g in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


def recall_at(ranked: Sequence[str], judged: dict[str, int], k: int = 100) -> float:
    relevant = {d for d, g in judged.items() if g > 0}
    return len(relevant.intersection(ranked[:k])) / len(relevant) if relevant else 0.0


def mrr_at(ranked: Sequence[str], judged: dict[str, int], k: int = 10) -> float:
    for rank, doc_id in enumerate(ranked[:k], start=1):
        if judged.get(doc_id, 0) > 0:
            return 1.0 / rank
    return 0.0


def score_run(run: Run, qrels: Qrels) -> dict:
    """Mean nDCG@10, Recall@100 and MRR@10 over the judged queries, plus per-query values."""
    per_query = {}
    for query_id, judged in qrels.items():
        if not any(g > 0 for g in judged.values()):
            continue
        ranked = trec_order(run.get(query_id, {}))
        per_query[query_id] = {
            "nDCG@10": ndcg_at(ranked, judged, 10),
            "Recall@100": recall_at(ranked, judged, 100),
            "MRR@10": mrr_at(ranked, judged, 10),
        }
    n = len(per_query) or 1
    means = {name: sum(q[name] for q in per_query.values()) / n for name in METRIC_NAMES}
    return {**means, "queries": len(per_query), "per_query": per_query}


def spearman(a: Sequence[float], b: Sequence[float]) -> float:
    """Spearman's rank correlation (average ranks for ties)."""
    ra, rb = _average_ranks(np.asarray(a, float)), _average_ranks(np.asarray(b, float))
    ra, rb = ra - ra.mean(), rb - rb.mean()
    denominator = math.sqrt(float((ra**2).sum() * (rb**2).sum()))
    return float((ra * rb).sum() / denominator) if denominator else 0.0


def _average_ranks(values: np.ndarray) -> np.ndarray:
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(len(values))
    sorted_values = values[order]
    start = 0
    while start < len(values):
        end = start
        while end + 1 < len(values) and sorted_values[end + 1] == sorted_values[start]:
            end += 1
        ranks[order[start : end + 1]] = (start + end) / 2 + 1
        start = end + 1
    return ranks


# -- datasets ------------------------------------------------------------------
@dataclass
class BeirDataset:
    """A BEIR-layout retrieval set: corpus, the queries of one split, graded judgements."""

    corpus: list[Document]
    queries: dict[str, str]
    qrels: Qrels
    problems: list[str] = field(default_factory=list)


def load_beir(directory: str | Path, split: str = "test") -> BeirDataset:
    """Read ``corpus.jsonl``, ``queries.jsonl`` and ``qrels/<split>.tsv``.

    Malformed lines and judgements naming unknown queries or documents are
    counted in ``problems`` and left out, not fatal.
    """
    directory = Path(directory)
    paths = {
        "corpus": directory / "corpus.jsonl",
        "queries": directory / "queries.jsonl",
        "qrels": directory / "qrels" / f"{split}.tsv",
    }
    missing = [str(p) for p in paths.values() if not p.is_file()]
    if missing:
        raise SemsearchError(
            f"{directory} is not a BEIR dataset: missing {', '.join(missing)} "
            "(expected corpus.jsonl, queries.jsonl and qrels/SPLIT.tsv)"
        )
    problems: list[str] = []
    corpus = []
    bad = 0
    for record in _jsonl(paths["corpus"]):
        if record is None or "_id" not in record:
            bad += 1
            continue
        text = " ".join(str(record.get(f) or "").strip() for f in ("title", "text")).strip()
        if not text:
            bad += 1
            continue
        metadata = {k: v for k, v in record.items() if k not in ("_id", "title", "text")}
        corpus.append(Document(str(record["_id"]), text, record.get("title") or None, metadata))
    if bad:
        problems.append(f"{bad} corpus line(s) malformed or without text, skipped")
    all_queries = {}
    bad = 0
    for record in _jsonl(paths["queries"]):
        if record is None or "_id" not in record or not str(record.get("text") or "").strip():
            bad += 1
            continue
        all_queries[str(record["_id"])] = str(record["text"])
    if bad:
        problems.append(f"{bad} query line(s) malformed or without text, skipped")
    qrels: Qrels = {}
    doc_ids = {d.id for d in corpus}
    unknown_queries = unknown_docs = malformed = 0
    with open(paths["qrels"], newline="", encoding="utf-8") as handle:
        for number, row in enumerate(csv.reader(handle, delimiter="\t")):
            if number == 0 and row and not _is_int(row[-1]):
                continue  # the header: query-id corpus-id score
            if len(row) != 3 or not _is_int(row[2]):
                malformed += 1
            elif row[0] not in all_queries:
                unknown_queries += 1
            elif row[1] not in doc_ids:
                unknown_docs += 1
            else:
                qrels.setdefault(row[0], {})[row[1]] = int(row[2])
    for count, what in ((malformed, "malformed qrels line(s)"),
                        (unknown_queries, "judgement(s) naming unknown query ids"),
                        (unknown_docs, "judgement(s) naming unknown document ids")):
        if count:
            problems.append(f"{count} {what}, ignored")
    if not qrels:
        raise SemsearchError(f"no usable judgements in {paths['qrels']}" + (f" ({'; '.join(problems)})"
                                                                          if problems else ""))
    queries = {qid: all_queries[qid] for qid in qrels}
    return BeirDataset(corpus, queries, qrels, problems)


def load_sts(path: str | Path) -> tuple[list[str], list[str], list[float], list[str]]:
    """Sentence pairs ``{"sentence1", "sentence2", "score"}`` from JSONL; bad lines are counted."""
    first, second, gold = [], [], []
    bad = 0
    if not Path(path).is_file():
        raise SemsearchError(f"no such STS file: {path}")
    for record in _jsonl(Path(path)):
        try:
            pair = str(record["sentence1"]), str(record["sentence2"]), float(record["score"])
        except (TypeError, KeyError, ValueError):
            bad += 1
            continue
        first.append(pair[0])
        second.append(pair[1])
        gold.append(pair[2])
    if len(gold) < 2:
        raise SemsearchError(f"{path}: fewer than two usable sentence pairs")
    return first, second, gold, ([f"{bad} malformed line(s) skipped"] if bad else [])


def _jsonl(path: Path):
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    yield None
                    continue
                yield record if isinstance(record, dict) else None


def _is_int(text: str) -> bool:
    try:
        int(text)
    except ValueError:
        return False
    return True


# -- retrieval evaluation through an index ---------------------------------------
def _index_corpus(index, dataset: BeirDataset, show_progress: bool):
    """Index the corpus into ``index`` (unchanged documents are skipped): ``(report, seconds)``."""
    started = time.perf_counter()
    report = index.add_documents(iter(dataset.corpus), show_progress=show_progress)
    return report, time.perf_counter() - started


def _run(query_ids: Sequence[str], rankings: Iterable[Iterable[tuple[str, float]]]) -> Run:
    """A run from each query's ``(document id, score)`` ranking.  BEIR drops a hit whose id is
    the query's own (some sets share id spaces)."""
    return {q: {doc_id: score for doc_id, score in ranking if doc_id != q} for q, ranking in zip(query_ids, rankings)}


def _on_index(directory: str | Path, index_path: str | Path | None, split: str, index_settings: dict, measure):
    """``measure(index, dataset)`` on an index of a BEIR directory's corpus (``index_path``, built or
    reused, else a temporary one) and the split's queries."""
    from .index import Index

    dataset = load_beir(directory, split)
    with tempfile.TemporaryDirectory(prefix="semsearch-eval-") as scratch:
        path = Path(index_path) if index_path else Path(scratch) / "index"
        # Queries go through the same PyTorch path as the corpus, in batches.
        with Index.open(path, **{"query_backend": "torch", **index_settings}) as index:
            return measure(index, dataset)


def evaluate_index(index, dataset: BeirDataset, mode: str = "hybrid", show_progress: bool = False) -> dict:
    """Index the corpus into ``index`` (unchanged documents are skipped), run the queries, score."""
    report, indexing = _index_corpus(index, dataset, show_progress)
    started = time.perf_counter()
    query_ids = list(dataset.queries)
    results = index.search_many([dataset.queries[q] for q in query_ids], k=101, mode=mode)
    searching = time.perf_counter() - started
    scores = score_run(_run(query_ids, ([(h.id, h.score) for h in hits] for hits in results)), dataset.qrels)
    per_query = scores.pop("per_query")
    return {
        **scores,
        "mode": mode,
        "documents": len(dataset.corpus),
        "embedded_chunks": report.chunks,
        "seconds_indexing": round(indexing, 2),
        "seconds_searching": round(searching, 2),
        "settings": {k: index.settings[k] for k in ("model", "layers", "layer_indices", "pooling", "precision",
                                                   "chunk_size", "chunk_overlap") if k in index.settings},
        "problems": dataset.problems,
        "per_query": per_query,
    }


def evaluate_beir(
    directory: str | Path,
    *,
    index_path: str | Path | None = None,
    mode: str = "hybrid",
    split: str = "test",
    show_progress: bool = False,
    **index_settings,
) -> dict:
    """``semsearch eval``: build (or reuse) an index of the corpus and score the split's queries."""
    return _on_index(directory, index_path, split, index_settings,
                     lambda index, dataset: evaluate_index(index, dataset, mode, show_progress))


# -- the fusion sweep ------------------------------------------------------------
# (fusion, dense weight): the convex combination at five dense weights, and RRF.
FUSION_SWEEP = [("convex", w) for w in (0.3, 0.4, 0.5, 0.6, 0.7)] + [("rrf", 0.5)]


def sweep_fusion(index, dataset: BeirDataset, show_progress: bool = False) -> dict:
    """``semsearch eval --sweep-fusion``: hybrid fusion settings scored on one retrieval per side.

    Every query is searched once in dense and once in keyword mode, ``FUSION_DEPTH`` deep
    (what hybrid search fuses); each setting then fuses the two lists in memory, so a
    sweep costs about two searches per query.  Rows: each side alone, each setting, and
    ``hybrid`` as searched (the default, with its per-query and per-document weights for
    text the model cannot read), whose figure equals the default setting's on text the
    model reads; on text it cannot (Chinese with an English model), the settings' rows
    fuse dense rankings hybrid search would leave out, and score below it.
    """
    from .searching import FUSION, FUSION_DEPTH, Ranked, fuse, fuse_convex

    report, indexing = _index_corpus(index, dataset, show_progress)
    started = time.perf_counter()
    query_ids = list(dataset.queries)
    texts = [dataset.queries[q] for q in query_ids]
    sides = {mode: [[Ranked(h.id, h.score) for h in hits] for hits in index.search_many(texts, k=FUSION_DEPTH,
                                                                                         mode=mode)]
             for mode in ("dense", "keyword", "hybrid")}
    searching = time.perf_counter() - started

    def score(rankings: Iterable[Sequence[Ranked]]) -> dict:
        run = _run(query_ids, ([(r.doc_id, r.score) for r in ranking] for ranking in rankings))
        return {name: round(value, 4) for name, value in score_run(run, dataset.qrels).items() if name != "per_query"}

    rows = [{"setting": mode, **score(sides[mode]), "default": False} for mode in ("dense", "keyword")]
    for fusion, weight in FUSION_SWEEP:
        fused = [fuse_convex([dense, keyword], FUSION_DEPTH, weights=(weight, 1 - weight)) if fusion == "convex"
                 else fuse([dense, keyword], FUSION_DEPTH) for dense, keyword in zip(sides["dense"], sides["keyword"])]
        name = f"convex, dense weight {weight:.1f}" if fusion == "convex" else "rrf"
        rows.append({"setting": name, **score(fused), "default": fusion == FUSION and weight == 0.5})
    rows.append({"setting": "hybrid (as searched)", **score(sides["hybrid"]), "default": False})
    return {"rows": rows, "depth": FUSION_DEPTH, "queries": rows[0]["queries"], "documents": len(dataset.corpus),
            "embedded_chunks": report.chunks, "seconds_indexing": round(indexing, 2),
            "seconds_searching": round(searching, 2), "problems": dataset.problems}


def evaluate_fusion(directory: str | Path, *, index_path: str | Path | None = None, split: str = "test",
                    show_progress: bool = False, **index_settings) -> dict:
    """Build (or reuse) an index of a BEIR directory's corpus and run :func:`sweep_fusion` on a split."""
    return _on_index(directory, index_path, split, index_settings,
                     lambda index, dataset: sweep_fusion(index, dataset, show_progress))


# -- the layer sweep -------------------------------------------------------------
def sweep_recipes(num_layers: int) -> list[tuple[str, tuple[int, ...], str]]:
    """``(name, hidden-state indices, pooling)`` of every recipe the sweep scores."""
    recipes = [(f"layer {i}", (i,), "mean") for i in range(num_layers + 1)]
    for spec in ("all", "first-last", "-2:", "-4:", "0:"):
        layers = parse_layers(spec, num_layers)
        if len(layers) > 1 and all(layers != r[1] for r in recipes):
            recipes.append((spec, layers, "mean"))
    recipes.append(("last, cls", (num_layers,), "cls"))
    recipes.append(("all, cls", parse_layers("all", num_layers), "cls"))
    return recipes


def _recipe_vectors(pooled: np.ndarray, layers: Sequence[int], pooling: str) -> np.ndarray:
    """From (n, L+1, 2, d) per-layer pooled vectors to the recipe's unit vectors (n, d)."""
    selected = pooled[:, list(layers), 0 if pooling == "mean" else 1]  # (n, len(layers), d)
    return combine_layers(np.ascontiguousarray(selected.transpose(1, 0, 2)))


def _rank_documents(chunk_vectors, chunk_docs: np.ndarray, doc_ids: list[str], query_vectors, k: int) -> list:
    """Exact dense retrieval: each document scores its best chunk; top ``k`` per query."""
    scores = query_vectors @ chunk_vectors.T  # (queries, chunks)
    n_docs = len(doc_ids)
    results = []
    for row in scores:
        best = np.full(n_docs, -np.inf, dtype=np.float32)
        np.maximum.at(best, chunk_docs, row)
        top = np.argpartition(-best, min(k, n_docs) - 1)[:k]
        top = top[np.argsort(-best[top], kind="stable")]
        results.append({doc_ids[i]: float(best[i]) for i in top})
    return results


def sweep_beir(
    directory: str | Path,
    *,
    model: str | None = None,
    chunk_size: int | None = None,
    chunk_overlap: int | None = None,
    precision: str | None = "auto",
    split: str = "test",
    batch_size: int = 32,
    show_progress: bool = False,
) -> dict:
    """Score every layer recipe (dense retrieval) from ONE forward pass over corpus and queries."""
    from .chunking import resolve_chunking

    dataset = load_beir(directory, split)
    embedder = Embedder(model, precision=precision)
    size, overlap = resolve_chunking(embedder.max_length, chunk_size, chunk_overlap)
    started = time.perf_counter()
    chunk_texts, chunk_docs = [], []
    for number, doc in enumerate(dataset.corpus):
        for chunk in chunk_text(doc.text, embedder.tokenizer, size, overlap):
            chunk_texts.append(chunk.text)
            chunk_docs.append(number)
    corpus_layers = embedder.encode_layers(chunk_texts, batch_size, show_progress)
    query_ids = list(dataset.queries)
    query_layers = embedder.encode_layers([dataset.queries[q] for q in query_ids], batch_size, False)
    embedding = time.perf_counter() - started
    started = time.perf_counter()
    doc_ids = [d.id for d in dataset.corpus]
    chunk_docs_array = np.asarray(chunk_docs)
    rows = []
    auto = embedder.recipe
    for name, layers, pooling in sweep_recipes(embedder.num_layers):
        ranked = _rank_documents(
            _recipe_vectors(corpus_layers, layers, pooling), chunk_docs_array, doc_ids,
            _recipe_vectors(query_layers, layers, pooling), k=101,
        )
        scores = score_run(_run(query_ids, (r.items() for r in ranked)), dataset.qrels)
        scores.pop("per_query")
        rows.append({"recipe": name, "layers": list(layers), "pooling": pooling,
                     "auto": tuple(layers) == auto.layers and pooling == auto.pooling, **scores})
    rows.sort(key=lambda r: -r["nDCG@10"])
    return {
        "mode": "dense",
        "model": embedder.model_name,
        "precision": embedder.precision,
        "auto": {"layers": list(auto.layers), "pooling": auto.pooling, "reason": auto.reason},
        "documents": len(dataset.corpus),
        "chunks": len(chunk_texts),
        "seconds_embedding": round(embedding, 2),
        "seconds_scoring": round(time.perf_counter() - started, 2),
        "problems": dataset.problems,
        "recipes": rows,
    }


def evaluate_sts(
    path: str | Path,
    *,
    model: str | None = None,
    layers: str | None = "auto",
    pooling: str | None = None,
    precision: str | None = "auto",
    sweep: bool = False,
    batch_size: int = 32,
) -> dict:
    """Spearman correlation between cosine similarity and gold scores of sentence pairs."""
    first, second, gold, problems = load_sts(path)
    if not sweep:
        embedder = Embedder(model, layers=layers, pooling=pooling, precision=precision)
        a, b = embedder.encode(first, batch_size), embedder.encode(second, batch_size)
        return {"spearman": spearman((a * b).sum(axis=1), gold), "pairs": len(gold),
                "layers": list(embedder.recipe.layers), "pooling": embedder.recipe.pooling,
                "model": embedder.model_name, "problems": problems}
    embedder = Embedder(model, precision=precision)
    la, lb = embedder.encode_layers(first, batch_size), embedder.encode_layers(second, batch_size)
    rows = []
    auto = embedder.recipe
    for name, chosen, pool in sweep_recipes(embedder.num_layers):
        a, b = _recipe_vectors(la, chosen, pool), _recipe_vectors(lb, chosen, pool)
        rows.append({"recipe": name, "layers": list(chosen), "pooling": pool,
                     "auto": tuple(chosen) == auto.layers and pool == auto.pooling,
                     "spearman": spearman((a * b).sum(axis=1), gold)})
    rows.sort(key=lambda r: -r["spearman"])
    return {"pairs": len(gold), "model": embedder.model_name, "problems": problems, "recipes": rows}
