"""Locking: one writer per index, with a message naming the process that holds it."""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import IndexLocked
from .integrity import pid_alive, translated


class WriterLock:
    """An exclusive, non-blocking lock on ``<index>/write.lock``.

    The lock is an ``flock`` on the file, so the kernel drops it when its process
    dies: a lock file left behind by a killed process is stale and is simply taken
    over.  The holder's PID is written into the file for the error message.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None
        self.stale_pid: int | None = None

    def acquire(self) -> WriterLock:
        with translated(self.path):  # a read-only index or a full disk: say which
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_pid(fd)
            os.close(fd)
            who = f"process {holder}" if holder else "another process"
            raise IndexLocked(
                f"index is locked by {who} (another `index` or `remove` is writing to it); "
                f"wait for it to finish and try again"
            ) from None
        previous = _read_pid(fd)
        if previous and previous != os.getpid() and not pid_alive(previous):
            self.stale_pid = previous
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, str(os.getpid()).encode(), 0)
        except OSError:  # a full disk: the PID only names the holder in messages, the flock is the lock
            pass
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            os.ftruncate(self._fd, 0)
        except OSError:
            pass
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def __enter__(self) -> WriterLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def is_locked(path: Path) -> bool:
    """Whether some live process holds the writer lock."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # no lock file (or none we may read): nobody holds it
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def holder(path: Path) -> int | None:
    """The PID written in the lock file (the holder while it is locked)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        return _read_pid(fd)
    finally:
        os.close(fd)


def _read_pid(fd: int) -> int | None:
    try:
        return int(os.pread(fd, 32, 0).decode().strip() or 0) or None
    except (ValueError, OSError):
        return None



class ReadWriteLock:
    """Many readers or one writer, between the threads of one process.

    Searches hold it shared while they read SQLite and the vectors; a write holds it
    exclusively only while it commits and updates the in-memory vectors, so a search
    sees the database and the vectors at the same generation.  Writers are preferred:
    a waiting writer stops new readers from entering, so a stream of searches cannot
    starve it.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._readers = 0
        self._writer: int | None = None
        self._writer_depth = 0
        self._waiting_writers = 0

    @contextmanager
    def read(self) -> Iterator[None]:
        me = threading.get_ident()
        with self._cond:
            if self._writer != me:  # a writer may read what it writes
                while self._writer is not None or self._waiting_writers:
                    self._cond.wait()
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                self._cond.notify_all()

    @contextmanager
    def write(self) -> Iterator[None]:
        me = threading.get_ident()
        with self._cond:
            if self._writer == me:
                self._writer_depth += 1
            else:
                self._waiting_writers += 1
                while self._writer is not None or self._readers:
                    self._cond.wait()
                self._waiting_writers -= 1
                self._writer, self._writer_depth = me, 1
        try:
            yield
        finally:
            with self._cond:
                self._writer_depth -= 1
                if not self._writer_depth:
                    self._writer = None
                self._cond.notify_all()
