"""Chunking: split a document into overlapping token windows that fit the model."""

from __future__ import annotations

from dataclasses import dataclass

from .errors import SemsearchError

DEFAULT_CHUNK_OVERLAP = 32


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
    A window is moved back to the start of a word rather than open on a word piece.
    """
    return [chunk for chunk, _ in _windows(text, tokenizer, chunk_size, chunk_overlap)]


def chunk_ids(
    text: str, tokenizer, chunk_size: int, chunk_overlap: int = DEFAULT_CHUNK_OVERLAP
) -> tuple[list[Chunk], list[list[int]]]:
    """:func:`chunk_text` and each chunk's token ids (no special tokens), tokenising once.

    The ids are exactly ``tokenizer(chunk.text, add_special_tokens=False)``, so
    ``Embedder.encode_ids`` gives the vectors ``Embedder.encode`` gives the texts.  A
    WordPiece tokenizer splits words independently of their neighbours, so a window's
    slice of the document's ids is its own tokenisation, except where the window cuts a
    word (at its end, or at its start when one word is longer than the step): only those
    chunks (and every chunk of other tokenizers, whose pieces depend on context) are
    tokenised again.
    """
    chunks, ids = [], []
    reusable = _context_free(tokenizer)
    for chunk, window in _windows(text, tokenizer, chunk_size, chunk_overlap):
        if window is None or not reusable:
            window = tokenizer(chunk.text, add_special_tokens=False, verbose=False)["input_ids"]
        chunks.append(chunk)
        ids.append(list(window))
    return chunks, ids


def _context_free(tokenizer) -> bool:
    """Whether a word's pieces never depend on its neighbours (BERT's pre-tokenizer + WordPiece)."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        return False
    return type(backend.pre_tokenizer).__name__ == "BertPreTokenizer" and type(backend.model).__name__ == "WordPiece"


def _windows(text: str, tokenizer, chunk_size: int, chunk_overlap: int):
    """Yield ``(chunk, ids)``: the window's ids when it holds whole words, else None."""
    check_chunking(chunk_size, chunk_overlap)
    encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True, verbose=False)
    offsets = encoded["offset_mapping"]
    input_ids = encoded["input_ids"]
    if len(offsets) <= chunk_size:
        stripped = text.strip()
        start = text.find(stripped) if stripped else 0
        yield Chunk(0, start, start + len(stripped), stripped), input_ids
        return
    word_ids = encoded.word_ids() if hasattr(encoded, "word_ids") else [None] * len(offsets)
    position = 0
    first = 0
    step = chunk_size - chunk_overlap
    while True:
        last = min(first + chunk_size, len(offsets))
        start, end = offsets[first][0], offsets[last - 1][1]
        opens = first == 0 or word_ids[first] is None or word_ids[first] != word_ids[first - 1]
        closes = last == len(offsets) or word_ids[last] is None or word_ids[last] != word_ids[last - 1]
        whole = opens and closes
        yield Chunk(position, start, end, text[start:end]), (input_ids[first:last] if whole else None)
        position += 1
        if last == len(offsets):
            return
        following = first + step
        # Back up to the first piece of the word so no window opens on "##ing".
        while following > first + 1 and word_ids[following] is not None \
                and word_ids[following] == word_ids[following - 1]:
            following -= 1
        first = following
