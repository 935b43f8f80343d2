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
    check_chunking(chunk_size, chunk_overlap)
    encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True, verbose=False)
    offsets = encoded["offset_mapping"]
    if len(offsets) <= chunk_size:
        stripped = text.strip()
        start = text.find(stripped) if stripped else 0
        return [Chunk(0, start, start + len(stripped), stripped)]
    word_ids = encoded.word_ids() if hasattr(encoded, "word_ids") else [None] * len(offsets)
    chunks: list[Chunk] = []
    first = 0
    step = chunk_size - chunk_overlap
    while True:
        last = min(first + chunk_size, len(offsets))
        start, end = offsets[first][0], offsets[last - 1][1]
        chunks.append(Chunk(len(chunks), start, end, text[start:end]))
        if last == len(offsets):
            return chunks
        following = first + step
        # Back up to the first piece of the word so no window opens on "##ing".
        while following > first + 1 and word_ids[following] is not None \
                and word_ids[following] == word_ids[following - 1]:
            following -= 1
        first = following
