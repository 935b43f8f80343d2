"""Embedding throughput: our Embedder (fp32, bf16) vs sentence-transformers encode().

Same model (bundled all-MiniLM-L6-v2), same texts, max length 256, batch 32, length
sorting on both sides.  Alternating rounds; the median of each, and the median of the
per-round speed ratios.  Also: this CPU's matrix-multiply GFLOP/s (the physical limit),
the model's FLOPs per token, how close each path runs to the limit, where the time goes
(tokenisation, padding), and how far bf16 vectors are from fp32.

Usage:  python bench/embedding_throughput.py [--docs 512] [--rounds 3]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from common import add_repo_to_path, corpus_texts, median, table, write_results

add_repo_to_path()
from semsearch.embedding import Embedder, cpu_has_bf16  # noqa: E402


def gemm_gflops(dtype: torch.dtype, n: int = 2048, repeats: int = 10) -> float:
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    torch.matmul(a, b)
    started = time.perf_counter()
    for _ in range(repeats):
        torch.matmul(a, b)
    return 2 * n**3 * repeats / (time.perf_counter() - started) / 1e9


def flops_per_token(config, mean_length: float) -> tuple[float, float]:
    """(linear-layer FLOPs, attention FLOPs) per token for a BERT encoder."""
    h, i, layers = config.hidden_size, config.intermediate_size, config.num_hidden_layers
    linear = 2 * (4 * h * h + 2 * h * i) * layers  # Q, K, V, output projections and the FFN
    attention = 2 * 2 * mean_length * h * layers  # QK^T and attention x V
    return linear, attention


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=512)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()

    texts, source = corpus_texts(args.docs)
    fp32 = Embedder(precision="fp32")
    bf16 = Embedder(precision="bf16")
    default = Embedder()
    from sentence_transformers import SentenceTransformer

    st = SentenceTransformer(str(fp32.model_path), device="cpu")
    st.max_seq_length = fp32.max_length

    lengths = [min(n, fp32.max_length) for n in fp32.count_tokens(texts)]
    tokens = sum(lengths)
    ordered = sorted(lengths, reverse=True)
    padded = sum(max(ordered[s : s + args.batch_size]) * len(ordered[s : s + args.batch_size])
                 for s in range(0, len(ordered), args.batch_size))
    started = time.perf_counter()
    fp32.tokenizer(texts, truncation=True, max_length=fp32.max_length)
    tokenise_seconds = time.perf_counter() - started

    systems = {
        "sentence-transformers encode()": lambda: st.encode(texts, batch_size=args.batch_size,
                                                            normalize_embeddings=True),
        "semsearch fp32": lambda: fp32.encode(texts, batch_size=args.batch_size),
        "semsearch bf16": lambda: bf16.encode(texts, batch_size=args.batch_size),
    }
    times: dict[str, list[float]] = {name: [] for name in systems}
    for name, run in systems.items():  # warm-up
        run() if name != "sentence-transformers encode()" else st.encode(texts[:64])
    for _ in range(args.rounds):
        for name, run in systems.items():
            started = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - started)
    st_times = times["sentence-transformers encode()"]
    ratios = {name: median([s / t for s, t in zip(st_times, times[name])]) for name in systems}

    v32, v16 = fp32.encode(texts), bf16.encode(texts)
    cosines = (v32 * v16).sum(axis=1)
    reference = st.encode(texts, normalize_embeddings=True)

    limits = {"fp32": gemm_gflops(torch.float32), "bf16": gemm_gflops(torch.bfloat16)}
    linear, attention = flops_per_token(fp32.model.config, padded / len(texts))
    rows = []
    figures = {"source": source, "docs": len(texts), "tokens": tokens, "max_length": fp32.max_length,
               "batch_size": args.batch_size, "rounds": args.rounds, "threads": torch.get_num_threads(),
               "default_precision": default.precision, "cpu_has_bf16": cpu_has_bf16(),
               "gemm_gflops": limits, "mflops_per_token_linear": linear / 1e6,
               "mflops_per_token_attention": attention / 1e6, "systems": {}}
    for name, runs in times.items():
        seconds = median(runs)
        precision = "bf16" if "bf16" in name else "fp32"
        achieved = tokens / seconds * (linear + attention) / 1e9
        figures["systems"][name] = {
            "seconds": seconds, "tokens_per_s": tokens / seconds, "docs_per_s": len(texts) / seconds,
            "speed_vs_st": ratios[name], "gflops": achieved, "pct_of_limit": 100 * achieved / limits[precision],
        }
        rows.append([name, f"{tokens / seconds:,.0f}", f"{len(texts) / seconds:.1f}", f"{ratios[name]:.2f}x",
                     f"{achieved:.0f}", f"{100 * achieved / limits[precision]:.0f}% of {precision}"])
    figures["bf16_vs_fp32_cosine"] = {"min": float(cosines.min()), "mean": float(cosines.mean())}
    figures["fp32_vs_st_max_abs_diff"] = float(np.abs(v32 - reference).max())
    figures["padding_waste_pct"] = 100 * (padded - tokens) / padded
    figures["tokenise_seconds"] = tokenise_seconds
    print(f"{len(texts)} docs from the {source}, {tokens:,} tokens (max length {fp32.max_length}), "
          f"batch {args.batch_size}, {args.rounds} alternating rounds, {torch.get_num_threads()} threads")
    print(table(rows, ["system", "tokens/s", "docs/s", "vs ST", "GFLOP/s", "of the GEMM limit"]))
    print(f"GEMM limit: fp32 {limits['fp32']:.0f} GFLOP/s, bf16 {limits['bf16']:.0f} GFLOP/s; model "
          f"{linear / 1e6:.1f} MFLOP/token in linear layers + {attention / 1e6:.1f} in attention "
          f"(mean padded length {padded / len(texts):.0f})")
    print(f"default precision here: {default.precision} (native bf16: {cpu_has_bf16()}); bf16 vs fp32 cosine "
          f"min {cosines.min():.6f}, mean {cosines.mean():.6f}; fp32 vs ST max |diff| "
          f"{figures['fp32_vs_st_max_abs_diff']:.1e}")
    fp32_seconds = figures["systems"]["semsearch fp32"]["seconds"]
    print(f"where the time goes (fp32): tokenisation {100 * tokenise_seconds / fp32_seconds:.1f}%, padding "
          f"{figures['padding_waste_pct']:.1f}% of computed tokens")
    print(f"wrote {write_results('embedding_throughput', figures)}")


if __name__ == "__main__":
    main()
