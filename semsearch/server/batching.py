"""The reading side of the server: one thread owns one :class:`Index` and micro-batches searches.

Every read of the index runs on a :class:`ReadWorker` thread, never on a request's
thread: the ``Index`` it holds (its SQLite connection, its FAISS copy, its model) is
touched by that thread only.  Searches that arrive within ``window_s`` of each other
and ask for the same options are answered by one :meth:`Index.search_many` call, so
16 clients typing at once cost one forward pass of 16 queries, not 16 passes.

The queue is bounded: a full queue answers :class:`Overloaded` (HTTP 503) at once
instead of letting requests pile up behind a slow one.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from ..embedding import ONNX_MAX_BATCH

log = logging.getLogger("semsearch.server")


class Overloaded(Exception):
    """The worker's queue is full: answer 503 and let the client retry."""


@dataclass(frozen=True)
class SearchOptions:
    """Everything but the query text: searches with equal options share one batch."""

    k: int = 10
    mode: str = "hybrid"
    where: tuple[tuple[str, str], ...] = ()
    cluster: str | None = None
    metric: str = "cosine"
    min_score: float | None = None
    explain: bool = True


@dataclass
class _Search:
    queries: list[str]
    options: SearchOptions
    future: Future


@dataclass
class _Call:
    fn: Callable[[Any], Any]
    future: Future


_STOP = object()


class ReadWorker:
    """A thread that opens its own index and runs every read submitted to it.

    ``open_index`` runs on the thread; ``warm`` (optional) runs right after, before
    :meth:`start` returns, so the model and vectors are loaded before the server says
    it is ready.  ``batching=False`` answers each search alone (for the load bench).
    """

    def __init__(
        self,
        open_index: Callable[[], Any],
        *,
        name: str = "semsearch-read",
        batching: bool = True,
        window_s: float = 0.004,
        max_batch: int = 64,
        max_queue: int = 256,
        warm: Callable[[Any], None] | None = None,
        pass_size: int = ONNX_MAX_BATCH,
    ) -> None:
        self._open_index = open_index
        self._warm = warm
        self.batching = batching
        self.window_s = window_s
        self.max_batch = max_batch
        self.pass_size = max(1, pass_size)
        self._queue: queue.Queue = queue.Queue(maxsize=max_queue)
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None
        self.index = None
        self.batches = 0  # search_many calls made (searches answered together count once)
        self.searches = 0

    # -- lifecycle ------------------------------------------------------------------
    def start(self, timeout: float | None = None) -> None:
        self._thread.start()
        self._ready.wait(timeout)
        if self._startup_error is not None:
            raise self._startup_error

    @property
    def ready(self) -> bool:
        return self._ready.is_set() and self._startup_error is None

    def stop(self) -> None:
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join(timeout=30)

    # -- submitting -------------------------------------------------------------------
    def _put(self, item) -> Future:
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            raise Overloaded("the server is busy: too many requests waiting; retry shortly") from None
        return item.future

    def search(self, queries: list[str], options: SearchOptions) -> Future:
        """A future of ``list[list[Hit]]``, one list per query."""
        return self._put(_Search(list(queries), options, Future()))

    def call(self, fn: Callable[[Any], Any]) -> Future:
        """A future of ``fn(index)``, run on the worker thread."""
        return self._put(_Call(fn, Future()))

    # -- the thread -------------------------------------------------------------------
    def _run(self) -> None:
        try:
            self.index = self._open_index()
            if self._warm is not None:
                self._warm(self.index)
        except BaseException as exc:  # reported by start()
            self._startup_error = exc
            self._ready.set()
            return
        self._ready.set()
        try:
            while True:
                item = self._queue.get()
                if item is _STOP:
                    return
                if isinstance(item, _Call):
                    self._run_call(item)
                    continue
                if not self.batching:
                    self._answer([item])
                elif self._gather([item]):
                    return
        finally:
            try:
                self.index.close()
            except Exception:  # closing at shutdown: nothing left to tell
                pass

    def _gather(self, batch: list) -> bool:
        """Answer ``batch`` with the searches arriving within the window; True if told to stop.

        Calls arriving meanwhile run after the batch.
        """
        deadline = time.perf_counter() + self.window_s
        queries = len(batch[0].queries)
        calls = []
        stop = False
        while queries < self.max_batch:
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                break
            try:
                item = self._queue.get(timeout=remaining)
            except queue.Empty:
                break
            if item is _STOP:
                stop = True
                break
            if isinstance(item, _Call):
                calls.append(item)
            else:
                batch.append(item)
                queries += len(item.queries)
        self._answer(batch)
        for call in calls:
            self._run_call(call)
        return stop

    def _run_call(self, item: _Call) -> None:
        if not item.future.set_running_or_notify_cancel():
            return  # its request gave up (deadline) while it waited
        try:
            item.future.set_result(item.fn(self.index))
        except BaseException as exc:
            item.future.set_exception(exc)

    def _answer(self, batch: list[_Search]) -> None:
        groups: dict[SearchOptions, list[_Search]] = {}
        for item in batch:
            if item.future.set_running_or_notify_cancel():
                groups.setdefault(item.options, []).append(item)
        for options, items in groups.items():
            texts = [q for item in items for q in item.queries]
            results: list = []
            try:
                # Passes of at most ``pass_size`` queries: the ONNX Runtime query path takes up
                # to 8 texts, and one pass of 16 through PyTorch is slower than two of 8.
                for start in range(0, len(texts), self.pass_size):
                    results += self.index.search_many(
                        texts[start : start + self.pass_size], options.k, mode=options.mode,
                        where=list(options.where) or None, cluster=options.cluster, metric=options.metric,
                        min_score=options.min_score, explain=options.explain,
                    )
                    self.batches += 1
            except BaseException as exc:
                for item in items:
                    item.future.set_exception(exc)
                continue
            self.searches += len(texts)
            offset = 0
            for item in items:
                item.future.set_result(results[offset : offset + len(item.queries)])
                offset += len(item.queries)
