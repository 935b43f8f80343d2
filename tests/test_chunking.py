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


# -- tokenizers that do not split CJK runs, sentence ends, pieces ------------------------------------

ZH_TEXT = ("深度学习模型在自然语言处理中的应用越来越广泛。" * 3 + "研究人员提出了新的方法！" * 3
           + "实验结果表明该方法有效；" * 3 + "\n") * 8


def whole_run_tokenizer():
    """A WordPiece tokenizer that splits on whitespace only: a space-free Chinese run is one word
    of many pieces, as XLM-R's SentencePiece sees it."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    chars = sorted(set(ZH_TEXT) - {"\n"})
    vocab = {"[UNK]": 0, "[PAD]": 1}
    for char in chars:
        vocab.setdefault(char, len(vocab))
        vocab.setdefault("##" + char, len(vocab))
    model = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]", max_input_chars_per_word=10_000))
    model.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(tokenizer_object=model, unk_token="[UNK]", pad_token="[PAD]")


def test_a_space_free_run_does_not_explode_the_chunk_count():
    tokenizer = whole_run_tokenizer()
    text = ZH_TEXT.replace("\n", "")  # one "word" of 2,000+ pieces
    total = len(tokenizer(text, add_special_tokens=False)["input_ids"])
    assert total > 1000
    chunks = chunk_text(text, tokenizer, 100, 20)
    # Unbounded back-off made nearly one chunk per token; the bound keeps about total / step.
    assert len(chunks) <= total / (100 - 20 - 16) + 2
    assert chunks[0].start == 0 and chunks[-1].end == len(text)
    for previous, chunk in zip(chunks, chunks[1:]):
        assert previous.start < chunk.start < previous.end
        assert chunk.text == text[chunk.start : chunk.end]


def test_windows_end_at_a_chinese_sentence_end():
    tokenizer = whole_run_tokenizer()
    text = ZH_TEXT.replace("\n", "")
    for chunk in chunk_text(text, tokenizer, 100, 20)[:-1]:
        assert chunk.text[-1] in "。！；", chunk.text[-5:]


def test_windows_end_at_a_line_break_when_one_is_near(tiny_embedder):
    lines = [" ".join(["river mountain city"] * 4) for _ in range(12)]
    text = "\n".join(lines)
    chunks = chunk_text(text, tiny_embedder.tokenizer, 60, 10)
    assert len(chunks) > 2
    for chunk in chunks[:-1]:
        assert text[chunk.end] == "\n", repr(text[chunk.end - 5 : chunk.end + 5])


def test_pieces_give_the_same_chunks_as_one_pass(tiny_embedder):
    text = " ".join(f"word{i} river" for i in range(3000))
    whole = chunk_text(text, tiny_embedder.tokenizer, 40, 8)
    from semsearch.chunking import iter_chunks

    pieces = list(iter_chunks(text, tiny_embedder.tokenizer, 40, 8, piece_chars=500))
    assert [(c.start, c.end) for c in pieces] == [(c.start, c.end) for c in whole]


def test_iter_chunks_is_lazy(tiny_embedder):
    """The first chunk of a huge text comes before the whole text is tokenised."""
    from semsearch.chunking import iter_chunks

    calls = []
    tokenizer = tiny_embedder.tokenizer

    def counting(text, **kwargs):
        calls.append(len(text))
        return tokenizer(text, **kwargs)

    text = "river mountain city " * 200_000  # 4 MB
    first = next(iter_chunks(text, counting, 40, 8))
    assert first.start == 0 and max(calls) <= 100_000 and sum(calls) < len(text) / 10
