"""Shared bench helpers: corpus loading, timing statistics, result files."""

from __future__ import annotations

import json
import random
import statistics
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SHARED = HERE.parent.parent / "shared" / "data"
SCIFACT = SHARED / "scifact"
RESULTS = HERE / "results"

_WORDS = """protein cell gene expression tumour patient clinical trial therapy response immune receptor
signal pathway mutation risk cohort study effect dose treatment outcome mouse model brain blood
vaccine infection virus antibody inflammation metabolism insulin glucose cancer survival rate""".split()


def corpus_texts(limit: int | None = None) -> tuple[list[str], str]:
    """SciFact abstracts (title + text) when ../shared is present, else generated text."""
    path = SCIFACT / "corpus.jsonl"
    if path.exists():
        texts = []
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                record = json.loads(line)
                texts.append(f"{record.get('title', '')} {record.get('text', '')}".strip())
                if limit and len(texts) >= limit:
                    break
        return texts, "SciFact corpus"
    rng = random.Random(0)
    n = limit or 5000
    texts = [" ".join(rng.choice(_WORDS) for _ in range(rng.randint(80, 300))) for _ in range(n)]
    return texts, "generated corpus (../shared/data/scifact absent)"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    position = (len(ordered) - 1) * q
    low, high = int(position), min(int(position) + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def median(values: list[float]) -> float:
    return statistics.median(values)


def write_results(name: str, figures: dict) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(figures, indent=2))
    return path


def table(rows: list[list], header: list[str]) -> str:
    cells = [[str(c) for c in row] for row in [header, *rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))) for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def add_repo_to_path() -> None:
    root = str(HERE.parent)
    if root not in sys.path:
        sys.path.insert(0, root)
