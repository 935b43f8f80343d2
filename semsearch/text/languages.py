"""The language of a document, from the scripts of its letters.

Han with kana is Japanese, Hangul Korean, Han alone Chinese (mixed Chinese-English text is
``zh`` when a fifth of its letters are Han); Latin letters are ``en`` (the script cannot
tell English from French: ``latin`` when, in a text of 20 words or more, fewer than 2%
are common English words); anything else ``other``.  Stored per document, filterable as ``--where lang=zh``.
"""

from __future__ import annotations

import re
import string
from collections import Counter

from .english import QUERY_STOP_WORDS

SAMPLE_CHARS = 20_000
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f]")
_KANA = re.compile(r"[\u3040-\u30ff\u31f0-\u31ff\uff66-\uff9f]")
_HANGUL = re.compile(r"[\uac00-\ud7af\u1100-\u11ff\u3131-\u318e]")
_LATIN = re.compile(r"[A-Za-z\u00c0-\u024f]")
_LETTER = re.compile(r"[^\W\d_]")
_WORD = re.compile(r"[A-Za-z]+")


# The same counts, faster (the writer detects every document): ASCII letters are counted
# by bytes.translate, and only the non-ASCII characters go through regular expressions.
_ASCII_LETTERS = string.ascii_letters.encode()
_NON_ASCII_LETTER = re.compile(r"[^\W\d_\x00-\x7f]")
_LATIN_EXTENDED = re.compile(r"[\u00c0-\u024f]")  # _LATIN beyond A-Z, a-z (not all letters: × ÷)
_ASCII_RUNS = re.compile(r"[\x00-\x7f]+")
_ASCII_WORDS_ONLY = bytes(c if chr(c) in string.ascii_letters else 32 for c in range(256))
_STOP_WORDS_ASCII = frozenset(w.encode() for w in QUERY_STOP_WORDS if w.isascii())


def detect(text: str) -> str:
    """``zh``, ``ja``, ``ko``, ``en``, ``latin``, ``other``, or ``""`` for a text without letters."""
    sample = text[:SAMPLE_CHARS]
    ascii_part = sample.encode("ascii", "ignore")
    ascii_letters = len(ascii_part) - len(ascii_part.translate(None, _ASCII_LETTERS))
    pure = len(ascii_part) == len(sample)
    rest = "" if pure else _ASCII_RUNS.sub("", sample)  # the non-ASCII characters: all the scans below need
    letters = ascii_letters + len(_NON_ASCII_LETTER.findall(rest))  # = len(_LETTER.findall(sample))
    if not letters:
        return ""
    han, kana, hangul = len(_HAN.findall(rest)), len(_KANA.findall(rest)), len(_HANGUL.findall(rest))
    latin = ascii_letters + len(_LATIN_EXTENDED.findall(rest))  # = len(_LATIN.findall(sample))
    if kana and kana >= 0.05 * (han + kana) and han + kana >= 0.2 * letters:
        return "ja"
    if hangul >= 0.2 * letters:
        return "ko"
    if han >= 0.2 * letters:
        return "zh"
    if latin >= 0.5 * letters:
        # The words of _WORD (maximal runs of ASCII letters), lower-cased, as bytes: every other
        # character becomes a space first ("?" for non-ASCII ones, so they still split words),
        # then bytes.lower, which is str.lower of ASCII letters only (str.lower of the whole
        # text could make ASCII letters: K -> k).
        words = sample.encode("ascii", "replace").lower().translate(_ASCII_WORDS_ONLY).split()
        needed, common = 0.02 * len(words), _STOP_WORDS_ASCII.__contains__
        # English text has a common word in every few: the first 100 words almost always settle it.
        english = len(words) < 20 or sum(map(common, words[:100])) >= needed or sum(map(common, words)) >= needed
        return "en" if english else "latin"
    return "other"


def mix(languages: Counter) -> dict[str, int]:
    return dict(languages.most_common())
