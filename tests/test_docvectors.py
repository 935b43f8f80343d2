"""Document vectors from chunk vectors: the recipes, the stored setting, and the one-pass read."""

import numpy as np
import pytest

from semsearch import Index, SemsearchError
from semsearch.docvectors import DEFAULT_DOCUMENT_VECTOR, DOCUMENT_VECTORS, combine, document_vector
from semsearch.embedding import normalised_mean
from semsearch.errors import InvalidArgument


def unit(v):
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def test_recipes_on_one_document():
    rng = np.random.default_rng(0)
    chunks = unit(rng.normal(size=(4, 8))).astype(np.float32)
    assert np.allclose(document_vector(chunks, "mean"), normalised_mean(chunks), atol=1e-6)
    assert np.allclose(document_vector(chunks, "first"), chunks[0], atol=1e-6)
    lead = document_vector(chunks, "lead")
    assert np.allclose(lead, unit(chunks[0] + normalised_mean(chunks)), atol=1e-6)
    # The lead weighs the opening as much as the whole: it lies between the two, closer to
    # the first chunk than the mean is.
    assert lead @ chunks[0] > document_vector(chunks, "mean") @ chunks[0]
    for how in DOCUMENT_VECTORS:
        assert np.linalg.norm(document_vector(chunks, how)) == pytest.approx(1.0, abs=1e-5)
        # A one-chunk document gets its chunk's vector from every recipe.
        assert np.allclose(document_vector(chunks[2:3], how), chunks[2], atol=1e-6)
    with pytest.raises(InvalidArgument, match="unknown document vector"):
        document_vector(chunks, "median")


def test_combine_matches_one_document_at_a_time():
    rng = np.random.default_rng(1)
    docs = [unit(rng.normal(size=(n, 6))) for n in (1, 3, 2)]
    sums = np.stack([d.sum(axis=0) for d in docs])
    counts = np.array([len(d) for d in docs])
    firsts = np.stack([d[0] for d in docs])
    for how in DOCUMENT_VECTORS:
        together = combine(sums, counts, firsts, how)
        for i, d in enumerate(docs):
            assert np.allclose(together[i], document_vector(d, how), atol=1e-6)


LONG = " ".join(["cats sit on mats in the city"] * 30) + " " + " ".join(["dogs run by the river"] * 60)


@pytest.fixture
def long_index(tmp_path, tiny_model):
    def make(**options):
        idx = Index.open(tmp_path / f"idx-{len(list(tmp_path.iterdir()))}", model=tiny_model, chunk_size=40,
                         **options)
        idx.add([LONG, "a short note about bread and coffee", LONG[::-1]], ids=["long", "short", "reversed"])
        return idx
    return make


def test_stored_setting_drives_every_document_vector(long_index):
    idx = long_index()
    assert idx.settings.document_vector == DEFAULT_DOCUMENT_VECTOR == "lead"
    assert idx.info()["settings"]["document_vector"] == "lead"
    rows = idx.store.conn.execute(
        "SELECT v.vector FROM chunks c JOIN chunk_vectors v ON v.id = c.id JOIN documents d ON d.pk = c.document "
        "WHERE d.id = 'long' ORDER BY c.position"
    ).fetchall()
    chunks = np.stack([np.frombuffer(r[0], dtype=np.float32) for r in rows])
    assert len(chunks) > 3  # long enough for the recipes to differ
    ids, _, _ = idx.store.document_table()
    dimension = idx.settings["dimension"]
    for how in DOCUMENT_VECTORS:
        every = idx.store.document_vectors(dimension, how)
        one = idx.store.document_vector(idx.store.find("long")[0], dimension, how)
        assert np.allclose(every[ids.index("long")], one, atol=1e-6)
        assert np.allclose(one, document_vector(chunks, how), atol=1e-6)
    assert not np.allclose(document_vector(chunks, "lead"), document_vector(chunks, "mean"), atol=1e-3)
    idx.close()


def test_setting_is_chosen_at_creation_and_checked(long_index, tmp_path):
    idx = long_index(document_vector="first")
    path = idx.path
    idx.close()
    with Index.open(path, create=False) as again:
        assert again.settings.document_vector == "first"
        # similar() starts from the stored recipe's vector: its hits score the best chunk's
        # cosine to the long document's FIRST chunk.
        dimension = again.settings["dimension"]
        vector = again.store.document_vector(again.store.find("long")[0], dimension, "first")
        for hit in again.similar("long", k=2):
            rows = again.store.conn.execute(
                "SELECT v.vector FROM chunks c JOIN chunk_vectors v ON v.id = c.id "
                "JOIN documents d ON d.pk = c.document WHERE d.id = ?", (hit.id,)
            ).fetchall()
            best = max(float(np.frombuffer(r[0], dtype=np.float32) @ vector) for r in rows)
            assert hit.score == pytest.approx(best, abs=1e-4)
    with Index.open(path, create=False, document_vector="first"):
        pass
    with pytest.raises(SemsearchError, match=r"document vector mean \(index: first\)"):
        Index.open(path, create=False, document_vector="mean")
    with pytest.raises(InvalidArgument):
        Index.open(tmp_path / "bad", document_vector="median")


def test_old_index_without_the_setting_gets_the_default(long_index):
    idx = long_index()
    path = idx.path
    with idx.store.transaction(bump=False):
        idx.store.conn.execute("DELETE FROM settings WHERE key = 'document_vector'")
    idx.close()
    with Index.open(path, create=False) as again:
        assert again.settings.document_vector == DEFAULT_DOCUMENT_VECTOR
        run = again.cluster("kmeans", k=2, save=False)
        assert set(run.assignments) == {"long", "short", "reversed"}
