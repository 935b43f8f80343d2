"""PDF: text page by page with PDFium (pypdfium2), then cleaned.

Why PDFium: bench/pdf_extraction.py measured it against pypdf and pdfminer.six on
the same files: the same words as they extract on a known-text file, 3x pypdf's and
35x pdfminer.six's pages per CPU second there (13x and 44x on real PDFs), and the
least memory (each page is parsed, read and closed in turn).  It is the PDF engine
of Chrome, fuzzed for hostile input; pypdfium2 ships it as a wheel (Apache-2.0 /
BSD-3-Clause).  PDFium is not thread-safe: one PDF is read at a time per process.

Cleaning, per document:
- repeated page headers and footers are dropped: a line (digits ignored, so "Page 3"
  matches "Page 4") that opens or closes 3 or more pages, densely (see _drop_running_lines);
- hyphenation at line ends is repaired ("extra-" + "ordinary" -> "extraordinary"),
  unless the hyphenated word occurs elsewhere in the document (then it is a compound
  that happened to break at its hyphen, and keeps it);
- lines of a paragraph are joined with a space; a short line (heading, a paragraph's
  last line) keeps its line break, so keyword phrases do not run across it.
"""

from __future__ import annotations

import re
import statistics
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from .base import Extracted, Unreadable, assemble, tidy_lines

# A file that takes longer than this is given up between two pages (a page itself is
# parsed by PDFium's C++ and cannot be interrupted; PDFium is fuzzed so it does not hang).
TIME_LIMIT_S = 600.0
NO_TEXT = "no text layer — scanned? OCR is not supported"
# Below this many letters or digits in the whole file, it has no usable text layer.
MIN_TEXT_CHARS = 8
_PDFIUM = threading.Lock()  # PDFium keeps global state: never two documents at once
# Metadata titles that name the tool or the file, not the document.
_JUNK_TITLE = re.compile(r"^(untitled|microsoft (word|powerpoint) - .*|.*\.(docx?|pptx?|pdf|tex|dvi|indd))$", re.I)


def _open(path: Path):
    import pypdfium2 as pdfium

    try:
        return pdfium.PdfDocument(str(path))
    except pdfium.PdfiumError as exc:
        message = str(exc).lower()
        if "password" in message or "security" in message:
            raise Unreadable("encrypted") from None
        detail = re.search(r"PDFium: ([^)]*)", str(exc))
        raise Unreadable(f"corrupt or not a PDF ({detail.group(1) if detail else exc})") from None
    except OSError as exc:
        raise Unreadable(f"unreadable ({exc.strerror or exc})") from None


def iter_pages(pdf, time_limit: float = TIME_LIMIT_S) -> Iterator[str]:
    """The raw text of each page of an open document in turn; one page is open at a time."""
    deadline = time.monotonic() + time_limit
    for index in range(len(pdf)):
        if time.monotonic() > deadline:
            raise Unreadable(f"gave up after {time_limit:.0f} s at page {index + 1} of {len(pdf)}")
        yield _page_text(pdf, index)


def _page_text(pdf, index: int) -> str:
    import pypdfium2 as pdfium

    try:
        page = pdf[index]
    except pdfium.PdfiumError:
        return ""  # one broken page costs that page, not the document
    try:
        textpage = page.get_textpage()
        try:
            return textpage.get_text_range()
        finally:
            textpage.close()
    except pdfium.PdfiumError:
        return ""
    finally:
        page.close()


def read_pdf(path: Path) -> Extracted:
    with _PDFIUM:
        return _read_pdf(path)


def _read_pdf(path: Path) -> Extracted:
    pdf = _open(path)
    try:
        pages = clean_pages(list(iter_pages(pdf)))
        if sum(sum(c.isalnum() for c in page) for page in pages) < MIN_TEXT_CHARS:
            raise Unreadable(NO_TEXT)
        text, starts = assemble(pages)
        title = metadata_title(pdf) or heading_title(pdf, pages[0])
    finally:
        pdf.close()
    return Extracted(text, starts, title, {"format": "pdf", "pages": len(pages)})


# -- cleaning -------------------------------------------------------------------------
_DIGITS = re.compile(r"\d+")
_ROMAN = re.compile(r"^[ivxlcdm]+$", re.I)


def _signature(line: str) -> str:
    """A line with its numbers blanked, for matching running headers and page numbers."""
    key = _DIGITS.sub("#", " ".join(line.split()).lower())
    return "#" if _ROMAN.match(key) else key


def clean_pages(raw: list[str]) -> list[str]:
    """Headers and footers dropped, hyphens repaired, paragraph lines joined (see module doc)."""
    pages = [[line.strip() for line in page.replace("\r\n", "\n").replace("\r", "\n").split("\n")] for page in raw]
    pages = [[line for line in page if line] for page in pages]
    _drop_running_lines(pages)
    hyphenated = _hyphenated_words(pages)
    return [tidy_lines(_join_lines([_mend_marked(line, hyphenated) for line in page], hyphenated))
            for page in pages]


_MARKED = re.compile(r"(\w+)[\ufffe\x02](\w*)")


def _mend_marked(line: str, hyphenated: set[str]) -> str:
    """PDFium joins a line ending in a hyphen to the next, marking the hyphen U+FFFE."""
    if "\ufffe" not in line and "\x02" not in line:
        return line

    def mend(match: re.Match) -> str:
        left, right = match.group(1), match.group(2)
        keep = f"{left}-{right}".lower() in hyphenated
        return f"{left}-{right}" if keep else left + right

    return _MARKED.sub(mend, line)


def _drop_running_lines(pages: list[list[str]], depth: int = 2) -> None:
    """Remove page headers, footers and page numbers.

    A running line is one of a page's first (last) ``depth`` lines whose signature
    opens (closes) at least 3 pages, and at least 40% of the pages between its first
    and last appearance: a book's running head changes by chapter and may sit on
    every other page only, while a body line ("Example 3") that happens to open a
    few pages far apart is not that dense.
    """
    if len(pages) < 3:
        return
    for edge in ("top", "bottom"):
        seen: dict[str, list[int]] = {}
        for number, page in enumerate(pages):
            lines = page[:depth] if edge == "top" else page[-depth:]
            for key in {_signature(line) for line in lines}:
                seen.setdefault(key, []).append(number)
        running = {key for key, where in seen.items()
                   if len(where) >= 3 and len(where) >= 0.4 * (where[-1] - where[0] + 1)}
        if not running:
            continue
        kept = []
        for page in pages:
            page = list(page)
            for _ in range(depth):
                index = 0 if edge == "top" else -1
                if page and _signature(page[index]) in running:
                    page.pop(index)
            kept.append(page)
        # Pages that are all alike (a catalogue, a form) are not all header: when half of
        # the lines would go, these lines are the content.
        if sum(map(len, kept)) >= 0.5 * sum(map(len, pages)):
            pages[:] = kept


_WORD_HYPHEN = re.compile(r"\b(\w+)-(\w+)\b")


def _hyphenated_words(pages: list[list[str]]) -> set[str]:
    """Words written with a hyphen inside a line somewhere in the document ("well-known")."""
    found = set()
    for page in pages:
        for line in page:
            found.update(m.group(0).lower() for m in _WORD_HYPHEN.finditer(line))
    return found


# PDFium marks a hyphen it believes was added at a line break as U+0002 or U+FFFE.
_SOFT_HYPHENS = ("\x02", "\ufffe", "\u00ad")


def _join_lines(lines: list[str], hyphenated: set[str]) -> str:
    if not lines:
        return ""
    # The length of a full line; with few long lines there is no telling, and every break stays.
    lengths = [len(line) for line in lines if len(line) > 20]
    full = statistics.median(lengths) if len(lengths) >= 4 else 0
    out: list[str] = []
    for line in lines:
        if not out:
            out.append(line)
            continue
        previous = out[-1]
        ends_soft = previous.endswith(_SOFT_HYPHENS)
        if ends_soft or (previous.endswith("-") and len(previous) > 1 and previous[-2].isalpha()
                         and line[:1].islower()):
            head = previous.rstrip("-" + "".join(_SOFT_HYPHENS))
            left = re.search(r"(\w+)$", head)
            right = re.match(r"(\w+)", line)
            if ends_soft or not (left and right and f"{left.group(1)}-{right.group(1)}".lower() in hyphenated):
                out[-1] = head + line
                continue
            out[-1] = previous + line  # a compound broken at its own hyphen
            continue
        # A line shorter than most is a heading or the end of a paragraph: keep the break.
        if full and len(previous) >= 0.75 * full:
            out[-1] = previous + " " + line
        else:
            out.append(line)
    return "\n".join(out)


# -- title --------------------------------------------------------------------------
def metadata_title(pdf) -> str | None:
    try:
        title = " ".join((pdf.get_metadata_dict(skip_empty=True).get("Title") or "").split())
    except Exception:  # a broken Info dictionary loses the title, never the text
        return None
    if not title or _JUNK_TITLE.match(title) or not any(c.isalpha() for c in title):
        return None
    return title[:300]


def heading_title(pdf, first_page: str) -> str | None:
    """The first page's largest-type line among its first few (a heading), else its first line."""
    candidates = [line for line in first_page.splitlines()[:12] if 3 <= len(line) <= 200]
    if not candidates:
        return None
    sizes = _line_font_sizes(pdf)
    if sizes:
        best = max(sizes, key=lambda item: item[1])
        body = statistics.median(size for _, size in sizes)
        if best[1] > body * 1.15:
            wanted = " ".join(best[0].split())
            for line in candidates:
                if wanted and (wanted in line or line in wanted):
                    return line
            return wanted[:200] or candidates[0]
    return candidates[0]


def _line_font_sizes(pdf, max_chars: int = 3000) -> list[tuple[str, float]]:
    """``(line, its largest font size)`` for the first lines of page 1."""
    import pypdfium2 as pdfium
    import pypdfium2.raw as raw

    try:
        page = pdf[0]
        textpage = page.get_textpage()
        try:
            count = min(textpage.count_chars(), max_chars)
            text = textpage.get_text_range(0, count)
            lines: list[tuple[str, float]] = []
            current, size = [], 0.0
            for index, char in enumerate(text[:count]):
                if char in "\r\n":
                    if "".join(current).strip():
                        lines.append(("".join(current), size))
                    current, size = [], 0.0
                    continue
                current.append(char)
                size = max(size, raw.FPDFText_GetFontSize(textpage.raw, index))
            if "".join(current).strip():
                lines.append(("".join(current), size))
            return lines
        finally:
            textpage.close()
            page.close()
    except pdfium.PdfiumError:
        return []
