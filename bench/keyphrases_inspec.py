"""Inspec keyphrases: F1@5 / F1@10 of every `semsearch keywords` method beside YAKE and KeyBERT.

Usage:  python bench/keyphrases_inspec.py [--split test] [--limit N] [--slice 100] [--json OUT]
                                          [--layers auto] [--no-keybert] [--no-yake] [--ablations]

Protocol (the usual one for Inspec, and the one of ../shared/data/inspec/BASELINES.md):
gold = the `keyphrases` field (the "uncontrolled" indexer terms, ALL of them, including
the ~22% that do not occur in the text); every phrase, predicted or gold, is lower-cased
and Porter-stemmed word by word (semsearch/text/porter.py); a method's ranked list is
de-duplicated after stemming and cut at k; P@k = correct / k, R@k = correct / #gold,
F1 per document, macro-averaged over documents.  Every method is asked for 20 phrases.

Our methods run the way a user runs them: the documents are indexed into a temporary
index with the bundled model (`Index.add`; loading the model is not timed), then
`Index.keywords_many` extracts the key phrases (what `semsearch keywords --all` does).
TF-IDF's document frequencies are those of the index, i.e. of the evaluated documents.

Every method runs on a slice of the documents (100 by default), then the next method on
the same slice, and so on slice after slice, so that all of them see the same machine load
(this machine is shared); figures are summed over the slices.

Baselines, measured in the same run on the same documents:
- YAKE (yake 0.7, n=3, dedup_lim 0.9), one call per document;
- KeyBERT (0.9) with the same MiniLM through sentence-transformers, the fair
  configuration: keyphrase_ngram_range=(1, 3), stop_words="english", a whole slice in
  one call (its fast path); plain, and with MMR at diversity 0.2 and 0.5.  The
  embeddings (`extract_embeddings`) are computed once and shared by the three
  variants; each variant's time is that embedding time plus its own selection time.

Times are wall seconds per document on this machine, whatever else it is running (each
row records the mean load average), and CPU seconds per document (all threads of this
process), which other processes disturb less.  For `embed`, `s/doc` excludes embedding
the document itself, which indexing already did; the index time per document is printed
too, and the speed ratio against KeyBERT is given both with and without it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import warnings
from contextlib import contextmanager
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from semsearch import Index  # noqa: E402
from semsearch import keywords as kw  # noqa: E402
from semsearch.text.porter import stem_phrase  # noqa: E402

DEFAULT_DATA = HERE.parent.parent / "shared" / "data" / "inspec"
TOP = 20
KS = (5, 10)
# Figures of ../shared/data/inspec/BASELINES.md (test, 500 documents), for reference.
ANCHORS = {
    "TF-IDF": (0.105, 0.140), "YAKE": (0.178, 0.195), "TextRank": (0.188, 0.239),
    "KeyBERT plain": (0.074, 0.094), "KeyBERT MMR 0.5 / 0.2": (0.060, 0.066),
    "emb-rank + MMR 0.2": (0.243, 0.272),
}


def load(path: Path, limit: int | None) -> list[dict]:
    docs = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            docs.append(json.loads(line))
            if limit and len(docs) >= limit:
                break
    return docs


def evaluate(predicted: list[list[str]], gold: list[list[str]], ks=KS) -> dict:
    """Macro P/R/F1@k after stemming and de-duplication (see the module docstring)."""
    figures = {}
    for k in ks:
        p_sum = r_sum = f_sum = 0.0
        for ranked, answers in zip(predicted, gold):
            truth = {stem_phrase(a) for a in answers if a.strip()}
            seen: list[str] = []
            for phrase in ranked:
                stemmed = stem_phrase(phrase)
                if stemmed and stemmed not in seen:
                    seen.append(stemmed)
                if len(seen) == k:
                    break
            correct = sum(1 for s in seen if s in truth)
            precision = correct / k
            recall = correct / len(truth) if truth else 0.0
            p_sum += precision
            r_sum += recall
            f_sum += 2 * precision * recall / (precision + recall) if correct else 0.0
        n = max(len(gold), 1)
        figures[f"P@{k}"] = round(p_sum / n, 4)
        figures[f"R@{k}"] = round(r_sum / n, 4)
        figures[f"F1@{k}"] = round(f_sum / n, 4)
    return figures


class Clock:
    """Wall and CPU (all threads of this process) seconds since start."""

    def __init__(self) -> None:
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def read(self) -> tuple[float, float]:
        return time.perf_counter() - self.wall, time.process_time() - self.cpu


def run_ours(idx: Index, docs: list[dict], method: str, **options) -> tuple[list[list[str]], float, float]:
    clock = Clock()
    found = dict(idx.keywords_many([d["id"] for d in docs], method=method, n=TOP, **options))
    return [[k.phrase for k in found[d["id"]]] for d in docs], *clock.read()


def run_yake(docs: list[dict]) -> tuple[list[list[str]], float, float]:
    import yake

    extractor = yake.KeywordExtractor(lan="en", n=3, dedup_lim=0.9, top=TOP)
    clock = Clock()
    predicted = [[phrase for phrase, _ in extractor.extract_keywords(d["text"])] for d in docs]
    return predicted, *clock.read()


class KeyBERTBaseline:
    """KeyBERT with the bundled MiniLM through sentence-transformers (loaded once, not timed)."""

    VARIANTS = (("KeyBERT plain", {}), ("KeyBERT MMR 0.2", {"use_mmr": True, "diversity": 0.2}),
                ("KeyBERT MMR 0.5", {"use_mmr": True, "diversity": 0.5}))

    def __init__(self) -> None:
        from keybert import KeyBERT
        from sentence_transformers import SentenceTransformer

        from semsearch.embedding import bundled_model_path

        self.model = KeyBERT(model=SentenceTransformer(str(bundled_model_path()), device="cpu"))

    def run(self, docs: list[dict]) -> dict[str, tuple[list[list[str]], float, float]]:
        texts = [d["text"] for d in docs]
        config = {"keyphrase_ngram_range": (1, 3), "stop_words": "english"}
        clock = Clock()
        doc_embeddings, word_embeddings = self.model.extract_embeddings(texts, **config)
        embedding_wall, embedding_cpu = clock.read()
        results = {}
        for name, extra in self.VARIANTS:
            clock = Clock()
            found = self.model.extract_keywords(texts, top_n=TOP, doc_embeddings=doc_embeddings,
                                                word_embeddings=word_embeddings, **config, **extra)
            seconds, cpu_seconds = clock.read()
            if len(texts) == 1:
                found = [found]
            results[name] = ([[phrase for phrase, _ in row] for row in found],
                             embedding_wall + seconds, embedding_cpu + cpu_seconds)
        return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--split", default="test", help="test (report), validation (tune), train")
    parser.add_argument("--limit", type=int, help="only the first N documents (baselines run on the same N)")
    parser.add_argument("--layers", help="layer recipe of the temporary index (default auto = the model's own)")
    parser.add_argument("--json", type=Path, help="write the figures here as JSON")
    parser.add_argument("--slice", type=int, default=100,
                        help="documents per slice: every method runs on one slice after the other (default 100)")
    parser.add_argument("--no-yake", action="store_true")
    parser.add_argument("--no-keybert", action="store_true", help="skip KeyBERT (about 3 s per document)")
    parser.add_argument("--ablations", action="store_true",
                        help="also: embed without its TextRank pool, and without MMR; every method with "
                        "fragments weighted like whole chunks; every method over all 1-3-grams alike")
    args = parser.parse_args()
    path = args.data / f"{args.split}.jsonl"
    if not path.exists():
        sys.exit(f"no Inspec data at {path}")
    warnings.filterwarnings("ignore")
    docs = load(path, args.limit)
    gold = [d["keyphrases"] for d in docs]
    load_before = os.getloadavg()
    predicted: dict[str, list[list[str]]] = {}
    wall: dict[str, float] = {}
    cpu: dict[str, float] = {}
    notes: dict[str, str] = {}
    loads: dict[str, list[float]] = {}

    def add(name: str, found: list[list[str]], seconds: float, cpu_seconds: float, note: str = "") -> None:
        predicted.setdefault(name, []).extend(found)
        wall[name] = wall.get(name, 0.0) + seconds
        cpu[name] = cpu.get(name, 0.0) + cpu_seconds
        loads.setdefault(name, []).append(os.getloadavg()[0])
        notes[name] = note

    @contextmanager
    def patched(**values):
        saved = {key: getattr(kw, key) for key in values}
        for key, value in values.items():
            setattr(kw, key, value)
        try:
            yield
        finally:
            for key, value in saved.items():
                setattr(kw, key, value)

    def every_ngram(text, max_words=kw.MAX_WORDS):  # the usual candidate set: all 1-3-grams, all alike
        return [(p, True) for p in kw.candidates(text, max_words)]

    ours = [("semsearch tfidf", "tfidf", {}, {}), ("semsearch textrank", "textrank", {}, {}),
            (f"semsearch embed (MMR {kw.DEFAULT_DIVERSITY})", "embed", {}, {})]
    if args.ablations:
        ours += [
            ("  embed, every candidate embedded (pool 0)", "embed", {"pool": 0}, {}),
            ("  embed, no MMR", "embed", {"diversity": 0.0}, {}),
            *((f"  {m}, fragments weighted 1", m, {}, {"FRAGMENT_WEIGHT": 1.0}) for m in kw.METHODS),
            *((f"  {m}, every 1-3-gram alike", m, {"pool": 0} if m == "embed" else {},
               {"FRAGMENT_WEIGHT": 1.0, "phrases": every_ngram}) for m in kw.METHODS),
        ]
    keybert = None if args.no_keybert else KeyBERTBaseline()
    with tempfile.TemporaryDirectory() as workdir:
        with Index.open(Path(workdir) / "inspec", layers=args.layers) as idx:  # loads the model
            clock = Clock()
            idx.add([d["text"] for d in docs], ids=[d["id"] for d in docs])
            index_seconds, index_cpu = clock.read()
            layers = idx.settings["layers"]
            print(f"indexed {len(docs)} {args.split} documents in {index_seconds:.1f}s "
                  f"({index_seconds / len(docs):.3f} s/doc), layers {idx.settings['layer_indices']}",
                  file=sys.stderr, flush=True)
            # Every method runs on each slice in turn, so that all of them see the same machine load.
            for start in range(0, len(docs), args.slice):
                part = docs[start : start + args.slice]
                for name, method, options, module in ours:
                    with patched(**module):
                        add(name, *run_ours(idx, part, method, **options))
                if not args.no_yake:
                    add("YAKE (n=3, dedup 0.9)", *run_yake(part))
                if keybert is not None:
                    for name, (found, seconds, cpu_seconds) in keybert.run(part).items():
                        add(name, found, seconds, cpu_seconds,
                            "ngram 1-3, stop_words=english; embedding time shared by the three")
                print(f"  {start + len(part)}/{len(docs)} documents", file=sys.stderr, flush=True)
    load_after = os.getloadavg()
    rows = []
    for name in predicted:
        rows.append({"method": name, **evaluate(predicted[name], gold), "seconds": round(wall[name], 2),
                     "seconds_per_doc": round(wall[name] / len(docs), 4),
                     "cpu_seconds_per_doc": round(cpu[name] / len(docs), 4),
                     "load_average": round(sum(loads[name]) / len(loads[name]), 2), "note": notes[name]})

    for r in rows:
        print(f"  {r['method']:<42} F1@5 {r['F1@5']:.3f}  F1@10 {r['F1@10']:.3f}  {r['seconds_per_doc']:.4f} s/doc "
              f"{r['cpu_seconds_per_doc']:.4f} CPU s/doc", file=sys.stderr)
    ours = [r for r in rows if r["method"].startswith("semsearch")]
    baselines = [r for r in rows if not r["method"].startswith(("semsearch", " "))]
    best = max(ours, key=lambda r: r["F1@10"])
    embed = next(r for r in ours if "embed" in r["method"])
    keybert = [r for r in rows if r["method"].startswith("KeyBERT")]
    summary = {
        "best_method": best["method"], "best_F1@10": best["F1@10"],
        "goal_F1@10_0.28": best["F1@10"] >= 0.28,
        "ahead_of_every_baseline": all(best["F1@10"] > r["F1@10"] for r in baselines),
    }
    if keybert:
        timings = (("", "seconds_per_doc", index_seconds), ("cpu_", "cpu_seconds_per_doc", index_cpu))
        for unit, key, index_time in timings:
            keybert_per_doc = min(r[key] for r in keybert)
            with_indexing = embed[key] + index_time / len(docs)
            summary[f"keybert_over_embed_{unit}speed"] = round(keybert_per_doc / embed[key], 1)
            summary[f"keybert_over_embed_plus_indexing_{unit}speed"] = round(keybert_per_doc / with_indexing, 1)

    print(f"\nInspec {args.split}, {len(docs)} documents, gold = all uncontrolled keyphrases "
          f"(load average {load_before[0]:.1f} -> {load_after[0]:.1f})\n")
    print("| method | F1@5 | F1@10 | P@10 | R@10 | s/doc (wall) | CPU s/doc |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(f"| {r['method'].strip()} | {r['F1@5']:.3f} | {r['F1@10']:.3f} | {r['P@10']:.3f} | {r['R@10']:.3f} "
              f"| {r['seconds_per_doc']:.4f} | {r['cpu_seconds_per_doc']:.4f} |")
    print(f"\nindexing (chunk, embed, store, document frequencies): {index_seconds / len(docs):.4f} s/doc, "
          f"{index_cpu / len(docs):.4f} CPU s/doc")
    for key, value in summary.items():
        print(f"{key}: {value}")
    if args.split == "test":
        print("\nanchors (BASELINES.md, test, 500 docs, F1@5 / F1@10): "
              + "; ".join(f"{k} {a:.3f} / {b:.3f}" for k, (a, b) in ANCHORS.items()))
    if args.json:
        args.json.write_text(json.dumps({
            "split": args.split, "documents": len(docs), "layers": layers, "top_requested": TOP,
            "index_seconds": round(index_seconds, 2), "index_seconds_per_doc": round(index_seconds / len(docs), 4),
            "index_cpu_seconds_per_doc": round(index_cpu / len(docs), 4),
            "load_average": [round(load_before[0], 2), round(load_after[0], 2)],
            "rows": rows, "summary": summary,
        }, indent=2) + "\n")


if __name__ == "__main__":
    main()
