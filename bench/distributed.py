"""Ray ingestion: one actor alone, a prediction for two, two measured; Ray against local on the same cores.

On N SciFact documents with the bundled model (default settings), in one process:

1. **local**: ``Index.add_documents`` in this process (PyTorch on all cores).
2. **Ray start-up**: ``ray.init`` of a local Ray on this machine's cores, and each
   executor's start (actors loading the model, chunk workers warmed), reported apart.
3. **one actor** (1 CPU, 1 thread): end to end into a fresh index.  Its per-unit
   rates: embedding chunks/s per actor (time inside the actor's model), chunking
   chunks/s per task, and the writer's chunks/s (time the driver spends planning and
   committing, i.e. outside the executor's iterator).
4. **prediction for two actors**, the paper model: throughput = min over stages of
   workers x per-worker rate = min(2 x embed, tasks x chunk, 1 x writer).  On a
   machine with fewer cores than workers need, every stage shares them; the
   core-budget model adds that: cores / (1/embed + 1/chunk + 1/writer) core-seconds
   per chunk.  Both are printed; the ratio measured/predicted is the model's error.
5. **two actors** (1 CPU each, the same cores as the local run) measured end to end:
   Ray's overhead over local = local rate / Ray rate - 1 (target <= 30%).

Timing figures are only meaningful as ratios within one run on a quiet machine.

Usage:  python bench/distributed.py [--docs 2000] [--json out.json]
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

from common import add_repo_to_path, corpus_texts, table, write_results

add_repo_to_path()

from semsearch import Index  # noqa: E402
from semsearch.distributed import RayExecutor  # noqa: E402
from semsearch.reading import Document  # noqa: E402


class WriterClock:
    """Wraps an executor: time spent outside its iterator is the driver's (plan + commit)."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.writer_seconds = 0.0

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def prepare(self, batches, settings):
        iterator = self.inner.prepare(batches, settings)
        while True:
            try:
                item = next(iterator)
            except StopIteration:
                return
            handed = time.perf_counter()
            yield item
            self.writer_seconds += time.perf_counter() - handed


def documents(texts: list[str], prefix: str) -> list[Document]:
    return [Document(id=f"{prefix}{i}", text=text) for i, text in enumerate(texts)]


def run_local(texts: list[str], work: Path) -> dict:
    with Index.open(work / "local", query_backend="torch") as idx:
        report = idx.add_documents(documents(texts, "d"))
    return {"chunks": report.chunks, "seconds": report.seconds, "rate": report.chunks / report.seconds}


def run_ray(texts: list[str], work: Path, name: str, workers: int) -> dict:
    executor = RayExecutor(workers=workers, cpus_per_worker=1, spread=False)
    clock = WriterClock(executor)
    try:
        with Index.open(work / name, query_backend="torch") as idx:
            report = idx.add_documents(documents(texts, "d"), executor=clock)
    finally:
        executor.close()
    stats = executor.stats
    return {
        "workers": workers, "chunks": report.chunks, "seconds": report.seconds,
        "rate": report.chunks / report.seconds, "startup_seconds": stats.startup_seconds,
        # chunks over the seconds summed over actors: the rate of one actor
        "embed_rate_per_actor": stats.chunks / stats.embedding_seconds if stats.embedding_seconds else 0.0,
        "chunk_rate_per_task": stats.chunks / stats.chunking_seconds if stats.chunking_seconds else 0.0,
        "writer_rate": report.chunks / clock.writer_seconds if clock.writer_seconds else 0.0,
        "tokens": stats.tokens, "resent": stats.resent,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=2000)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    import ray

    logging.getLogger("semsearch").setLevel(logging.ERROR)
    texts, source = corpus_texts(args.docs)
    cores = os.cpu_count() or 1
    print(f"{len(texts)} documents from the {source}; {cores} cores; load average {os.getloadavg()[0]:.1f}")

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        local = run_local(texts, work)
        print(f"local: {local['chunks']} chunks in {local['seconds']:.1f}s = {local['rate']:.1f} chunks/s")

        started = time.perf_counter()
        ray.init(num_cpus=cores, include_dashboard=False, logging_level=logging.ERROR, log_to_driver=False)
        ray_init = time.perf_counter() - started
        try:
            one = run_ray(texts, work, "ray1", 1)
            print(f"one actor: {one['rate']:.1f} chunks/s (start-up {one['startup_seconds']:.1f}s)")
            two = run_ray(texts, work, "ray2", 2)
        finally:
            ray.shutdown()

    embed, chunk, writer = one["embed_rate_per_actor"], one["chunk_rate_per_task"], one["writer_rate"]
    chunk_tasks = 2 * 2  # in flight: two per actor
    paper = min(2 * embed, chunk_tasks * chunk, writer)
    budget = min(paper, cores / (1 / embed + 1 / chunk + 1 / writer))
    overhead = local["rate"] / two["rate"] - 1
    figures = {
        "documents": len(texts), "source": source, "cores": cores, "local": local, "ray_init_seconds": ray_init,
        "one_actor": one, "two_actors": two,
        "predicted_two_paper": paper, "predicted_two_core_budget": budget,
        "measured_over_paper": two["rate"] / paper, "measured_over_core_budget": two["rate"] / budget,
        "ray_overhead_vs_local": overhead, "load_average": os.getloadavg()[0],
    }
    rows = [
        ["local (in process, all cores)", f"{local['rate']:.1f}", "", ""],
        ["stage: embedding, per actor", f"{embed:.1f}", "", ""],
        ["stage: chunking, per task", f"{chunk:.1f}", "", ""],
        ["stage: writer (plan + commit)", f"{writer:.1f}", "", ""],
        ["one actor, measured", f"{one['rate']:.1f}", f"{min(embed, chunk_tasks * chunk, writer):.1f}",
         f"{one['rate'] / min(embed, chunk_tasks * chunk, writer):.2f}"],
        ["two actors, paper model", f"{two['rate']:.1f}", f"{paper:.1f}", f"{two['rate'] / paper:.2f}"],
        [f"two actors, {cores}-core budget", f"{two['rate']:.1f}", f"{budget:.1f}", f"{two['rate'] / budget:.2f}"],
    ]
    print(table(rows, ["chunks/s", "measured", "predicted", "measured/predicted"]))
    print(f"Ray overhead over local on the same {cores} cores: {overhead:+.0%} (target <= +30%); "
          f"start-up apart: ray.init {ray_init:.1f}s, executor {one['startup_seconds']:.1f}s / "
          f"{two['startup_seconds']:.1f}s (1 / 2 actors)")
    path = write_results("distributed", figures)
    if args.json:
        args.json.write_text(path.read_text())
    print(f"figures: {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
