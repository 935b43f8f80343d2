import pytest

from semsearch import SemsearchError
from semsearch.chunking import chunk_text


def test_short_text_is_one_chunk(tiny_embedder):
    chunks = chunk_text("  the cat sat  ", tiny_embedder.tokenizer, 50, 10)
    assert len(chunks) == 1
    assert chunks[0].text == "the cat sat" and (chunks[0].start, chunks[0].end) == (2, 13)


def test_long_text_windows(tiny_embedder):
    tokenizer = tiny_embedder.tokenizer
    text = " ".join(f"word{i} river" for i in range(200))
    chunks = chunk_text(text, tokenizer, 40, 8)
    assert len(chunks) > 5
    total = len(tokenizer(text, add_special_tokens=False)["input_ids"])
    for previous, chunk in zip(chunks, chunks[1:]):
        assert chunk.start < previous.end, "neighbouring chunks overlap"
        assert chunk.start > previous.start
    for chunk in chunks:
        assert chunk.text == text[chunk.start : chunk.end], "chunks are verbatim slices"
        assert len(tokenizer(chunk.text, add_special_tokens=False)["input_ids"]) <= 40
        assert not chunk.text.startswith("##")
    assert chunks[0].start == 0 and chunks[-1].end == len(text)
    assert sum(len(tokenizer(c.text, add_special_tokens=False)["input_ids"]) for c in chunks) >= total


def test_chunk_never_opens_mid_word(tiny_embedder):
    # Character-level pieces: every word is many tokens, so windows would often cut inside one.
    text = " ".join(["mountain", "river", "extraordinary"] * 60)
    for chunk in chunk_text(text, tiny_embedder.tokenizer, 30, 5)[1:]:
        assert text[chunk.start - 1] == " ", chunk.text[:20]


@pytest.mark.parametrize("size, overlap", [(4, 0), (40, 30), (40, -1)])
def test_bad_chunking(tiny_embedder, size, overlap):
    with pytest.raises(SemsearchError):
        chunk_text("text", tiny_embedder.tokenizer, size, overlap)
