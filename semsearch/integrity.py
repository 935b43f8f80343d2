"""Integrity: what is wrong with an index's files, said plainly, and the checks that find out.

* :func:`translate` turns the low-level failures of a write or a read (``sqlite3``
  errors, ``OSError``, FAISS's ``RuntimeError``) into the user-facing kinds of
  :mod:`semsearch.errors`: a full disk into :class:`DiskFull` (whose message starts
  with "disk full" and keeps the original cause), a read-only file or file system into
  :class:`ReadOnlyIndex`, a damaged database into :class:`IndexCorrupt` with what to do.
* :func:`quick_check` runs SQLite's ``PRAGMA quick_check`` (every page and b-tree is
  read; indexes are not compared with their tables, which is what makes it quick).
* :func:`file_checksum` is the SHA-256 stored with the FAISS file's generation, so
  damaged vector bytes are noticed on load instead of ranking garbage.
* :func:`remove_stale_temporaries` deletes the ``.NAME.PID.tmp`` files (and their
  SQLite journals) that a killed or failed save left behind.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import re
import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import DiskFull, IndexCorrupt, ReadOnlyIndex, SemsearchError

log = logging.getLogger("semsearch")

# SQLite's primary result codes (the low byte of an extended code).
SQLITE_READONLY = 8
SQLITE_IOERR = 10
SQLITE_CORRUPT = 11
SQLITE_FULL = 13
SQLITE_NOTADB = 26

_FULL_ERRNOS = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC), errno.EFBIG}
_READ_ONLY_ERRNOS = {errno.EROFS, errno.EACCES, errno.EPERM}
# Temporary files of an atomic save: ".vectors.faiss.1234.tmp", ".index.db.1234.tmp-journal".
_TEMPORARY = re.compile(r"^\..+\.(\d+)\.tmp(-journal|-wal|-shm)?$")


def corrupt_message(path: Path | str, detail: str) -> str:
    return (
        f"the index database {path} is corrupt ({detail}); nothing was written to it. "
        f"It cannot be repaired in place: move the index directory away and re-index your files "
        f"into a new one (`semsearch index -i NEW_DIR FILES...`)"
    )


def _disk_is_full(path: Path | str) -> bool:
    try:
        return shutil.disk_usage(Path(path).parent).free < 64 * 1024
    except OSError:
        return False


def translate(exc: BaseException, path: Path | str) -> SemsearchError | None:
    """The user-facing error for a low-level one while using the index file ``path``; None if none fits."""
    if isinstance(exc, SemsearchError):
        return exc
    message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if isinstance(exc, sqlite3.Error):
        code = getattr(exc, "sqlite_errorcode", None)
        primary = None if code is None else code & 0xFF
        if primary == SQLITE_FULL or "disk is full" in message or (
            primary == SQLITE_IOERR and _disk_is_full(path)
        ):
            return DiskFull(f"disk full: could not write {path} ({message}); everything committed "
                            f"before is kept: free some space and re-run")
        if primary == SQLITE_READONLY or "readonly database" in message:
            return ReadOnlyIndex(f"the index at {Path(path).parent} is read-only ({message}): it can be "
                                 f"searched, not changed")
        if primary in (SQLITE_CORRUPT, SQLITE_NOTADB) or "malformed" in message or "not a database" in message:
            return IndexCorrupt(corrupt_message(path, message))
        return None
    if isinstance(exc, OSError):
        if exc.errno in _FULL_ERRNOS:
            return DiskFull(f"disk full: could not write {exc.filename or path} ({exc.strerror}); "
                            f"everything committed before is kept: free some space and re-run")
        if exc.errno in _READ_ONLY_ERRNOS:
            return ReadOnlyIndex(f"the index at {Path(path).parent} cannot be written "
                                 f"({exc.strerror}: {exc.filename or path}): it can be searched, not changed")
        return None
    if isinstance(exc, RuntimeError) and ("No space left" in message or _disk_is_full(path)):
        # FAISS reports a failed write as a RuntimeError without the errno.
        return DiskFull(f"disk full: could not write {path} ({message}); everything committed before "
                        f"is kept: free some space and re-run")
    return None


@contextmanager
def translated(path: Path | str) -> Iterator[None]:
    """Raise the user-facing kind of a low-level error (the original stays as ``__cause__``)."""
    try:
        yield
    except (sqlite3.Error, OSError, RuntimeError) as exc:
        better = translate(exc, path)
        if better is None or better is exc:
            raise
        raise better from exc


def quick_check(conn: sqlite3.Connection, limit: int = 3) -> list[str]:
    """SQLite's ``PRAGMA quick_check``: the first few problems found, or [] when the file is sound."""
    try:
        rows = [r[0] for r in conn.execute(f"PRAGMA quick_check({int(limit)})")]
    except sqlite3.DatabaseError as exc:
        return [str(exc)]
    return [] if rows == ["ok"] else rows


def file_checksum(path: Path) -> str:
    """SHA-256 of a file's bytes (about 1 GB/s with the CPU's SHA instructions)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def fsync_path(path: Path) -> None:
    """Flush a file, or a directory's entries (so a rename in it survives a crash), to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temporaries(directory: Path, *, all_of_them: bool = False) -> list[str]:
    """Delete temporary files of atomic saves whose process is gone (every one if ``all_of_them``:
    the caller holds the writer lock, and only a writer makes them)."""
    removed = []
    try:
        names = os.listdir(directory)
    except OSError:
        return removed
    for name in names:
        match = _TEMPORARY.match(name)
        if not match or (not all_of_them and pid_alive(int(match.group(1)))) or int(match.group(1)) == os.getpid():
            continue
        try:
            os.unlink(directory / name)
        except OSError:
            continue
        removed.append(name)
    if removed:
        log.info("removed %d temporary file(s) left by an interrupted save: %s", len(removed), ", ".join(removed))
    return removed


def write_problem(path: Path) -> str | None:
    """Why ``path`` (a file, or the directory it would be made in) cannot be written; None if it can."""
    directory = path.parent
    for target in (directory, path):
        if target.exists() and not os.access(target, os.W_OK):
            try:
                read_only_fs = bool(os.statvfs(target).f_flag & os.ST_RDONLY)
            except OSError:
                read_only_fs = False
            return "a read-only file system" if read_only_fs else f"no write permission on {target}"
    return None
