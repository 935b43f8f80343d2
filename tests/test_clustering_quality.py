"""Each clustering method on a small corpus with obvious groups, with the real bundled model."""

import numpy as np
import pytest

from semsearch import Index

pytestmark = pytest.mark.slow

TOPIC_TEXTS = {
    "football": [
        "The striker scored twice as the home team won the league match.",
        "A late penalty decided the cup final after extra time.",
        "The goalkeeper saved three shots in the second half of the game.",
        "The coach changed the formation and the midfield controlled the ball.",
        "Fans cheered as the team lifted the championship trophy at the stadium.",
        "The referee showed a red card and the defender was sent off.",
    ],
    "cooking": [
        "Knead the bread dough for ten minutes and let it rise overnight.",
        "Simmer the tomato sauce with garlic, basil and olive oil.",
        "Bake the cake at 180 degrees until a skewer comes out clean.",
        "Season the soup with salt and pepper before serving it hot.",
        "Whisk the eggs with sugar and fold in the flour for the pastry.",
        "Roast the vegetables in the oven with rosemary and butter.",
    ],
    "astronomy": [
        "The telescope captured images of a distant spiral galaxy.",
        "Astronomers discovered a new planet orbiting a nearby star.",
        "A black hole bends the light of stars passing behind it.",
        "The comet's tail points away from the sun as it nears the inner solar system.",
        "Saturn's rings are made of ice and rock orbiting the planet.",
        "A supernova explosion briefly outshines its entire galaxy.",
    ],
}
TOPIC_WORDS = {"football": {"team", "match", "penalty", "goalkeeper", "referee", "striker", "ball", "card"},
               "cooking": {"bread", "sauce", "bake", "oven", "soup", "eggs", "flour", "basil", "butter"},
               "astronomy": {"galaxy", "planet", "star", "stars", "telescope", "orbiting", "comet"}}


@pytest.fixture(scope="module")
def topics_index(tmp_path_factory):
    path = tmp_path_factory.mktemp("topics") / "index"
    with Index.open(path) as idx:
        texts = [t for ts in TOPIC_TEXTS.values() for t in ts]
        ids = [f"{topic}-{i}" for topic, ts in TOPIC_TEXTS.items() for i in range(len(ts))]
        idx.add(texts, ids=ids)
    return path


def assert_finds_the_topics(result):
    assert result.num_clusters == 3 and result.noise == 0
    by_label: dict[int, set[str]] = {}
    for doc_id, label in result.assignments.items():
        by_label.setdefault(label, set()).add(doc_id.split("-")[0])
    assert sorted(len(topics) for topics in by_label.values()) == [1, 1, 1], by_label
    for c in result.clusters:
        (topic,) = by_label[c.label]
        assert c.size == 6
        assert TOPIC_WORDS[topic] & set(c.keywords[:5]), (topic, c.keywords)
        assert len(c.representative) == 3 and all(d.startswith(topic) for d in c.representative)


@pytest.mark.parametrize(
    "method, params",
    [
        ("kmeans", {"k": 3}),
        ("hdbscan", {"min_cluster_size": 3}),  # reduce defaults to umap:5
        ("dbscan", {}),  # umap:5, eps from the k-distance knee, min_samples 5
        ("dbscan", {"reduce": "none"}),  # cosine distance on the raw vectors
    ],
)
def test_each_method_finds_the_topics(topics_index, method, params):
    with Index.open(topics_index, create=False) as idx:
        result = idx.cluster(method, save=False, **params)
    assert_finds_the_topics(result)


def test_kmeans_is_reproducible_and_stored(topics_index):
    with Index.open(topics_index, create=False) as idx:
        first = idx.cluster("kmeans", k=3, name="a")
        second = idx.cluster("kmeans", k=3, name="b")
        assert first.assignments == second.assignments == idx.clustering("a").assignments


def test_search_inside_a_cluster_and_umap_plot(topics_index, tmp_path):
    with Index.open(topics_index, create=False) as idx:
        result = idx.cluster("hdbscan", min_cluster_size=3, name="topics", plot=tmp_path / "map.png")
        assert result.plot["points"] == 18 and result.plot["projection"] == "umap"
        assert (tmp_path / "map.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        space = result.assignments["astronomy-0"]
        hits = idx.search("who scored the goal", k=5, cluster=f"topics:{space}")
        assert len(hits) == 5 and all(h.id.startswith("astronomy") for h in hits)
        football = idx.search("who scored the goal", k=1)[0].id
        assert football.startswith("football")
        assert np.isclose(sum(result.sizes.values()), 18)
