"""Int8 embedding paths vs the default (bf16): do any beat it on speed at fp32 quality?

The issue's bar: an int8 path is worth adding only if it is faster than bf16 with
SciFact nDCG@10 within 0.01 of fp32.  This measures the speed half on the same texts
in alternating rounds, and each path's cosine to the fp32 vectors (a path whose
vectors drift is not worth a full SciFact run).  Paths:

- torch fp32 (reference vectors) and torch bf16 autocast (the default where the CPU has bf16);
- torch dynamic int8 (``torch.ao.quantization.quantize_dynamic`` on every Linear);
- ONNX Runtime fp32 (our exported graph) and ONNX Runtime dynamic int8
  (``onnxruntime.quantization.quantize_dynamic``, per-channel int8 weights).

Usage:  python bench/int8_paths.py [--docs 256] [--rounds 2]
"""

from __future__ import annotations

import argparse
import copy
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
from common import add_repo_to_path, corpus_texts, table, write_results

add_repo_to_path()
from semsearch.embedding import Embedder  # noqa: E402
from semsearch.onnx_queries import OnnxEncoder  # noqa: E402


def torch_int8(embedder: Embedder) -> Embedder:
    import torch

    quantised = copy.copy(embedder)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao.quantization is deprecated in favour of torchao
        quantised.model = torch.ao.quantization.quantize_dynamic(
            copy.deepcopy(embedder.model), {torch.nn.Linear}, dtype=torch.qint8
        )
    quantised.precision = "fp32"  # int8 matrix multiplies, everything else fp32
    return quantised


def onnx_paths(embedder: Embedder, scratch: Path) -> dict:
    """ONNX Runtime sessions over our exported graph: fp32 and dynamic int8."""
    import onnxruntime
    from onnxruntime.quantization import QuantType, quantize_dynamic

    encoder = OnnxEncoder(embedder)
    fp32_path, int8_path = scratch / "fp32.onnx", scratch / "int8.onnx"
    fp32_path.write_bytes(encoder._export(embedder))
    quantize_dynamic(str(fp32_path), str(int8_path), weight_type=QuantType.QInt8, per_channel=True)
    int8 = copy.copy(encoder)
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    int8.session = onnxruntime.InferenceSession(str(int8_path), options, providers=["CPUExecutionProvider"])
    return {"ONNX Runtime fp32": encoder, "ONNX Runtime int8 (dynamic, per-channel)": int8}


def batched(encoder: OnnxEncoder, texts: list[str], lengths: list[int], batch_size: int = 32) -> np.ndarray:
    """Length-sorted batches, as ``Embedder.encode`` does, through an ONNX session."""
    order = sorted(range(len(texts)), key=lambda i: -lengths[i])
    batches = [order[start : start + batch_size] for start in range(0, len(order), batch_size)]
    parts = [encoder.encode([texts[i] for i in positions]) for positions in batches]
    out = np.zeros((len(texts), parts[0].shape[1]), np.float32)
    for positions, vectors in zip(batches, parts):
        out[positions] = vectors
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    texts, source = corpus_texts(args.docs)
    fp32 = Embedder(precision="fp32")
    bf16 = Embedder(precision="bf16")
    lengths = [min(n, fp32.max_length) for n in fp32.count_tokens(texts)]
    tokens = sum(lengths)
    with tempfile.TemporaryDirectory() as scratch:
        onnx = onnx_paths(fp32, Path(scratch))
        paths = {
            "torch fp32": lambda: fp32.encode(texts),
            "torch bf16": lambda: bf16.encode(texts),
            "torch int8 (dynamic)": (lambda e: lambda: e.encode(texts))(torch_int8(fp32)),
            **{name: (lambda e: lambda: batched(e, texts, lengths))(encoder) for name, encoder in onnx.items()},
        }
        seconds: dict[str, list[float]] = {name: [] for name in paths}
        vectors = {}
        for name, run in paths.items():  # warm-up, and the vectors
            vectors[name] = run()
        for _ in range(args.rounds):
            for name, run in paths.items():
                started = time.perf_counter()
                run()
                seconds[name].append(time.perf_counter() - started)
    reference = vectors["torch fp32"]
    default = float(np.median(seconds["torch bf16"]))
    rows, figures = [], {"source": source, "documents": len(texts), "tokens": tokens, "paths": {}}
    for name in paths:
        median = float(np.median(seconds[name]))
        cosine = (vectors[name] * reference).sum(axis=1)
        figures["paths"][name] = {"seconds": seconds[name], "tokens_per_s": tokens / median,
                                  "vs_bf16": default / median, "cosine_min": float(cosine.min()),
                                  "cosine_mean": float(cosine.mean())}
        rows.append([name, f"{tokens / median:,.0f}", f"{default / median:.2f}x", f"{cosine.min():.4f}",
                     f"{cosine.mean():.5f}"])
    print(f"{source}: {len(texts)} documents, {tokens:,} tokens, {args.rounds} alternating rounds (median)")
    print(table(rows, ["path", "tokens/s", "speed vs bf16", "cosine to fp32, min", "mean"]))
    faster = [n for n in paths if "int8" in n and figures["paths"][n]["vs_bf16"] > 1.0]
    verdict = (f"faster than bf16: {', '.join(faster)}: check SciFact nDCG@10 before adopting" if faster
               else "no int8 path beats bf16 on speed here: none is worth adopting")
    print(verdict)
    figures["verdict"] = verdict
    print(f"wrote {write_results('int8_paths', figures)}")


if __name__ == "__main__":
    main()
