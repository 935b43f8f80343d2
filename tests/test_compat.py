"""An index written by the release before the refactor opens and works unchanged."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from semsearch import Index

from .conftest import make_tiny_model

OLD_INDEX = Path(__file__).parent / "data" / "index-v0.1.0"
# What semsearch at commit 50994a3 answered on this index (tests/data/README.md).
QUERY = "immune system vaccines"
# Hybrid with the fusion of that release (RRF); the default is now a convex combination (issue 13).
OLD_HYBRID = ["data/articles/public-key-cryptography.html", "data/articles/how-gps-works.html",
              "data/articles/how-vaccines-train-the-immune-system.md"]
OLD_KEYWORD = ["data/articles/how-vaccines-train-the-immune-system.md", "note-013",
               "data/articles/how-gps-works.html"]


@pytest.fixture
def old_index(tmp_path) -> Path:
    path = tmp_path / "index"
    shutil.copytree(OLD_INDEX, path)
    model = make_tiny_model(tmp_path / "tiny-model")
    with sqlite3.connect(path / "index.db") as conn:
        conn.execute("UPDATE settings SET value = ? WHERE key = 'model'", (json.dumps(str(model.resolve())),))
    return path


def test_old_index_searches_as_before(old_index, monkeypatch):
    monkeypatch.setattr("semsearch.searching.FUSION", "rrf")
    with Index.open(old_index, create=False) as idx:
        assert idx.counts() == {"documents": 64, "chunks": 1070}
        assert idx.settings.index_type == "flat" and idx.settings.chunk_size == 100
        assert [h.id for h in idx.search(QUERY, k=3)] == OLD_HYBRID
        assert [h.id for h in idx.search(QUERY, k=3, mode="keyword")] == OLD_KEYWORD
        assert idx.clustering("k3").num_clusters == 3
        assert idx.info()["faiss_up_to_date"]


def test_old_index_takes_writes(old_index):
    with Index.open(old_index) as idx:
        report = idx.add(["a brand new note about vaccines and the immune system"], ids=["new-note"])
        assert report.added == 1
        assert idx.search("brand new note", k=1, mode="keyword")[0].id == "new-note"
        assert idx.remove(["note-013"]) == ["note-013"]
        assert idx.counts()["documents"] == 64
    with Index.open(old_index, create=False) as idx:
        assert idx.get("new-note") is not None and idx.get("note-013") is None
