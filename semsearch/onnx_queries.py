"""The ONNX Runtime path for single queries: export the model and recipe once, cache, check.

PyTorch spends most of a one-query forward pass in small matrix multiplies; ONNX Runtime
runs the same graph (traced through our own layer pooling) about twice as fast.  Each
session is checked against :meth:`Embedder.encode` before use, and any failure falls
back to PyTorch (see :meth:`Embedder.encode_queries`).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .embedding import CACHE_ENV_VAR, pool_layers

if TYPE_CHECKING:
    from .embedding import Embedder

log = logging.getLogger("semsearch")

# Bump when the exported graph changes, so cached files from older versions are not used.
ONNX_EXPORT_VERSION = 1


def first_line(exc: BaseException) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0]


def cache_dir() -> Path:
    """Where semsearch keeps derived files (ONNX exports): ``$SEMSEARCH_CACHE``, else the XDG cache."""
    if os.environ.get(CACHE_ENV_VAR):
        return Path(os.environ[CACHE_ENV_VAR]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "semsearch"


class OnnxEncoder:
    """The embedder's model and recipe (pooling, layer average, L2 norm) as one ONNX Runtime session.

    The graph is traced from the PyTorch model with :func:`pool_layers`, so the maths
    is the same code as :meth:`Embedder.encode`; it runs in float32.  Every session
    is checked against :meth:`Embedder.encode` on a padded batch before use, so a
    stale or wrong export is never served.
    """

    def __init__(self, embedder: Embedder) -> None:
        import onnxruntime

        self.tokenizer = embedder.tokenizer
        self.max_length = embedder.max_length
        self.input_names = list(embedder.tokenizer.model_input_names)
        self.path = cache_dir() / "onnx" / f"{self._cache_key(embedder)}.onnx"
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3
        # As many threads as PyTorch uses (it honours OMP_NUM_THREADS and set_num_threads).
        options.intra_op_num_threads = embedder._torch.get_num_threads()
        # Idle ORT threads otherwise spin for a while after each run, taking the cores from
        # the vector scan that follows (measured: +8 ms at 10k chunks, +17 ms at 100k).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        providers = ["CPUExecutionProvider"]
        if self.path.is_file():
            try:
                self.session = onnxruntime.InferenceSession(str(self.path), options, providers=providers)
                self._check(embedder)
                return
            except Exception as exc:  # a truncated, foreign or stale file: export again over it
                log.warning("ignoring cached ONNX export %s (%s)", self.path, first_line(exc))
        model = self._export(embedder)
        self.session = onnxruntime.InferenceSession(model, options, providers=providers)
        self._check(embedder)
        self._save(model, self.path)

    def _check(self, embedder: Embedder) -> None:
        """Refuse a session whose vectors disagree with PyTorch's (cosine 0.999 allows bf16)."""
        texts = ["a short query", "a somewhat longer query, so that the batch is padded"]
        cosine = (self.encode(texts) * embedder.encode(texts)).sum(axis=1).min()
        if not cosine > 0.999:
            raise ValueError(f"the ONNX graph disagrees with the PyTorch model (cosine {cosine:.4f})")

    @staticmethod
    def _cache_key(embedder: Embedder) -> str:
        import torch
        import transformers

        files = sorted([*embedder.model_path.rglob("*.safetensors"), *embedder.model_path.rglob("config.json")])
        identity = {
            "model": str(embedder.model_path),
            "files": [(str(f), f.stat().st_size, f.stat().st_mtime_ns) for f in files],
            "layers": list(embedder.recipe.layers),
            "pooling": embedder.recipe.pooling,
            "inputs": list(embedder.tokenizer.model_input_names),
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "format": ONNX_EXPORT_VERSION,
        }
        return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:32]

    def _export(self, embedder: Embedder) -> bytes:
        import torch

        recipe, names = embedder.recipe, self.input_names

        class Pooled(torch.nn.Module):
            def __init__(self, model) -> None:
                super().__init__()
                self.model = model

            def forward(self, *inputs):
                features = dict(zip(names, inputs))
                output = self.model(**features, output_hidden_states=True)
                return pool_layers(output.hidden_states, features["attention_mask"], recipe.layers, recipe.pooling)

        example = self.tokenizer(["an example query"], return_tensors="pt")
        buffer = io.BytesIO()
        with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
            warnings.simplefilter("ignore")  # tracer warnings about Python control flow on shapes
            torch.onnx.export(
                Pooled(embedder.model).eval(),
                tuple(example[name] for name in names),
                buffer,
                input_names=names,
                output_names=["embedding"],
                dynamic_axes={name: {0: "batch", 1: "tokens"} for name in names},
                opset_version=17,
                dynamo=False,
            )
        return buffer.getvalue()

    @staticmethod
    def _save(model: bytes, path: Path) -> None:
        """Write atomically; a cache that cannot be written only costs the export next time."""
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(tmp, "wb") as handle:
                handle.write(model)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except OSError as exc:
            log.debug("cannot cache the ONNX export at %s: %s", path, exc)
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        features = self.tokenizer(
            list(texts), padding=True, truncation=True, max_length=self.max_length, return_tensors="np"
        )
        inputs = {name: features[name].astype(np.int64) for name in self.input_names}
        return np.asarray(self.session.run(None, inputs)[0], dtype=np.float32)
