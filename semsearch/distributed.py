"""Chunking and embedding on a Ray cluster: an ingest :class:`~semsearch.ingest.Executor`.

Each batch of planned documents takes this path::

    driver --texts--> chunk task (a CPU task: chunk spans + token ids, tokenised once)
           --ids----> embedding actor (semsearch's own Embedder, from the index settings,
                      on its CPU or GPU; the model is loaded once per actor)
           <--spans + vectors-- back to the driver, whose one writer commits the batch

Only texts go out and only chunk spans and vectors come back: the documents (metadata,
titles) stay with the driver, which rebuilds the chunks as slices of their text.  A
batch's documents come back together.  The vectors are those of the local path: the
same model, layers, pooling and precision, and the same batches (``encode_ids`` of the
chunker's ids equals ``encode`` of the chunk texts).

Failures: Ray retries chunk tasks and restarts actors (on another node if theirs
left the cluster); a batch whose result is lost all the same is sent again, so every
chunk is committed exactly once.  If the driver dies, what was committed stays, and a
re-run skips it as unchanged, as after a local run.
"""

from __future__ import annotations

import collections
import functools
import logging
import os
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .chunking import Chunk, chunk_ids
from .errors import SemsearchError

log = logging.getLogger("semsearch")

INSTALL_HINT = "pip install 'semsearch[ray]'  (Ray Data, ray[data]>=2.40)"
# Batches sent before the first result is awaited, per worker: one being embedded,
# one waiting in the actor's queue (its chunk task already done), so a worker never idles.
IN_FLIGHT_PER_WORKER = 2
# How often one batch is sent again after Ray's own retries gave up on it.
BATCH_ATTEMPTS = 3


def require_ray():
    """Import Ray, or say how to install it."""
    try:
        import ray
    except ImportError:
        raise SemsearchError(f"--ray needs Ray, which is not installed: {INSTALL_HINT}") from None
    return ray


def _get(settings: Any, key: str) -> Any:
    """A setting from an :class:`~semsearch.settings.IndexSettings` or a plain mapping."""
    return settings[key] if isinstance(settings, Mapping) else getattr(settings, key)


def _stored(settings: Any) -> dict:
    return dict(settings) if isinstance(settings, Mapping) else settings.to_stored()


@functools.lru_cache(maxsize=4)
def _tokenizer(model: str):
    from .embedding import load_tokenizer

    return load_tokenizer(model)


def chunk_batch(texts: list[str], model: str, chunk_size: int, chunk_overlap: int) -> dict:
    """The chunk task: for each text, its chunks' ``(start, end)`` and token ids (no special tokens)."""
    tokenizer = _tokenizer(model)
    started = time.perf_counter()
    docs = []
    for text in texts:
        chunks, ids = chunk_ids(text, tokenizer, chunk_size, chunk_overlap)
        docs.append(([(c.start, c.end) for c in chunks], ids))
    return {"docs": docs, "seconds": time.perf_counter() - started}


class EmbeddingWorker:
    """The actor: one :class:`~semsearch.embedding.Embedder`, built from the index settings.

    A failure to build it (no CUDA where a GPU was asked for, a model directory missing
    on this node) is kept and reported by :meth:`ready`, so the driver can say it
    plainly instead of a dead-actor traceback.
    """

    def __init__(self, settings: dict, device: str, token_budget: int | None, threads: int) -> None:
        import torch

        torch.set_num_threads(max(1, threads))
        self.embedder = None
        self.error: str | None = None
        try:
            from .embedding import Embedder
            from .settings import IndexSettings

            self.embedder = Embedder.from_settings(
                IndexSettings.from_stored(settings), device=device, token_budget=token_budget
            )
        except SemsearchError as exc:
            self.error = str(exc)

    def ready(self) -> dict:
        import ray

        context = ray.get_runtime_context()
        info = {"error": self.error, "node": context.get_node_id(), "gpus": [str(g) for g in ray.get_gpu_ids()]}
        if self.embedder is not None:
            info.update(device=self.embedder.device, precision=self.embedder.compute_precision,
                        agreement=self.embedder.device_agreement)
        return info

    def embed(self, chunked: dict, batch_size: int) -> dict:
        """Vectors for every chunk of a chunk task's output, in order, with the chunk spans and timings."""
        if self.embedder is None:
            raise SemsearchError(self.error or "the embedding worker has no model")
        started = time.perf_counter()
        rows = [row for _, ids in chunked["docs"] for row in ids]
        vectors = self.embedder.encode_ids(rows, batch_size=batch_size)
        return {"spans": [spans for spans, _ in chunked["docs"]], "vectors": vectors,
                "tokens": sum(len(row) for row in rows),
                "embedding_seconds": time.perf_counter() - started, "chunking_seconds": chunked["seconds"]}


@dataclass
class RayStats:
    """What a run on Ray cost: start-up apart from the work."""

    startup_seconds: float = 0.0  # connecting (or starting a local Ray) and loading the model in every actor
    batches: int = 0
    chunks: int = 0
    tokens: int = 0
    embedding_seconds: float = 0.0  # summed over actors
    chunking_seconds: float = 0.0  # summed over chunk tasks
    resent: int = 0  # batches sent again after a lost result
    workers: list[dict] = field(default_factory=list)


class RayExecutor:
    """Prepare batches on a Ray cluster: chunking in CPU tasks, embedding in a pool of actors.

    ``address``: ``"auto"`` (``$RAY_ADDRESS`` if set, else the Ray started by ``ray
    start`` on this machine, else a new local Ray) or a cluster address
    (``ray://host:10001``, ``host:6379``).  If Ray is already initialised in this
    process, that cluster is used.  ``workers``: embedding actors (default: one per
    ``gpus_per_worker`` GPUs of the cluster, or one per ``cpus_per_worker`` CPUs).
    ``device``: what the actors embed on (default ``cuda`` when they hold GPUs, else
    ``cpu``; ``auto`` falls back to the CPU of a node without CUDA).  Every node needs
    semsearch (with the model package) installed, and a model given as a directory at
    the same path.

    >>> with RayExecutor(workers=4, gpus_per_worker=1) as executor:   # doctest: +SKIP
    ...     index.add_documents(read_inputs(["corpus/"]), executor=executor)
    """

    def __init__(
        self,
        address: str | None = "auto",
        *,
        workers: int | None = None,
        gpus_per_worker: float = 0.0,
        cpus_per_worker: float = 1.0,
        batch_size: int = 32,
        device: str | None = None,
        token_budget: int | None = None,
        chunk_cpus: float = 0.0,
        spread: bool = True,
        max_restarts: int = 3,
    ) -> None:
        if workers is not None and workers < 1:
            raise SemsearchError(f"--workers must be at least 1, not {workers}")
        if gpus_per_worker < 0 or cpus_per_worker < 0:
            raise SemsearchError("--gpus-per-worker and CPUs per worker cannot be negative")
        if batch_size < 1:
            raise SemsearchError(f"--batch-size must be at least 1, not {batch_size}")
        self.address = address or "auto"
        self.workers = workers
        self.gpus_per_worker = float(gpus_per_worker)
        self.cpus_per_worker = float(cpus_per_worker)
        self.batch_size = batch_size
        self.device = device or ("cuda" if gpus_per_worker > 0 else "cpu")
        self.token_budget = token_budget
        # Tokenising is ~20x cheaper than embedding on a CPU; chunk tasks take no logical CPU by
        # default, so they never wait behind actors holding every CPU (the in-flight window bounds them).
        self.chunk_cpus = float(chunk_cpus)
        self.spread = spread
        self.max_restarts = max_restarts
        self.stats = RayStats()
        self._ray = None
        self._owns_ray = False
        self._actors: list = []
        self._settings_key: str | None = None
        self._chunk_task = None

    @property
    def load_seconds(self) -> float:
        """Start-up (Ray and the actors' models): left out of an add's ``seconds``, as the local model load is."""
        return self.stats.startup_seconds

    @property
    def embedding_seconds(self) -> float:
        return self.stats.embedding_seconds

    # -- lifecycle ---------------------------------------------------------------
    def __enter__(self) -> RayExecutor:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Stop the actors, and the local Ray if this executor started it."""
        ray = self._ray
        if ray is None:
            return
        for actor in self._actors:
            try:
                ray.kill(actor)
            except Exception:  # already gone with its node
                pass
        self._actors = []
        self._settings_key = None
        if self._owns_ray and ray.is_initialized():
            ray.shutdown()
        self._ray = None
        self._owns_ray = False

    def _connect(self):
        ray = require_ray()
        if not ray.is_initialized():
            address = self.address
            if address == "auto":
                address = os.environ.get("RAY_ADDRESS") or None
            try:
                ray.init(address=address, include_dashboard=False, logging_level=logging.WARNING,
                         log_to_driver=True, configure_logging=False)
            except (ConnectionError, ValueError, RuntimeError) as exc:
                raise SemsearchError(f"cannot reach the Ray cluster at {address or 'this machine'}: {exc}") from exc
            self._owns_ray = True
        self._ray = ray
        return ray

    def start(self, settings: Any) -> None:
        """Connect to Ray and load the model in every actor (done by the first :meth:`prepare`)."""
        import json

        key = json.dumps(_stored(settings), sort_keys=True, default=str)
        if self._actors and key == self._settings_key:
            return
        started = time.perf_counter()
        ray = self._ray or self._connect()
        for actor in self._actors:  # another index's settings: new actors
            ray.kill(actor)
        workers = self.workers or self._default_workers(ray)
        options: dict[str, Any] = {
            "num_cpus": self.cpus_per_worker, "num_gpus": self.gpus_per_worker,
            "max_restarts": self.max_restarts, "max_task_retries": self.max_restarts,
        }
        if self.spread:
            options["scheduling_strategy"] = "SPREAD"
        worker_class = ray.remote(EmbeddingWorker).options(**options)
        threads = max(1, int(self.cpus_per_worker))
        self._actors = [worker_class.remote(_stored(settings), self.device, self.token_budget, threads)
                        for _ in range(workers)]
        infos = ray.get([actor.ready.remote() for actor in self._actors])
        errors = sorted({info["error"] for info in infos if info["error"]})
        if errors:
            self.close()
            raise SemsearchError("the Ray embedding workers cannot start: " + "; ".join(errors))
        for info in infos:
            if self.gpus_per_worker > 0 and info.get("device") == "cpu":
                log.warning("a Ray worker holds GPU %s but PyTorch sees no CUDA there: it embeds on its CPU",
                            ",".join(info["gpus"]) or "?")
        self._chunk_task = ray.remote(chunk_batch).options(num_cpus=self.chunk_cpus, max_retries=self.max_restarts)
        # Warm the processes chunk tasks will run in (importing transformers, loading the tokenizer):
        # start-up, not work, and reported as such.
        model, size, overlap = _get(settings, "model"), _get(settings, "chunk_size"), _get(settings, "chunk_overlap")
        ray.get([self._chunk_task.remote([], model, size, overlap) for _ in range(IN_FLIGHT_PER_WORKER * workers)])
        self._settings_key = key
        self.stats.workers = infos
        self.stats.startup_seconds += time.perf_counter() - started

    def _default_workers(self, ray) -> int:
        resources = ray.cluster_resources()
        if self.gpus_per_worker > 0:
            gpus = int(resources.get("GPU", 0) // self.gpus_per_worker)
            if gpus < 1:
                raise SemsearchError(
                    f"the Ray cluster has {resources.get('GPU', 0):g} GPUs: none for a worker of "
                    f"{self.gpus_per_worker:g} (--gpus-per-worker 0 embeds on CPUs)"
                )
            return gpus
        if self.cpus_per_worker <= 0:
            return 1
        return max(1, int(resources.get("CPU", 1) // self.cpus_per_worker))

    # -- the executor --------------------------------------------------------------
    def prepare(self, batches: Iterable[list], settings: Any) -> Iterator[list]:
        """Chunk and embed each batch on the cluster; yield each batch's documents together, in order."""
        from .ingest import Prepared

        model = _get(settings, "model")
        size, overlap = int(_get(settings, "chunk_size")), int(_get(settings, "chunk_overlap"))
        pending: collections.deque = collections.deque()
        turn = 0
        limit = None
        source = iter(batches)
        exhausted = False
        while True:
            while not exhausted and (limit is None or len(pending) < limit):
                batch = next(source, None)
                if batch is None:
                    exhausted = True
                    break
                if not batch:
                    continue
                if turn == 0:
                    self.start(settings)  # once per run: new actors only if the settings changed
                limit = IN_FLIGHT_PER_WORKER * len(self._actors)
                pending.append([batch, self._submit(batch, model, size, overlap, turn), 1])
                turn += 1
            if not pending:
                return
            batch, ref, attempts = pending[0]
            try:
                result = self._ray.get(ref)
            except SemsearchError:
                raise
            except Exception as exc:  # a node left with the result and Ray could not rebuild it
                cause = getattr(exc, "cause", None)
                if isinstance(cause, SemsearchError):
                    raise cause from None
                if attempts >= BATCH_ATTEMPTS:
                    raise SemsearchError(f"a batch failed {attempts} times on the Ray cluster: {exc}") from exc
                log.warning("a batch was lost on the Ray cluster (%s); sending it again", type(exc).__name__)
                self.stats.resent += 1
                pending[0] = [batch, self._submit(batch, model, size, overlap, turn), attempts + 1]
                turn += 1
                continue
            pending.popleft()
            self.stats.batches += 1
            self.stats.chunks += len(result["vectors"])
            self.stats.tokens += result["tokens"]
            self.stats.embedding_seconds += result["embedding_seconds"]
            self.stats.chunking_seconds += result["chunking_seconds"]
            yield list(_assemble(batch, result["spans"], result["vectors"], Prepared))

    def _submit(self, batch: list, model: str, size: int, overlap: int, turn: int):
        texts = [planned.doc.text for planned in batch]
        chunked = self._chunk_task.remote(texts, model, size, overlap)
        actor = self._actors[turn % len(self._actors)]
        return actor.embed.remote(chunked, self.batch_size)


def _assemble(batch: list, spans: list, vectors: np.ndarray, prepared_class) -> Iterator:
    offset = 0
    for planned, doc_spans in zip(batch, spans):
        text = planned.doc.text
        chunks = [Chunk(i, start, end, text[start:end]) for i, (start, end) in enumerate(doc_spans)]
        yield prepared_class(planned, chunks, vectors[offset : offset + len(chunks)])
        offset += len(chunks)
