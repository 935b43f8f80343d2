"""Document vectors: one vector per document, made from its stored chunk vectors.

Clustering, ``similar`` and keyword ``embed`` need one vector per document; search
does not (a document's dense score is its best chunk's).  The recipe is an index
setting, ``document_vector``, stored in the index and applied at read time, so it
costs no re-embedding:

``mean``
    the mean of all chunk vectors, re-normalised.  Every chunk weighs the same, so in
    a long document quoted text, boilerplate and signatures outweigh the opening.
``first``
    the first chunk's vector alone: the title and the opening, which is where most
    writing states its topic (news leads, abstracts, a post's own text before what it
    quotes); the rest of a long document is ignored.
``lead`` (the default)
    the first chunk and the mean of all chunks, averaged with equal weight and
    re-normalised: the opening counts as much as the whole document together.

A one-chunk document gets the same vector from every recipe.  Measured in
``bench/docvector_sweep.py`` (see the README, "Document vectors").
"""

from __future__ import annotations

import numpy as np

from .errors import InvalidArgument

DOCUMENT_VECTORS = ("lead", "mean", "first")
DEFAULT_DOCUMENT_VECTOR = "lead"
# Indexes made before the setting existed were clustered with the plain mean; they get
# the default too, because the recipe is applied when read and nothing stored depends
# on it (a stored clustering run keeps its labels).


def check_document_vector(how: str) -> str:
    if how not in DOCUMENT_VECTORS:
        raise InvalidArgument(f"unknown document vector {how!r}: use one of {', '.join(DOCUMENT_VECTORS)}")
    return how


def _unit(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.maximum(norms, 1e-12)


def combine(sums: np.ndarray, counts: np.ndarray, firsts: np.ndarray, how: str) -> np.ndarray:
    """Document vectors from per-document chunk-vector sums, chunk counts and first chunks.

    ``sums`` and ``firsts`` are ``(documents, dimension)``; a document without chunks
    (count 0) gets a zero vector.
    """
    check_document_vector(how)
    means = _unit(sums / np.maximum(counts, 1)[:, None])
    if how == "mean":
        out = means
    elif how == "first":
        out = _unit(firsts)
    else:
        out = _unit(_unit(firsts) + means)
    return out.astype(np.float32)


def document_vector(chunk_vectors: np.ndarray, how: str) -> np.ndarray:
    """One document's vector from its chunk vectors in position order."""
    chunk_vectors = np.atleast_2d(np.asarray(chunk_vectors, dtype=np.float64))
    return combine(chunk_vectors.sum(axis=0)[None, :], np.array([len(chunk_vectors)]), chunk_vectors[:1], how)[0]
