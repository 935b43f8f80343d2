"""How much of a text a model cannot read: the share of its tokens that are the unknown token.

all-MiniLM-L6-v2 (WordPiece, English) has 244 CJK characters in its vocabulary: 65% of the
tokens of Chinese scientific abstracts (CSL) become ``[UNK]``, and its vectors of such text
are noise.  The share is measured when documents are indexed (stored per document, shown
by ``info``, warned about by ``index``) and for every query.  Hybrid search uses both: a
query the model cannot read gets a smaller dense weight (:func:`fusion_weights`), and a
document it cannot read gets a smaller share of the dense side, none at all from
``UNKNOWN_OFF`` on (:func:`document_weights`): its dense score is noise, and on CSL such
documents' dense scores were what put the default search below keyword search alone.
"""

from __future__ import annotations

from collections.abc import Mapping

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


def readable(unknown: float) -> float:
    """How far the model's vector of a text can be trusted, from its unknown-token share:
    1 up to ``UNKNOWN_ON``, 0 from ``UNKNOWN_OFF``, linear between."""
    if unknown <= UNKNOWN_ON:
        return 1.0
    if unknown >= UNKNOWN_OFF:
        return 0.0
    return (UNKNOWN_OFF - unknown) / (UNKNOWN_OFF - UNKNOWN_ON)


def fusion_weights(query_unknown: float) -> tuple[float, float]:
    """``(dense, keyword)`` weights for fusing a query's two rankings, from its unknown-token share.

    A model that cannot read the query cannot rank by it: with no unknown tokens both
    sides count fully (today's fusion, exactly); from ``UNKNOWN_OFF`` on only keywords do.
    """
    return readable(query_unknown), 1.0


def document_weights(counts: Mapping[str, tuple[int, int]]) -> dict[str, float]:
    """Document id -> the weight of its dense score in a hybrid fusion, from its stored
    ``(unknown, total)`` token counts (:func:`readable` of the share).  Documents without
    counts (indexed before they were measured) are left out: the fusion treats them as
    readable, as it always did."""
    return {doc_id: readable(unknown / total if total else 0.0) for doc_id, (unknown, total) in counts.items()}


def remedy(share: float) -> str:
    return (f"{share:.0%} of the indexed text is unknown to the model ([UNK] tokens): dense search cannot "
            "read it, so hybrid search leans on keywords for such queries. Index with a model that reads "
            "the language (--model DIR with a Chinese or multilingual model, e.g. multilingual-e5-small "
            "or bge-m3) for semantic search")
