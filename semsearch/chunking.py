"""Chunking: split a document into overlapping token windows that fit the model.

Three rules beyond "windows of ``chunk_size`` tokens sharing ``chunk_overlap``":

- A window does not open on a word piece ("##ing"): its start moves back to the start of
  the word, but by at most ``MAX_BACKOFF`` tokens.  Unbounded, a tokenizer that sees a
  whole space-free Chinese run as one "word" (XLM-R SentencePiece: multilingual-e5,
  bge-m3) backed up to one token past the previous start, and a 2,349-character text
  became 1,116 chunks instead of about 4.
- A window that would end mid-sentence ends instead just after a Chinese sentence mark
  (``。！？；`` and their half-width forms ``!?;`` are not used: English text keeps its
  windows) or at a line break, if one lies in its last quarter.
- The text is tokenised in pieces of about ``PIECE_CHARS`` characters cut at a line break
  or a space, so memory is bounded by the piece, not the document (a 50 MB single
  document no longer tokenises at once).  :func:`iter_chunks` yields the chunks as they
  are made; :func:`chunk_text` lists them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from .errors import SemsearchError

DEFAULT_CHUNK_OVERLAP = 32
# How far back (in tokens) a window's start may move to reach the start of a word.
MAX_BACKOFF = 16
# Characters that end a sentence for the "end a window at a sentence" rule, and a line break.
SENTENCE_ENDS = frozenset("。！？；\n")
# Characters tokenised at a time; a piece ends at a line break or space near this size.
PIECE_CHARS = 100_000


def default_overlap(chunk_size: int) -> int:
    """32 tokens, or a quarter of a small window."""
    return min(DEFAULT_CHUNK_OVERLAP, chunk_size // 4)


def resolve_chunking(max_length: int, chunk_size: int | None, chunk_overlap: int | None) -> tuple[int, int]:
    """The chunk size and overlap for a new index: the model's limit less [CLS] and [SEP] by default."""
    limit = max_length - 2
    size = chunk_size or limit
    overlap = default_overlap(size) if chunk_overlap is None else chunk_overlap
    check_chunking(size, overlap)
    if size > limit:
        raise SemsearchError(f"chunk size {size} exceeds the model's limit of {limit} tokens")
    return size, overlap


@dataclass(frozen=True)
class Chunk:
    """A slice ``text[start:end]`` of a document, in characters."""

    position: int
    start: int
    end: int
    text: str


def check_chunking(chunk_size: int, chunk_overlap: int) -> None:
    if chunk_size < 8:
        raise SemsearchError(f"chunk size must be at least 8 tokens, not {chunk_size}")
    if not 0 <= chunk_overlap <= chunk_size // 2:
        raise SemsearchError(
            f"chunk overlap must be between 0 and half the chunk size ({chunk_size // 2}), not {chunk_overlap}"
        )


def chunk_text(text: str, tokenizer, chunk_size: int, chunk_overlap: int = DEFAULT_CHUNK_OVERLAP) -> list[Chunk]:
    """Split ``text`` into windows of at most ``chunk_size`` tokens, ``chunk_overlap`` shared.

    Windows are cut on token boundaries and mapped back to character offsets, so
    every chunk is a verbatim slice of the document (and makes a faithful snippet).
    """
    return list(iter_chunks(text, tokenizer, chunk_size, chunk_overlap))


def chunk_ids(
    text: str, tokenizer, chunk_size: int, chunk_overlap: int = DEFAULT_CHUNK_OVERLAP
) -> tuple[list[Chunk], list[list[int]]]:
    """:func:`chunk_text` and each chunk's token ids (no special tokens).

    The ids are exactly ``tokenizer(chunk.text, add_special_tokens=False)``, so
    ``Embedder.encode_ids`` gives the vectors ``Embedder.encode`` gives the texts.  The
    chunks are tokenised in one batch call (the fast tokenizer's parallel path); the
    window tokenisation of the chunker reads the document a piece at a time and is not
    kept, so that memory stays bounded on huge documents.
    """
    chunks = chunk_text(text, tokenizer, chunk_size, chunk_overlap)
    if not chunks:
        return [], []
    encoded = tokenizer([c.text for c in chunks], add_special_tokens=False, verbose=False)["input_ids"]
    return chunks, [list(ids) for ids in encoded]


def _piece_end(text: str, start: int, size: int) -> int:
    """Where a piece starting at ``start`` ends: a line break, else a space, near ``start + size``."""
    if len(text) - start <= size:
        return len(text)
    limit = start + size
    floor = start + size // 2
    for mark in ("\n", "。", " "):
        cut = text.rfind(mark, floor, limit)
        if cut > 0:
            return cut + 1
    return limit  # no break at all in half a piece: cut anyway


class _Tokens:
    """The document's tokens (character offsets, word ids), read a piece at a time."""

    def __init__(self, text: str, tokenizer, piece_chars: int) -> None:
        self.text, self.tokenizer, self.piece_chars = text, tokenizer, piece_chars
        self.offsets: list[tuple[int, int]] = []
        self.words: list[int | None] = []
        self.base = 0  # the document index of offsets[0]
        self.read_to = 0  # characters tokenised so far
        self.next_word = 0

    @property
    def exhausted(self) -> bool:
        return self.read_to >= len(self.text)

    def end(self) -> int:
        """One past the last token read so far (document index)."""
        return self.base + len(self.offsets)

    def read(self) -> None:
        start = self.read_to
        stop = _piece_end(self.text, start, self.piece_chars)
        encoded = self.tokenizer(self.text[start:stop], add_special_tokens=False, return_offsets_mapping=True,
                                 verbose=False)
        word_ids = encoded.word_ids() if hasattr(encoded, "word_ids") else None
        offsets = encoded["offset_mapping"]
        words = word_ids if word_ids is not None else [None] * len(offsets)
        top = -1
        for (a, b), word in zip(offsets, words):
            self.offsets.append((a + start, b + start))
            self.words.append(None if word is None else word + self.next_word)
            top = max(top, -1 if word is None else word)
        self.next_word += top + 1
        self.read_to = stop

    def ensure(self, index: int) -> None:
        """Read until token ``index`` exists or the text is all read."""
        while index >= self.end() and not self.exhausted:
            self.read()

    def forget(self, index: int) -> None:
        """Drop the tokens before ``index``: no window will look at them again."""
        drop = index - self.base
        if drop > 4096:
            del self.offsets[:drop]
            del self.words[:drop]
            self.base = index

    def offset(self, index: int) -> tuple[int, int]:
        return self.offsets[index - self.base]

    def word(self, index: int) -> int | None:
        return self.words[index - self.base]


def iter_chunks(
    text: str, tokenizer, chunk_size: int, chunk_overlap: int = DEFAULT_CHUNK_OVERLAP, *,
    piece_chars: int = PIECE_CHARS,
) -> Iterator[Chunk]:
    """:func:`chunk_text` as a generator, tokenising the text a piece at a time."""
    check_chunking(chunk_size, chunk_overlap)
    tokens = _Tokens(text, tokenizer, piece_chars)
    tokens.ensure(chunk_size)
    if tokens.exhausted and tokens.end() <= chunk_size:
        stripped = text.strip()
        start = text.find(stripped) if stripped else 0
        yield Chunk(0, start, start + len(stripped), stripped)
        return
    position, first = 0, 0
    while True:
        tokens.ensure(first + chunk_size)
        last = min(first + chunk_size, tokens.end())
        final = last == tokens.end() and tokens.exhausted
        if not final:
            last = _sentence_end(tokens, first, last, chunk_size)
        start, end = tokens.offset(first)[0], tokens.offset(last - 1)[1]
        yield Chunk(position, start, end, text[start:end])
        position += 1
        if final:
            return
        following = max(first + 1, last - chunk_overlap)
        tokens.ensure(following)
        # Back up to the first piece of the word so no window opens on "##ing", but only so far.
        floor = max(first + 1, following - MAX_BACKOFF)
        back = following
        while back > floor and tokens.word(back) is not None and tokens.word(back) == tokens.word(back - 1):
            back -= 1
        if tokens.word(back) is None or tokens.word(back) != tokens.word(back - 1):
            following = back  # else a "word" longer than the bound (a CJK run): open inside it
        first = following
        tokens.forget(first)


def _sentence_end(tokens: _Tokens, first: int, last: int, chunk_size: int) -> int:
    """``last``, or one past a token ending a sentence (or followed by a line break) in the window's last quarter."""
    text = tokens.text
    floor = first + (3 * chunk_size) // 4
    for j in range(last - 1, max(floor, first + 1) - 1, -1):
        end = tokens.offset(j)[1]
        if end > 0 and text[end - 1] in SENTENCE_ENDS:
            return j + 1
        following = tokens.offset(j + 1)[0] if j + 1 < tokens.end() else end
        if "\n" in text[end:following]:
            return j + 1
    return last
