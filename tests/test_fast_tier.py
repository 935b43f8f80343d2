"""The fast tier: ingest, search, update, remove and threads with no model at all.

A hashing encoder (tests/fake_encoder.py) stands in for the model through the
``Encoder`` protocol; the tokenizer, SQLite, FAISS and the ingest stages are real.
"""

from __future__ import annotations

import threading

import pytest

from semsearch import Document, InvalidArgument, NotFound
from semsearch.ingest import Planned, Prepared

from .fake_encoder import HashingEncoder, create_index, make_tokenizer_dir

TEXTS = {
    "rivers": "rivers carry water from the mountains to the sea",
    "bread": "bread is baked from flour water and yeast",
    "stars": "stars are balls of hot gas far away in space",
    "chess": "chess is a board game of strategy for two players",
}


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return make_tokenizer_dir(tmp_path_factory.mktemp("tokenizer-only"))


@pytest.fixture
def index(tmp_path, model_dir):
    idx = create_index(tmp_path / "idx", model_dir)
    idx.add(list(TEXTS.values()), ids=list(TEXTS))
    yield idx
    idx.close()


def test_ingest_and_search_every_mode(index):
    for mode in ("dense", "keyword", "hybrid"):
        assert index.search("yeast and flour", k=2, mode=mode)[0].id == "bread", mode
    assert index.counts() == {"documents": 4, "chunks": 4}


def test_unchanged_input_embeds_nothing(index):
    encoder = index.embedder
    calls = encoder.calls
    report = index.add(list(TEXTS.values()), ids=list(TEXTS))
    assert report.unchanged == 4 and report.added == report.updated == 0
    assert encoder.calls == calls


def test_update_and_remove_leave_no_stale_hit(index):
    index.add(["chess pieces move on sixty four squares"], ids=["chess"])
    assert "strategy" not in index.get("chess")["text"]
    assert [h.id for h in index.search("strategy board game", k=4, mode="keyword")] == []
    assert index.remove(["chess"]) == ["chess"]
    assert all(h.id != "chess" for h in index.search("chess squares", k=4, mode="hybrid"))
    with pytest.raises(NotFound):
        index.similar("chess")


def test_same_id_twice_in_one_run_later_wins(index):
    report = index.add_documents([Document("dup", "first version about rivers"),
                                  Document("dup", "second version about stars")])
    assert index.get("dup")["text"] == "second version about stars"
    assert report.added == 1 and report.updated == 1
    assert index.counts()["documents"] == 5
    assert len(index.vectors.search(index.embedder.encode(["dup"]), 100)[1][0]) == index.counts()["chunks"]


def test_remove_takes_a_list_not_a_string(index):
    with pytest.raises(InvalidArgument):
        index.remove("rivers")
    assert index.counts()["documents"] == 4


def test_executor_seam_receives_plain_values(index):
    seen: list[list[str]] = []

    class Recording:
        def prepare(self, batches, settings):
            for batch in batches:
                assert all(isinstance(p, Planned) for p in batch)
                seen.append([p.doc.id for p in batch])
                vectors = HashingEncoder().encode([p.doc.text for p in batch])
                from semsearch.chunking import Chunk

                yield [Prepared(p, [Chunk(0, 0, len(p.doc.text), p.doc.text)], vectors[i:i + 1])
                       for i, p in enumerate(batch)]

    report = index.add_documents([Document("new", "a new text about gardens"), Document("rivers", TEXTS["rivers"])],
                                 executor=Recording())
    assert seen == [["new"]], "unchanged documents never reach the executor"
    assert report.added == 1 and report.unchanged == 1
    assert index.search("gardens", k=1, mode="dense")[0].id == "new"


def test_progress_callbacks(index):
    events = []
    index.add_documents([Document(f"p{i}", f"progress text number {i}") for i in range(5)],
                        on_progress=events.append)
    assert events[-1].chunks == 5 and max(e.documents for e in events) == 5


def test_reads_from_many_threads_while_one_writes(index):
    """Every answer is well formed and from a committed state: all of the first j batches, for some j."""
    batches = [[(f"b{b}-{i}", f"common word batch{b} item{i}") for i in range(6)] for b in range(12)]
    committed_prefixes = [set(TEXTS)]
    for batch in batches:
        committed_prefixes.append(committed_prefixes[-1] | {doc_id for doc_id, _ in batch})
    problems: list[str] = []
    done = threading.Event()

    def write() -> None:
        try:
            for batch in batches:
                index.add([t for _, t in batch], ids=[i for i, _ in batch])
        finally:
            done.set()

    def read(mode: str) -> None:
        try:
            check(mode)
        except Exception as exc:  # noqa: BLE001 - any failure in a reader is the finding
            problems.append(f"{mode}: {type(exc).__name__}: {exc}")

    def check(mode: str) -> None:
        answers = 0
        while not done.is_set() or answers < 3:
            hits = index.search("common word", k=1000, mode=mode)
            ids = {h.id for h in hits}
            if not all(isinstance(h.score, float) and isinstance(h.text, str) for h in hits):
                problems.append(f"{mode}: malformed hit")
            if mode == "dense" and ids not in committed_prefixes:
                problems.append(f"{mode}: {len(ids)} hits match no committed state")
            if mode != "dense" and (ids | set(TEXTS)) not in committed_prefixes:
                problems.append(f"{mode}: {len(ids)} hits match no committed state")
            counts = index.counts()
            if counts["documents"] - 4 not in {6 * j for j in range(13)}:
                problems.append(f"counts {counts} between two commits")
            answers += 1

    threads = [threading.Thread(target=read, args=(("dense", "keyword", "hybrid")[i % 3],)) for i in range(8)]
    writer = threading.Thread(target=write)
    for thread in threads:
        thread.start()
    writer.start()
    writer.join(120)
    for thread in threads:
        thread.join(120)
    assert not writer.is_alive() and not any(t.is_alive() for t in threads), "a thread hung"
    assert not problems, problems[:5]
    assert index.counts()["documents"] == 4 + 6 * 12
