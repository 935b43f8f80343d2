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


def detect(text: str) -> str:
    """``zh``, ``ja``, ``ko``, ``en``, ``latin``, ``other``, or ``""`` for a text without letters."""
    sample = text[:SAMPLE_CHARS]
    ascii_part = sample.encode("ascii", "ignore")
    ascii_letters = len(ascii_part) - len(ascii_part.translate(None, _ASCII_LETTERS))
    pure = len(ascii_part) == len(sample)
    letters = ascii_letters + (0 if pure else len(_NON_ASCII_LETTER.findall(sample)))  # = len(_LETTER.findall)
    if not letters:
        return ""
    if pure:
        han = kana = hangul = 0
        latin = ascii_letters
    else:
        han, kana, hangul = len(_HAN.findall(sample)), len(_KANA.findall(sample)), len(_HANGUL.findall(sample))
        latin = ascii_letters + len(_LATIN_EXTENDED.findall(sample))  # = len(_LATIN.findall)
    if kana and kana >= 0.05 * (han + kana) and han + kana >= 0.2 * letters:
        return "ja"
    if hangul >= 0.2 * letters:
        return "ko"
    if han >= 0.2 * letters:
        return "zh"
    if latin >= 0.5 * letters:
        # Lower-casing first is the same only in ASCII (elsewhere it can make ASCII letters: K -> k).
        words = _WORD.findall(sample.lower()) if pure else [w.lower() for w in _WORD.findall(sample)]
        common = sum(map(QUERY_STOP_WORDS.__contains__, words))
        return "en" if len(words) < 20 or common >= 0.02 * len(words) else "latin"
    return "other"


def mix(languages: Counter) -> dict[str, int]:
    return dict(languages.most_common())
