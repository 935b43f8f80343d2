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
import math
import os
import stat
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, BinaryIO

from . import formats
from .errors import InvalidArgument
from .validation import check_document

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


DEFAULT_MAX_DOCUMENT_BYTES = 50_000_000
# Stdin is sniffed (JSON lines or one text?) from its first bytes, up to this many.
_SNIFF_BYTES = 65_536
# A record file whose first block is more than this fraction NUL bytes is binary, not a
# record file with a stray NUL in one row (that row alone is skipped).
_BINARY_NUL_FRACTION = 0.01


def read_inputs(
    inputs: Iterable[str | os.PathLike],
    fields: RecordFields | None = None,
    globs: Sequence[str] = (),
    stdin: IO | None = None,
    defer: bool = False,
    max_document_bytes: int = DEFAULT_MAX_DOCUMENT_BYTES,
) -> Iterator[Document | Skipped | DocumentFile]:
    """Yield documents (and skips) from files, directories (recursive) and ``-`` (stdin).

    Directories contribute files with a supported suffix that match any of ``globs``
    (all of them when none are given); files named explicitly are always read.
    ``defer``: yield PDF/Office/EPUB files as :class:`DocumentFile` (hashed, not read).

    Only regular files are opened (a FIFO, device or socket is skipped: opening one
    could block forever or never end), and no read is unbounded: a text, HTML or
    ``.json`` file, a JSON line, a CSV row and a text on stdin may each hold at most
    ``max_document_bytes``; a larger one is skipped with that reason.  An error while
    reading, decoding or parsing one record or file skips it and reading goes on.
    """
    fields = fields or RecordFields()
    for item in inputs:
        if str(item) == "-":
            yield from _guarded("-", lambda: read_stdin(stdin or sys.stdin, fields, max_document_bytes))
            continue
        path = Path(item)
        try:
            is_dir = stat.S_ISDIR(os.stat(path).st_mode)  # stat, never open: a FIFO must not block us
        except FileNotFoundError:
            if not os.path.lexists(path):
                yield Skipped(str(path), "no such file or directory")
                continue
            is_dir = False  # a broken link: read_file says so
        except OSError as exc:
            yield Skipped(str(path), f"unreadable ({exc.strerror or exc})")
            continue
        if is_dir:
            for file in _walk(path, globs):
                yield from _guarded(str(file), lambda file=file: read_file(file, fields, defer, max_document_bytes))
        else:
            yield from _guarded(str(path), lambda path=path: read_file(path, fields, defer, max_document_bytes))


def _guarded(source: str, read) -> Iterator[Document | Skipped]:
    """The items of ``read()``; an unexpected error skips the rest of that input, not the run."""
    try:
        yield from read()
    except (Exception, RecursionError) as exc:  # a bug or a parser's surprise: lose one input, keep the run
        yield Skipped(source, f"could not be read ({type(exc).__name__}: {str(exc)[:200]})")


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


def _too_large(limit: int, what: str = "") -> str:
    return f"{what}larger than the limit of {limit:,} bytes (--max-document-bytes)"


_KINDS = ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a directory"))


def _kind(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "not a file")


def _open_regular(path: Path) -> tuple[BinaryIO, int] | Skipped:
    """``(binary handle, size)`` of a regular file, or why not.

    ``stat`` comes first so that a FIFO or device is never opened (opening a FIFO
    blocks until a writer appears); ``O_NONBLOCK`` and a second check on the opened
    descriptor cover a file swapped for one between the two calls.
    """
    try:
        st = os.stat(path)
    except OSError as exc:
        return Skipped(str(path), f"unreadable ({exc.strerror or exc})")
    if not stat.S_ISREG(st.st_mode):
        return Skipped(str(path), f"not a regular file ({_kind(st.st_mode)})")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        return Skipped(str(path), f"unreadable ({exc.strerror or exc})")
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        return Skipped(str(path), f"not a regular file ({_kind(st.st_mode)})")
    return os.fdopen(fd, "rb"), st.st_size


def _read_bounded(handle: BinaryIO, size: int, limit: int, source: str) -> bytes | Skipped:
    if size > limit:
        return Skipped(source, _too_large(limit))
    try:
        data = handle.read(limit + 1)  # the file may have grown since stat
    except OSError as exc:
        return Skipped(source, f"unreadable ({exc.strerror or exc})")
    if len(data) > limit:
        return Skipped(source, _too_large(limit))
    return data


def _decode_text(data: bytes, source: str) -> str | Skipped:
    if b"\x00" in data[:8192]:
        return Skipped(source, "binary file")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return Skipped(source, f"not valid UTF-8 (byte {exc.start})")
    if not text.strip():
        return Skipped(source, "empty")
    return text


def read_file(
    path: Path, fields: RecordFields | None = None, defer: bool = False,
    max_document_bytes: int = DEFAULT_MAX_DOCUMENT_BYTES,
) -> Iterator[Document | Skipped | DocumentFile]:
    """Read one regular file by its suffix; unknown suffixes are read as plain text.

    Document formats go by their bytes: a PDF or Office file named ``.txt`` is read as
    what it is (:mod:`semsearch.formats`).
    """
    fields = fields or RecordFields()
    opened = _open_regular(path)  # first: sniffing a FIFO's bytes would block too
    if isinstance(opened, Skipped):
        yield opened
        return
    handle, size = opened
    with handle:
        if path.suffix.lower() in DOCUMENT_SUFFIXES or formats.sniff_file(path, lenient=False):
            yield _document_file(path, defer)
            return
        suffix = path.suffix.lower()
        source = str(path.resolve())
        doc_id = path.as_posix()
        if suffix in (".jsonl", ".ndjson", ".csv"):  # streamed: bounded per line or row, not per file
            head = handle.peek(8192)[:8192] if hasattr(handle, "peek") else b""
            if head and head.count(0) > _BINARY_NUL_FRACTION * len(head):
                yield Skipped(str(path), "binary file")
                return
            if not size:
                yield Skipped(str(path), "empty")
                return
            lines = _bounded_lines(handle, max_document_bytes)
            if suffix == ".csv":
                yield from _csv_records(lines, doc_id, source, fields, max_document_bytes)
            else:
                yield from _jsonl_records(lines, doc_id, source, fields, max_document_bytes)
            return
        data = _read_bounded(handle, size, max_document_bytes, str(path))
    if isinstance(data, Skipped):
        yield data
        return
    text = _decode_text(data, str(path))
    if isinstance(text, Skipped):
        yield text
        return
    if suffix == ".json":
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


def _bounded_lines(handle, limit: int) -> Iterator[tuple[int, bytes | None]]:
    """``(line number, bytes)`` of each line; ``None`` for a line over ``limit`` bytes (then skipped past)."""
    number = 0
    while True:
        line = handle.readline(limit + 1)
        if not line:
            return
        number += 1
        if len(line) > limit and not line.endswith(b"\n"):
            while True:  # the rest of the line, in bounded pieces
                piece = handle.readline(1 << 20)
                if not piece or piece.endswith(b"\n"):
                    break
            yield number, None
        else:
            yield number, line


def read_stdin(
    stream: IO, fields: RecordFields, max_document_bytes: int = DEFAULT_MAX_DOCUMENT_BYTES
) -> Iterator[Document | Skipped]:
    """Standard input: JSON lines when it starts with ``{``, else one text document.

    Read as bytes and never without bound: JSON lines one line at a time (each at
    most ``max_document_bytes``), a text up to ``max_document_bytes`` (a longer one is
    skipped without reading the rest, so ``< /dev/zero`` ends).
    """
    raw = _as_binary(stream)
    head = raw.read(min(_SNIFF_BYTES, max_document_bytes + 1))
    first = head.lstrip(b" \t\r\n").removeprefix(b"\xef\xbb\xbf").lstrip(b" \t\r\n")[:1]
    if first == b"{":
        lines = _bounded_lines(_Prefixed(head, raw), max_document_bytes)
        yield from _jsonl_records(lines, "stdin", "-", fields, max_document_bytes)
        return
    data = head + raw.read(max(0, max_document_bytes + 1 - len(head)))
    if len(data) > max_document_bytes:
        yield Skipped("-", _too_large(max_document_bytes, "standard input is "))
        return
    text = _decode_text(data, "-")
    if isinstance(text, Skipped):
        yield Skipped("-", "empty standard input" if text.reason == "empty" else text.reason)
        return
    yield Document("stdin", text.strip(), _text_title(text, ".txt"), {}, "-")


def _as_binary(stream: IO):
    """The bytes under a text stream (``sys.stdin.buffer``), or an adapter for an in-memory one."""
    raw = getattr(stream, "buffer", None)
    if raw is not None:
        return raw
    if isinstance(stream, io.TextIOBase) or not isinstance(stream.read(0), bytes):
        return _Encoded(stream)
    return stream


class _Encoded:
    """A text stream read as UTF-8 bytes (``io.StringIO`` in tests)."""

    def __init__(self, stream) -> None:
        self.stream = stream

    def read(self, size: int = -1) -> bytes:
        return self.stream.read(size).encode("utf-8", "surrogateescape")

    def readline(self, size: int = -1) -> bytes:
        return self.stream.readline(size).encode("utf-8", "surrogateescape")


class _Prefixed:
    """``head`` (already read) followed by the rest of ``stream``, line by line."""

    def __init__(self, head: bytes, stream) -> None:
        self.head, self.stream = head, stream

    def readline(self, limit: int) -> bytes:
        if not self.head:
            return self.stream.readline(limit)
        end = self.head.find(b"\n", 0, limit)
        if end >= 0 or len(self.head) >= limit:
            cut = end + 1 if end >= 0 else limit
            line, self.head = self.head[:cut], self.head[cut:]
            return line
        line, self.head = self.head, b""
        return line + self.stream.readline(limit - len(line))


def _text_title(text: str, suffix: str) -> str | None:
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        if suffix in (".md", ".markdown"):
            return line.lstrip("#").strip() if line.startswith("#") else None
        return line[:200] if len(line) <= 200 else None
    return None


def _parse_json(text: str) -> object:
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("nested too deeply") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"malformed JSON ({exc.msg})") from None


def _jsonl_records(
    lines: Iterable[tuple[int, bytes | None]], name: str, source: str, fields: RecordFields, limit: int
) -> Iterator[Document | Skipped]:
    for number, line in lines:
        where = f"{name}:{number}"
        if line is None:
            yield Skipped(where, _too_large(limit, "line "))
            continue
        try:
            text = line.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError as exc:
            yield Skipped(where, f"not valid UTF-8 (byte {exc.start})")
            continue
        if not text.strip():
            continue
        try:
            record = _parse_json(text)
        except ValueError as exc:
            yield Skipped(where, str(exc))
            continue
        yield _record(record, where, name, number, source, fields)


def _csv_records(
    lines: Iterable[tuple[int, bytes | None]], name: str, source: str, fields: RecordFields, limit: int
) -> Iterator[Document | Skipped]:
    """Rows of a CSV file; a bad row (undecodable, a NUL, too large, malformed) is skipped alone."""
    too_long: set[int] = set()

    def text_lines() -> Iterator[str]:
        for number, line in lines:
            if line is None:
                too_long.add(number)
                line = b"\n"
            elif number == 1:
                line = line.removeprefix(b"\xef\xbb\xbf")
            # Undecodable bytes survive as surrogates, so the row they are in can be skipped alone.
            yield line.decode("utf-8", "surrogateescape")

    # The csv module refuses fields over 128 KiB by default (a CSV of articles could not be
    # read at all); this is process-wide state, and only ever raised.
    csv.field_size_limit(max(csv.field_size_limit(), limit))
    reader = csv.reader(text_lines())
    header: list[str] | None = None
    last_line = 0
    while True:
        first_line = last_line + 1
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            last_line = reader.line_num
            yield Skipped(f"{name}:{first_line}", f"malformed CSV row ({exc})")
            continue
        last_line = reader.line_num
        where = f"{name}:{first_line}"
        if header is None:
            problem = _row_problem(row, too_long, first_line, last_line, limit)
            if problem:
                yield Skipped(name, f"unusable CSV header: {problem}")
                return
            header = row
            continue
        if not row:
            continue
        problem = _row_problem(row, too_long, first_line, last_line, limit)
        if problem:
            yield Skipped(where, problem)
            continue
        if len(row) > len(header):
            yield Skipped(where, f"{len(row)} fields, but the header names {len(header)}")
            continue
        record = dict(zip(header, row + [None] * (len(header) - len(row))))
        yield _record(record, where, name, first_line, source, fields)


def _row_problem(row: list[str], too_long: set[int], first: int, last: int, limit: int) -> str | None:
    if any(first <= n <= last for n in too_long) or sum(len(f) for f in row) > limit:
        return _too_large(limit, "row ")
    for value in row:
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "not valid UTF-8"
        if "\x00" in value:
            return "a NUL byte (binary data)"
    return None


def read_records(
    text: str, suffix: str, name: str, source: str, fields: RecordFields
) -> Iterator[Document | Skipped]:
    """Records of a JSONL, JSON or CSV text already in memory; a bad record is skipped, not fatal."""
    if suffix == ".json":
        try:
            data = _parse_json(text)
        except ValueError as exc:
            yield Skipped(name, str(exc))
            return
        records = data if isinstance(data, list) else [data]
        for number, record in enumerate(records, start=1):
            yield _record(record, f"{name}[{number - 1}]", name, number, source, fields)
        return
    encoded = io.BytesIO(text.encode("utf-8", "surrogateescape"))
    lines = _bounded_lines(encoded, len(encoded.getbuffer()) + 1)
    if suffix == ".csv":
        yield from _csv_records(lines, name, source, fields, DEFAULT_MAX_DOCUMENT_BYTES)
    else:
        yield from _jsonl_records(lines, name, source, fields, DEFAULT_MAX_DOCUMENT_BYTES)


def _scalar(value, what: str) -> str | None:
    """A record field as text: strings as they are, finite numbers written out; None if empty.

    A list or an object is refused rather than stored as its Python repr.
    """
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        raise ValueError(f"the {what} field is a boolean, not text")
    if isinstance(value, (int, float)):
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"the {what} field is {value}, not text")
        return str(value)
    kind = "a list" if isinstance(value, list) else "an object" if isinstance(value, dict) else type(value).__name__
    raise ValueError(f"the {what} field is {kind}, not text")


def _record(record, where: str, name: str, number: int, source: str, fields: RecordFields) -> Document | Skipped:
    if not isinstance(record, dict):
        return Skipped(where, "record is not a JSON object")
    missing = [f for f in fields.text if f not in record]
    if len(missing) == len(fields.text):
        return Skipped(where, f"no {' or '.join(repr(f) for f in fields.text)} field")
    try:
        parts = [_scalar(record.get(f), repr(f)) for f in fields.text]
        raw_id = _scalar(record.get(fields.id), f"id ({fields.id!r})")
        title = _scalar(record.get(fields.title), f"title ({fields.title!r})")
    except ValueError as exc:
        return Skipped(where, str(exc))
    text = " ".join(p.strip() for p in parts if p and p.strip())
    if not text:
        return Skipped(where, "empty text")
    doc_id = raw_id if raw_id is not None else f"{name}#{number}"
    used = {fields.id, fields.title, *fields.text}
    metadata = {k: v for k, v in record.items() if k not in used}
    try:
        document = check_document(Document(doc_id, text, title, metadata, source))
    except InvalidArgument as exc:
        return Skipped(where, str(exc))
    return document


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
