"""Reading: files, directories, record files and stdin -> documents.

Bad input never stops a run: each unusable file or record becomes a
:class:`Skipped` with a one-line reason, and reading goes on.
"""

from __future__ import annotations

import csv
import fnmatch
import html.parser
import io
import json
import os
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from . import formats

TEXT_SUFFIXES = {".txt", ".md", ".markdown", ".rst", ".text"}
HTML_SUFFIXES = {".html", ".htm"}
RECORD_SUFFIXES = {".jsonl", ".ndjson", ".json", ".csv"}
DOCUMENT_SUFFIXES = set(formats.SUFFIXES)  # PDF, Word, PowerPoint, EPUB, OpenDocument (semsearch.formats)
SUPPORTED_SUFFIXES = TEXT_SUFFIXES | HTML_SUFFIXES | RECORD_SUFFIXES | DOCUMENT_SUFFIXES


@dataclass
class Document:
    """One document to index."""

    id: str
    text: str
    title: str | None = None
    metadata: dict = field(default_factory=dict)
    source: str | None = None
    # Character offsets in ``text`` where each page (slide, chapter) starts; None: no pages.
    pages: tuple[int, ...] | None = None
    # SHA-256 of the file's bytes for document formats: it stands for the content hash.
    file_hash: str | None = None


@dataclass
class DocumentFile:
    """A PDF, Office or EPUB file, hashed but not yet read (``read_inputs(..., defer=True)``).

    Extraction is the costly part, so the ingest compares ``file_hash`` with the stored
    document's content hash first and calls :meth:`read` only for a new or changed file.
    """

    id: str
    path: Path
    file_hash: str

    def read(self) -> Document | Skipped:
        return _extract_document(self.path, self.id, self.file_hash)


@dataclass
class Skipped:
    """An input that could not be used, and why."""

    source: str
    reason: str

    def __str__(self) -> str:
        return f"skipped {self.source}: {self.reason}"


@dataclass
class RecordFields:
    """How to read records (JSONL, JSON, CSV): which fields hold what."""

    text: Sequence[str] = ("text",)
    id: str = "id"
    title: str = "title"


def read_inputs(
    inputs: Iterable[str | os.PathLike],
    fields: RecordFields | None = None,
    globs: Sequence[str] = (),
    stdin: IO[str] | None = None,
    defer: bool = False,
) -> Iterator[Document | Skipped | DocumentFile]:
    """Yield documents (and skips) from files, directories (recursive) and ``-`` (stdin).

    Directories contribute files with a supported suffix that match any of ``globs``
    (all of them when none are given); files named explicitly are always read.
    ``defer``: yield PDF/Office/EPUB files as :class:`DocumentFile` (hashed, not read).
    """
    fields = fields or RecordFields()
    for item in inputs:
        if str(item) == "-":
            yield from read_stdin(stdin or sys.stdin, fields)
            continue
        path = Path(item)
        if path.is_dir():
            for file in _walk(path, globs):
                yield from read_file(file, fields, defer)
        elif path.exists():
            yield from read_file(path, fields, defer)
        else:
            yield Skipped(str(path), "no such file or directory")


def _walk(directory: Path, globs: Sequence[str]) -> Iterator[Path]:
    for root, dirs, files in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if name.startswith("."):
                continue
            path = Path(root) / name
            if path.suffix.lower() not in SUPPORTED_SUFFIXES:
                continue
            relative = path.relative_to(directory).as_posix()
            if globs and not any(fnmatch.fnmatch(relative, g) or fnmatch.fnmatch(name, g) for g in globs):
                continue
            yield path


def _read_text(path: Path) -> str | Skipped:
    try:
        data = path.read_bytes()
    except OSError as exc:
        return Skipped(str(path), f"unreadable ({exc.strerror or exc})")
    if b"\x00" in data[:8192]:
        return Skipped(str(path), "binary file")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return Skipped(str(path), f"not valid UTF-8 (byte {exc.start})")
    if not text.strip():
        return Skipped(str(path), "empty")
    return text


def read_file(
    path: Path, fields: RecordFields | None = None, defer: bool = False
) -> Iterator[Document | Skipped | DocumentFile]:
    """Read one file by its suffix; unknown suffixes are read as plain text.

    Document formats go by their bytes: a PDF or Office file named ``.txt`` is read as
    what it is (:mod:`semsearch.formats`).
    """
    fields = fields or RecordFields()
    if path.suffix.lower() in DOCUMENT_SUFFIXES or formats.sniff_file(path, lenient=False):
        yield _document_file(path, defer)
        return
    text = _read_text(path)
    if isinstance(text, Skipped):
        yield text
        return
    suffix = path.suffix.lower()
    source = str(path.resolve())
    doc_id = path.as_posix()
    if suffix in RECORD_SUFFIXES:
        yield from read_records(text, suffix, doc_id, source, fields)
    elif suffix in HTML_SUFFIXES:
        title, body = html_to_text(text)
        if not body.strip():
            yield Skipped(str(path), "no text in the HTML")
        else:
            yield Document(doc_id, body, title or path.stem, {}, source)
    else:
        yield Document(doc_id, text.strip(), _text_title(text, suffix) or path.stem, {}, source)


def _document_file(path: Path, defer: bool) -> Document | Skipped | DocumentFile:
    try:
        digest = formats.file_digest(path)
    except OSError as exc:
        return Skipped(str(path), f"unreadable ({exc.strerror or exc})")
    if defer:
        return DocumentFile(path.as_posix(), path, digest)
    return _extract_document(path, path.as_posix(), digest)


def _extract_document(path: Path, doc_id: str, digest: str) -> Document | Skipped:
    try:
        found = formats.read(path)
    except formats.Unreadable as exc:
        return Skipped(str(path), str(exc))
    if not found.text.strip():
        return Skipped(str(path), "no text")
    return Document(doc_id, found.text, found.title or path.stem, found.metadata, str(path.resolve()),
                    found.pages or None, digest)


def read_stdin(stream: IO[str], fields: RecordFields) -> Iterator[Document | Skipped]:
    """Standard input: JSON lines when it starts with ``{``, else one text document."""
    text = stream.read()
    if not text.strip():
        yield Skipped("-", "empty standard input")
    elif text.lstrip().startswith("{"):
        yield from read_records(text, ".jsonl", "stdin", "-", fields)
    else:
        yield Document("stdin", text.strip(), _text_title(text, ".txt"), {}, "-")


def _text_title(text: str, suffix: str) -> str | None:
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        if suffix in (".md", ".markdown"):
            return line.lstrip("#").strip() if line.startswith("#") else None
        return line[:200] if len(line) <= 200 else None
    return None


def read_records(
    text: str, suffix: str, name: str, source: str, fields: RecordFields
) -> Iterator[Document | Skipped]:
    """Records of a JSONL, JSON or CSV file; a bad record is skipped, not fatal."""
    if suffix in (".jsonl", ".ndjson"):
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                yield Skipped(f"{name}:{number}", f"malformed JSON ({exc.msg})")
                continue
            yield _record(record, f"{name}:{number}", name, number, source, fields)
    elif suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            yield Skipped(name, f"malformed JSON ({exc.msg} at line {exc.lineno})")
            return
        records = data if isinstance(data, list) else [data]
        for number, record in enumerate(records, start=1):
            yield _record(record, f"{name}[{number - 1}]", name, number, source, fields)
    else:
        try:
            rows = list(csv.DictReader(io.StringIO(text)))
        except csv.Error as exc:
            yield Skipped(name, f"malformed CSV ({exc})")
            return
        for number, row in enumerate(rows, start=2):  # row 1 is the header
            yield _record(row, f"{name}:{number}", name, number, source, fields)


def _record(record, where: str, name: str, number: int, source: str, fields: RecordFields) -> Document | Skipped:
    if not isinstance(record, dict):
        return Skipped(where, "record is not a JSON object")
    missing = [f for f in fields.text if f not in record]
    if len(missing) == len(fields.text):
        return Skipped(where, f"no {' or '.join(repr(f) for f in fields.text)} field")
    parts = [str(record[f]).strip() for f in fields.text if record.get(f) not in (None, "")]
    text = " ".join(p for p in parts if p)
    if not text:
        return Skipped(where, "empty text")
    raw_id = record.get(fields.id)
    doc_id = str(raw_id) if raw_id not in (None, "") else f"{name}#{number}"
    title = record.get(fields.title)
    used = {fields.id, fields.title, *fields.text}
    metadata = {k: v for k, v in record.items() if k not in used}
    return Document(doc_id, text, str(title) if title not in (None, "") else None, metadata, source)


class _HTMLText(html.parser.HTMLParser):
    SKIP = {"script", "style", "noscript", "template", "svg", "head"}
    BLOCK = {"p", "div", "br", "li", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "section", "article",
             "header", "footer", "blockquote", "pre", "ul", "ol", "table"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title: list[str] = []
        self._skip = 0
        self._in_title = False

    def handle_starttag(self, tag, attrs):
        if tag == "title":
            self._in_title = True
        elif tag in self.SKIP:
            self._skip += 1
        elif tag in self.BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag):
        if tag == "title":
            self._in_title = False
        elif tag in self.SKIP:
            self._skip = max(0, self._skip - 1)
        elif tag in self.BLOCK:
            self.parts.append("\n")

    def handle_data(self, data):
        if self._in_title:
            self.title.append(data)
        elif not self._skip:
            self.parts.append(data)


def html_to_text(markup: str) -> tuple[str | None, str]:
    """``(title, visible text)`` of an HTML page, without scripts and styles."""
    parser = _HTMLText()
    parser.feed(markup)
    parser.close()
    lines = (" ".join(line.split()) for line in "".join(parser.parts).splitlines())
    body = "\n".join(line for line in lines if line)
    title = " ".join("".join(parser.title).split()) or None
    return title, body
