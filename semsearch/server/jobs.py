"""The writing side of the server: one thread, its own :class:`Index`, jobs run one at a time.

Writes (upserts, deletes, clustering runs) are queued as jobs and run by a single
writer thread that holds its own ``Index`` (its own SQLite connection).  Every write
goes through the index's writer lock (``Index._writing``), so the server and a
``semsearch index`` in a terminal never write at once: whichever comes second gets
:class:`~semsearch.errors.IndexLocked` (423), recorded in the job.  Searches keep
answering from the last committed generation while a job runs.
"""

from __future__ import annotations

import itertools
import logging
import queue
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ..errors import SemsearchError
from .batching import Overloaded

log = logging.getLogger("semsearch.server")

# Finished jobs kept for GET /jobs/{id}; the oldest are forgotten first.
KEEP_FINISHED = 200


@dataclass
class Job:
    """A write in the queue, running, or finished (``done`` / ``failed``)."""

    id: str
    kind: str
    description: str
    state: str = "queued"
    created: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    done: int = 0
    total: int | None = None
    result: Any = None
    error: dict | None = None

    def to_dict(self) -> dict:
        return {
            "id": self.id, "kind": self.kind, "description": self.description, "state": self.state,
            "created": self.created, "started": self.started, "finished": self.finished,
            "progress": {"done": self.done, "total": self.total}, "result": self.result, "error": self.error,
        }


class Progress:
    """Handed to a job's function: ``progress.count(items)`` counts items as they are consumed."""

    def __init__(self, job: Job) -> None:
        self._job = job

    def count(self, items: Iterable) -> Iterator:
        for item in items:
            yield item
            self._job.done += 1


class JobRunner:
    """One writer thread; ``submit`` queues a job (bounded queue: 503 when full)."""

    def __init__(self, open_index: Callable[[], Any], *, max_queue: int = 16) -> None:
        self._open_index = open_index
        self._queue: queue.Queue = queue.Queue(maxsize=max_queue)
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._thread = threading.Thread(target=self._run, name="semsearch-write", daemon=True)
        self._idle = threading.Event()
        self._idle.set()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(timeout=60)

    def submit(self, kind: str, description: str, fn: Callable[[Any, Progress], Any], total: int | None = None) -> Job:
        job = Job(id=f"{int(time.time()):x}-{next(self._ids)}", kind=kind, description=description, total=total)
        with self._lock:
            try:
                self._queue.put_nowait((job, fn))
            except queue.Full:
                raise Overloaded("the writer is busy: too many write jobs waiting; retry later") from None
            self._idle.clear()
            self._jobs[job.id] = job
            finished = [j for j in self._jobs.values() if j.finished is not None]
            for old in finished[: max(0, len(finished) - KEEP_FINISHED)]:
                del self._jobs[old.id]
        return job

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def list(self) -> list[Job]:
        with self._lock:
            return list(self._jobs.values())

    def wait_idle(self, timeout: float | None = None) -> bool:
        """True once every submitted job has finished (tests, shutdown)."""
        return self._idle.wait(timeout)

    def wait(self, job: Job, timeout: float) -> Job:
        deadline = time.monotonic() + timeout
        while job.finished is None and time.monotonic() < deadline:
            time.sleep(0.005)
        return job

    def _run(self) -> None:
        index = None
        try:
            while True:
                item = self._queue.get()
                if item is None:
                    return
                job, fn = item
                job.state, job.started = "running", time.time()
                try:
                    if index is None:
                        index = self._open_index()
                    job.result = fn(index, Progress(job))
                    job.state = "done"
                except SemsearchError as exc:
                    job.state, job.error = "failed", {"error": str(exc), "status": exc.http_status}
                except Exception as exc:  # a bug: keep the writer alive, log the traceback here only
                    log.exception("write job %s failed", job.id)
                    job.state, job.error = "failed", {"error": f"internal error: {type(exc).__name__}", "status": 500}
                job.finished = time.time()
                if job.total is None:
                    job.total = job.done
                with self._lock:
                    if self._queue.empty():
                        self._idle.set()
        finally:
            if index is not None:
                index.close()
