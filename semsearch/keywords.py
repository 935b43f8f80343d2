"""Keywords: candidate phrases, keyphrase extraction, LDA topics and class-based TF-IDF.

Candidates are 1-3-word phrases that occur verbatim in the text (lower-cased) and
never cross a stop word or punctuation: stop words split the text into runs
*before* n-grams are formed, so no candidate is a phrase the text does not contain.
What a word, a stop word and a phrase are is the analyzer's business
(:mod:`semsearch.text`): every function takes ``analyzer`` (default: English, the
behaviour measured below); an index passes its own.

Keyphrase extraction ranks *chunks*: a chunk is a maximal run of words between stop
words and punctuation ("optical fiber networks" in "... of optical fiber networks,
...").  A chunk of at most ``max_words`` words is one candidate, scored as it is; a
longer chunk is cut into its 2..``max_words``-word pieces, and those *fragments* score
``FRAGMENT_WEIGHT`` times what their method gives them.  Tuned on Inspec validation
(bench/keyphrases_inspec.py --ablations), preferring whole chunks to ranking every
1-3-gram alike lifts F1@10 from 0.17 to 0.30 (TF-IDF), 0.22 to 0.30 (TextRank) and
0.28 to 0.35 (embed); the smaller pieces of short chunks ("fiber" in "optical fiber")
and single words of long ones never helped, so they are not candidates (which also
means fewer phrases to embed).  Chinese is the exception (the analyzer's
``phrase_weights().piece``): its runs of content words are long, author keywords are
often one or two words of them, and those pieces are candidates at a lower weight
(:mod:`semsearch.text.chinese`).

Methods (each returns ``Keyword(phrase, score)`` best first):

- :func:`tfidf`: ``(1 + log tf) * idf`` with document frequencies from the index;
- :func:`textrank`: PageRank over a word co-occurrence graph (Mihalcea & Tarau 2004),
  a phrase scoring the sum of its words' ranks;
- :func:`embed`: cosine between each phrase's embedding and the document's, with
  Maximal Marginal Relevance for diversity (KeyBERT / EmbedRank style);
- LDA topics over the same words live in :mod:`semsearch.topics`.
"""

from __future__ import annotations

import math
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import NamedTuple

import numpy as np

from .text import ENGLISH, Analyzer
from .text.english import STOP_WORDS, VERB_BREAKS  # noqa: F401  (re-exported: their old home)

MAX_WORDS = 3


def _analyzer(analyzer: Analyzer | None) -> Analyzer:
    return ENGLISH if analyzer is None else analyzer


def candidates(text: str, max_words: int = MAX_WORDS, analyzer: Analyzer | None = None) -> list[str]:
    """Every occurrence of every 1..``max_words``-word candidate phrase, in text order."""
    return _analyzer(analyzer).candidates(text, max_words)


def class_tfidf(
    classes: Mapping[object, Sequence[str]], top_n: int = 10, max_words: int = 2, analyzer: Analyzer | None = None
) -> dict[object, list[tuple[str, float]]]:
    """Top terms of each class by class-based TF-IDF (as BERTopic labels topics).

    ``classes`` maps a class label to the texts in it.  All texts of a class are
    treated as one document: ``tf(t, c)`` is the term's frequency in the class,
    L1-normalised; ``idf(t) = log(1 + A / f(t))`` with ``A`` the average number of
    terms per class and ``f(t)`` the term's frequency over all classes.  Terms are
    candidate phrases of up to ``max_words`` words.
    """
    counts: dict[object, Counter] = {label: Counter() for label in classes}
    for label, texts in classes.items():
        for text in texts:
            counts[label].update(candidates(text, max_words, analyzer))
    totals: Counter = Counter()
    for counter in counts.values():
        totals.update(counter)
    sizes = [sum(c.values()) for c in counts.values()]
    average = (sum(sizes) / len(sizes)) if sizes else 0.0
    labels: dict[object, list[tuple[str, float]]] = {}
    for label, counter in counts.items():
        size = sum(counter.values()) or 1
        scored = [
            (term, (count / size) * math.log(1 + average / totals[term])) for term, count in counter.items()
        ]
        scored.sort(key=lambda item: (-item[1], item[0]))
        labels[label] = scored[:top_n]
    return labels


# -- keyphrase extraction ------------------------------------------------------------------

METHODS = ("tfidf", "textrank", "embed")
# Score multiplier for a piece of a chunk longer than max_words (tuned on Inspec validation:
# 0.1-0.3 are equally good, 0.5 is worse, 1.0 much worse).
FRAGMENT_WEIGHT = 0.3
# MMR trade-off for `embed`: 0 = pure relevance, 1 = pure novelty.
DEFAULT_DIVERSITY = 0.2
TEXTRANK_WINDOW = 2
TEXTRANK_DAMPING = 0.85
# `embed` embeds the max(EMBED_POOL, n + 10) best candidates by TextRank and the
# EMBED_POOL_FREQUENT most frequent ones (see embed_pool).
EMBED_POOL = 20
EMBED_POOL_FREQUENT = 5


class Keyword(NamedTuple):
    """A ranked phrase and its score (higher is better; the scale depends on the method)."""

    phrase: str
    score: float

    def to_dict(self) -> dict:
        return {"phrase": self.phrase, "score": round(float(self.score), 6)}


def _check_max_words(max_words: int) -> None:
    if not 1 <= max_words <= MAX_WORDS:
        raise ValueError(f"max_words must be between 1 and {MAX_WORDS}, not {max_words}")


def phrases(text: str, max_words: int = MAX_WORDS, analyzer: Analyzer | None = None) -> list[tuple[str, bool]]:
    """Every occurrence of every keyphrase candidate in text order, as ``(phrase, whole)``.

    ``whole`` is True for a chunk of at most ``max_words`` words, False for a piece of
    a longer chunk (a *fragment*: 2..``max_words`` consecutive words of it, or single
    words when ``max_words`` is 1), or, where the analyzer weights them (Chinese), any
    shorter piece of a chunk.  Line breaks end chunks too (a heading and the first
    line of the text below it are not one phrase).
    """
    analyzer = _analyzer(analyzer)
    return [(analyzer.join(words), kind == WHOLE)
            for words, kind in _phrase_words(text, max_words, analyzer, analyzer.phrase_weights(text).piece > 0)]


# What a candidate occurrence is (see phrases()): a whole chunk, a 2..max_words piece of a
# longer one, or (only where the analyzer weights them) any other shorter piece.
WHOLE, FRAGMENT, PIECE = "whole", "fragment", "piece"


def _phrase_words(text: str, max_words: int, analyzer: Analyzer,
                  pieces: bool = False) -> list[tuple[tuple[str, ...], str]]:
    """:func:`phrases` as word tuples, each with its kind."""
    _check_max_words(max_words)
    found: list[tuple[tuple[str, ...], str]] = []
    for run in analyzer.runs(text, keyphrases=True):
        if len(run) <= max_words:
            found.append((run, WHOLE))
            if pieces:  # every shorter run of its words
                found.extend((run[start : start + n], PIECE)
                             for start in range(len(run)) for n in range(1, len(run) - start + 1) if n < len(run))
            continue
        for start in range(len(run)):
            if pieces and max_words > 1:
                found.append((run[start : start + 1], PIECE))
            for n in range(min(2, max_words), max_words + 1):
                if start + n > len(run):
                    break
                found.append((run[start : start + n], FRAGMENT))
    return found


class _Table(NamedTuple):
    """Distinct candidates (first occurrence order), their counts, weights and words."""

    unique: list[str]
    counts: Counter
    weights: np.ndarray
    words: dict[str, tuple[str, ...]]


def _candidate_table(text: str, max_words: int, analyzer: Analyzer) -> _Table:
    fragment_weight, title_boost, piece_weight = analyzer.phrase_weights(text)
    kind_weight = {WHOLE: 1.0, FRAGMENT: FRAGMENT_WEIGHT if fragment_weight is None else fragment_weight,
                   PIECE: piece_weight}
    occurrences = _phrase_words(text, max_words, analyzer, piece_weight > 0)
    words: dict[str, tuple[str, ...]] = {}
    counts: Counter = Counter()
    best: dict[str, float] = {}  # a phrase weighs as its best kind of occurrence
    for run, kind in occurrences:
        phrase = analyzer.join(run)
        words.setdefault(phrase, run)
        counts[phrase] += 1
        best[phrase] = max(best.get(phrase, 0.0), kind_weight[kind])
    unique = list(counts)
    weights = np.array([best[p] for p in unique])
    if title_boost and "\n" in text.strip():
        # Any run of words of the title line: a phrase the text has whole may be part of a longer one there.
        title = {analyzer.join(run[start : start + n])
                 for run in analyzer.runs(text.strip().split("\n", 1)[0], keyphrases=True)
                 for start in range(len(run)) for n in range(1, max_words + 1) if start + n <= len(run)}
        weights = weights * np.array([1.0 + title_boost if p in title else 1.0 for p in unique])
    return _Table(unique, counts, weights, words)


def document_terms(text: str, analyzer: Analyzer | None = None) -> set[str]:
    """The terms whose document frequencies an index keeps: every distinct candidate n-gram.

    All 1..``MAX_WORDS``-word phrases (:func:`candidates`), not only the chunks, so a
    phrase's df counts every document containing it, and any ``max_words`` can be scored.
    """
    return _analyzer(analyzer).terms(text)


def _ranked(unique: Sequence[str], scores: np.ndarray, n: int) -> list[Keyword]:
    order = sorted(range(len(unique)), key=lambda i: (-scores[i], i))[:n]
    return [Keyword(unique[i], float(scores[i])) for i in order]


def tfidf(
    text: str,
    document_frequency: Mapping[str, int],
    documents: int,
    n: int = 10,
    *,
    max_words: int = MAX_WORDS,
    analyzer: Analyzer | None = None,
) -> list[Keyword]:
    """Rank candidates by ``(1 + log tf) * idf``, ``idf = log((1 + N) / (1 + df)) + 1``.

    ``document_frequency`` maps a phrase to the number of documents containing it and
    ``documents`` is N: an index passes its own counts (see :func:`document_terms`);
    phrases it lacks count as df 0.  Fragments score ``FRAGMENT_WEIGHT`` times as much.
    """
    unique, counts, weights, _ = _candidate_table(text, max_words, _analyzer(analyzer))
    scores = np.array([
        (1.0 + math.log(counts[p])) * (math.log((1.0 + documents) / (1.0 + document_frequency.get(p, 0))) + 1.0)
        for p in unique
    ])
    return _ranked(unique, scores * weights, n)


def pagerank(
    weights: np.ndarray, damping: float = TEXTRANK_DAMPING, tol: float = 1e-10, max_iter: int = 200
) -> np.ndarray:
    """PageRank of a graph given as a (weighted) adjacency matrix, by power iteration.

    ``weights[i, j]`` is the weight of the edge i -> j.  A node without out-edges
    spreads its rank evenly over all nodes.  Returns ranks summing to 1.
    """
    weights = np.asarray(weights, dtype=np.float64)
    size = weights.shape[0]
    if size == 0:
        return np.zeros(0)
    out = weights.sum(axis=1)
    dangling = out == 0
    transition = np.divide(weights, out[:, None], out=np.zeros_like(weights), where=~dangling[:, None])
    rank = np.full(size, 1.0 / size)
    for _ in range(max_iter):
        spread = rank[dangling].sum() / size
        new = (1.0 - damping) / size + damping * (transition.T @ rank + spread)
        if np.abs(new - rank).sum() < tol:
            rank = new
            break
        rank = new
    return rank / rank.sum()


def word_ranks(
    text: str, window: int = TEXTRANK_WINDOW, damping: float = TEXTRANK_DAMPING, analyzer: Analyzer | None = None
) -> dict[str, float]:
    """TextRank word scores: PageRank over the co-occurrence graph of the text's content words.

    The nodes are the words outside the stop list (as in :func:`candidates`); two words
    are linked, with weight = how often, when they occur within ``window`` words of each
    other in the text with its stop words and punctuation taken out (window 2 = neighbours,
    the setting Mihalcea & Tarau found best, and best on Inspec validation here too).
    """
    if window < 2:
        raise ValueError(f"window must be at least 2, not {window}")
    sequence = _analyzer(analyzer).graph_words(text)
    vocabulary = {word: i for i, word in enumerate(dict.fromkeys(sequence))}
    matrix = np.zeros((len(vocabulary), len(vocabulary)))
    for i, word in enumerate(sequence):
        for other in sequence[i + 1 : i + window]:
            if other != word:
                a, b = vocabulary[word], vocabulary[other]
                matrix[a, b] += 1.0
                matrix[b, a] += 1.0
    ranks = pagerank(matrix, damping)
    return {word: float(ranks[i]) for word, i in vocabulary.items()}


def textrank(
    text: str,
    n: int = 10,
    *,
    max_words: int = MAX_WORDS,
    window: int = TEXTRANK_WINDOW,
    damping: float = TEXTRANK_DAMPING,
    analyzer: Analyzer | None = None,
) -> list[Keyword]:
    """TextRank keyphrases (Mihalcea & Tarau 2004), without a part-of-speech filter.

    Words are ranked by :func:`word_ranks`; adjacent words are merged into phrases
    the way the candidates are formed (chunks between stop words and punctuation), and a
    phrase scores the sum of its words' ranks, relative to the best word (so a score is
    between 0 and ``max_words``).  Fragments score ``FRAGMENT_WEIGHT`` times as much.
    """
    analyzer = _analyzer(analyzer)
    table = _candidate_table(text, max_words, analyzer)
    if not table.unique:
        return []
    scores = _textrank_scores(text, table, window, damping, analyzer)
    return _ranked(table.unique, scores * table.weights, n)


def _textrank_scores(
    text: str, table: _Table, window: int = TEXTRANK_WINDOW, damping: float = TEXTRANK_DAMPING,
    analyzer: Analyzer | None = None,
) -> np.ndarray:
    ranks = word_ranks(text, window, damping, analyzer)
    top = max(ranks.values(), default=1.0)
    return np.array([sum(ranks.get(w, 0.0) for w in table.words[p]) / top for p in table.unique])


def mmr(relevance: np.ndarray, vectors: np.ndarray, n: int, diversity: float) -> list[int]:
    """Maximal Marginal Relevance: pick ``n`` rows, trading relevance against redundancy.

    Greedy: the most relevant row first, then each time the row maximising
    ``(1 - diversity) * relevance - diversity * max cosine to the rows already picked``
    (``vectors`` are unit rows).  ``diversity = 0`` is plain ranking by relevance.
    Returns row indices in the order picked.
    """
    if not 0.0 <= diversity <= 1.0:
        raise ValueError(f"diversity must be between 0 and 1, not {diversity}")
    relevance = np.asarray(relevance, dtype=np.float64)
    count = len(relevance)
    n = min(n, count)
    if n <= 0:
        return []
    if diversity == 0.0:
        return sorted(range(count), key=lambda i: (-relevance[i], i))[:n]
    vectors = np.asarray(vectors, dtype=np.float64)
    chosen = [int(np.argmax(relevance))]
    available = np.ones(count, dtype=bool)
    available[chosen[0]] = False
    redundancy = vectors @ vectors[chosen[0]]
    while len(chosen) < n:
        values = (1.0 - diversity) * relevance - diversity * redundancy
        values[~available] = -np.inf
        pick = int(np.argmax(values))
        chosen.append(pick)
        available[pick] = False
        redundancy = np.maximum(redundancy, vectors @ vectors[pick])
    return chosen


def embed_pool(text: str, n: int = 10, *, max_words: int = MAX_WORDS, pool: int | None = None,
               analyzer: Analyzer | None = None) -> tuple[list[str], np.ndarray]:
    """The candidates :func:`embed` embeds, and their weights.

    Embedding the phrases is nearly all of ``embed``'s cost, so only the ``pool`` best
    candidates by TextRank (:func:`textrank`'s score, fragments weighted) are embedded,
    and the ``EMBED_POOL_FREQUENT`` most frequent ones (TextRank favours longer phrases
    and well-connected words, while a text's subject is often one word it repeats).  ``pool=None``
    means ``max(EMBED_POOL, n + 10)``, ``pool=0`` every candidate.  On Inspec
    validation, with n = 10, this keeps F1@10 (0.353; 0.351 with every candidate) and
    embeds 44% fewer phrases.
    """
    analyzer = _analyzer(analyzer)
    table = _candidate_table(text, max_words, analyzer)
    unique, counts, weights = table.unique, table.counts, table.weights
    size = max(EMBED_POOL, n + 10) if pool is None else pool
    if 0 < size < len(unique):
        scores = _textrank_scores(text, table, analyzer=analyzer) * weights
        order = sorted(range(len(unique)), key=lambda i: (-scores[i], i))
        frequent = sorted(range(len(unique)), key=lambda i: (-counts[unique[i]] * weights[i], i))
        keep = sorted(set(order[:size]) | set(frequent[:EMBED_POOL_FREQUENT]))
        unique, weights = [unique[i] for i in keep], weights[keep]
    return unique, weights


def embed(
    text: str,
    encode: Callable[[list[str]], np.ndarray],
    n: int = 10,
    *,
    diversity: float = DEFAULT_DIVERSITY,
    document_vector: np.ndarray | None = None,
    max_words: int = MAX_WORDS,
    pool: int | None = None,
    analyzer: Analyzer | None = None,
) -> list[Keyword]:
    """Embedding keyphrases: cosine between each phrase and the document, then MMR.

    ``encode`` maps phrases to unit vectors (an index passes its own embedder, so
    phrases get the same layers and pooling as its documents); ``document_vector`` is
    the document's unit vector (default: ``encode([text])``).  The candidates are
    those of :func:`embed_pool` (``pool``).  A phrase's score is its cosine to the
    document (times ``FRAGMENT_WEIGHT`` for fragments); with ``diversity > 0`` the
    list is in the order MMR picked it, so a later phrase can score higher than an
    earlier, more redundant one.
    """
    unique, weights = embed_pool(text, n, max_words=max_words, pool=pool, analyzer=analyzer)
    if not unique:
        return []
    if document_vector is None:
        document_vector = encode([text])[0]
    vectors = np.asarray(encode(unique), dtype=np.float32)
    relevance = (vectors @ np.asarray(document_vector, dtype=np.float32)).astype(np.float64) * weights
    return [Keyword(unique[i], float(relevance[i])) for i in mmr(relevance, vectors, n, diversity)]


class PhraseVectors:
    """A bounded cache in front of an encoder, so phrases shared by documents are embedded once.

    ``prefetch(phrases)`` embeds the missing ones in one call (large batches of short
    texts are much faster than many small calls); calling the object returns vectors
    for phrases, embedding any still missing.
    """

    def __init__(self, encode: Callable[[list[str]], np.ndarray], capacity: int = 50_000) -> None:
        self._encode = encode
        self.capacity = capacity
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()

    def prefetch(self, phrases_: Iterable[str]) -> None:
        missing = [p for p in dict.fromkeys(phrases_) if p not in self._cache]
        if missing:
            for phrase, vector in zip(missing, self._encode(missing)):
                self._cache[phrase] = vector
        while len(self._cache) > self.capacity:
            self._cache.popitem(last=False)

    def __call__(self, phrases_: list[str]) -> np.ndarray:
        missing = [p for p in dict.fromkeys(phrases_) if p not in self._cache]
        fresh = dict(zip(missing, self._encode(missing))) if missing else {}
        rows = []
        for phrase in phrases_:
            vector = fresh.get(phrase)
            if vector is None:
                vector = self._cache[phrase]
                self._cache.move_to_end(phrase)
            rows.append(vector)
        for phrase, vector in fresh.items():
            self._cache[phrase] = vector
        while len(self._cache) > self.capacity:
            self._cache.popitem(last=False)
        return np.stack(rows) if rows else np.zeros((0, 0), dtype=np.float32)
