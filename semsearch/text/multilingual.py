"""The multilingual analyzer (``multilingual`` v1): English as before, plus Chinese, Japanese, Korean.

Full text: NFKC first, of the full-width and CJK compatibility characters
(``ＡＰＩ`` = ``API``).  Runs of CJK characters (Han, kana, Hangul), which have
no spaces between words, are indexed as overlapping character bigrams
(``数据库`` -> ``数据 据库``) plus the run's last character alone, so that
every character starts some token and a one-character query can match as a
prefix (``"库"*``).  Bigrams are the classic, measured choice for Chinese
retrieval (Kwok 1997; on CSL title->abstract nDCG@10 0.979 against 0.970 for
jieba words and 0.943 for FTS5 trigrams).  Everything else is left for FTS5's
``porter unicode61`` tokenizer, exactly as the English analyzer does, so a text
without CJK characters is indexed and queried as before.  A query is analyzed
the same way and every term is OR-ed.

Keyphrases: a text without CJK characters goes through the English rules unchanged; one with
them is segmented by jieba with part-of-speech tags (:mod:`semsearch.text.chinese`).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator, Sequence

from . import chinese, english
from .analyzer import PhraseWeights, Span
from .english import QUERY_STOP_WORDS, EnglishAnalyzer, fts_key, quote

# Han (basic, extension A, compatibility, extensions B+), kana, Hangul syllables and jamo,
# CJK symbols are not letters and are left out.
CJK_CLASS = (
    "\u3040-\u30ff\u3100-\u312f\u3131-\u318e\u31a0-\u31bf\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff"
    "\ua960-\ua97f\uac00-\ud7af\ud7b0-\ud7ff\uf900-\ufaff\uff66-\uff9f\u1100-\u11ff"
    "\U00020000-\U0003134f"
)
CJK_RUN = re.compile(f"[{CJK_CLASS}]+")
CJK_CHAR = re.compile(f"[{CJK_CLASS}]")
# A word that is not CJK (letters and digits; like unicode61, no underscore), or a CJK run.
_PIECE = re.compile(f"(?P<cjk>[{CJK_CLASS}]+)|(?P<word>[^\\W_{CJK_CLASS}]+)")
# Query words outside CJK runs, as the English analyzer reads them (\w+, underscores included).
_QUERY_PIECE = re.compile(f"(?P<cjk>[{CJK_CLASS}]+)|(?P<word>[^\\W{CJK_CLASS}]+)")


def has_cjk(text: str) -> bool:
    return CJK_CHAR.search(text) is not None


def bigrams(run: str) -> list[str]:
    """The overlapping character bigrams of a CJK run, and its last character alone."""
    if len(run) == 1:
        return [run]
    return [run[i : i + 2] for i in range(len(run) - 1)] + [run[-1]]


# What NFKC is applied to: full-width and half-width forms (``ＡＰＩ``, ``１２３``, ``ｶﾀｶﾅ``), the
# ideographic space, CJK compatibility ideographs and enclosed/squared CJK forms.  Not all of a
# text: NFKC elsewhere (ligatures, superscripts) would change how English text is indexed.
_COMPATIBLE = re.compile("[\u3000\u3200-\u33ff\uf900-\ufaff\ufe30-\ufe4f\uff01-\uffef]+")


def normalise(text: str) -> str:
    """NFKC of the full-width, half-width and CJK compatibility characters of ``text``."""
    if text.isascii():  # none of them (and str.isascii is O(1): the writer normalises every text)
        return text
    return _COMPATIBLE.sub(lambda m: unicodedata.normalize("NFKC", m.group(0)), text)


class MultilingualAnalyzer(EnglishAnalyzer):
    """English words as before; CJK runs as character bigrams; full-width forms NFKC-normalised."""

    name = "multilingual"
    version = 1

    # -- full text ------------------------------------------------------------
    def index_text(self, text: str | None) -> str | None:
        if text is None or text.isascii():  # no CJK, nothing to normalise
            return text
        text = normalise(text)
        if not has_cjk(text):
            return text
        return CJK_RUN.sub(lambda m: " " + " ".join(bigrams(m.group(0))) + " ", text)

    def _query_terms(self, text: str) -> list[tuple[str, bool]]:
        """``(term, prefix)`` pairs of a query, in order.

        A repeated word is kept as the English analyzer keeps it
        (``english.QUERY_TERM_FREQUENCY``: BM25's query term frequency, measured for long
        English questions); a repeated CJK bigram is not: most repeats are two keywords
        sharing a character pair, and counting them twice cost 0.002 nDCG@10 on CSL dev
        keywords -> abstract (title -> abstract +0.0006).
        """
        terms: list[tuple[str, bool]] = []
        for match in _QUERY_PIECE.finditer(normalise(text)):
            run = match.group("cjk")
            if run is None:
                word = match.group("word").lower()
                if word not in QUERY_STOP_WORDS:
                    terms.append((word, False))
            elif len(run) == 1:
                terms.append((run, True))  # matches the bigrams it starts and a run's last character
            else:
                terms.extend((b, False) for b in bigrams(run)[:-1])
        if not english.QUERY_TERM_FREQUENCY:
            return list(dict.fromkeys(terms))
        seen: set[tuple[str, bool]] = set()
        kept = []
        for term in terms:
            if term in seen and has_cjk(term[0]):
                continue
            seen.add(term)
            kept.append(term)
        return kept

    def query(self, text: str) -> str | None:
        terms = self._query_terms(text)
        if not terms:
            return None
        return " OR ".join(quote(term) + ("*" if prefix else "") for term, prefix in terms)

    def query_keys(self, text: str) -> set[str]:
        return {term if has_cjk(term) else fts_key(term) for term, _ in self._query_terms(text)}

    def spans(self, text: str) -> Iterator[Span]:
        for match in _PIECE.finditer(text):
            if match.group("word") is not None:
                yield Span(match.start(), match.end(), fts_key(normalise(match.group(0))))
                continue
            start, run = match.start(), normalise(match.group(0))
            if len(run) != match.end() - start:  # NFKC changed the length: characters one by one
                for i in range(start, match.end()):
                    yield Span(i, i + 1, normalise(text[i]))
                continue
            for i, char in enumerate(run):
                yield Span(start + i, start + i + 1, char)
                if i + 1 < len(run):
                    yield Span(start + i, start + i + 2, run[i : i + 2])

    # -- keyphrases, topics, labels -----------------------------------------------
    def scan(self, text: str) -> list[str | None]:
        text = normalise(text)
        if not has_cjk(text):
            return super().scan(text)
        return [word if content else None for word, content in chinese.tokens(text)]

    def runs(self, text: str, keyphrases: bool = False) -> list[tuple[str, ...]]:
        text = normalise(text)
        if not has_cjk(text):
            return super().runs(text, keyphrases)
        return chinese.runs(text)

    def graph_words(self, text: str) -> list[str]:
        text = normalise(text)
        if not has_cjk(text):
            return super().graph_words(text)
        return [t for t in self.scan(text) if t is not None]

    def phrase_weights(self, text: str) -> PhraseWeights:
        # Chosen on CSL dev (bench/csl_chinese.py): Chinese runs of content words are long and
        # author keywords are often one or two words of them, so their pieces are candidates
        # too, and a phrase found in the title line counts double (see semsearch.text.chinese).
        if not has_cjk(text):
            return PhraseWeights()
        return PhraseWeights(chinese.FRAGMENT_WEIGHT, chinese.TITLE_BOOST, chinese.PIECE_WEIGHT)

    def join(self, words: Sequence[str]) -> str:
        return chinese.join(words)
