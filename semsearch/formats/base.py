"""What every extractor returns, the one way it refuses a file, and page assembly."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

# Bump when extraction changes what it produces: the version is part of a file's digest,
# so documents read by an older extractor are read again on the next `index` run.
EXTRACTION_VERSION = 1

# A document's text is held whole (it is stored whole); past this it is refused rather
# than let one file take the machine's memory.  About 25,000 dense pages.
MAX_TEXT_CHARS = 64_000_000


class Unreadable(Exception):
    """A file this format cannot be read from; ``str(exc)`` is the skip reason shown to the user."""


@dataclass(frozen=True)
class Extracted:
    """A document's text, where each page (slide, chapter) starts in it, and its title.

    ``pages[i]`` is the character offset in ``text`` where page ``i + 1`` starts
    (``pages[0] == 0``); empty for a format without pages.
    """

    text: str
    pages: tuple[int, ...] = ()
    title: str | None = None
    metadata: dict = field(default_factory=dict)


def assemble(pages: Iterable[str], separator: str = "\n\n") -> tuple[str, tuple[int, ...]]:
    """Join page texts into one text and the offsets where each page starts.

    Empty pages still get an entry (pointing where the next text starts), so page
    numbers stay those of the original document.
    """
    parts: list[str] = []
    starts: list[int] = []
    length = 0
    for page in pages:
        page = page.strip()
        gap = len(separator) if parts else 0
        starts.append(length + gap)  # an empty page starts where the next text will
        if page:
            if parts:
                parts.append(separator)
            parts.append(page)
            length += gap + len(page)
        if length > MAX_TEXT_CHARS:
            raise Unreadable(f"more than {MAX_TEXT_CHARS:,} characters of text")
    return "".join(parts), tuple(min(start, length) for start in starts)


_SPACES = re.compile(r"[ \t\u00a0\u2000-\u200b\u3000]+")


def tidy_lines(text: str) -> str:
    """Collapse runs of spaces, strip each line, and keep at most one blank line in a row."""
    lines = [_SPACES.sub(" ", line).strip() for line in text.splitlines()]
    out: list[str] = []
    for line in lines:
        if not line and (not out or not out[-1]):
            continue
        out.append(line)
    return "\n".join(out).strip()


def first_line_title(text: str, limit: int = 200) -> str | None:
    """The first non-empty line, if it is short enough to be a title."""
    for line in text.splitlines():
        line = line.strip()
        if line:
            return line if len(line) <= limit and any(c.isalpha() for c in line) else None
    return None
