"""Key phrases and topics of a stored index: the orchestration around :mod:`semsearch.keywords`.

:mod:`semsearch.keywords` holds pure functions; this module feeds them what an index
knows: stored texts, document frequencies, stored document vectors and the index's
own embedder.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence

import numpy as np

from . import keywords as kw
from . import topics as tp
from .chunking import chunk_text
from .docvectors import document_vector
from .embedding import Embedder
from .errors import InvalidArgument, NotFound, SemsearchError
from .settings import IndexSettings
from .storing import Store
from .text import coverage
from .text.prefixes import with_prefix

log = logging.getLogger("semsearch")

TOPIC_METHODS = ("lda",)
# Keyword extraction over many documents: documents whose candidate phrases are embedded
# together (shared phrases once, in big batches of short texts), and that batch size.
KEYWORD_GROUP = 64
PHRASE_BATCH = 256


def _check_count(name: str, value: object) -> None:
    """A whole number of at least 1 (``n``, ``words``); bool is not a number here."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgument(f"{name} must be a whole number, not {value!r}")
    if value < 1:
        raise InvalidArgument(f"{name} must be at least 1, not {value}")


def _check_max_words(max_words: object) -> None:
    if isinstance(max_words, bool) or not isinstance(max_words, int) or not 1 <= max_words <= kw.MAX_WORDS:
        raise InvalidArgument(f"max_words must be between 1 and {kw.MAX_WORDS}, not {max_words!r}")


def check_keyword_options(method: str, n: int, diversity: float | None, max_words: int,
                          pool: int | None = None) -> float:
    """Validate keyword options; returns the diversity to use."""
    if method not in kw.METHODS:
        raise InvalidArgument(f"unknown keyword method {method!r}: use one of {', '.join(kw.METHODS)}")
    _check_count("n", n)
    _check_max_words(max_words)
    if pool is not None and method != "embed":
        raise InvalidArgument(f"pool applies to the embed method only, not {method}")
    if pool is not None and pool < 0:
        raise InvalidArgument(f"pool must be 0 (every candidate) or more, not {pool}")
    if diversity is None:
        return kw.DEFAULT_DIVERSITY
    if method != "embed":
        raise InvalidArgument(f"diversity applies to the embed method only, not {method}")
    if not 0.0 <= diversity <= 1.0:
        raise InvalidArgument(f"diversity must be between 0 and 1, not {diversity}")
    return float(diversity)


class Extractor:
    """Keywords and topics over one store, with the index's embedder loaded only if needed."""

    def __init__(self, store: Store, settings: IndexSettings, embedder: Callable[[], Embedder],
                 count_terms: Callable[[], None] | None = None) -> None:
        self.store = store
        self.settings = settings
        self._embedder = embedder
        # Stores the documents term_df has not counted yet (Store.count_terms), before tfidf's first use.
        self._count_terms = count_terms
        self._unreadable: dict[int, float | None] = {}  # pk -> unknown-token share if the model cannot read it
        self._fell_back = 0

    def _cannot_read(self, text: str, pk: int | None) -> float | None:
        """``text``'s unknown-token share when the index's model cannot read it (``coverage.UNKNOWN_OFF``
        or more), else None."""
        if pk is not None and pk in self._unreadable:
            return self._unreadable[pk]
        tokenizer = getattr(self._embedder(), "tokenizer", None)
        share = coverage.unknown_share(tokenizer, text) if tokenizer is not None else 0.0
        found = share if coverage.readable(share) == 0.0 else None
        if pk is not None:
            self._unreadable[pk] = found
        return found

    def _encode_phrases(self, phrases: list[str]) -> np.ndarray:
        return self._embedder().encode(with_prefix(self.settings.get("query_prefix", ""), phrases),
                                       batch_size=PHRASE_BATCH)

    def _text_vector(self, text: str) -> np.ndarray:
        """A text's vector as the index makes a stored document's, from its chunks' vectors."""
        embedder = self._embedder()
        chunks = chunk_text(text, embedder.tokenizer, self.settings.chunk_size, self.settings.chunk_overlap)
        return document_vector(embedder.encode(
            with_prefix(self.settings.get("passage_prefix", ""), [c.text for c in chunks] or [text])),
            self.settings.document_vector)

    def extract(self, text: str, pk: int | None, method: str, n: int, diversity: float, max_words: int,
                encode: Callable[[list[str]], np.ndarray] | None = None,
                documents: int | None = None, pool: int | None = None) -> list[kw.Keyword]:
        analyzer = self.store.analyzer
        if method == "textrank":
            return kw.textrank(text, n, max_words=max_words, analyzer=analyzer)
        if method == "tfidf":
            if documents is None:
                documents = self.store.counts()["documents"]
            if self._count_terms is not None:
                self._count_terms()
                self._count_terms = None
            terms = kw.document_terms(text, analyzer)
            df = self.store.document_frequencies(terms)
            if pk is None:  # a text from outside counts as one more document
                return kw.tfidf(text, {t: df.get(t, 0) + 1 for t in terms}, documents + 1, n, max_words=max_words,
                                analyzer=analyzer)
            return kw.tfidf(text, df, documents, n, max_words=max_words, analyzer=analyzer)
        share = self._cannot_read(text, pk)
        if share is not None:
            # The model cannot read the text (a Chinese one, for the bundled English model): its vectors
            # of the text and the phrases are noise (CSL dev F1@5: embed 0.146, tfidf 0.250), so tfidf.
            self._fell_back += 1
            if self._fell_back == 1:
                log.warning("%.0f%% of the text's tokens are unknown to the model: key phrases by tfidf instead "
                            "of embed for it and any other such text (%s)", 100 * share,
                            "index with --model DIR, a model that reads the language, for embed")
            return self.extract(text, pk, "tfidf", n, diversity, max_words, documents=documents)
        vector = (self.store.document_vector(pk, self.settings.dimension, self.settings.document_vector)
                  if pk is not None
                  else self._text_vector(text))
        return kw.embed(text, encode or self._encode_phrases, n, diversity=diversity, document_vector=vector,
                        max_words=max_words, pool=pool, analyzer=analyzer)

    def keywords(self, doc_id: str | None, text: str | None, method: str, n: int, diversity: float | None,
                 max_words: int, pool: int | None) -> list[kw.Keyword]:
        diversity = check_keyword_options(method, n, diversity, max_words, pool)
        if (doc_id is None) == (text is None):
            raise InvalidArgument("give a document id or a text (one of them)")
        pk = None
        if doc_id is not None:
            record = self.store.document(doc_id)
            if record is None:
                raise NotFound(f"no document {doc_id!r} in the index")
            text, pk = record["text"], record["pk"]
        if not isinstance(text, str) or not text.strip():
            raise InvalidArgument("the text is empty: nothing to extract keywords from")
        return self.extract(text, pk, method, n, diversity, max_words, pool=pool)

    def keywords_many(self, doc_ids: Sequence[str] | None, method: str, n: int, diversity: float | None,
                      max_words: int, pool: int | None,
                      on_progress: Callable[[int, int], None] | None = None) -> Iterator[tuple[str, list[kw.Keyword]]]:
        """``(doc id, keywords)`` per document; ``on_progress(done, total)`` after each."""
        diversity = check_keyword_options(method, n, diversity, max_words, pool)
        if doc_ids is None:
            total = self.store.counts()["documents"]
            rows: Iterable[tuple[int, str, str]] = self.store.iter_texts()
        else:
            found = []
            for doc_id in doc_ids:
                record = self.store.document(doc_id)
                if record is None:
                    raise NotFound(f"no document {doc_id!r} in the index")
                found.append((record["pk"], record["id"], record["text"]))
            total, rows = len(found), found
        documents = self.store.counts()["documents"]
        cache = kw.PhraseVectors(self._encode_phrases) if method == "embed" else None
        done = 0
        iterator = iter(rows)
        while True:
            group = [row for _, row in zip(range(KEYWORD_GROUP), iterator)]
            if not group:
                break
            if cache is not None:
                cache.prefetch(p for pk, _, text in group if self._cannot_read(text, pk) is None
                               for p in kw.embed_pool(text, n, max_words=max_words, pool=pool,
                                                      analyzer=self.store.analyzer)[0])
            for pk, doc_id, text in group:
                yield doc_id, self.extract(text, pk, method, n, diversity, max_words, cache, documents, pool)
                done += 1
                if on_progress:
                    on_progress(done, total)

    def topics(self, method: str, n: int, words: int, max_words: int, seed: int, max_iter: int) -> list[tp.Topic]:
        if method not in TOPIC_METHODS:
            raise InvalidArgument(f"unknown topic method {method!r}: use one of {', '.join(TOPIC_METHODS)}")
        _check_count("n", n)
        _check_count("words", words)
        _check_max_words(max_words)
        ids, texts = [], []
        for _, doc_id, text in self.store.iter_texts():
            ids.append(doc_id)
            texts.append(text)
        if not texts:
            raise SemsearchError("the index has no documents")
        try:
            topics, shares = tp.lda_topics(texts, n, top_words=words, max_words=max_words, seed=seed,
                                           max_iter=max_iter, analyzer=self.store.analyzer)
        except ValueError as exc:
            raise SemsearchError(str(exc)) from None
        dominant = shares.argmax(axis=1)
        for topic in topics:
            members = np.flatnonzero(dominant == topic.topic)
            order = sorted(members, key=lambda i: (-shares[i, topic.topic], ids[i]))
            topic.documents = [(ids[i], float(shares[i, topic.topic])) for i in order]
        return sorted(topics, key=lambda t: (-t.weight, t.topic))
