"""Run every benchmark in bench/, one after another, and print a summary.

Usage:  python bench/run_all.py [--quick]

Each script also runs alone and writes its figures to bench/results/NAME.json.
--quick runs small sizes (a smoke test of the scripts, not figures to report).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

from common import HERE, RESULTS, SCIFACT

SCRIPTS = [
    ("embedding_throughput", [], ["--docs", "64", "--rounds", "1"]),
    ("int8_paths", [], ["--docs", "16", "--rounds", "1"]),
    ("ingestion", [], ["--docs", "32", "--rounds", "1"]),
    ("search_latency", [], ["--sizes", "10000", "--queries", "30"]),
    ("distributed", [], ["--docs", "64"]),
    ("scifact_retrieval", [], None),
    ("clustering_agnews", [], None),
    ("keyphrases_inspec", [], None),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    summary = []
    for name, normal, quick in SCRIPTS:
        script = HERE / f"{name}.py"
        if not script.exists():
            continue
        if args.quick and quick is None:
            summary.append((name, "skipped (--quick)"))
            continue
        if name in ("scifact_retrieval",) and not SCIFACT.exists():
            summary.append((name, "skipped (../shared/data absent)"))
            continue
        print(f"\n=== {name} ===", flush=True)
        started = time.perf_counter()
        extra = quick if args.quick else normal
        if name == "scifact_retrieval":
            extra = [*extra, "--json", str(RESULTS / "scifact_retrieval.json")]
            RESULTS.mkdir(exist_ok=True)
        code = subprocess.call([sys.executable, str(script), *extra], cwd=HERE)
        summary.append((name, f"exit {code}, {time.perf_counter() - started:.0f} s"))
    print("\n=== summary ===")
    for name, status in summary:
        figures = RESULTS / f"{name}.json"
        print(f"{name:<22} {status}" + (f"  -> {figures}" if figures.exists() else ""))
    failed = [name for name, status in summary if status.startswith("exit") and not status.startswith("exit 0")]
    if failed:
        sys.exit(f"failed: {', '.join(failed)}")
    if (RESULTS / "embedding_throughput.json").exists():
        data = json.loads((RESULTS / "embedding_throughput.json").read_text())
        default = "semsearch bf16" if data["default_precision"] == "bf16" else "semsearch fp32"
        print(f"default embedding path: {data['systems'][default]['speed_vs_st']:.2f}x sentence-transformers")


if __name__ == "__main__":
    main()
