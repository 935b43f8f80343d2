"""End to end with the real bundled model on the sample corpus in data/."""

import json

import pytest
from click.testing import CliRunner

from semsearch import Index
from semsearch.cli import cli

from .conftest import SAMPLE_DATA

pytestmark = pytest.mark.slow

VACCINES = f"{(SAMPLE_DATA / 'articles').as_posix()}/how-vaccines-train-the-immune-system.md"

CASES = [
    ("how do vaccines train the immune system", VACCINES),
    ("why do bacteria stop responding to drugs", f"{(SAMPLE_DATA / 'articles').as_posix()}/antibiotic-resistance.md"),
    ("how plants turn sunlight into sugar", f"{(SAMPLE_DATA / 'articles').as_posix()}/photosynthesis.md"),
    ("when is a football player offside", f"{(SAMPLE_DATA / 'articles').as_posix()}/the-offside-rule-in-football.md"),
]


@pytest.mark.parametrize("mode", ["dense", "hybrid", "keyword"])
@pytest.mark.parametrize("query, expected", CASES)
def test_relevant_document_ranks_first(sample_index, mode, query, expected):
    with Index.open(sample_index, create=False) as idx:
        hits = idx.search(query, k=5, mode=mode)
    if mode == "keyword" and expected != VACCINES:
        assert expected in [h.id for h in hits]  # word overlap alone is weaker on paraphrases
    else:
        assert hits[0].id == expected, [h.id for h in hits]


def test_long_document_is_chunked_and_best_chunk_is_the_snippet(sample_index):
    with Index.open(sample_index, create=False) as idx:
        assert idx.get(VACCINES)["chunks"] >= 3
        hit = idx.search("memory B cells and booster shots", k=1, mode="dense")[0]
        assert hit.id == VACCINES
        assert hit.chunk > 0 and "memory" in hit.text.lower()
        assert idx.settings["layer_indices"] == [6] and idx.settings["pooling"] == "mean"


def test_cli_demo_query(sample_index):
    result = CliRunner().invoke(cli, ["search", "how do vaccines train the immune system", "-k", "5",
                                      "-i", str(sample_index), "--json"])
    assert result.exit_code == 0, result.output
    hits = json.loads(result.stdout)
    assert hits[0]["id"] == VACCINES and len(hits) == 5


def test_filtered_search_on_metadata(sample_index):
    with Index.open(sample_index, create=False) as idx:
        hits = idx.search("how the body fights disease", k=5, where={"category": "health"})
        assert len(hits) == 5 and all(h.metadata["category"] == "health" for h in hits)
