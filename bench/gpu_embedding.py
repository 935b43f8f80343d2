"""Embedding on a GPU: the model alone, end to end, and through Ray with one GPU actor.

Prepared for a machine with one CUDA GPU (one run, a few minutes); on the CPU it
runs too (``--device cpu --docs 200``), which is how it is kept working.  With the
bundled MiniLM-L6 and chunks of up to 254 tokens (256 with [CLS]/[SEP]):

1. **model alone**: the chunker's token ids of N documents (tokenised once, before
   timing) through ``Embedder.encode_ids`` in the device's precision (bf16 on CUDA
   where supported), at a few token budgets: chunks/s and tokens/s.
2. **agreement**: cosine of the device's vectors against fp32 CPU vectors on a
   sample of the chunks (min and mean; at least 0.999 is required).
3. **end to end, in process**: ``Index.add_documents`` on the device (reading,
   chunking in one process, SQLite, FAISS).
4. **end to end through Ray**: a local Ray with the machine's cores and one GPU, one
   GPU actor, chunking in CPU tasks.

Target (issue 15): >= 10,000 chunks/s end to end for MiniLM-L6 at 256 tokens on one H200.
Figures go to ``$OUT/gpu_embedding.json`` when ``$OUT`` is set, else bench/results/.

Usage:  python bench/gpu_embedding.py [--device cuda] [--docs 20000] [--budgets 16384,65536,262144] [--no-ray]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import tempfile
import time
from pathlib import Path

from common import add_repo_to_path, corpus_texts, table, write_results

add_repo_to_path()

from semsearch import Embedder, Index  # noqa: E402
from semsearch.chunking import chunk_ids  # noqa: E402
from semsearch.reading import Document  # noqa: E402

CHUNK_SIZE = 254


def synchronise(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()


def model_alone(embedder: Embedder, ids: list[list[int]], budgets: list[int], device: str) -> list[dict]:
    rows = []
    tokens = sum(len(row) + 2 for row in ids)
    for budget in budgets:
        embedder.token_budget = budget if device != "cpu" else None
        embedder.encode_ids(ids[: min(len(ids), 512)], batch_size=64)  # warm-up: kernels, allocator
        synchronise(device)
        started = time.perf_counter()
        embedder.encode_ids(ids, batch_size=64)
        synchronise(device)
        seconds = time.perf_counter() - started
        rows.append({"token_budget": budget, "chunks": len(ids), "seconds": seconds,
                     "chunks_per_s": len(ids) / seconds, "tokens_per_s": tokens / seconds})
        print(f"  budget {budget}: {len(ids) / seconds:,.0f} chunks/s, {tokens / seconds:,.0f} tokens/s")
    return rows


def end_to_end(texts: list[str], device: str, executor=None) -> dict:
    with tempfile.TemporaryDirectory() as tmp, \
            Index.open(Path(tmp) / "index", chunk_size=CHUNK_SIZE, query_backend="torch", device=device) as idx:
        started = time.perf_counter()
        report = idx.add_documents([Document(id=f"d{i}", text=t) for i, t in enumerate(texts)], executor=executor)
        wall = time.perf_counter() - started
    return {"chunks": report.chunks, "seconds": report.seconds, "wall_seconds": wall,
            "chunks_per_s": report.chunks / report.seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--docs", type=int, default=20000)
    parser.add_argument("--budgets", default="16384,65536,262144", help="padded tokens per batch")
    parser.add_argument("--probe", type=int, default=512, help="chunks compared with the CPU")
    parser.add_argument("--no-ray", action="store_true")
    args = parser.parse_args()
    logging.getLogger("semsearch").setLevel(logging.WARNING)
    import torch

    budgets = [int(b) for b in args.budgets.split(",")]
    texts, source = corpus_texts(args.docs)
    figures: dict = {"device": args.device, "documents": len(texts), "source": source, "torch": torch.__version__,
                     "cpu": platform.processor() or platform.machine(), "cores": os.cpu_count()}
    if args.device.startswith("cuda"):
        figures["gpu"] = torch.cuda.get_device_name(0)
    print(json.dumps(figures))

    embedder = Embedder(device=args.device)
    figures["precision"] = embedder.compute_precision
    figures["startup_agreement"] = embedder.device_agreement
    started = time.perf_counter()
    ids = [row for text in texts for row in chunk_ids(text, embedder.tokenizer, CHUNK_SIZE, 32)[1]]
    figures["tokenising_chunks_per_s_one_core"] = len(ids) / (time.perf_counter() - started)
    print(f"{len(ids)} chunks; chunking + tokenising on one core: {figures['tokenising_chunks_per_s_one_core']:,.0f}/s")

    print(f"model alone ({embedder.compute_precision} on {embedder.device}):")
    figures["model_alone"] = model_alone(embedder, ids, budgets, args.device)

    sample = ids[:: max(1, len(ids) // args.probe)][: args.probe]
    here = embedder.encode_ids(sample)
    reference = Embedder(device="cpu", precision="fp32").encode_ids(sample)
    cosines = (here * reference).sum(axis=1)
    figures["cosine_vs_cpu_fp32"] = {"min": float(cosines.min()), "mean": float(cosines.mean()), "n": len(sample)}
    print(f"cosine against fp32 CPU on {len(sample)} chunks: min {cosines.min():.5f}, mean {cosines.mean():.6f}")
    del embedder
    if args.device.startswith("cuda"):
        torch.cuda.empty_cache()

    figures["end_to_end_local"] = end_to_end(texts, args.device)
    print(f"end to end in process: {figures['end_to_end_local']['chunks_per_s']:,.0f} chunks/s")

    if not args.no_ray:
        import ray

        from semsearch.distributed import RayExecutor

        started = time.perf_counter()
        gpus = 1 if args.device.startswith("cuda") else 0
        ray.init(num_cpus=os.cpu_count(), num_gpus=gpus, include_dashboard=False, logging_level=logging.ERROR)
        figures["ray_init_seconds"] = time.perf_counter() - started
        try:
            with RayExecutor(workers=1, gpus_per_worker=gpus, cpus_per_worker=1, device=args.device,
                             chunk_cpus=0.5) as executor:
                figures["end_to_end_ray_one_gpu_actor"] = {**end_to_end(texts, args.device, executor),
                                                           "startup_seconds": executor.stats.startup_seconds}
        finally:
            ray.shutdown()
        print(f"end to end through Ray: {figures['end_to_end_ray_one_gpu_actor']['chunks_per_s']:,.0f} chunks/s")

    best = max(row["chunks_per_s"] for row in figures["model_alone"])
    rows = [["model alone (best budget)", f"{best:,.0f}"],
            ["end to end, in process", f"{figures['end_to_end_local']['chunks_per_s']:,.0f}"]]
    if "end_to_end_ray_one_gpu_actor" in figures:
        rows.append(["end to end, Ray, 1 GPU actor",
                     f"{figures['end_to_end_ray_one_gpu_actor']['chunks_per_s']:,.0f}"])
    print(table(rows, ["chunks/s", "measured"]))
    print("target: >= 10,000 chunks/s end to end on one H200")
    out = os.environ.get("OUT")
    if out:
        Path(out, "gpu_embedding.json").write_text(json.dumps(figures, indent=2, default=float))
    else:
        write_results("gpu_embedding", figures)


if __name__ == "__main__":
    main()
