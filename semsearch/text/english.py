"""The English analyzer (``english`` v1): what semsearch did before analyzers existed.

Full text: the raw title and text go to FTS5's ``porter unicode61`` tokenizer as they are;
a query is its ``\\w+`` words, lower-cased, minus a short stop list, each quoted, OR-ed.
Keyphrases: 1-3-word runs between stop words, punctuation and common verb forms.
Indexes made before analyzers were recorded are this analyzer.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from itertools import groupby

from .analyzer import Analyzer, Span
from .porter import stem

# A short English stop list for queries: FTS5 has none, and OR-ing "the" into a query only adds noise.
QUERY_STOP_WORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from further had
    has have having he her here hers herself him himself his how i if in into is it its itself just
    me more most my myself no nor not now of off on once only or other our ours ourselves out over own
    same she should so some such than that the their theirs them themselves then there these they
    this those through to too under until up very was we were what when where which while who whom
    why will with would you your yours yourself yourselves""".split()
)

# English stop words for keyphrase candidates (a fuller list than the query stop list,
# which only has to keep BM25 queries short).
STOP_WORDS = frozenset(
    """a about above across after afterwards again against all almost alone along already also although
    always am among amongst an and another any anyhow anyone anything anyway anywhere are around as at
    back be became because become becomes becoming been before beforehand behind being below beside
    besides between beyond both but by can cannot could did do does doing done down due during each eg
    either else elsewhere enough etc even ever every everyone everything everywhere except few for former
    formerly from further had has have having he hence her here hereafter hereby herein hereupon hers
    herself him himself his how however i ie if in indeed into is it its itself just last latter latterly
    least less many may me meanwhile might mine more moreover most mostly much must my myself namely
    neither never nevertheless next no nobody none noone nor not nothing now nowhere of off often on once
    one only onto or other others otherwise our ours ourselves out over own per perhaps please rather
    same seem seemed seeming seems several she should since so some somehow someone something sometime
    sometimes somewhere still such than that the their theirs them themselves then thence there
    thereafter thereby therefore therein thereupon these they this those though through throughout thru
    thus to together too toward towards under until up upon us used using very via was we well were what
    whatever when whence whenever where whereafter whereas whereby wherein whereupon wherever whether
    which while whither who whoever whole whom whose why will with within without would yet you your
    yours yourself yourselves also can could may might must shall should""".split()
)

# Verb forms that end a keyphrase chunk as a stop word does ("photosynthesis" in "drives
# photosynthesis"; "lets" in "photosynthesis lets plants grow").  Without a part-of-speech
# tagger, only forms that are rarely nouns or adjectives in a key phrase: third-person -s
# forms, irregular pasts, and the past forms of reporting verbs ("proposed", "described"),
# not participles that often are adjectives ("distributed systems", "applied research").
# Used for keyphrase candidates only (candidates() and cluster labels keep the plain stop
# list).  On Inspec validation it adds 0.002-0.006 F1@10 to every method.
VERB_BREAKS = frozenset(
    """allows enables lets makes made gives gave given takes took taken shows showed shown presents proposes
    describes discusses provides requires includes obtains achieves introduces investigates considers
    demonstrates performs compares evaluates implements found finds improves reduces increases becomes became
    carries drives turns uses contains produces leads led gets got helps appears seems yields offers needs
    explains addresses focuses reports suggests indicates concludes argues examines explores creates applies
    allowed enabled presented proposed described discussed provided included obtained achieved introduced
    investigated considered demonstrated performed compared evaluated implemented contained produced helped
    yielded offered explained addressed reported suggested indicated concluded argued examined explored created
    let""".split()
)

# Query words: what FTS5's unicode61 tokenizer would make a token of, near enough.
QUERY_WORD = re.compile(r"\w+", re.UNICODE)
# Keyphrase words: letters/digits, allowing inner hyphens, apostrophes and dots ("x-ray",
# "o'brien", "u.s"), and single punctuation marks (which end a phrase).
TOKEN = re.compile(r"[^\W_]+(?:[-'.][^\W_]+)*|[^\w\s]", re.UNICODE)
# FTS5 unicode61 token characters (letters, digits; no underscore), for snippets.
FTS_TOKEN = re.compile(r"[^\W_]+", re.UNICODE)


def quote(term: str) -> str:
    """A term as an FTS5 string: no query syntax inside can take effect."""
    return '"' + term.replace('"', '""') + '"'


def fts_key(word: str) -> str:
    """What FTS5's ``porter unicode61`` tokenizer makes of a word: folded, then Porter-stemmed."""
    word = word.lower()
    if not word.isascii():  # unicode61 removes diacritics ("café" = "cafe")
        word = "".join(c for c in unicodedata.normalize("NFD", word) if not unicodedata.combining(c))
    return stem(word) if word.isascii() and word.isalpha() else word


# Keyword queries keep a word as often as the query repeats it: FTS5's bm25() sums over
# the query's phrases, so this is BM25's query term frequency, as Lucene and rank_bm25
# count it.  It matters for long natural-language queries (+0.024 nDCG@10 on long
# SciFact-made queries; -0.004 on SciFact's short claims in keyword mode): see
# bench/fusion_sweep.py and the README, "Tuning the search defaults".
QUERY_TERM_FREQUENCY = True


class EnglishAnalyzer(Analyzer):
    """Today's English behaviour, reproduced exactly."""

    name = "english"
    version = 1

    # -- full text ------------------------------------------------------------
    def index_text(self, text: str | None) -> str | None:
        return text  # the porter unicode61 tokenizer does the rest

    def query_words(self, text: str, dedupe: bool = True) -> list[str]:
        words = [m.group(0).lower() for m in QUERY_WORD.finditer(text)]
        kept = [w for w in words if w not in QUERY_STOP_WORDS]
        return list(dict.fromkeys(kept)) if dedupe else kept

    def query(self, text: str) -> str | None:
        words = self.query_words(text, dedupe=not QUERY_TERM_FREQUENCY)
        if not words:
            return None
        return " OR ".join(quote(w) for w in words)

    def query_keys(self, text: str) -> set[str]:
        return {fts_key(w) for w in self.query_words(text)}

    def spans(self, text: str) -> Iterator[Span]:
        for match in FTS_TOKEN.finditer(text):
            yield Span(match.start(), match.end(), fts_key(match.group(0)))

    # -- keyphrases, topics, labels -----------------------------------------------
    def scan(self, text: str) -> list[str | None]:
        # One comprehension over findall: the writer analyzes every text (issue 14's 5,000 chunks/s).
        # A TOKEN that does not start with a letter or digit is one punctuation mark, so
        # `len(t) < 2` drops it too (re's \w is str.isalnum() or "_").
        return [None if len(t) < 2 or t in STOP_WORDS or t.isdigit() else t for t in TOKEN.findall(text.lower())]

    def runs(self, text: str, keyphrases: bool = False) -> list[tuple[str, ...]]:
        if not keyphrases:  # _runs without breaks, in C: scan's tokens are non-empty strings or None
            return [tuple(run) for kept, run in groupby(self.scan(text), bool) if kept]
        return [run for line in text.splitlines() for run in _runs(self.scan(line), VERB_BREAKS)]

    def graph_words(self, text: str) -> list[str]:
        return [t for t in self.scan(text) if t is not None and t not in VERB_BREAKS]


def _runs(tokens: list[str | None], breaks: frozenset[str]) -> list[tuple[str, ...]]:
    """Maximal runs of content words, split at stop words, punctuation and ``breaks``."""
    runs: list[tuple[str, ...]] = []
    current: list[str] = []
    for token in tokens:
        if token is None or token in breaks:
            if current:
                runs.append(tuple(current))
            current = []
        else:
            current.append(token)
    if current:
        runs.append(tuple(current))
    return runs
