"""Storing: the SQLite record of an index (documents, chunks, vectors, settings).

SQLite is the source of truth.  Every chunk keeps its vector as a float32 blob (in
``chunk_vectors``, its own table: 5 vectors per 8 KiB page instead of one chunk row
per 4 KiB page), so the vector index can always be rebuilt from here without
re-embedding.  A chunk's text is not stored twice: it is the slice ``start:end`` of
its document's text (``chunks.text`` is NULL), unless it differs from that slice.  Each
write transaction bumps a ``generation`` counter; the FAISS file records the
generation it was built from, which is how a stale file is recognised.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import sqlite3
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import quote

import numpy as np

from .docvectors import DEFAULT_DOCUMENT_VECTOR, combine, document_vector
from .errors import IndexCorrupt, ReadOnlyIndex, SemsearchError
from .integrity import corrupt_message, fsync_path, quick_check, translate, translated, write_problem
from .text import Analyzer, get_analyzer, is_current, stored_analyzer
from .text.languages import detect as detect_language

log = logging.getLogger("semsearch")

# Format 2 (issue 14): vectors in their own table, chunk text as offsets, 8 KiB pages.
# Format 1 indexes are migrated on open (semsearch.migrating); nothing is lost.
FORMAT_VERSION = 2
PAGE_SIZE = 8192

SCHEMA = """
CREATE TABLE IF NOT EXISTS settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS documents (
    pk INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    title TEXT,
    source TEXT,
    text TEXT NOT NULL,
    metadata TEXT NOT NULL DEFAULT '{}',
    content_hash TEXT NOT NULL,
    chunk_count INTEGER NOT NULL,
    added TEXT NOT NULL,
    updated TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS documents_source ON documents(source);
CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    document INTEGER NOT NULL REFERENCES documents(pk),
    position INTEGER NOT NULL,
    start INTEGER NOT NULL,
    "end" INTEGER NOT NULL,
    text TEXT
);
CREATE INDEX IF NOT EXISTS chunks_document ON chunks(document);
CREATE TABLE IF NOT EXISTS chunk_vectors (
    id INTEGER PRIMARY KEY,
    vector BLOB NOT NULL
);
"""

# Full text: the analyzer's output for every title and text (semsearch.text), written by
# insert_document / delete_documents, never by triggers (SQLite's Python module cannot
# register a tokenizer, so CJK segmentation happens before FTS5 sees the text).  Contentless:
# the original is in `documents`, snippets are cut from it; a row is deleted by giving FTS5
# the same analyzed values again, which a recorded, versioned analyzer reproduces.  Indexes
# made before analyzers existed have `documents_fts` fed by triggers from the raw text
# (= analyzer english v1); open() replaces it with this table, re-analyzing every document.
FTS_TABLE = "analyzed_fts"
FTS_SCHEMA = f"""
CREATE VIRTUAL TABLE IF NOT EXISTS {FTS_TABLE} USING fts5(
    title, text, content='', tokenize='porter unicode61'
);
"""
LEGACY_FTS_TABLE = "documents_fts"
# Per document: its language (semsearch.text.languages, from scripts) and how many of its
# tokens the model cannot read (semsearch.text.coverage).  Added after format 1 shipped:
# created on open; languages are filled in from the stored texts when re-analyzing, token
# counts stay NULL for documents indexed before (they need the model's tokenizer).
TEXT_STATS_SCHEMA = """
CREATE TABLE IF NOT EXISTS text_stats (
    document INTEGER PRIMARY KEY,
    lang TEXT NOT NULL,
    tokens INTEGER,
    unknown INTEGER
);
CREATE INDEX IF NOT EXISTS text_stats_lang ON text_stats(lang);
"""
LEGACY_FTS_SQL = """
DROP TRIGGER IF EXISTS documents_fts_insert;
DROP TRIGGER IF EXISTS documents_fts_delete;
DROP TABLE IF EXISTS documents_fts;
"""

# Clustering runs (added after format 1 shipped: created on open when missing, so
# older indexes gain them without a format change).  Documents are recorded by id
# and content hash, not row pk, because an updated document gets a new pk.
CLUSTER_SCHEMA = """
CREATE TABLE IF NOT EXISTS clusterings (
    name TEXT PRIMARY KEY,
    method TEXT NOT NULL,
    params TEXT NOT NULL,
    details TEXT NOT NULL DEFAULT '{}',
    created TEXT NOT NULL,
    documents INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS clusters (
    clustering TEXT NOT NULL,
    label INTEGER NOT NULL,
    size INTEGER NOT NULL,
    keywords TEXT NOT NULL,
    representative TEXT NOT NULL,
    PRIMARY KEY (clustering, label)
);
CREATE TABLE IF NOT EXISTS cluster_assignments (
    clustering TEXT NOT NULL,
    document_id TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    label INTEGER NOT NULL,
    PRIMARY KEY (clustering, document_id)
);
CREATE INDEX IF NOT EXISTS cluster_assignments_label ON cluster_assignments(clustering, label);
"""
CLUSTER_TABLES = ("clusterings", "clusters", "cluster_assignments")

# Document frequencies for keyword TF-IDF (added after format 1 shipped: created on open
# when missing).  `term_df` holds, for every candidate phrase of up to three words
# (Analyzer.terms), the number of documents containing it, counted over the documents
# whose pk is at most the settings key `term_df_through`: counted when first needed
# (Store.count_terms, before `keywords --method tfidf`), not by the writer.  Counting them
# took 60% of the writer's time (issue 14), for one keyphrase method; documents get
# increasing pks (AUTOINCREMENT, never reused), so "not counted yet" is a pk range, and
# deleting a counted document takes its terms off in the same transaction.  The key
# `term_df_lazy_generation` records the generation at which table and key agree: every
# write transaction of this version sets it, so a write by another version (which leaves
# it behind) is noticed and the table rebuilt on the next open.  (`term_df_generation`
# is the key of the versions that counted every document as it was written.)  The
# document count N is `SELECT count(*) FROM documents`, in the same database.
TERMS_GENERATION = "term_df_lazy_generation"
TERMS_THROUGH = "term_df_through"
EAGER_TERMS_GENERATION = "term_df_generation"
# Documents counted per transaction by Store.count_terms (each one commits: a kill loses
# at most one part, and a writer waits at most one part for the lock, ~2-3 s).  Larger
# parts upsert fewer rows a document (a term shared by documents of one part is one
# upsert): 2,000 -> 8,000 counted 3,218 -> 3,397 documents/s (SciFact + AG News texts).
TERMS_PART = 8_000
# Worker processes count parts ahead from this many parts: 48,000 documents (6 parts) with
# 2 workers on 2 cores 7,276/s vs 3,558 in one process; with 2 parts they did not pay for
# sending the counts back (3,027-3,614 vs 3,771-3,788, 12,783 SciFact + AG News texts).
TERMS_PARALLEL_PARTS = 4
TERMS_SCHEMA = """
CREATE TABLE IF NOT EXISTS term_df (
    term TEXT PRIMARY KEY,
    df INTEGER NOT NULL
) WITHOUT ROWID;
"""

# BM25 column weights (title, text) for keyword search: FTS5's bm25() adds up each
# column's term frequency times its weight, over one length normalisation of the whole
# row (k1 = 1.2 and b = 0.75 are fixed inside FTS5).  Measured in bench/fusion_sweep.py.
BM25_COLUMN_WEIGHTS = (1.0, 1.0)

# A chunk's text (chunks aliased c, its document d): stored only where it is not the slice.
CHUNK_TEXT_SQL = 'coalesce(c.text, substr(d.text, c.start + 1, c."end" - c.start))'

# The page cache of a connection that writes (KiB; SQLite's default is 2 MiB): a bulk
# transaction's upserts into term_df dirty more pages than that, and SQLite then spills them
# to the WAL before the commit and reads them back.  Readers keep the default.
WRITER_CACHE_KIB = 64 * 1024

# Values per `IN (...)` list, under SQLite's bound-parameter limit (999 in older builds).
IN_LIST_PART = 500

# Databases up to this size get `PRAGMA quick_check` on every open (0.17-0.27 s for 62 MB,
# warm cache, on the shared 2-core machine); larger ones before their first write, so
# nothing is written into a damaged file.
CHECK_ON_OPEN_BYTES = 64 * 1024 * 1024

# Page starts of a document read from a paged format (PDF pages, slides, EPUB chapters):
# a JSON list of character offsets, NULL for other documents.  Added after format 1
# shipped, as a nullable column added on open when missing (the format stays 1; an
# older semsearch ignores it and writes NULL).
PAGES_COLUMN = "pages"

# Columns of `documents` a --where filter may name besides metadata fields.
FILTERABLE_COLUMNS = ("id", "title", "source")
# Fields a --where filter finds in `text_stats` when the document's metadata lacks them.
STATS_FIELDS = ("lang",)


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _coerce(value: str) -> list:
    """A filter value as text and, where it reads as one, as a number too."""
    candidates: list = [value]
    for kind in (int, float):
        try:
            candidates.append(kind(value))
            break
        except ValueError:
            continue
    if value.lower() in ("true", "false"):
        candidates.append(1 if value.lower() == "true" else 0)
    return candidates


@dataclass(frozen=True)
class ClusterFilter:
    """Only the documents a stored clustering put in cluster ``label``."""

    clustering: str
    label: int


Filter = tuple[str, str] | ClusterFilter


def where_clause(filters: Sequence[Filter]) -> tuple[str, list]:
    """SQL (over documents aliased ``d``) matching every filter: ``field=value`` or a cluster."""
    clauses, params = [], []
    for item in filters:
        if isinstance(item, ClusterFilter):
            clauses.append(
                "d.id IN (SELECT document_id FROM cluster_assignments WHERE clustering = ? AND label = ?)"
            )
            params.extend([item.clustering, item.label])
            continue
        field, value = item
        if field in FILTERABLE_COLUMNS:
            clauses.append(f"d.{field} = ?")
            params.append(value)
            continue
        path = '$."' + field.replace('"', '""') + '"'
        if field in STATS_FIELDS:  # the metadata's own field wins, else the detected one
            clauses.append(f"coalesce(json_extract(d.metadata, ?), (SELECT s.{field} FROM text_stats s "
                           "WHERE s.document = d.pk)) = ?")
            params.extend([path, value])
            continue
        candidates = _coerce(value)
        clauses.append("(" + " OR ".join("json_extract(d.metadata, ?) = ?" for _ in candidates) + ")")
        for candidate in candidates:
            params.extend([path, candidate])
    return (" AND ".join(clauses) or "1"), params


@dataclass(frozen=True)
class Analysis:
    """What the full-text table and ``text_stats`` hold of one document, computed once.

    By :func:`analyze`, in the writer or ahead of it (the workers that chunk and embed):
    the single writer then only writes.  ``analyzer`` names the analyzer and version it
    was made with; a store whose analyzer differs analyzes the document again.
    """

    analyzer: tuple[str, int]
    title: str | None  # Analyzer.index_text of the title
    text: str | None  # ... of the text
    lang: str  # text.languages.detect


def analyze(analyzer: Analyzer, title: str | None, text: str) -> Analysis:
    """A document's :class:`Analysis` by ``analyzer`` (a pure function: runs anywhere)."""
    return Analysis((analyzer.name, analyzer.version), analyzer.index_text(title), analyzer.index_text(text),
                    detect_language(text))


def _count_part_terms(conn: sqlite3.Connection, analyzer: Analyzer, low: int, high: int) -> tuple[int, Counter]:
    """``(documents, term counts)`` of the documents with ``low < pk <= high``."""
    counts: Counter[str] = Counter()
    documents = 0
    for (text,) in conn.execute("SELECT text FROM documents WHERE pk > ? AND pk <= ?", (low, high)):
        counts.update(analyzer.terms(text))
        documents += 1
    return documents, counts


def _count_part(path: str, analyzer_name: str, low: int, high: int) -> tuple[int, Counter]:
    """In a worker process of :meth:`Store.count_terms`: one part, read through a connection of its own."""
    conn = _connect_read_only(Path(path))
    try:
        return _count_part_terms(conn, get_analyzer(analyzer_name), low, high)
    finally:
        conn.close()


@dataclass
class NewDocument:
    """One document for :meth:`Store.insert_documents`: its record, chunks and their vectors."""

    id: str
    text: str
    title: str | None
    source: str | None
    metadata: dict
    content_hash: str
    chunks: Sequence
    vectors: np.ndarray  # one row per chunk
    added: str | None = None  # when first added (an update keeps it); None: now
    unknown_tokens: tuple[int, int] | None = None  # (unknown, total) tokens of the text for the model
    pages: Sequence[int] | None = None
    analysis: Analysis | None = field(default=None, repr=False)


class Store:
    """The SQLite database of one index."""

    def __init__(self, path: Path, connection: sqlite3.Connection) -> None:
        self.path = path
        self.conn = connection
        self.read_only: str | None = None  # why it cannot be written, when it cannot
        self._verified: list[str] | None = None  # quick_check's findings, once run
        self.has_pages = False  # whether documents has the pages column (see PAGES_COLUMN)
        self._term_delta: Counter[str] = Counter()  # document-frequency changes of the open transaction
        self._pending_cache: tuple[tuple[int, int], Counter[str]] | None = None  # see _pending_terms
        self._writing = False  # whether this connection has written (and has the writer's page cache)
        # The analyzer whose output the full-text table and term_df hold (set by create/open),
        # and that table's name.
        self.analyzer: Analyzer = get_analyzer()
        self.fts_table = FTS_TABLE

    @classmethod
    def connect(cls, path: Path) -> Store:
        """Open the database file; read-only (no WAL switch, no writes) when it cannot be written."""
        problem = write_problem(path)
        with translated(path):
            if problem is not None:
                store = cls(path, _connect_read_only(path))
                store.read_only = problem
                store.has_pages = store._pages_present()
                return store
            # Autocommit mode: transactions are opened explicitly by `transaction()`.
            new = not path.exists() or path.stat().st_size == 0
            conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False, timeout=30)
            conn.execute("PRAGMA busy_timeout = 30000")
            if new:  # only before the first table: larger pages hold 5 vectors each, not 2
                conn.execute(f"PRAGMA page_size = {PAGE_SIZE}")
            store = cls(path, conn)
            store.has_pages = store._pages_present()  # a reading connection of an opened index
            if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                conn.execute("PRAGMA journal_mode = WAL")  # readers never block the writer
            conn.execute("PRAGMA synchronous = FULL")
        return store

    @classmethod
    def create(cls, path: Path, settings: dict, analyzer: Analyzer | None = None) -> Store:
        """Make a new database, atomically: built under a temporary name, then renamed into place.

        A creation that is killed (or fails on a full disk) leaves no ``index.db``, only a
        temporary file that the next run removes, so the same command simply works again.
        """
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        leftovers = [temporary.with_name(temporary.name + suffix) for suffix in ("", "-journal", "-wal", "-shm")]
        for leftover in leftovers:
            leftover.unlink(missing_ok=True)
        try:
            with translated(path):
                conn = sqlite3.connect(str(temporary), isolation_level=None)
                try:
                    conn.execute("BEGIN IMMEDIATE")
                    analyzer = analyzer or get_analyzer()
                    for statement in _statements(SCHEMA + FTS_SCHEMA + CLUSTER_SCHEMA + TERMS_SCHEMA
                                                 + TEXT_STATS_SCHEMA):
                        conn.execute(statement)
                    conn.execute(f"ALTER TABLE documents ADD COLUMN {PAGES_COLUMN} TEXT")
                    for key, value in {**settings, "format_version": FORMAT_VERSION, "created": now(),
                                       "generation": 0, "faiss_generation": -1, TERMS_GENERATION: 0, TERMS_THROUGH: 0,
                                       "analyzer": analyzer.to_stored()}.items():
                        conn.execute("INSERT INTO settings(key, value) VALUES (?, ?)", (key, json.dumps(value)))
                    conn.execute("COMMIT")
                    conn.execute("PRAGMA journal_mode = WAL")  # stored in the file: set once, before it is visible
                finally:
                    conn.close()
                fsync_path(temporary)
                os.replace(temporary, path)
                fsync_path(path.parent)
        except BaseException:
            for leftover in leftovers:
                leftover.unlink(missing_ok=True)
            raise
        store = cls.connect(path)
        store.analyzer = analyzer
        return store

    @staticmethod
    def is_blank(path: Path) -> bool:
        """Whether ``path`` is a database with no tables at all: what an interrupted creation of an
        older semsearch left (safe to replace: it holds nothing)."""
        try:
            if path.stat().st_size == 0:
                return True
            conn = sqlite3.connect(f"file:{quote(str(path.resolve()))}?mode=ro", uri=True)
            try:
                return conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0
            finally:
                conn.close()
        except (sqlite3.Error, OSError):
            return False

    @classmethod
    def open(cls, path: Path, analyzer: Analyzer | None = None) -> Store:
        store = cls.connect(path)
        try:
            with translated(path):
                tables = set(store.table_names())
                if "settings" not in tables:
                    raise SemsearchError(f"{path} is not a semsearch index database")
                if path.stat().st_size <= CHECK_ON_OPEN_BYTES:  # cheap here; bigger ones are checked before a write
                    store.verify()
                version = store.settings().get("format_version")
                if version == 1:  # format 2 (issue 14) moved vectors and chunk texts: migrate in place
                    if store.read_only:
                        raise SemsearchError(
                            f"{path} has index format 1 and must be migrated to format {FORMAT_VERSION}, which "
                            f"needs write access ({store.read_only}): open it once with write access")
                    from .migrating import migrate_1_to_2

                    migrate_1_to_2(store)
                    version = store.settings().get("format_version")
                if version != FORMAT_VERSION:
                    raise SemsearchError(
                        f"{path} has index format {version}; this semsearch reads format {FORMAT_VERSION}"
                    )
                if store.read_only:  # read with the analyzer it recorded, as it is
                    store._read_as_recorded()
                    return store  # tables added since format 1 cannot be made here; what needs them says so
                if not set(CLUSTER_TABLES) <= tables:
                    with store.transaction(bump=False):
                        for statement in _statements(CLUSTER_SCHEMA):
                            store.conn.execute(statement)
                store._add_pages_column()
                store._use_analyzer(analyzer or get_analyzer())
        except BaseException:
            store.close()
            raise
        return store

    def verify(self) -> None:
        """``PRAGMA quick_check``, once per connection; raises :class:`IndexCorrupt` when it fails."""
        if self._verified is None:
            self._verified = quick_check(self.conn)
        if self._verified:
            raise IndexCorrupt(corrupt_message(self.path, "; ".join(self._verified)))

    def _use_analyzer(self, analyzer: Analyzer) -> None:
        """Make the full-text table and term_df hold ``analyzer``'s output, re-analyzing if they do not.

        They are rebuilt together in one transaction (never half-right) when the index
        recorded another analyzer or version, has the old trigger-fed table, or was
        written by an older semsearch since (term_df behind).  If the index cannot be
        written (read-only), it is read with the analyzer it recorded, as it is.
        """
        recorded = stored_analyzer(self.settings())
        tables = set(self.table_names())
        if self._analyzed(analyzer):
            self.analyzer = analyzer
            if TERMS_GENERATION not in self.settings():  # counted as written, by an earlier version
                self._adopt_eager_terms()
            return
        try:
            self.reanalyze(analyzer, recorded)
        except (sqlite3.OperationalError, ReadOnlyIndex) as exc:  # e.g. a read-only index
            log.warning("could not re-analyze the texts of %s (%s): reading it as it is", self.path, exc)
            self._read_as_recorded(tables)

    def _read_as_recorded(self, tables: set[str] | None = None) -> None:
        """Read with the analyzer the index recorded (one that cannot be re-analyzed: read-only)."""
        tables = set(self.table_names()) if tables is None else tables
        self.analyzer = get_analyzer(stored_analyzer(self.settings())["name"])
        self.fts_table = FTS_TABLE if FTS_TABLE in tables else LEGACY_FTS_TABLE

    def _analyzed(self, analyzer: Analyzer) -> bool:
        """Whether the full-text table, term_df and text_stats hold ``analyzer``'s output, up to date."""
        tables = set(self.table_names())
        return (FTS_TABLE in tables and "text_stats" in tables and self.term_df_current()
                and is_current(stored_analyzer(self.settings()), analyzer))

    def reanalyze(self, analyzer: Analyzer, recorded: dict | None = None) -> int:
        """Rebuild the full-text table and term_df from the stored texts with ``analyzer``; returns documents."""
        started = time.perf_counter()
        recorded = recorded or stored_analyzer(self.settings())
        documents = self.counts()["documents"]
        if documents:
            log.warning(
                "re-analyzing the %d documents of %s for keyword search and keyphrases (analyzer %s v%s -> "
                "%s v%s); this happens once", documents, self.path, recorded.get("name"), recorded.get("version"),
                analyzer.name, analyzer.version,
            )
        with self.transaction(bump=False):
            if self._analyzed(analyzer):  # another process got here first
                self.analyzer, self.fts_table = analyzer, FTS_TABLE
                return 0
            for statement in _statements(LEGACY_FTS_SQL):
                self.conn.execute(statement)
            self.conn.execute(f"DROP TABLE IF EXISTS {FTS_TABLE}")
            for statement in _statements(FTS_SCHEMA + TERMS_SCHEMA + TEXT_STATS_SCHEMA):
                self.conn.execute(statement)
            self.analyzer, self.fts_table = analyzer, FTS_TABLE
            self.conn.execute("DELETE FROM term_df")  # counted again when first needed (count_terms)
            for pk, title, text in self.conn.execute("SELECT pk, title, text FROM documents").fetchall():
                self._index_text(pk, title, text)
                self.conn.execute(
                    "INSERT INTO text_stats(document, lang) VALUES (?, ?) "
                    "ON CONFLICT(document) DO UPDATE SET lang = excluded.lang", (pk, detect_language(text)),
                )
            self._put(TERMS_THROUGH, 0)
            self._put(TERMS_GENERATION, self.generation())
            self._put("analyzer", analyzer.to_stored())
        if documents:
            log.warning("re-analyzed %d documents in %.1fs", documents, time.perf_counter() - started)
        return documents

    def _index_text(self, pk: int, title: str | None, text: str, delete: bool = False) -> None:
        """Add a document's analyzed title and text to the full-text table (or take them out)."""
        values = (pk, self.analyzer.index_text(title), self.analyzer.index_text(text))
        if delete:
            self.conn.execute(
                f"INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, title, text) VALUES ('delete', ?, ?, ?)", values
            )
        else:
            self.conn.execute(f"INSERT INTO {FTS_TABLE}(rowid, title, text) VALUES (?, ?, ?)", values)

    def close(self) -> None:
        self.conn.close()

    def table_names(self) -> list[str]:
        return [r[0] for r in self.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]

    def _pages_present(self) -> bool:
        return any(row[1] == PAGES_COLUMN for row in self.conn.execute("PRAGMA table_info(documents)"))

    def _add_pages_column(self) -> None:
        if not self._pages_present():
            try:
                self.conn.execute(f"ALTER TABLE documents ADD COLUMN {PAGES_COLUMN} TEXT")
            except sqlite3.OperationalError as exc:  # read-only, or another process added it just now
                if not self._pages_present():
                    log.info("documents of %s have no page numbers: %s", self.path, exc)
        self.has_pages = self._pages_present()

    def _pages_sql(self, alias: str = "") -> str:
        return f"{alias}{PAGES_COLUMN}" if self.has_pages else "NULL"

    # -- settings -------------------------------------------------------------
    def settings(self) -> dict:
        return {key: json.loads(value) for key, value in self.conn.execute("SELECT key, value FROM settings")}

    def _put(self, key: str, value) -> None:
        self.conn.execute(
            "INSERT INTO settings(key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, json.dumps(value)),
        )

    def set_setting(self, key: str, value) -> None:
        self._put(key, value)

    def generation(self) -> int:
        row = self.conn.execute("SELECT value FROM settings WHERE key = 'generation'").fetchone()
        return int(json.loads(row[0]))

    @contextmanager
    def transaction(self, bump: bool = True) -> Iterator[None]:
        """One atomic write; ``bump`` marks the FAISS file as behind until it is saved.

        Refused on a read-only index (:class:`ReadOnlyIndex`, with why) and on one that
        fails its check (:class:`IndexCorrupt`).  A full disk raises :class:`DiskFull`:
        SQLite has already rolled the transaction back by then, which used to surface
        as "cannot rollback - no transaction is active" instead of the cause.
        """
        if self.read_only:
            raise ReadOnlyIndex(f"the index at {self.path.parent} is read-only ({self.read_only}): "
                                f"it can be searched, not changed")
        with translated(self.path):
            self.verify()
            if not self._writing:  # a writing connection: room for a transaction's dirty pages
                self.conn.execute(f"PRAGMA cache_size = -{WRITER_CACHE_KIB}")
                self._writing = True
            self.conn.execute("BEGIN IMMEDIATE")
        self._term_delta = Counter()
        try:
            yield
            self._flush_terms()
            if bump:
                self.conn.execute(
                    "UPDATE settings SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation'"
                )
                # Every write of this version keeps term_df and term_df_through in step (delete_documents).
                self.conn.execute(
                    "INSERT OR REPLACE INTO settings(key, value) "
                    f"SELECT '{TERMS_GENERATION}', value FROM settings WHERE key = 'generation'"
                )
                self._put("updated", now())
            self.conn.execute("COMMIT")
        except BaseException as exc:
            if self.conn.in_transaction:
                try:
                    self.conn.execute("ROLLBACK")
                except sqlite3.Error as rollback:
                    log.warning("rollback failed: %s", rollback)
            better = translate(exc, self.path) if isinstance(exc, Exception) else None
            if better is not None and better is not exc:
                raise better from exc
            raise

    # -- documents ------------------------------------------------------------
    def find(self, doc_id: str) -> tuple[int, str] | None:
        """``(pk, content_hash)`` of a stored document, or None."""
        return self.conn.execute(
            "SELECT pk, content_hash FROM documents WHERE id = ?", (doc_id,)
        ).fetchone()

    def delete_documents(self, pks: Iterable[int]) -> list[int]:
        """Delete documents and their chunks (and their terms' counts); returns the deleted chunk ids."""
        chunk_ids: list[int] = []
        through = self._terms_state()[1]  # documents after it were never counted: nothing to take off
        for pk in pks:
            row = self.conn.execute("SELECT title, text FROM documents WHERE pk = ?", (pk,)).fetchone()
            if row is None:
                continue
            chunk_ids.extend(r[0] for r in self.conn.execute("SELECT id FROM chunks WHERE document = ?", (pk,)))
            self.conn.execute("DELETE FROM chunk_vectors WHERE id IN (SELECT id FROM chunks WHERE document = ?)", (pk,))
            self.conn.execute("DELETE FROM chunks WHERE document = ?", (pk,))
            self.conn.execute("DELETE FROM documents WHERE pk = ?", (pk,))
            self._index_text(pk, row[0], row[1], delete=True)
            self.conn.execute("DELETE FROM text_stats WHERE document = ?", (pk,))
            if through is not None and pk <= through:  # counted in term_df: take it off
                self._uncount_terms(row[1])
        return chunk_ids

    def insert_document(
        self,
        doc_id: str,
        *,
        text: str,
        title: str | None,
        source: str | None,
        metadata: dict,
        content_hash: str,
        chunks: Sequence,
        vectors: np.ndarray,
        added: str | None = None,
        unknown_tokens: tuple[int, int] | None = None,
        pages: Sequence[int] | None = None,
        analysis: Analysis | None = None,
    ) -> list[int]:
        """Insert one document with its chunks and their vectors; returns the chunk ids.

        One-document form of :meth:`insert_documents` (see there).
        """
        return self.insert_documents([NewDocument(
            doc_id, text, title, source, metadata, content_hash, chunks, vectors, added, unknown_tokens, pages,
            analysis)])[0]

    def analyze(self, title: str | None, text: str) -> Analysis:
        """A document's :class:`Analysis` by this store's analyzer."""
        return analyze(self.analyzer, title, text)

    def _analysis(self, doc: NewDocument) -> Analysis:
        """The document's analysis if made by this store's analyzer, else made now."""
        found = doc.analysis
        if found is not None and found.analyzer == (self.analyzer.name, self.analyzer.version):
            return found
        return self.analyze(doc.title, doc.text)

    def _next_id(self, table: str, column: str) -> int:
        """The id AUTOINCREMENT would give the next row of ``table`` (inside a write transaction)."""
        return self.conn.execute(
            f"SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = ?), 0), "
            f"coalesce((SELECT max({column}) FROM {table}), 0)) + 1", (table,),
        ).fetchone()[0]

    def insert_documents(self, documents: Sequence[NewDocument]) -> list[list[int]]:
        """Insert documents with their chunks and vectors (call inside a transaction); returns
        each one's chunk ids.

        Written table by table, one ``executemany`` each, with the ids AUTOINCREMENT would
        have given one insert at a time (the next after ``sqlite_sequence``): the same rows as
        one ``insert_document`` after another, about 3x faster (``bench/writer.py``).  A
        document's :class:`Analysis` made ahead (by the workers) is used when it is this
        store's analyzer's.  Keyword terms are not counted here (:meth:`count_terms` does,
        when first needed).  Ids must be new (not stored, not repeated): an update deletes
        the old document first.
        """
        if not documents:
            return []
        stamp = now()
        pk = self._next_id("documents", "pk")
        chunk_id = self._next_id("chunks", "id")
        pages_sql = f", {PAGES_COLUMN}" if self.has_pages else ""
        records, full_text, stats, chunk_rows, vector_rows, ids = [], [], [], [], [], []
        for doc in documents:
            analysis = self._analysis(doc)
            record = [pk, doc.id, doc.title, doc.source, doc.text, json.dumps(doc.metadata, ensure_ascii=False),
                      doc.content_hash, len(doc.chunks), doc.added or stamp, stamp]
            if self.has_pages:
                record.append(json.dumps([int(p) for p in doc.pages]) if doc.pages else None)
            records.append(record)
            full_text.append((pk, analysis.title, analysis.text))
            unknown, tokens = doc.unknown_tokens or (None, None)
            stats.append((pk, analysis.lang, tokens, unknown))
            text, mine = doc.text, []
            for chunk in doc.chunks:
                # The text only where it is not the slice of the document (never, from our chunker).
                own = None if text[chunk.start : chunk.end] == chunk.text else chunk.text
                chunk_rows.append((chunk_id, pk, chunk.position, chunk.start, chunk.end, own))
                mine.append(chunk_id)
                chunk_id += 1
            vectors = np.ascontiguousarray(doc.vectors, dtype=np.float32)
            if len(vectors) != len(mine):
                raise ValueError(f"{len(vectors)} vectors for the {len(mine)} chunks of {doc.id!r}")
            vector_rows.extend(zip(mine, (v.tobytes() for v in vectors)))
            ids.append(mine)
            pk += 1
        marks = ", ".join("?" * len(records[0]))
        self.conn.executemany(
            "INSERT INTO documents (pk, id, title, source, text, metadata, content_hash, chunk_count, added, "
            f"updated{pages_sql}) VALUES ({marks})", records,
        )
        self.conn.executemany(f"INSERT INTO {FTS_TABLE}(rowid, title, text) VALUES (?, ?, ?)", full_text)
        self.conn.executemany("INSERT INTO text_stats(document, lang, tokens, unknown) VALUES (?, ?, ?, ?)", stats)
        self.conn.executemany(
            'INSERT INTO chunks (id, document, position, start, "end", text) VALUES (?, ?, ?, ?, ?, ?)', chunk_rows
        )
        self.conn.executemany("INSERT INTO chunk_vectors (id, vector) VALUES (?, ?)", vector_rows)
        return ids

    def _select_in(self, sql: str, values: Sequence) -> Iterator[tuple]:
        """The rows of ``sql``, whose ``{marks}`` is an ``IN (...)`` list of ``values``, queried in
        parts of :data:`IN_LIST_PART` values."""
        for start in range(0, len(values), IN_LIST_PART):
            part = values[start : start + IN_LIST_PART]
            yield from self.conn.execute(sql.format(marks=",".join("?" * len(part))), part)

    def stored_documents(self, doc_ids: Sequence[str]) -> dict[str, tuple[int, str]]:
        """Document id -> ``(pk, added)`` for those of ``doc_ids`` that are stored."""
        rows = self._select_in("SELECT id, pk, added FROM documents WHERE id IN ({marks})",
                               list(dict.fromkeys(doc_ids)))
        return {doc_id: (pk, added) for doc_id, pk, added in rows}

    def document(self, doc_id: str) -> dict | None:
        row = self.conn.execute(
            "SELECT pk, id, title, source, text, metadata, chunk_count, added, updated, "
            f"{self._pages_sql()} FROM documents WHERE id = ?",
            (doc_id,),
        ).fetchone()
        if row is None:
            return None
        keys = ("pk", "id", "title", "source", "text", "metadata", "chunks", "added", "updated", "pages")
        record = dict(zip(keys, row))
        record["metadata"] = json.loads(record["metadata"])
        record["pages"] = json.loads(record["pages"]) if record["pages"] else None
        return record

    def sources(self) -> list[tuple[int, str, str]]:
        """``(pk, id, source)`` of every document read from a file."""
        return self.conn.execute(
            "SELECT pk, id, source FROM documents WHERE source IS NOT NULL AND source != '-'"
        ).fetchall()

    # -- chunks and vectors ---------------------------------------------------
    def iter_vectors(self, dimension: int, batch: int = 20_000) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """All chunk ``(ids, vectors)`` in id order, a batch at a time."""
        last = -1
        while True:
            rows = self.conn.execute(
                "SELECT id, vector FROM chunk_vectors WHERE id > ? ORDER BY id LIMIT ?", (last, batch)
            ).fetchall()
            if not rows:
                return
            ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
            vectors = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(len(rows), dimension)
            yield ids, vectors
            last = int(ids[-1])

    def document_vector(self, pk: int, dimension: int, how: str = DEFAULT_DOCUMENT_VECTOR) -> np.ndarray:
        """A document's vector from its chunk vectors (``how``: see :mod:`semsearch.docvectors`)."""
        blobs = [r[0] for r in self.conn.execute(
            "SELECT v.vector FROM chunks c JOIN chunk_vectors v ON v.id = c.id WHERE c.document = ? "
            "ORDER BY c.position", (pk,))]
        return document_vector(np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(len(blobs), dimension), how)

    def chunk_document_map(self) -> tuple[np.ndarray, list[str]]:
        """Every chunk id with its document's id."""
        rows = self.conn.execute("SELECT c.id, d.id FROM chunks c JOIN documents d ON d.pk = c.document").fetchall()
        return np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows)), [r[1] for r in rows]

    def chunk_texts(self, chunk_ids: Sequence[int]) -> dict[int, tuple[int, str, int]]:
        """Chunk id -> (position in its document, text, start offset in the document's text)."""
        ids = [int(i) for i in chunk_ids]
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        rows = self.conn.execute(
            f"SELECT c.id, c.position, {CHUNK_TEXT_SQL}, c.start FROM chunks c JOIN documents d ON d.pk = c.document "
            f"WHERE c.id IN ({marks})", ids,
        )
        return {row[0]: (row[1], row[2], row[3]) for row in rows}

    def vectors_by_id(self, chunk_ids: np.ndarray, dimension: int) -> np.ndarray:
        """The stored vectors of ``chunk_ids``, in that order (KeyError if one is missing)."""
        ids = [int(i) for i in chunk_ids]
        found: dict[int, bytes] = dict(self._select_in("SELECT id, vector FROM chunk_vectors WHERE id IN ({marks})",
                                                       ids))
        if len(found) < len(set(ids)):
            raise KeyError("a chunk's vector is not stored")
        return np.frombuffer(b"".join(found[i] for i in ids), dtype=np.float32).reshape(len(ids), dimension)

    def documents_summary(self, doc_ids: Sequence[str]) -> dict[str, dict]:
        """Document id -> title, source, metadata and page starts (not the text)."""
        ids = list(dict.fromkeys(doc_ids))
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        rows = self.conn.execute(
            f"SELECT id, title, source, metadata, {self._pages_sql()} FROM documents WHERE id IN ({marks})", ids
        )
        return {r[0]: {"title": r[1], "source": r[2], "metadata": json.loads(r[3]),
                       "pages": json.loads(r[4]) if r[4] else None} for r in rows}

    def locate(self, doc_id: str, fragment: str) -> int | None:
        """Character offset of the first occurrence of ``fragment`` in a document's text, or None."""
        row = self.conn.execute("SELECT instr(text, ?) FROM documents WHERE id = ?", (fragment, doc_id)).fetchone()
        return row[0] - 1 if row and row[0] else None

    def filtered_chunk_ids(self, filters: Sequence[Filter]) -> np.ndarray:
        sql, params = where_clause(filters)
        rows = self.conn.execute(
            f"SELECT c.id FROM chunks c JOIN documents d ON d.pk = c.document WHERE {sql}", params
        ).fetchall()
        return np.array([r[0] for r in rows], dtype=np.int64)

    def keyword_search(
        self, match: str, limit: int, filters: Sequence[Filter] = (),
        weights: tuple[float, float] = BM25_COLUMN_WEIGHTS,
    ) -> list[tuple[str, float]]:
        """BM25 over titles and texts: ``(doc id, score)``, best first.

        ``weights`` (title, text) multiply each column's term frequencies (FTS5's
        ``bm25()`` arguments); see :data:`BM25_COLUMN_WEIGHTS`.
        """
        sql, params = where_clause(filters)
        fts = self.fts_table
        w_title, w_text = (float(w) for w in weights)
        return self.conn.execute(
            f"SELECT d.id, -bm25({fts}, ?, ?) AS score "
            f"FROM {fts} JOIN documents d ON d.pk = {fts}.rowid "
            f"WHERE {fts} MATCH ? AND {sql} ORDER BY score DESC, d.pk LIMIT ?",
            [w_title, w_text, match, *params, limit],
        ).fetchall()

    def document_texts(self, doc_ids: Sequence[str]) -> dict[str, str]:
        """Document id -> text, for a few documents (snippets are cut from the original)."""
        ids = list(dict.fromkeys(doc_ids))
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        return dict(self.conn.execute(f"SELECT id, text FROM documents WHERE id IN ({marks})", ids).fetchall())

    # -- clustering runs --------------------------------------------------------
    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """A read transaction: every query inside sees one consistent state."""
        self.conn.execute("BEGIN")
        try:
            yield
        finally:
            self.conn.execute("COMMIT")

    def document_table(self) -> tuple[list[str], list[str], list[str]]:
        """``(ids, content hashes, texts)`` of every document, in pk order."""
        rows = self.conn.execute("SELECT id, content_hash, text FROM documents ORDER BY pk").fetchall()
        return [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]

    def document_vectors(self, dimension: int, how: str = DEFAULT_DOCUMENT_VECTOR) -> np.ndarray:
        """Every document's vector, in pk order (``how``: see :mod:`semsearch.docvectors`).

        The same vectors as :meth:`document_vector`, read in one pass.
        """
        pks = np.array([r[0] for r in self.conn.execute("SELECT pk FROM documents ORDER BY pk")], dtype=np.int64)
        sums = np.zeros((len(pks), dimension), dtype=np.float64)
        counts = np.zeros(len(pks), dtype=np.int64)
        firsts = np.zeros((len(pks), dimension), dtype=np.float64)
        cursor = self.conn.execute(
            "SELECT c.document, c.position, v.vector FROM chunks c JOIN chunk_vectors v ON v.id = c.id "
            "ORDER BY c.document"
        )
        while rows := cursor.fetchmany(20_000):
            owners = np.searchsorted(pks, np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows)))
            vectors = np.frombuffer(b"".join(r[2] for r in rows), dtype=np.float32).reshape(len(rows), dimension)
            np.add.at(sums, owners, vectors)
            np.add.at(counts, owners, 1)
            lead = np.fromiter((r[1] == 0 for r in rows), dtype=bool, count=len(rows))
            firsts[owners[lead]] = vectors[lead]
        return combine(sums, counts, firsts, how)

    def save_clustering(
        self,
        name: str,
        *,
        method: str,
        params: dict,
        details: dict,
        created: str,
        clusters: Sequence[dict],
        assignments: Iterable[tuple[str, str, int]],
    ) -> bool:
        """Store one run, replacing a run of the same name; True if one was replaced.

        ``clusters``: dicts with label, size, keywords, representative;
        ``assignments``: ``(document id, content hash, label)``.
        """
        with self.transaction(bump=False):
            replaced = self.delete_clustering(name)
            assignments = list(assignments)
            self.conn.execute(
                "INSERT INTO clusterings (name, method, params, details, created, documents) VALUES (?, ?, ?, ?, ?, ?)",
                (name, method, json.dumps(params), json.dumps(details), created, len(assignments)),
            )
            self.conn.executemany(
                "INSERT INTO clusters (clustering, label, size, keywords, representative) VALUES (?, ?, ?, ?, ?)",
                [(name, int(c["label"]), int(c["size"]), json.dumps(c["keywords"], ensure_ascii=False),
                  json.dumps(c["representative"], ensure_ascii=False)) for c in clusters],
            )
            self.conn.executemany(
                "INSERT INTO cluster_assignments (clustering, document_id, content_hash, label) VALUES (?, ?, ?, ?)",
                [(name, doc_id, digest, int(label)) for doc_id, digest, label in assignments],
            )
        return replaced

    def delete_clustering(self, name: str) -> bool:
        """Delete a run (call inside a transaction); True if there was one."""
        found = self.conn.execute("DELETE FROM clusterings WHERE name = ?", (name,)).rowcount > 0
        self.conn.execute("DELETE FROM clusters WHERE clustering = ?", (name,))
        self.conn.execute("DELETE FROM cluster_assignments WHERE clustering = ?", (name,))
        return found

    def clustering_names(self) -> list[str]:
        return [r[0] for r in self.conn.execute("SELECT name FROM clusterings ORDER BY rowid")]

    def clustering(self, name: str, label: int | None = None, assignments: bool = True) -> dict | None:
        """A stored run: its row, its clusters, and its assignments (of one cluster if ``label``)."""
        row = self.conn.execute(
            "SELECT name, method, params, details, created, documents FROM clusterings WHERE name = ?", (name,)
        ).fetchone()
        if row is None:
            return None
        run = dict(zip(("name", "method", "params", "details", "created", "documents"), row))
        run["params"], run["details"] = json.loads(run["params"]), json.loads(run["details"])
        run["clusters"] = [
            {"label": r[0], "size": r[1], "keywords": json.loads(r[2]), "representative": json.loads(r[3])}
            for r in self.conn.execute(
                "SELECT label, size, keywords, representative FROM clusters WHERE clustering = ? "
                "ORDER BY label < 0, label", (name,),
            )
        ]
        label_sql, label_params = ("", []) if label is None else (" AND label = ?", [label])
        run["assignments"] = {} if not assignments else dict(self.conn.execute(
            "SELECT document_id, label FROM cluster_assignments WHERE clustering = ?" + label_sql
            + " ORDER BY rowid", [name, *label_params],
        ).fetchall())
        return run

    def clustering_summaries(self) -> list[dict]:
        """Every stored run without its assignments: name, method, params, created, counts."""
        rows = self.conn.execute(
            "SELECT c.name, c.method, c.params, c.details, c.created, c.documents, "
            "(SELECT count(*) FROM clusters k WHERE k.clustering = c.name AND k.label >= 0), "
            "(SELECT coalesce(sum(size), 0) FROM clusters k WHERE k.clustering = c.name AND k.label < 0) "
            "FROM clusterings c ORDER BY c.rowid"
        ).fetchall()
        keys = ("name", "method", "params", "details", "created", "documents", "clusters", "noise")
        runs = [dict(zip(keys, r)) for r in rows]
        for run in runs:
            run["params"], run["details"] = json.loads(run["params"]), json.loads(run["details"])
        return runs

    def clustering_changes(self, name: str) -> dict:
        """Documents added, removed and changed (same id, new content) since a run."""
        added = self.conn.execute(
            "SELECT count(*) FROM documents d WHERE NOT EXISTS (SELECT 1 FROM cluster_assignments a "
            "WHERE a.clustering = ? AND a.document_id = d.id)", (name,),
        ).fetchone()[0]
        removed = self.conn.execute(
            "SELECT count(*) FROM cluster_assignments a WHERE a.clustering = ? AND NOT EXISTS "
            "(SELECT 1 FROM documents d WHERE d.id = a.document_id)", (name,),
        ).fetchone()[0]
        changed = self.conn.execute(
            "SELECT count(*) FROM cluster_assignments a JOIN documents d ON d.id = a.document_id "
            "WHERE a.clustering = ? AND d.content_hash != a.content_hash", (name,),
        ).fetchone()[0]
        return {"added": added, "removed": removed, "changed": changed}

    # -- document frequencies (keyword TF-IDF) --------------------------------
    def _uncount_terms(self, text: str) -> None:
        """Take a deleted (counted) document's terms off their document frequencies.

        Counted in memory and merged at commit (:meth:`_flush_terms`), one upsert per
        distinct term of the transaction rather than one per term per document.
        """
        self._term_delta.subtract(self.analyzer.terms(text))

    def _flush_terms(self) -> None:
        """Merge the transaction's document-frequency changes into ``term_df`` (inside it).

        In term order, so the upserts walk the table's B-tree in order (and without a
        Python-level pass per term where C can do it: ~100k terms per part of count_terms).
        """
        delta, self._term_delta = self._term_delta, Counter()
        if not delta:
            return
        lowest = min(delta.values())
        if lowest <= 0:  # documents deleted: drop the terms that cancel out
            delta = Counter({t: d for t, d in delta.items() if d})
        terms = sorted(delta)
        self.conn.executemany(
            "INSERT INTO term_df(term, df) VALUES (?, ?) ON CONFLICT(term) DO UPDATE SET df = df + excluded.df",
            zip(terms, map(delta.__getitem__, terms)),
        )
        if lowest < 0:
            self.conn.executemany("DELETE FROM term_df WHERE term = ? AND df <= 0",
                                  [(t,) for t in terms if delta[t] < 0])

    def _terms_state(self) -> tuple[bool, int | None]:
        """``(current, through)``: whether ``term_df`` agrees with this generation, and the pk
        of the last document it counts (every one up to it that is stored)."""
        if "term_df" not in self.table_names():
            return False, None
        keys = (TERMS_GENERATION, TERMS_THROUGH, EAGER_TERMS_GENERATION)
        found = {key: int(json.loads(value)) for key, value in self.conn.execute(
            "SELECT key, value FROM settings WHERE key IN (?, ?, ?)", keys)}
        generation = self.generation()
        if TERMS_GENERATION in found:
            return found[TERMS_GENERATION] == generation, found.get(TERMS_THROUGH, 0)
        if found.get(EAGER_TERMS_GENERATION) == generation:  # counted as written, by an earlier version
            return True, self._last_pk()
        return False, None

    def _last_pk(self) -> int:
        return self.conn.execute("SELECT coalesce(max(pk), 0) FROM documents").fetchone()[0]

    def _adopt_eager_terms(self) -> None:
        """Record an earlier version's ``term_df`` (every document counted) in this version's keys."""
        with self.transaction(bump=False):
            if TERMS_GENERATION not in self.settings():
                current, through = self._terms_state()
                if current:
                    self._put(TERMS_THROUGH, through)
                    self._put(TERMS_GENERATION, self.generation())

    def term_df_current(self) -> bool:
        """Whether ``term_df`` exists and agrees with the current generation (it may still have
        documents to count: :meth:`terms_pending`)."""
        return self._terms_state()[0]

    def terms_pending(self) -> int:
        """How many stored documents ``term_df`` has not counted yet."""
        current, through = self._terms_state()
        if not current:
            return self.counts()["documents"]
        return self.conn.execute("SELECT count(*) FROM documents WHERE pk > ?", (through,)).fetchone()[0]

    def count_terms(self, on_progress: Callable[[int, int], None] | None = None, processes: int = 0) -> int:
        """Count the keyword terms of the documents ``term_df`` has not counted; returns how many.

        In transactions of :data:`TERMS_PART` documents, each moving ``term_df_through`` on
        with the counts (a kill keeps what was committed; a writer in another process waits
        at most one part).  With ``processes``, worker processes count the parts ahead
        (each reads its documents through its own read-only connection); a part is checked
        against the database when it is committed (the same number of documents in its pk
        range) and counted here if it is not.  Call with write access, holding the index's
        writer lock (no other writer deletes documents meanwhile).
        """
        current, through = self._terms_state()
        if not current:
            raise SemsearchError(f"the keyword statistics of {self.path} are out of date: "
                                 f"reopen the index with write access to rebuild them")
        pks = [pk for (pk,) in self.conn.execute("SELECT pk FROM documents WHERE pk > ? ORDER BY pk", (through,))]
        parts, low = [], through
        for start in range(0, len(pks), TERMS_PART):
            high = pks[min(start + TERMS_PART, len(pks)) - 1]
            parts.append((low, high))
            low = high
        done = 0
        workers = processes if len(parts) >= TERMS_PARALLEL_PARTS else 0
        for (low, high), made in zip(parts, self._counted_parts(parts, workers)):
            with self.transaction(bump=False):
                current, through = self._terms_state()
                if not current or through != low:  # counted meanwhile by another process
                    return done
                rows = self.conn.execute("SELECT count(*) FROM documents WHERE pk > ? AND pk <= ?",
                                         (low, high)).fetchone()[0]
                if made is not None and made[0] == rows:
                    self._term_delta.update(made[1])
                else:
                    self._term_delta.update(_count_part_terms(self.conn, self.analyzer, low, high)[1])
                self._put(TERMS_THROUGH, high)
            done += rows
            if on_progress is not None:
                on_progress(done, len(pks))
        return done

    def _counted_parts(self, parts: list[tuple[int, int]], processes: int) -> Iterator[tuple[int, Counter] | None]:
        """Each part's ``(documents, term counts)`` from worker processes, in order, a few parts
        ahead; None for a part to count in this process (no workers, or they failed).

        Workers are forked, and only from a process with no other thread (forking a threaded
        process can copy a lock some thread holds: the server's writer thread counts alone).
        Not forkserver or spawn: those re-run the user's main script, which breaks any script
        without an ``if __name__ == "__main__"`` guard.
        """
        if processes < 1 or not sys.platform.startswith("linux") or threading.active_count() > 1:
            yield from (None for _ in parts)
            return
        given = 0
        try:
            pool = ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("fork"))
        except (OSError, ValueError) as exc:
            log.info("counting terms in this process (no worker processes: %s)", exc)
            pool = None
        if pool is not None:
            waiting, ahead = iter(parts), deque()
            try:
                while given < len(parts):
                    try:  # keep processes + 1 parts submitted, then take the oldest
                        while len(ahead) <= processes and (part := next(waiting, None)) is not None:
                            ahead.append(pool.submit(_count_part, str(self.path), self.analyzer.name, *part))
                        made = ahead.popleft().result()
                    except Exception as exc:  # a worker died (the pool is then broken): the rest is counted here
                        log.warning("counting terms in worker processes failed (%s: %s); counting here",
                                    type(exc).__name__, exc)
                        break
                    given += 1
                    yield made
            finally:
                pool.shutdown(wait=False, cancel_futures=True)
        yield from (None for _ in range(len(parts) - given))

    def _pending_terms(self, through: int) -> Counter[str]:
        """The terms of the documents after ``through``, counted in memory (a read-only index, or
        one being written by another process), kept for this generation."""
        key = (self.generation(), through)
        cached = self._pending_cache
        if cached is None or cached[0] != key:
            counts = _count_part_terms(self.conn, self.analyzer, through, self._last_pk())[1]
            cached = self._pending_cache = (key, counts)
        return cached[1]

    def document_frequencies(self, terms: Iterable[str]) -> dict[str, int]:
        """``term -> df`` for those of ``terms`` that occur in some document.

        From ``term_df`` plus, for documents it has not counted yet, their terms counted in
        memory (:meth:`count_terms` stores them; ``Index.keywords`` calls it first when it can).
        """
        # One read transaction: another process may commit counted parts between these queries.
        with nullcontext() if self.conn.in_transaction else self.snapshot():
            current, through = self._terms_state()
            if not current:
                raise SemsearchError(
                    "the keyword statistics of this index are out of date and could not be rebuilt "
                    "(is the index read-only?): open it once with write access"
                )
            wanted = list(dict.fromkeys(terms))
            found = dict(self._select_in("SELECT term, df FROM term_df WHERE term IN ({marks})", wanted))
            if through is not None and self._last_pk() > through:
                pending = self._pending_terms(through)
                for term in wanted:
                    if pending[term]:
                        found[term] = found.get(term, 0) + pending[term]
        return found

    def iter_texts(self) -> Iterator[tuple[int, str, str]]:
        """``(pk, id, text)`` of every document, in insertion order."""
        last = 0
        while True:
            rows = self.conn.execute(
                "SELECT pk, id, text FROM documents WHERE pk > ? ORDER BY pk LIMIT 500", (last,)
            ).fetchall()
            if not rows:
                return
            yield from rows
            last = rows[-1][0]

    def language_mix(self) -> dict[str, int]:
        """Documents per detected language, most first."""
        if "text_stats" not in self.table_names():  # an old index opened read-only
            return {}
        return dict(self.conn.execute(
            "SELECT lang, count(*) AS n FROM text_stats GROUP BY lang ORDER BY n DESC, lang"
        ).fetchall())

    def unknown_tokens(self) -> tuple[int, int]:
        """``(unknown, total)`` model tokens over the documents whose tokens were counted."""
        if "text_stats" not in self.table_names():
            return 0, 0
        row = self.conn.execute("SELECT coalesce(sum(unknown), 0), coalesce(sum(tokens), 0) FROM text_stats "
                                "WHERE tokens IS NOT NULL").fetchone()
        return int(row[0]), int(row[1])

    def document_unknown_tokens(self, doc_ids: Sequence[str]) -> dict[str, tuple[int, int]]:
        """Document id -> ``(unknown, total)`` model tokens, for those of ``doc_ids`` that were counted."""
        if not doc_ids or "text_stats" not in self.table_names():
            return {}
        rows = self._select_in("SELECT d.id, s.unknown, s.tokens FROM documents d JOIN text_stats s "
                               "ON s.document = d.pk WHERE d.id IN ({marks}) AND s.tokens IS NOT NULL", list(doc_ids))
        return {doc_id: (int(unknown), int(tokens)) for doc_id, unknown, tokens in rows}

    def counts(self) -> dict:
        documents = self.conn.execute("SELECT count(*) FROM documents").fetchone()[0]
        chunks = self.conn.execute("SELECT count(*) FROM chunks").fetchone()[0]
        return {"documents": documents, "chunks": chunks}


def _connect_read_only(path: Path) -> sqlite3.Connection:
    """A connection that never writes.  ``mode=ro`` reads a WAL database while its writer is
    live (its ``-shm`` exists); with no ``-shm`` and no right to make one (a read-only mount),
    ``immutable=1``, which is exact because then nobody can be writing."""
    uri = f"file:{quote(str(path.resolve()))}"
    conn = sqlite3.connect(f"{uri}?mode=ro", uri=True, isolation_level=None, check_same_thread=False, timeout=30)
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return conn
    except sqlite3.OperationalError:
        conn.close()
    return sqlite3.connect(f"{uri}?immutable=1", uri=True, isolation_level=None, check_same_thread=False)


def _statements(script: str) -> list[str]:
    """Split the schema into statements (triggers contain semicolons)."""
    statements, current = [], []
    for line in script.strip().splitlines():
        current.append(line)
        joined = "\n".join(current).strip()
        if joined.endswith(";") and (not joined.upper().startswith("CREATE TRIGGER") or joined.endswith("END;")):
            statements.append(joined)
            current = []
    return statements
