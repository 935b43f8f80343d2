"""Migrating: index format 1 -> 2, in place, in one transaction, nothing lost.

Format 2 (issue 14) moves each chunk's vector into ``chunk_vectors`` (its own table, so
vectors pack 5 to an 8 KiB page instead of sharing 4 KiB pages with text) and stores a
chunk's text only where it differs from the slice ``start:end`` of its document's text
(never, for chunks our chunker made), instead of a second copy.

Chunk ids, and so the vector index files, are unchanged; the AUTOINCREMENT counter is
carried over, so ids of deleted chunks are never reused.  The space freed is reused by
later writes; ``VACUUM`` (``semsearch migrate --vacuum`` / ``Index.vacuum()`` / :func:`vacuum`) gives it back to
the file system at once (and applies the larger page size), at the cost of rewriting
the database.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from typing import TYPE_CHECKING

from .errors import SemsearchError

if TYPE_CHECKING:
    from .storing import Store

log = logging.getLogger("semsearch")


def migrate_1_to_2(store: Store) -> None:
    """Rewrite a format 1 database as format 2 (a no-op if another process did it first)."""
    started = time.perf_counter()
    conn = store.conn
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        raise SemsearchError(
            f"{store.path} has index format 1 and must be migrated to format 2, which needs write "
            f"access ({exc}): open it once with a semsearch that can write it"
        ) from None
    try:
        if store.settings().get("format_version") != 1:
            conn.execute("COMMIT")
            return
        sequence = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'chunks'").fetchone()
        chunks = conn.execute("SELECT count(*) FROM chunks").fetchone()[0]
        conn.execute("CREATE TABLE chunk_vectors (id INTEGER PRIMARY KEY, vector BLOB NOT NULL)")
        conn.execute("INSERT INTO chunk_vectors (id, vector) SELECT id, vector FROM chunks ORDER BY id")
        conn.execute(
            'CREATE TABLE chunks_v2 (id INTEGER PRIMARY KEY AUTOINCREMENT, document INTEGER NOT NULL '
            'REFERENCES documents(pk), position INTEGER NOT NULL, start INTEGER NOT NULL, "end" INTEGER NOT NULL, '
            "text TEXT)"
        )
        conn.execute(
            'INSERT INTO chunks_v2 (id, document, position, start, "end", text) '
            'SELECT c.id, c.document, c.position, c.start, c."end", '
            'CASE WHEN c.text IS substr(d.text, c.start + 1, c."end" - c.start) THEN NULL ELSE c.text END '
            "FROM chunks c LEFT JOIN documents d ON d.pk = c.document ORDER BY c.id"
        )
        kept = conn.execute("SELECT count(*) FROM chunks_v2 WHERE text IS NOT NULL").fetchone()[0]
        moved = conn.execute("SELECT count(*) FROM chunk_vectors").fetchone()[0]
        copied = conn.execute("SELECT count(*) FROM chunks_v2").fetchone()[0]
        if moved != chunks or copied != chunks:
            raise SemsearchError(f"migration of {store.path} copied {copied} chunks and {moved} vectors of {chunks}")
        conn.execute("DROP TABLE chunks")
        conn.execute("ALTER TABLE chunks_v2 RENAME TO chunks")
        conn.execute("CREATE INDEX chunks_document ON chunks(document)")
        if sequence is not None:
            conn.execute("UPDATE sqlite_sequence SET seq = max(seq, ?) WHERE name = 'chunks'", (sequence[0],))
        store._put("format_version", 2)
        store._put("migrated", {"from": 1, "to": 2, "chunks": chunks, "texts_kept": kept})
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    log.warning("migrated %s to index format 2 (%d chunks; %d chunk texts differ from their slice and were kept) "
                "in %.1fs", store.path, chunks, kept, time.perf_counter() - started)


def vacuum(store: Store, page_size: int | None = None) -> None:
    """Give freed pages back to the file system (and apply ``page_size``): rewrites the database."""
    conn = store.conn
    mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
    # (Every row read: a pragma's unread result keeps its statement open and locks the table.)
    if page_size:
        conn.execute("PRAGMA journal_mode = DELETE").fetchall()  # the page size cannot change in WAL mode
        conn.execute(f"PRAGMA page_size = {int(page_size)}").fetchall()
    conn.execute("VACUUM")
    if page_size and mode == "wal":
        conn.execute("PRAGMA journal_mode = WAL").fetchall()
