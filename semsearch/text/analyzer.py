"""The analyzer protocol: everything semsearch does that depends on the language of a text."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import ClassVar, NamedTuple


class Span(NamedTuple):
    """A token of an original text: ``text[start:end]``, and the key a query term must equal to match it."""

    start: int
    end: int
    key: str


class PhraseWeights(NamedTuple):
    """How keyphrase candidates of a text are weighted (:meth:`Analyzer.phrase_weights`)."""

    fragment: float | None = None  # a 2..max_words piece of a longer run; None: keywords.FRAGMENT_WEIGHT
    title_boost: float = 0.0  # a phrase found in the first line (a title) scores 1 + this times as much
    piece: float = 0.0  # a shorter piece of a run (a single word of it, or part of a short run); 0: none


class Analyzer:
    """What is indexed for full-text search, how a query is read, and what counts as a word.

    One analyzer is recorded in an index's settings (``{"name", "version"}``); the FTS5
    table holds :meth:`index_text` of every title and text, and is rebuilt when the
    recorded analyzer is not the one in use.  Subclasses override the methods.
    """

    name: ClassVar[str] = ""
    version: ClassVar[int] = 0

    def to_stored(self) -> dict:
        return {"name": self.name, "version": self.version}

    def __repr__(self) -> str:
        return f"<analyzer {self.name} v{self.version}>"

    # -- full text --------------------------------------------------------------
    def index_text(self, text: str | None) -> str | None:
        """What FTS5 (``porter unicode61``) is given for a title or text."""
        raise NotImplementedError

    def query(self, text: str) -> str | None:
        """An FTS5 MATCH expression for free user text (every term quoted, so no syntax applies), or None."""
        raise NotImplementedError

    def query_keys(self, text: str) -> set[str]:
        """The keys (see :meth:`spans`) of a query's terms: what a snippet highlights."""
        raise NotImplementedError

    def spans(self, text: str) -> Iterator[Span]:
        """The tokens of an original text with their match keys, for snippets."""
        raise NotImplementedError

    # -- keyphrases, topics, cluster labels -----------------------------------------
    def scan(self, text: str) -> list[str | None]:
        """The text's words in order, lower-cased, with None for stop words and punctuation."""
        raise NotImplementedError

    def runs(self, text: str, keyphrases: bool = False) -> list[tuple[str, ...]]:
        """Maximal runs of content words (candidate phrases are n-grams of these).

        ``keyphrases=True``: the stricter runs keyphrase extraction uses (broken at verbs
        and line ends too); False: the runs whose n-grams are counted as terms.
        """
        raise NotImplementedError

    def graph_words(self, text: str) -> list[str]:
        """The word sequence TextRank links neighbours in."""
        raise NotImplementedError

    def join(self, words: Sequence[str]) -> str:
        """A phrase from its words."""
        return " ".join(words)

    def phrase_weights(self, text: str) -> PhraseWeights:
        """How keyphrase candidates of ``text`` are weighted (see :class:`PhraseWeights`).

        The default (English): the keyword module's fragment weight, no title boost, and no
        pieces (only whole runs and the pieces of runs longer than ``max_words`` are candidates).
        """
        return PhraseWeights()

    def candidates(self, text: str, max_words: int = 3) -> list[str]:
        """Every occurrence of every 1..``max_words``-word n-gram of :meth:`runs`, in text order."""
        phrases = []
        for run in self.runs(text):
            for start in range(len(run)):
                for n in range(1, max_words + 1):
                    if start + n > len(run):
                        break
                    phrases.append(self.join(run[start : start + n]))
        return phrases

    def terms(self, text: str) -> set[str]:
        """The terms whose document frequencies an index keeps: every distinct 1-3-word candidate.

        The set of :meth:`candidates` (``text`` up to 3 words), built faster because the writer
        computes it for every document: each distinct n-gram is joined once, and a run whose
        words :meth:`join` puts spaces between (all of them: English) is joined with spaces.
        That relies on :meth:`join` of one word being the word and on its separator between two
        words depending only on those two (true of both analyzers; ``tests/test_writer.py``
        compares this with the candidates on real texts).
        """
        found: set[str] = set()
        join = self.join
        # An ASCII text's words start and end with a letter or digit, which join (of either
        # analyzer) separates with a space: no need to ask it run by run.
        spaced = text.isascii()
        for run in set(self.runs(text)):
            found.update(run)
            if len(run) < 2:
                continue
            glue = " ".join if spaced or join(run) == " ".join(run) else join
            found.update(map(glue, zip(run, run[1:])))
            found.update(map(glue, zip(run, run[1:], run[2:])))
        return found
