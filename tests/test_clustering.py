"""Clustering: the algorithms on synthetic vectors, runs stored in an index (tiny model), the map."""

import json
import sqlite3

import numpy as np
import pytest

from semsearch import Index, SemsearchError
from semsearch.clustering import (
    NOISE,
    Cluster,
    assign_noise,
    auto_eps,
    centre,
    check_params,
    choose_k,
    dbscan,
    describe,
    hdbscan_labels,
    kmeans,
    knee,
    mean_cosine,
    renumber_by_size,
)
from semsearch.mapping import plot_map

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def blobs(sizes=(30, 20, 10), dimension=16, spread=0.05, seed=0, unit=True):
    """Well separated groups: unit vectors around random directions (or points around centres)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(len(sizes), dimension))
    centres *= (1 / np.linalg.norm(centres, axis=1, keepdims=True)) if unit else 5
    points = np.concatenate([c + spread * rng.normal(size=(n, dimension)) for c, n in zip(centres, sizes)])
    truth = np.repeat(np.arange(len(sizes)), sizes)
    if unit:
        points /= np.linalg.norm(points, axis=1, keepdims=True)
    return points.astype(np.float32), truth


def same_partition(a, b) -> bool:
    pairs = set(zip(np.asarray(a).tolist(), np.asarray(b).tolist()))
    return len(pairs) == len(set(np.asarray(a).tolist())) == len(set(np.asarray(b).tolist()))


# -- algorithms ---------------------------------------------------------------------
def test_kmeans_finds_the_groups_and_is_reproducible():
    x, truth = blobs()
    labels, centroids = kmeans(x, 3, seed=0)
    assert same_partition(labels, truth)
    assert np.allclose(np.linalg.norm(centroids, axis=1), 1.0, atol=1e-4)  # spherical
    again, _ = kmeans(x, 3, seed=0)
    assert (labels == again).all()


def test_choose_k_reports_silhouette_per_k():
    x, _ = blobs()
    k, scores = choose_k(x, 6, seed=0)
    assert k == 3 and sorted(scores) == [2, 3, 4, 5, 6]
    assert scores[3] == max(scores.values())


def test_dbscan_with_auto_eps_and_noise():
    x, truth = blobs(sizes=(40, 40, 40), dimension=5, spread=0.3, unit=False)
    x = np.concatenate([x, np.array([[20.0] * 5, [-20.0] * 5], dtype=np.float32)])  # two far outliers
    eps, found = auto_eps(x, 5, "euclidean")
    assert eps > 0 and found["eps_chosen"] == round(eps, 6)
    labels = dbscan(x, eps, 5, "euclidean")
    assert (labels[-2:] == NOISE).all()
    assert same_partition(labels[:120][labels[:120] != NOISE], truth[labels[:120] != NOISE])
    assert len(set(labels[:120].tolist()) - {NOISE}) == 3


def test_knee_of_a_k_distance_curve():
    curve = np.concatenate([np.linspace(0.1, 0.2, 90), np.linspace(0.3, 3.0, 10)])
    assert 85 <= knee(curve) <= 91
    assert knee(np.array([1.0, 1.0, 1.0])) == 2


def test_hdbscan_marks_noise():
    x, truth = blobs(sizes=(40, 40, 40), dimension=5, spread=0.3, unit=False)
    x = np.concatenate([x, np.array([[20.0] * 5], dtype=np.float32)])
    labels = hdbscan_labels(x, min_cluster_size=10, min_samples=None)
    assert labels[-1] == NOISE
    assert len(set(labels.tolist()) - {NOISE}) == 3


def test_assign_noise_moves_noise_to_nearest_centroid():
    x, truth = blobs(sizes=(10, 10))
    labels = truth.copy()
    labels[[0, 15]] = NOISE
    moved = assign_noise(x, labels)
    assert moved[0] == 0 and moved[15] == 1 and (moved >= 0).all()
    assert (assign_noise(x, np.full(20, NOISE)) == NOISE).all()  # nowhere to go


def test_centring_only_anisotropic_vectors():
    x, truth = blobs(sizes=(10,) * 8, dimension=64)
    same, info = centre(x, "auto")
    assert same is x and info["centred"] is False and info["mean_cosine"] < 0.3
    shifted = x + 2.0  # one big shared direction, as an all-layer average has
    shifted /= np.linalg.norm(shifted, axis=1, keepdims=True)
    centred, info = centre(shifted, "auto")
    assert info["centred"] is True and info["mean_cosine"] > 0.3
    assert np.allclose(np.linalg.norm(centred, axis=1), 1.0, atol=1e-5) and mean_cosine(centred) < 0.05
    assert centre(x, True)[1]["centred"] is True and centre(shifted, False)[0] is shifted
    labels, _ = kmeans(centred, 8, seed=0)
    assert same_partition(labels, truth)


def test_renumber_by_size_keeps_noise():
    labels = np.array([5, 5, 2, 2, 2, NOISE, 9])
    assert renumber_by_size(labels).tolist() == [1, 1, 0, 0, 0, NOISE, 2]


def test_describe_labels_and_central_documents():
    x, truth = blobs(sizes=(3, 3))
    labels = truth.copy()
    labels[5] = NOISE
    texts = ["penalty kick goal", "the goalkeeper saved a penalty", "penalty shootout",
             "interest rates rise", "central bank interest rates", "a stray text"]
    clusters = describe(x, labels, [f"d{i}" for i in range(6)], texts, top_keywords=3, representatives=2)
    assert [c.label for c in clusters] == [0, 1, NOISE]
    assert clusters[0].keywords[0] == "penalty" and "interest" in clusters[1].keywords
    assert len(clusters[0].representative) == 2 and set(clusters[0].representative) <= {"d0", "d1", "d2"}
    assert clusters[2].representative == [] and clusters[2].size == 1
    centroid = x[:3].mean(axis=0)
    assert clusters[0].representative[0] == f"d{int(np.argmax(x[:3] @ centroid))}"


def test_describe_drops_terms_generic_to_many_clusters():
    x, truth = blobs(sizes=(2, 2, 2, 2))
    words = ["penalty goal", "interest rates", "galaxy planet", "bread oven"]
    texts = [f"{words[label]} said officials {i}" for i, label in enumerate(truth)]
    clusters = describe(x, truth, [f"d{i}" for i in range(8)], texts, top_keywords=4)
    for c in clusters:
        assert "said" not in c.keywords and "officials" not in c.keywords
        assert set(words[c.label].split()) <= set(c.keywords)


def test_cluster_title_prefers_phrases():
    assert Cluster(0, 5, ["oil", "oil prices", "prices", "crude", "opec"]).title == "oil prices, crude, opec"
    assert Cluster(NOISE, 5, ["x"]).title == "noise"


@pytest.mark.parametrize(
    "method, params, message",
    [
        ("spectral", {}, "unknown clustering method"),
        ("kmeans", {"k": 1}, "at least 2"),
        ("kmeans", {"k": 11}, "more than the 10 documents"),
        ("kmeans", {"k": "many"}, "whole number or 'auto'"),
        ("kmeans", {"k_max": 1}, "k_max must be at least 2"),
        ("kmeans", {"eps": 0.3}, "eps applies to dbscan"),
        ("kmeans", {"assign_noise": True}, "K-means leaves no noise"),
        ("dbscan", {"eps": 0}, "positive number"),
        ("dbscan", {"eps": "wide"}, "positive number or 'auto'"),
        ("dbscan", {"min_samples": 0}, "min_samples must be between 1"),
        ("dbscan", {"k": 3}, "k applies to kmeans"),
        ("hdbscan", {"min_cluster_size": 1}, "min_cluster_size must be between 2"),
        ("hdbscan", {"min_cluster_size": 11}, "min_cluster_size must be between 2"),
        ("hdbscan", {"min_samples": 50}, "min_samples must be between 1"),
        ("hdbscan", {"reduce": "tsne:2"}, "unknown reduction"),
        ("hdbscan", {"reduce": "umap:0"}, "between 1 and 15"),
        ("hdbscan", {"reduce": "pca:x"}, "whole number"),
        ("hdbscan", {"reduce": "none:3"}, "takes no dimension"),
        ("hdbscan", {"reduce": "umap:8"}, "too few for UMAP"),
    ],
)
def test_parameters_out_of_range(method, params, message):
    with pytest.raises(SemsearchError, match=message):
        check_params(method, 10, 16, **params)


def test_check_params_defaults():
    assert check_params("kmeans", 100, 16) == {"vectors": "hybrid", "reduce": "none", "center": "auto", "seed": 0,
                                               "k": "auto", "k_max": 20}
    assert check_params("kmeans", 5, 16)["k_max"] == 4
    assert check_params("hdbscan", 7600, 384) == {
        "vectors": "model", "reduce": "umap:5", "center": "auto", "seed": 0, "min_cluster_size": 76,
        "min_samples": None, "assign_noise": False}
    dbscan_params = check_params("dbscan", 100, 16, reduce="none", eps="0.3")
    assert dbscan_params["eps"] == 0.3 and dbscan_params["metric"] == "cosine"
    assert check_params("dbscan", 100, 16)["metric"] == "euclidean"
    assert check_params("dbscan", 100, 16)["min_samples"] == 5 and check_params("dbscan", 7600, 16)["min_samples"] == 76
    assert check_params("hdbscan", 10**6, 16)["min_cluster_size"] == 100
    with pytest.raises(SemsearchError, match="no documents"):
        check_params("kmeans", 0, 16)
    with pytest.raises(SemsearchError, match="unknown document vectors 'words'"):
        check_params("kmeans", 100, 16, vectors="words")


# -- the map -------------------------------------------------------------------------------
def test_plot_is_a_png_with_every_point(tmp_path):
    x, truth = blobs(sizes=(300, 200, 100), dimension=2, unit=False)
    labels = truth.copy()
    labels[::50] = NOISE
    path = tmp_path / "map.png"
    drawn = plot_map(x, labels, {0: "alpha", 1: "beta", 2: "gamma"}, path, heading="test")
    assert drawn == len(x)
    assert path.read_bytes()[:8] == PNG_SIGNATURE and path.stat().st_size > 5000


def test_plot_with_many_clusters(tmp_path):
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(30), 10)
    drawn = plot_map(rng.normal(size=(300, 2)), labels, {}, tmp_path / "many.png")
    assert drawn == 300 and (tmp_path / "many.png").read_bytes()[:8] == PNG_SIGNATURE


@pytest.mark.parametrize("name, message", [("map.jpg", "ending in .png"), ("no/such/dir/map.png", "no directory")])
def test_plot_path_errors(tmp_path, name, message):
    with pytest.raises(SemsearchError, match=message):
        plot_map(np.zeros((3, 2)), np.zeros(3, dtype=int), {}, tmp_path / name)


# -- runs stored in an index (tiny model: plumbing only) -------------------------------------
TOPICS = {
    "animals": "cat dog bird fish",
    "culture": "music art city history",
    "food": "bread coffee food health",
}


@pytest.fixture
def topic_index(tmp_path, tiny_model):
    path = tmp_path / "idx"
    with Index.open(path, model=tiny_model) as idx:
        texts, ids, metadata = [], [], []
        for topic, words in TOPICS.items():
            for i in range(8):
                texts.append(f"{words} {words.split()[i % 4]} number {i}")
                ids.append(f"{topic}-{i}")
                metadata.append({"topic": topic})
        idx.add(texts, ids=ids, metadata=metadata)
    return path


def test_side_by_side_cosines_are_the_weighted_mean():
    from semsearch.text.termvectors import side_by_side

    rng = np.random.default_rng(0)
    model, terms = (v / np.linalg.norm(v, axis=1, keepdims=True) for v in (rng.normal(size=(20, 8)),
                                                                            rng.normal(size=(20, 5))))
    both = side_by_side(model.astype(np.float32), terms.astype(np.float32), 0.3)
    assert both.shape == (20, 13) and np.allclose(np.linalg.norm(both, axis=1), 1.0, atol=1e-5)
    assert np.allclose(both @ both.T, 0.3 * (model @ model.T) + 0.7 * (terms @ terms.T), atol=1e-5)
    assert side_by_side(model, terms, 1.0) is model and side_by_side(model, terms, 0.0) is terms


def test_document_vectors_hybrid_model_terms(topic_index):
    """Each kind of document vector clusters the three topics; the kind and the model's weight are reported."""
    from sklearn.metrics import v_measure_score

    def score(run) -> float:
        ids = sorted(run.assignments)
        return v_measure_score([i.split("-")[0] for i in ids], [run.assignments[i] for i in ids])

    with Index.open(topic_index, create=False) as idx:
        runs = {kind: idx.cluster("kmeans", k=3, save=False, vectors=kind) for kind in ("hybrid", "model", "terms")}
    assert {kind: (r.details["vectors"], r.details["model_weight"]) for kind, r in runs.items()} == {
        "hybrid": ("hybrid", 0.5), "model": ("model", 1.0), "terms": ("terms", 0.0)}
    assert score(runs["terms"]) == 1.0 and score(runs["hybrid"]) == 1.0
    with pytest.raises(SemsearchError, match="unknown document vectors"):
        Index.open(topic_index, create=False).cluster("kmeans", k=3, vectors="words")


def test_run_is_stored_and_read_back(topic_index):
    with Index.open(topic_index, create=False) as idx:
        result = idx.cluster("kmeans", k=3, name="k3")
        assert result.name == "k3" and result.documents == 24 and sum(result.sizes.values()) == 24
        assert set(result.assignments) == {f"{t}-{i}" for t in TOPICS for i in range(8)}
        stored = idx.clustering("k3")
        assert stored.assignments == result.assignments
        assert [c.to_dict() for c in stored.clusters] == [c.to_dict() for c in result.clusters]
        assert stored.params == result.params == {"vectors": "hybrid", "reduce": "none", "center": "auto", "seed": 0,
                                                    "k": 3}
        assert stored.method == "kmeans" and stored.created == result.created
        assert stored.changes == {"added": 0, "removed": 0, "changed": 0}
        for c in stored.clusters:
            assert c.keywords and len(c.representative) == 3
            assert all(result.assignments[d] == c.label for d in c.representative)
        one = idx.clustering("k3", label=1)
        assert set(one.assignments.values()) == {1} and len(one.assignments) == one.sizes[1]
        assert [c["label"] for c in one.to_dict()["clusters"]] == [1] and one.documents == 24
        (summary,) = idx.clusterings()
        assert summary["name"] == "k3" and summary["clusters"] == 3 and summary["documents"] == 24
        assert summary["noise_fraction"] == 0.0


def test_default_names_replacement_and_delete(topic_index):
    with Index.open(topic_index, create=False) as idx:
        assert idx.cluster("kmeans", k=3).name == "kmeans-k3"
        assert idx.cluster("kmeans", k=3).name == "kmeans-k3-2"
        again = idx.cluster("kmeans", k=2, name="kmeans-k3")
        assert again.details["replaced"] is True
        assert idx.clustering("kmeans-k3").params["k"] == 2
        assert idx.cluster("hdbscan", reduce="pca:5", min_cluster_size=4).name == "hdbscan-mcs4"
        unsaved = idx.cluster("kmeans", k=2, save=False)
        assert unsaved.name is None
        assert [r["name"] for r in idx.clusterings()] == ["kmeans-k3-2", "kmeans-k3", "hdbscan-mcs4"]  # oldest first
        idx.delete_clustering("kmeans-k3-2")
        assert [r["name"] for r in idx.clusterings()] == ["kmeans-k3", "hdbscan-mcs4"]
        with pytest.raises(SemsearchError, match="no clustering named 'kmeans-k3-2'"):
            idx.delete_clustering("kmeans-k3-2")
        assert idx.store.conn.execute(
            "SELECT count(*) FROM cluster_assignments WHERE clustering = 'kmeans-k3-2'").fetchone()[0] == 0


def test_changes_since_a_run(topic_index):
    with Index.open(topic_index, create=False) as idx:
        idx.cluster("kmeans", k=3, name="run")
        idx.add(["a brand new text about fish"], ids=["new"])
        idx.remove(["food-0", "food-1"])
        idx.add(["cat dog bird fish, rewritten"], ids=["animals-0"])
        assert idx.clustering("run").changes == {"added": 1, "removed": 2, "changed": 1}


def test_density_methods_and_assign_noise(topic_index):
    with Index.open(topic_index, create=False) as idx:
        db = idx.cluster("dbscan", reduce="pca:3", eps="auto", min_samples=3)
        assert db.params["eps_auto"] is True and db.params["eps"] == db.details["eps_chosen"] > 0
        assert 0.0 <= db.noise_fraction <= 1.0
        assert db.noise_fraction == pytest.approx(db.details["noise_before_assignment"], abs=1e-4)
        hd = idx.cluster("hdbscan", reduce="none", min_cluster_size=3, assign_noise=True)
        assert NOISE not in hd.assignments.values() or hd.num_clusters == 0
        assert hd.params["assign_noise"] is True


def test_search_inside_a_cluster(topic_index):
    with Index.open(topic_index, create=False) as idx:
        result = idx.cluster("kmeans", k=3, name="t")
        for label in (0, 1, 2):
            members = set(result.members(label))
            for mode in ("dense", "keyword", "hybrid"):
                hits = idx.search("cat music bread", k=50, mode=mode, cluster=f"t:{label}")
                assert hits and {h.id for h in hits} <= members, mode
            assert {h.id for h in idx.search("cat", k=50, mode="dense", cluster=("t", label))} == members
        hits = idx.search("cat", k=50, mode="dense", cluster="t:0", where={"topic": "food"})
        assert {h.id for h in hits} == {d for d in result.members(0) if d.startswith("food")}
        similar = idx.similar(result.members(1)[0], k=50, cluster="t:1")
        assert {h.id for h in similar} == set(result.members(1)[1:])


@pytest.mark.parametrize(
    "cluster, message",
    [("nope:1", "no clustering named 'nope'"), ("t:7", "has no cluster 7"), ("t", "is not NAME:LABEL"),
     ("t:x", "is not a number")],
)
def test_search_cluster_errors(topic_index, cluster, message):
    with Index.open(topic_index, create=False) as idx:
        idx.cluster("kmeans", k=3, name="t")
        with pytest.raises(SemsearchError, match=message):
            idx.search("cat", cluster=cluster)


def test_cluster_errors(tmp_path, tiny_model, topic_index):
    with Index.open(tmp_path / "empty", model=tiny_model) as idx:
        with pytest.raises(SemsearchError, match="no documents to cluster"):
            idx.cluster("kmeans", k=2)
    with Index.open(topic_index, create=False) as idx:
        with pytest.raises(SemsearchError, match="k=30 is more than the 24 documents"):
            idx.cluster("kmeans", k=30)
        with pytest.raises(SemsearchError, match="unknown clustering method"):
            idx.cluster("agglomerative")
        with pytest.raises(SemsearchError, match="bad clustering name"):
            idx.cluster("kmeans", k=2, name="a:b")
        with pytest.raises(SemsearchError, match="ending in .png"):
            idx.cluster("kmeans", k=2, plot=tmp_path / "map.svg")
        with pytest.raises(SemsearchError, match="unknown projection"):
            idx.cluster("kmeans", k=2, plot=tmp_path / "map.png", plot_projection="tsne")
        with pytest.raises(SemsearchError, match="this index has none"):
            idx.clustering("nope")
        assert idx.clusterings() == []  # nothing was stored by the failed runs


def test_plot_from_a_run(topic_index, tmp_path):
    with Index.open(topic_index, create=False) as idx:
        result = idx.cluster("kmeans", k=3, name="p", plot=tmp_path / "p.png", plot_projection="pca")
        assert result.plot == {"path": str(tmp_path / "p.png"), "points": 24, "projection": "pca"}
        assert (tmp_path / "p.png").read_bytes()[:8] == PNG_SIGNATURE
        idx.remove(["animals-0"])
        again = idx.plot_clustering("p", tmp_path / "q.png", projection="pca")
        assert again["points"] == 23


def test_existing_index_without_cluster_tables_gains_them(topic_index):
    conn = sqlite3.connect(topic_index / "index.db")
    for table in ("clusterings", "clusters", "cluster_assignments"):
        conn.execute(f"DROP TABLE {table}")
    conn.commit()
    conn.close()
    with Index.open(topic_index, create=False) as idx:
        assert idx.clusterings() == []
        assert idx.cluster("kmeans", k=3, name="after").documents == 24
        assert idx.search("cat", k=3, mode="keyword")  # the rest still works


# -- the CLI ----------------------------------------------------------------------------------
def cli_run(*args):
    from click.testing import CliRunner

    from semsearch.cli import cli

    return CliRunner().invoke(cli, [str(a) for a in args])


def test_cli_cluster_json_shape(topic_index, tmp_path):
    result = cli_run("cluster", "-i", topic_index, "--method", "kmeans", "-k", "3", "--name", "news-k3",
                     "--plot", tmp_path / "map.png", "--plot-projection", "pca", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert {"name", "method", "params", "clusters", "assignments", "noise_fraction", "created"} <= set(data)
    assert data["name"] == "news-k3" and data["method"] == "kmeans" and data["params"]["k"] == 3
    assert len(data["assignments"]) == 24 and set(data["assignments"].values()) == {0, 1, 2}
    for c in data["clusters"]:
        assert {"label", "size", "keywords", "representative"} <= set(c)
        assert all(data["assignments"][d] == c["label"] for d in c["representative"])
    assert data["plot"]["points"] == 24 and (tmp_path / "map.png").read_bytes()[:8] == PNG_SIGNATURE

    shown = json.loads(cli_run("clusters", "show", "news-k3", "-i", topic_index, "--json").stdout)
    assert shown["assignments"] == data["assignments"] and shown["clusters"] == data["clusters"]
    assert shown["params"] == data["params"] and shown["changes"] == {"added": 0, "removed": 0, "changed": 0}
    one = json.loads(cli_run("clusters", "show", "news-k3", "--cluster", "2", "-i", topic_index, "--json").stdout)
    assert [c["label"] for c in one["clusters"]] == [2] and set(one["assignments"].values()) == {2}


def test_cli_cluster_vectors(topic_index):
    result = cli_run("cluster", "-i", topic_index, "-k", "3", "--vectors", "terms", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["params"]["vectors"] == "terms" and data["details"]["vectors"] == "terms"
    assert data["details"]["model_weight"] == 0.0
    result = cli_run("cluster", "-i", topic_index, "-k", "3", "--vectors", "words")
    assert result.exit_code == 2 and "'words' is not one of 'hybrid', 'model', 'terms'" in result.output


def test_cli_density_methods(topic_index):
    result = cli_run("cluster", "-i", topic_index, "--method", "dbscan", "--reduce", "pca:3", "--min-samples", "3")
    assert result.exit_code == 0, result.output
    assert "eps chosen from the k-distance curve" in result.stdout and "eps=auto" in result.stderr
    result = cli_run("cluster", "-i", topic_index, "--method", "hdbscan", "--reduce", "none",
                     "--min-cluster-size", "3", "--assign-noise", "--json")
    data = json.loads(result.stdout)
    assert data["params"]["assign_noise"] is True and "noise_before_assignment" in data["details"]


def test_cli_list_show_delete_and_search(topic_index):
    assert cli_run("clusters", "-i", topic_index).stdout.startswith("No stored clusterings")
    assert cli_run("cluster", "-i", topic_index, "-k", "3", "--name", "t").exit_code == 0
    listed = json.loads(cli_run("clusters", "-i", topic_index, "--json").stdout)
    assert [r["name"] for r in listed] == ["t"] and listed[0]["clusters"] == 3
    table = cli_run("clusters", "list", "-i", topic_index).stdout
    assert table.splitlines()[1].startswith("t ") and "k=3" in table
    shown = cli_run("clusters", "-i", topic_index, "show", "t").stdout  # -i on the group works too
    assert "24 documents, 3 clusters" in shown and "not changed since" in shown
    members = cli_run("clusters", "show", "t", "--cluster", "0", "-i", topic_index).stdout
    assert "keywords:" in members and "most central:" in members and "members (" in members
    assignments = json.loads(cli_run("clusters", "show", "t", "-i", topic_index, "--json").stdout)["assignments"]
    hits = json.loads(cli_run("search", "cat", "-i", topic_index, "--cluster", "t:1", "-k", "30", "--json").stdout)
    assert hits and all(assignments[h["id"]] == 1 for h in hits)
    assert cli_run("remove", "food-3", "-i", topic_index).exit_code == 0
    assert "Since this run: 1 removed" in cli_run("clusters", "show", "t", "-i", topic_index).stdout
    deleted = cli_run("clusters", "delete", "t", "-i", topic_index)
    assert deleted.exit_code == 0 and "Deleted clustering 't'" in deleted.stderr
    assert json.loads(cli_run("clusters", "-i", topic_index, "--json").stdout) == []


@pytest.mark.parametrize(
    "args, message",
    [
        (["cluster", "-k", "99"], "k=99 is more than the 24 documents"),
        (["cluster", "-k", "0"], "k must be at least 2"),
        (["cluster", "--method", "hdbscan", "--min-cluster-size", "1"], "min_cluster_size must be between 2"),
        (["cluster", "--method", "dbscan", "--eps", "-1"], "eps must be a positive number"),
        (["cluster", "--method", "kmeans", "--eps", "0.2"], "eps applies to dbscan"),
        (["cluster", "--method", "hdbscan", "--reduce", "umap:999"], "between 1 and"),
        (["cluster", "--plot", "map.gif", "-k", "2"], "ending in .png"),
        (["cluster", "--name", "a:b", "-k", "2"], "bad clustering name"),
        (["clusters", "show", "nope"], "no clustering named 'nope'"),
        (["clusters", "delete", "nope"], "no clustering named 'nope'"),
        (["search", "cat", "--cluster", "nope:1"], "no clustering named 'nope'"),
        (["search", "cat", "--cluster", "nolabel"], "is not NAME:LABEL"),
    ],
)
def test_cli_errors(topic_index, args, message):
    result = cli_run(*args, "-i", topic_index)
    assert result.exit_code == 1, result.output
    assert message in result.stderr and "Traceback" not in result.output


def test_cli_errors_unknown_method_and_no_index(topic_index, tmp_path, tiny_model):
    result = cli_run("cluster", "--method", "spectral", "-i", topic_index)
    assert result.exit_code == 2 and "spectral" in result.stderr
    result = cli_run("cluster", "-i", tmp_path / "none")
    assert result.exit_code == 1 and "no index at" in result.stderr
    with Index.open(tmp_path / "empty", model=tiny_model):
        pass
    result = cli_run("cluster", "-i", tmp_path / "empty")
    assert result.exit_code == 1 and "no documents to cluster" in result.stderr
    result = cli_run("clusters", "show", "x", "--cluster", "2", "-i", topic_index)
    assert result.exit_code == 1 and "this index has none" in result.stderr


def test_cli_cluster_help_has_examples():
    for args in (["cluster"], ["clusters"], ["clusters", "show"], ["clusters", "delete"], ["clusters", "list"]):
        result = cli_run(*args, "--help")
        assert result.exit_code == 0 and "Example" in result.output and "--index" in result.output
