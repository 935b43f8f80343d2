"""Document vectors from words instead of a model: TF-IDF over the analyzer's words, reduced by SVD.

For clustering a corpus the model cannot read (mostly ``[UNK]`` tokens, as Chinese is to the
bundled English model): its vectors of such text carry little but length and punctuation,
while the analyzer's words (jieba words for Chinese) carry the topic.  Latent semantic
analysis (TF-IDF, sublinear term frequency, truncated SVD, unit rows) is the classic,
cheap way to make dense vectors of them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .analyzer import Analyzer

DIMENSIONS = 100


def term_vectors(texts: Sequence[str], analyzer: Analyzer, dimensions: int = DIMENSIONS, seed: int = 0
                 ) -> np.ndarray:
    """Unit vectors (len(texts), <= ``dimensions``), float32, from the texts' content words."""
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfVectorizer

    def words(text: str) -> list[str]:
        return [w for w in analyzer.scan(text) if w is not None]

    texts = list(texts)
    min_df = 2 if len(texts) >= 20 else 1
    try:
        matrix = TfidfVectorizer(analyzer=words, sublinear_tf=True, min_df=min_df).fit_transform(texts)
    except ValueError:  # no words at all
        return np.zeros((len(texts), 1), dtype=np.float32)
    size = min(dimensions, matrix.shape[1] - 1, len(texts) - 1)
    if size >= 2:
        reduced = TruncatedSVD(n_components=size, random_state=seed).fit_transform(matrix)
    else:
        reduced = matrix.toarray()
    norms = np.maximum(np.linalg.norm(reduced, axis=1, keepdims=True), 1e-12)
    return (reduced / norms).astype(np.float32)


def side_by_side(model: np.ndarray, terms: np.ndarray, model_weight: float) -> np.ndarray:
    """Unit rows ``[sqrt(w) * model, sqrt(1 - w) * terms]``: their cosines are ``w * model + (1 - w) * terms``.

    Both inputs are unit rows, so the result is too, and any method that works on cosines
    (spherical K-means, UMAP's cosine metric) sees a convex mix of the two similarities,
    as hybrid search fuses its two rankings.
    """
    if model_weight >= 1.0:
        return model
    if model_weight <= 0.0:
        return terms
    return np.hstack([np.sqrt(model_weight) * model, np.sqrt(1.0 - model_weight) * terms]).astype(np.float32)
