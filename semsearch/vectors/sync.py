"""Keeping the vector file in step with SQLite, the source of truth.

The protocol:

- every write transaction bumps the database's ``generation``;
- the vector file is saved atomically after a write and records, in the settings
  table, the generation it was saved at (``faiss_generation``);
- on use, a file that is missing, unreadable, of another type, behind the database,
  or holding another number of vectors is rebuilt from the stored vectors (with a
  warning), and the repair is saved unless another process is writing;
- within one process, a :class:`~semsearch.locking.ReadWriteLock` makes searches see
  the database and the in-memory vectors at the same generation: a write commits and
  updates the vectors while holding it exclusively.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import SemsearchError
from ..locking import ReadWriteLock, WriterLock, is_locked
from ..settings import IndexSettings
from ..storing import Store
from . import backend_class
from .base import VectorBackend

log = logging.getLogger("semsearch")

FAISS_FILE = "vectors.faiss"


class VectorSync:
    """The vectors of one index, for every thread of one :class:`~semsearch.Index`."""

    def __init__(self, directory: Path, settings: IndexSettings, store: Store, lock: WriterLock) -> None:
        self.path = directory / FAISS_FILE
        self.dimension = settings.dimension
        self.backend_class = backend_class(settings.index_type)
        self.store = store  # the writing connection: saves record their generation through it
        self.lock = lock
        self.rw = ReadWriteLock()
        self.backend: VectorBackend | None = None
        self.generation = -1

    def current(self, store: Store) -> VectorBackend:
        """The vectors at the generation ``store`` sees now: kept, reloaded, or rebuilt.

        Call it outside a read snapshot of ``store``, with :attr:`rw` held for writing
        (or from the only thread).
        """
        generation = store.generation()
        if self.backend is not None and self.generation == generation:
            return self.backend
        problem = None
        chunks = store.counts()["chunks"]
        saved = json.loads(
            store.conn.execute("SELECT value FROM settings WHERE key = 'faiss_generation'").fetchone()[0]
        )
        if not self.path.exists():
            problem = "the FAISS file is missing" if chunks else None
        elif saved != generation:
            problem = "the FAISS file is behind the database"
        else:
            try:
                loaded = self.backend_class.load(self.path, self.dimension)
            except ValueError as exc:
                problem = f"the FAISS file is corrupt ({exc})"
            else:
                if loaded.size == chunks:
                    self.backend, self.generation = loaded, generation
                    return loaded
                problem = f"the FAISS file holds {loaded.size} vectors, the database {chunks}"
        self.backend, self.generation = self._rebuild(store, problem)
        return self.backend

    def _rebuild(self, store: Store, problem: str | None) -> tuple[VectorBackend, int]:
        started = time.perf_counter()
        with store.snapshot():  # one consistent state while a writer may be committing
            generation = store.generation()
            backend = self.backend_class.build(self.dimension, store.iter_vectors(self.dimension))
        if problem:
            log.warning(
                "%s: rebuilt it from %d stored vectors in %.1fs", problem, backend.size, time.perf_counter() - started
            )
        # Persist the repair unless another process is writing (it will save its own).
        if self.lock.held:
            self.save(backend, generation)
        elif not is_locked(self.lock.path):
            try:
                with self.lock:
                    if self.store.generation() == generation:
                        self.save(backend, generation)
            except (SemsearchError, OSError):
                pass  # read-only or taken meanwhile: the repair stays in memory
        return backend, generation

    def save(self, backend: VectorBackend, generation: int) -> None:
        backend.save(self.path)
        with self.store.transaction(bump=False):
            self.store.set_setting("faiss_generation", generation)

    @contextmanager
    def writing(self) -> Iterator[VectorBackend]:
        """Hold the writer lock; save the vector file once at the end, whatever happens."""
        if self.lock.held:
            raise SemsearchError("this index is already being written by this process")
        with self.lock:
            if self.lock.stale_pid:
                log.warning("took over a stale lock left by process %d", self.lock.stale_pid)
            with self.rw.write():
                backend = self.current(self.store)
            start_generation = self.generation
            try:
                yield backend
            finally:
                if self.generation != start_generation:
                    self.save(backend, self.generation)

    def committed(self, generation: int) -> None:
        """Record that the in-memory vectors now match ``generation`` (call with :attr:`rw` held)."""
        self.generation = generation
