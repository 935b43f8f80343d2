"""How much of a text a model cannot read: the share of its tokens that are the unknown token.

all-MiniLM-L6-v2 (WordPiece, English) has 244 CJK characters in its vocabulary: 65% of the
tokens of Chinese scientific abstracts (CSL) become ``[UNK]``, and its vectors of such text
are noise.  The share is measured when documents are indexed (stored per document, shown
by ``info``, warned about by ``index``) and for every query, where it decides how much the
hybrid fusion trusts the dense side (:func:`fusion_weights`).
"""

from __future__ import annotations

# Queries with at most this share of unknown tokens fuse dense and keyword rankings as
# equals; at or above UNKNOWN_OFF the dense side is dropped (keyword only); linear between.
UNKNOWN_ON = 0.05
UNKNOWN_OFF = 0.30
# Warn on `index` when this share of the corpus' tokens is unknown to the model.
WARN_SHARE = 0.05
# Only so much of a long text is tokenised to measure it.
SAMPLE_CHARS = 20_000


def unknown_tokens(tokenizer, text: str, limit: int = SAMPLE_CHARS) -> tuple[int, int]:
    """``(unknown, total)`` tokens of (the first ``limit`` characters of) ``text``."""
    unk = getattr(tokenizer, "unk_token_id", None)
    ids = tokenizer(text[:limit], add_special_tokens=False, verbose=False)["input_ids"]
    if unk is None:
        return 0, len(ids)
    return sum(1 for i in ids if i == unk), len(ids)


def unknown_share(tokenizer, text: str) -> float:
    unknown, total = unknown_tokens(tokenizer, text)
    return unknown / total if total else 0.0


def fusion_weights(query_unknown: float) -> tuple[float, float]:
    """``(dense, keyword)`` weights for fusing a query's two rankings, from its unknown-token share.

    A model that cannot read the query cannot rank by it: with no unknown tokens both
    sides count fully (today's fusion, exactly); from ``UNKNOWN_OFF`` on only keywords do.
    """
    if query_unknown <= UNKNOWN_ON:
        return 1.0, 1.0
    if query_unknown >= UNKNOWN_OFF:
        return 0.0, 1.0
    return (UNKNOWN_OFF - query_unknown) / (UNKNOWN_OFF - UNKNOWN_ON), 1.0


def remedy(share: float) -> str:
    return (f"{share:.0%} of the indexed text is unknown to the model ([UNK] tokens): dense search cannot "
            "read it, so hybrid search leans on keywords for such queries. Index with a model that reads "
            "the language (--model DIR with a Chinese or multilingual model, e.g. multilingual-e5-small "
            "or bge-m3) for semantic search")
