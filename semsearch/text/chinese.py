"""Chinese words for keyphrases, topics and cluster labels: jieba with part-of-speech tags.

A key phrase is a run of content words: nouns (``n*``), verbal and adjectival nouns (``vn``,
``an``), abbreviations and idioms (``j``, ``l``), and Latin words (``eng``, minus the English
stop list), up to ``MAX_WORDS`` of them, never across punctuation, a stop word (stopwords-iso
``zh``, vendored in ``stopwords_zh.txt`` under its MIT licence) or a word of another class.
Full-text search does not use jieba (it indexes character bigrams), so the segmenter only
matters for keyphrases.  jieba is loaded on first use (about 1 s for its dictionary).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

from .english import STOP_WORDS as ENGLISH_STOP_WORDS
from .english import VERB_BREAKS

# jieba part-of-speech flags of words that may be part of a key phrase.
CONTENT_FLAGS = frozenset({"n", "nr", "nrt", "nrfg", "ns", "nt", "nz", "ng", "vn", "an", "j", "l", "eng"})


@lru_cache(maxsize=1)
def stop_words() -> frozenset[str]:
    path = Path(__file__).with_name("stopwords_zh.txt")
    return frozenset(w for w in path.read_text(encoding="utf-8").split("\n") if w)


@lru_cache(maxsize=1)
def _posseg():
    try:
        import jieba
        import jieba.posseg
    except ImportError:  # pragma: no cover - jieba is a dependency
        from ..errors import SemsearchError

        raise SemsearchError("Chinese keyphrases need the jieba package: pip install jieba") from None
    jieba.setLogLevel(logging.WARNING)
    return jieba.posseg


@lru_cache(maxsize=256)
def tokens(text: str) -> tuple[tuple[str, bool], ...]:
    """``(word, is content)`` for every word jieba finds (punctuation and spaces dropped as breaks)."""
    found: list[tuple[str, bool]] = []
    zh_stop = stop_words()
    for pair in _posseg().cut(text):
        word, flag = pair.word.strip(), pair.flag
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
