"""Chinese words for keyphrases, topics and cluster labels: jieba with part-of-speech tags.

A key phrase is a run of content words: nouns (``n*``), verbal and adjectival nouns (``vn``,
``an``), abbreviations and idioms (``j``, ``l``), and Latin words (``eng``, minus the English
stop list), up to ``MAX_WORDS`` of them, never across punctuation, a stop word (stopwords-iso
``zh``, vendored in ``stopwords_zh.txt`` under its MIT licence) or a word of another class.
Full-text search does not use jieba (it indexes character bigrams), so the segmenter only
matters for keyphrases.  The segmenter is rjieba (jieba-rs: the same dictionary and tags,
about 30 times faster than jieba's posseg on CSL abstracts) when installed, else jieba;
``SEMSEARCH_SEGMENTER=jieba`` forces jieba.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path

from .english import STOP_WORDS as ENGLISH_STOP_WORDS
from .english import VERB_BREAKS

# jieba part-of-speech flags of words that may be part of a key phrase: nouns, verbs and
# adjectives (Chinese technical terms compound them: 姿态控制, 平方和优化), abbreviations, idioms,
# Latin words.  On CSL dev (tfidf F1@5) nouns alone gave 0.190, with verbs and adjectives 0.218.
CONTENT_FLAGS = frozenset({"n", "nr", "nrt", "nrfg", "ns", "nt", "nz", "ng", "vn", "an", "j", "l", "eng",
                           "v", "vd", "a", "ad", "b"})
# Keyphrase weights for Chinese text (see Analyzer.phrase_weights), chosen on CSL dev
# (bench/csl_chinese.py; tfidf F1@5, each varied with the others as shipped: 0.250).
# FRAGMENT_WEIGHT: a 2-3-word piece of a longer run (0.3: 0.240, 0.4: 0.242, 0.7: 0.250).
# PIECE_WEIGHT: a single word of a longer run, or a shorter part of a short run (醇解产物 in
# 醇解产物研究, 国家主权 in 国家主权思想): more than a quarter of the author keywords found in
# the text are such a piece and were no candidate before (0: 0.234, 0.2: 0.244, 0.3: 0.247,
# 0.5: 0.247).  TITLE_BOOST: a phrase found in the title line as any run of its words, not only
# as one of the title's own candidates (that alone: 0.216 -> 0.234) (0: 0.217, 0.5: 0.243, 2: 0.247).
FRAGMENT_WEIGHT = 0.5
PIECE_WEIGHT = 0.4
TITLE_BOOST = 1.0


@lru_cache(maxsize=1)
def stop_words() -> frozenset[str]:
    path = Path(__file__).with_name("stopwords_zh.txt")
    return frozenset(w for w in path.read_text(encoding="utf-8").split("\n") if w)


@lru_cache(maxsize=1)
def _tagger() -> Callable[[str], list[tuple[str, str]]]:
    """``text -> [(word, part-of-speech flag)]``: rjieba (jieba-rs, ~30x faster) if installed, else jieba."""
    choice = os.environ.get("SEMSEARCH_SEGMENTER", "")
    if choice in ("", "rjieba"):
        try:
            import rjieba

            return rjieba.tag
        except ImportError:
            if choice:
                raise
    try:
        import jieba
        import jieba.posseg
    except ImportError:  # pragma: no cover - jieba is a dependency
        from ..errors import SemsearchError

        raise SemsearchError("Chinese keyphrases need the jieba package: pip install jieba") from None
    jieba.setLogLevel(logging.WARNING)
    return lambda text: [(pair.word, pair.flag) for pair in jieba.posseg.cut(text)]


@lru_cache(maxsize=256)
def tokens(text: str) -> tuple[tuple[str, bool], ...]:
    """``(word, is content)`` for every word jieba finds (punctuation and spaces dropped as breaks)."""
    found: list[tuple[str, bool]] = []
    zh_stop = stop_words()
    for word, flag in _tagger()(text):
        word = word.strip()
        if not word:
            found.append(("", False))
            continue
        if flag == "eng":
            word = word.lower()
            content = (word not in ENGLISH_STOP_WORDS and word not in VERB_BREAKS and len(word) > 1
                       and not word.isdigit())
        else:
            content = flag in CONTENT_FLAGS and word not in zh_stop and (len(word) > 1 or flag != "ng")
        found.append((word, content))
    return tuple(found)


def runs(text: str) -> list[tuple[str, ...]]:
    """Maximal runs of content words."""
    result: list[tuple[str, ...]] = []
    current: list[str] = []
    for word, content in tokens(text):
        if content:
            current.append(word)
        elif current:
            result.append(tuple(current))
            current = []
    if current:
        result.append(tuple(current))
    return result


def join(words: Sequence[str]) -> str:
    """A phrase: Chinese words side by side, a space only between two Latin words."""
    out = ""
    for word in words:
        if out and out[-1].isascii() and out[-1].isalnum() and word[0].isascii() and word[0].isalnum():
            out += " "
        out += word
    return out
