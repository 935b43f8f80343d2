"""Topics: LDA over the corpus' word counts (the words come from :mod:`semsearch.keywords`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .keywords import Keyword, _analyzer, _check_max_words, candidates
from .text import Analyzer


@dataclass
class Topic:
    """One LDA topic: its top words, its share of the corpus, and the documents it dominates."""

    topic: int
    weight: float
    words: list[Keyword]
    documents: list[tuple[str, float]] = field(default_factory=list)

    def to_dict(self, with_documents: bool = True) -> dict:
        data = {"topic": self.topic, "weight": round(self.weight, 6), "words": [w.to_dict() for w in self.words]}
        if with_documents:
            data["documents"] = [{"id": d, "share": round(share, 6)} for d, share in self.documents]
        return data


def topic_terms(text: str, max_words: int = 1, analyzer: Analyzer | None = None) -> list[str]:
    """The terms LDA counts: content words (``max_words=1``) or all candidate n-grams."""
    if max_words == 1:
        return [t for t in _analyzer(analyzer).scan(text) if t is not None]
    return candidates(text, max_words, analyzer)


def lda_topics(
    texts: Sequence[str],
    n_topics: int = 10,
    *,
    top_words: int = 10,
    max_words: int = 1,
    min_df: int = 2,
    max_df: float = 0.5,
    max_iter: int = 20,
    seed: int = 0,
    analyzer: Analyzer | None = None,
) -> tuple[list[Topic], np.ndarray]:
    """Fit scikit-learn's LatentDirichletAllocation to the texts' term counts.

    Terms are :func:`topic_terms`, kept when they occur in at least ``min_df``
    documents and at most a ``max_df`` fraction of them (both relaxed when that would
    leave nothing, as in a tiny corpus).  Returns the topics (top words with their
    probability in the topic; weight = the topic's share of the corpus) and the
    documents' topic distributions, shape (len(texts), n_topics).
    """
    from sklearn.decomposition import LatentDirichletAllocation
    from sklearn.feature_extraction.text import CountVectorizer

    _check_max_words(max_words)
    if n_topics < 1:
        raise ValueError(f"n_topics must be at least 1, not {n_topics}")
    texts = list(texts)
    if not texts:
        raise ValueError("LDA needs at least one document")

    def terms(text: str) -> list[str]:
        return topic_terms(text, max_words, analyzer)

    counts = None
    for low, high in ((min_df, max_df), (1, 1.0)):
        if len(texts) * high < low:  # sklearn refuses max_df below min_df
            continue
        try:
            vectorizer = CountVectorizer(analyzer=terms, min_df=low, max_df=high)
            counts = vectorizer.fit_transform(texts)
            break
        except ValueError:  # no term left after pruning
            continue
    if counts is None or counts.shape[1] == 0:
        raise ValueError("the documents have no words to model (only stop words?)")
    vocabulary = vectorizer.get_feature_names_out()
    model = LatentDirichletAllocation(
        n_components=n_topics, learning_method="batch", max_iter=max_iter, random_state=seed
    )
    shares = model.fit_transform(counts)
    shares = shares / shares.sum(axis=1, keepdims=True)
    word_probabilities = model.components_ / model.components_.sum(axis=1, keepdims=True)
    weights = shares.sum(axis=0) / shares.sum()
    topics = []
    for k in range(n_topics):
        best = np.argsort(-word_probabilities[k], kind="stable")[:top_words]
        topics.append(Topic(k, float(weights[k]), [Keyword(str(vocabulary[i]), float(word_probabilities[k, i]))
                                                    for i in best]))
    return topics, shares
