"""Ingestion in stages: plan -> prepare (chunk + embed) -> commit.

- **plan** reads each document, hashes it and skips the unchanged ones.  It needs
  neither the model nor its tokenizer, so re-running ``semsearch index`` on unchanged
  input loads no model.
- **prepare** turns batches of planned documents into chunks and vectors.  It runs
  in an :class:`Executor`: :class:`LocalExecutor` does it in this process with any
  :class:`Encoder` (the :class:`~semsearch.embedding.Embedder` is one); another
  executor can do it elsewhere (a Ray cluster), since the stages pass plain values.
- **commit** writes each prepared batch in one transaction through the one writer,
  then updates the in-memory vectors while searches in other threads wait, so they
  never see the database and the vectors at different generations.

A batch is the unit of work an interrupted run can lose: everything committed before
is kept, and a re-run skips it as unchanged.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

from .chunking import Chunk, chunk_ids
from .errors import InvalidArgument
from .reading import Document, DocumentFile, Skipped
from .settings import IndexSettings
from .storing import Analysis, NewDocument, Store
from .text import coverage
from .text.prefixes import with_prefix
from .validation import check_document
from .vectors.sync import VectorSync

# Chunks embedded and committed together, about: bounds the memory of a batch, and is the
# unit of work an interrupted run can lose.  Planning happens before chunking, so a batch
# is closed at this many documents or at the characters of this many full chunks
# (CHARACTERS_PER_TOKEN characters per token, a rough figure for English).
COMMIT_CHUNKS = 256
CHARACTERS_PER_TOKEN = 4


def content_hash(doc: Document) -> str:
    """What decides whether a document changed: its text, title and metadata.

    A PDF/Office/EPUB file's is the hash of its bytes (``reading.DocumentFile``), known
    before its text is extracted, so an unchanged file is never read twice.
    """
    if doc.file_hash:
        return doc.file_hash
    payload = json.dumps([doc.text, doc.title, doc.metadata], sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()


@dataclass
class Planned:
    """A document that needs (re)indexing."""

    doc: Document
    digest: str


@dataclass
class Prepared:
    """A planned document with its chunks and their unit vectors (one row per chunk)."""

    planned: Planned
    chunks: list[Chunk]
    vectors: np.ndarray
    # (unknown, total) tokens of the text for the model (semsearch.text.coverage), if measured.
    unknown_tokens: tuple[int, int] | None = None
    # The text's analysis for keyword search (storing.analyze), if made ahead of the writer.
    analysis: Analysis | None = None


@runtime_checkable
class Encoder(Protocol):
    """Anything that turns texts into unit vectors, one row per text."""

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray: ...


class Executor(Protocol):
    """Where chunking and embedding run."""

    def prepare(self, batches: Iterable[list[Planned]], settings: IndexSettings) -> Iterator[list[Prepared]]:
        """Chunk and embed each batch; yield each batch's documents together, in any order of batches."""


@dataclass
class AddReport:
    """What an ``add`` did."""

    added: int = 0
    updated: int = 0
    unchanged: int = 0
    chunks: int = 0
    skipped: list[Skipped] = field(default_factory=list)
    seconds: float = 0.0
    embedding_seconds: float = 0.0  # of ``seconds``, the time inside the model; the rest is overhead

    def to_dict(self) -> dict:
        return {
            "added": self.added, "updated": self.updated, "unchanged": self.unchanged,
            "chunks": self.chunks, "skipped": [{"source": s.source, "reason": s.reason} for s in self.skipped],
            "seconds": round(self.seconds, 3), "embedding_seconds": round(self.embedding_seconds, 3),
        }


@dataclass
class Progress:
    """Where an ingestion run is, passed to ``on_progress`` after every step."""

    documents: int  # seen so far: new, changed, unchanged and skipped
    chunks: int  # committed so far
    seconds: float
    embedded: int = 0  # chunks embedded so far (ahead of ``chunks`` while a batch is in the model)

    @property
    def chunks_per_second(self) -> float:
        return self.chunks / self.seconds if self.seconds > 0 else 0.0


class LocalExecutor:
    """Chunk and embed in this process.

    ``encoder`` and ``tokenizer`` are factories, called on the first document that
    needs them: a run with nothing to embed loads neither.
    """

    def __init__(self, encoder: Callable[[], Encoder], tokenizer: Callable[[], object], batch_size: int = 32) -> None:
        self._encoder_factory, self._tokenizer_factory = encoder, tokenizer
        self._encoder: Encoder | None = None
        self._tokenizer = None
        self.batch_size = batch_size
        self.on_embedded: Callable[[int], None] | None = None  # chunks embedded, as they are
        self.embedding_seconds = 0.0
        self.load_seconds = 0.0  # loading the model is not part of the work reported

    def prepare(self, batches: Iterable[list[Planned]], settings: IndexSettings) -> Iterator[list[Prepared]]:
        for batch in batches:
            if self._tokenizer is None:
                self._tokenizer = self._load(self._tokenizer_factory)
            # Tokenise once: an Embedder takes the chunker's token ids (the same vectors as the texts).
            pairs = [chunk_ids(p.doc.text, self._tokenizer, settings.chunk_size, settings.chunk_overlap)
                     for p in batch]
            chunked = [chunks for chunks, _ in pairs]
            if self._encoder is None:
                self._encoder = self._load(self._encoder_factory)
            unknown = [coverage.unknown_tokens(self._tokenizer, p.doc.text) for p in batch]
            prefix = settings.get("passage_prefix", "")
            texts = with_prefix(prefix, [c.text for chunks in chunked for c in chunks])
            rows = [row for _, ids in pairs for row in ids]
            # Token ids straight to the model, unless a prefix must be tokenised with each text.
            by_ids = hasattr(self._encoder, "encode_ids") and not prefix
            parts = []
            # In slices, so a single huge document reports progress as it goes.
            for start in range(0, len(texts), COMMIT_CHUNKS):
                started = time.perf_counter()
                if by_ids:
                    part = self._encoder.encode_ids(rows[start : start + COMMIT_CHUNKS], batch_size=self.batch_size)
                else:
                    part = self._encoder.encode(texts[start : start + COMMIT_CHUNKS], batch_size=self.batch_size)
                parts.append(part)
                self.embedding_seconds += time.perf_counter() - started
                if self.on_embedded:
                    self.on_embedded(len(parts[-1]))
            vectors = np.concatenate(parts) if parts else np.zeros((0, settings.dimension), np.float32)
            yield list(_split(batch, chunked, vectors, unknown))

    def _load(self, factory: Callable[[], object]):
        started = time.perf_counter()
        loaded = factory()
        self.load_seconds += time.perf_counter() - started
        return loaded


def _split(batch: list[Planned], chunked: list[list[Chunk]], vectors: np.ndarray,
           unknown: Sequence[tuple[int, int] | None] | None = None) -> Iterator[Prepared]:
    offset = 0
    for i, (planned, chunks) in enumerate(zip(batch, chunked)):
        yield Prepared(planned, chunks, vectors[offset : offset + len(chunks)], unknown[i] if unknown else None)
        offset += len(chunks)


def plan(
    documents: Iterable[Document | Skipped | DocumentFile], store: Store, report: AddReport,
    skip: Callable[[Skipped], None],
) -> Iterator[Planned]:
    """The documents that are new or changed; counts the unchanged ones in ``report``."""
    for item in documents:
        if isinstance(item, DocumentFile):  # hashed, not yet extracted: extract only if changed
            found = store.find(item.id)
            if found is not None and found[1] == item.file_hash:
                report.unchanged += 1
                continue
            try:  # a reader's surprise costs this file, not the run
                item = item.read()
            except Exception as exc:
                item = Skipped(str(item.path), f"could not be read ({type(exc).__name__}: {str(exc)[:200]})")
        if isinstance(item, Skipped):
            skip(item)
            continue
        try:  # one document that cannot be stored (bad types, NaN, surrogates) is skipped, not the run
            item = check_document(item)
        except InvalidArgument as exc:
            skip(Skipped(str(getattr(item, "source", None) or getattr(item, "id", "?"))[:200], str(exc)))
            continue
        if not item.text or not item.text.strip():
            skip(Skipped(item.source or item.id, "empty text"))
            continue
        digest = content_hash(item)
        found = store.find(item.id)
        if found is not None and found[1] == digest:
            report.unchanged += 1
            continue
        yield Planned(item, digest)


def batches(planned: Iterable[Planned], chunk_size: int, chunks: int = COMMIT_CHUNKS) -> Iterator[list[Planned]]:
    """Group planned documents into batches of about ``chunks`` chunks of ``chunk_size`` tokens."""
    characters, documents = chunks * chunk_size * CHARACTERS_PER_TOKEN, chunks
    batch: list[Planned] = []
    size = 0
    for item in planned:
        batch.append(item)
        size += len(item.doc.text)
        if size >= characters or len(batch) >= documents:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def commit(store: Store, sync: VectorSync, batch: Sequence[Prepared], report: AddReport) -> None:
    """Write one prepared batch in one transaction, then bring the in-memory vectors to it.

    A document whose id is already stored replaces it (keeping its ``added`` time);
    the same id twice in one batch: the later one wins.
    """
    removed: list[int] = []
    new_ids: list[int] = []
    with sync.rw.write():
        with store.transaction():
            doc_ids = [item.planned.doc.id for item in batch]
            if len(set(doc_ids)) == len(doc_ids):
                _write(store, batch, removed, new_ids, report)
            else:  # one at a time, so a later one replaces an earlier one
                for item in batch:
                    _write(store, [item], removed, new_ids, report)
        generation = store.generation()
        backend = sync.backend  # loaded by VectorSync.writing() before the first batch
        assert backend is not None, "commit() runs inside VectorSync.writing()"
        ids = np.array(new_ids, dtype=np.int64)
        vectors = np.concatenate([item.vectors for item in batch]) if batch else np.zeros((0, sync.dimension))
        if removed:
            backend.remove(removed)
            keep = ~np.isin(ids, removed)  # a chunk added and replaced within this batch
            ids, vectors = ids[keep], vectors[keep]
        backend.add(ids, vectors)
        sync.committed(generation)


def _write(store: Store, batch: Sequence[Prepared], removed: list[int], new_ids: list[int],
           report: AddReport) -> None:
    """Replace or add the documents of ``batch`` (distinct ids), inside the transaction."""
    stored = store.stored_documents([item.planned.doc.id for item in batch])
    if stored:
        removed.extend(store.delete_documents(pk for pk, _ in stored.values()))
    documents = []
    for item in batch:
        doc = item.planned.doc
        found = stored.get(doc.id)
        if found is not None:
            report.updated += 1
        else:
            report.added += 1
        documents.append(NewDocument(
            doc.id, doc.text, doc.title, doc.source, doc.metadata, item.planned.digest, item.chunks, item.vectors,
            added=found[1] if found else None, unknown_tokens=item.unknown_tokens, pages=doc.pages,
            analysis=item.analysis,
        ))
        report.chunks += len(item.chunks)
    for ids in store.insert_documents(documents):
        new_ids.extend(ids)
