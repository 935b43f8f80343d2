"""The Ray executor on a real local Ray cluster: a 0-CPU head and two 1-CPU nodes (one machine).

One cluster serves the module (starting Ray costs seconds); tests that take nodes away
add them back.  Nothing is mocked: real Ray, the tiny random BERT, real indexes.
"""

from __future__ import annotations

import logging
import os
import random
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from semsearch import Embedder, SemsearchError
from semsearch.chunking import chunk_text
from semsearch.reading import Document

from .conftest import REPO, WORDS

ray = pytest.importorskip("ray", reason="the ray extra is not installed: pip install 'semsearch[ray]'")
cluster_utils = pytest.importorskip("ray.cluster_utils")

from semsearch.distributed import RayExecutor, require_ray  # noqa: E402
from semsearch.ingest import Planned  # noqa: E402
from semsearch.settings import IndexSettings  # noqa: E402

CHUNK_SIZE, OVERLAP = 24, 4


@pytest.fixture(scope="module")
def cluster():
    if ray.is_initialized():
        ray.shutdown()
    cluster = cluster_utils.Cluster(
        initialize_head=True,
        head_node_args={
            "num_cpus": 0, "include_dashboard": False,
            # A removed node is noticed in ~2 s rather than the default ~30 s.
            "_system_config": {"health_check_initial_delay_ms": 0, "health_check_period_ms": 500,
                               "health_check_failure_threshold": 4},
        },
    )
    nodes = [cluster.add_node(num_cpus=1) for _ in range(2)]
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, include_dashboard=False, logging_level=logging.WARNING)
    cluster.worker_nodes_added = nodes
    try:
        yield cluster
    finally:
        ray.shutdown()
        cluster.shutdown()


@pytest.fixture(scope="module")
def settings(tiny_model) -> IndexSettings:
    embedder = Embedder(tiny_model)
    return IndexSettings.from_stored({**embedder.settings(), "chunk_size": CHUNK_SIZE, "chunk_overlap": OVERLAP})


@pytest.fixture(scope="module")
def local_embedder(settings) -> Embedder:
    return Embedder.from_settings(settings)


def make_documents(n: int, seed: int = 0, words: tuple[int, int] = (3, 90)) -> list[Document]:
    rng = random.Random(seed)
    return [Document(id=f"doc{i}", text=" ".join(rng.choice(WORDS) for _ in range(rng.randint(*words))),
                     metadata={"n": i}) for i in range(n)]


def planned_batches(documents: list[Document], size: int) -> list[list[Planned]]:
    return [[Planned(doc, f"digest-{doc.id}") for doc in documents[i : i + size]]
            for i in range(0, len(documents), size)]


def local_prepare(embedder: Embedder, batch: list[Planned]):
    """What the in-process path makes of a batch: chunk_text, then encode of the chunk texts."""
    chunked = [chunk_text(p.doc.text, embedder.tokenizer, CHUNK_SIZE, OVERLAP) for p in batch]
    return chunked, embedder.encode([c.text for chunks in chunked for c in chunks])


def check_same_as_local(embedder, batches, results) -> int:
    assert len(results) == len(batches)
    chunks = 0
    for batch, prepared in zip(batches, results):
        assert [p.planned for p in prepared] == batch, "a batch's documents come back together, in order"
        expected_chunks, expected_vectors = local_prepare(embedder, batch)
        assert [p.chunks for p in prepared] == expected_chunks
        got = np.concatenate([p.vectors for p in prepared])
        np.testing.assert_allclose(got, expected_vectors, atol=1e-6)
        chunks += len(got)
    return chunks


def test_vectors_equal_the_in_process_path(cluster, settings, local_embedder):
    batches = planned_batches(make_documents(120), 25)
    with RayExecutor(workers=2, cpus_per_worker=0.5) as executor:
        results = list(executor.prepare(iter(batches), settings))
        assert len({info["node"] for info in executor.stats.workers}) == 2, "the actors are spread over the nodes"
    chunks = check_same_as_local(local_embedder, batches, results)
    assert chunks > 120 and executor.stats.chunks == chunks
    assert executor.stats.startup_seconds > 0


def test_nothing_to_do_starts_nothing(cluster, settings):
    executor = RayExecutor(workers=1)
    assert list(executor.prepare(iter([]), settings)) == []
    assert executor.stats.workers == [] and executor.stats.startup_seconds == 0


@pytest.mark.slow
def test_a_worker_node_removed_mid_run_same_rows(cluster, settings, local_embedder):
    batches = planned_batches(make_documents(80, seed=1), 8)
    results = []
    with RayExecutor(workers=2, cpus_per_worker=0.5) as executor:
        for i, prepared in enumerate(executor.prepare(iter(batches), settings)):
            results.append(prepared)
            if i == 0:  # batches are in flight on both actors: take one actor's node away
                victim_id = executor.stats.workers[1]["node"]
                victim = next(n for n in cluster.list_all_nodes() if n.node_id == victim_id)
                cluster.remove_node(victim)
    cluster.add_node(num_cpus=1)  # for the tests after this one
    cluster.wait_for_nodes()
    check_same_as_local(local_embedder, batches, results)


@pytest.mark.slow
def test_a_logical_gpu_node_gets_the_gpu_actor(cluster, settings, local_embedder, caplog):
    gpu_node = cluster.add_node(num_cpus=1, num_gpus=1)
    cluster.wait_for_nodes()
    try:
        if not _torch_has_cuda():
            # device defaults to cuda for a GPU worker: without CUDA that is a plain error, not a hang.
            with pytest.raises(SemsearchError, match="CUDA"), RayExecutor(workers=1, gpus_per_worker=1) as executor:
                list(executor.prepare(iter(planned_batches(make_documents(3), 3)), settings))
        batches = planned_batches(make_documents(30, seed=2), 10)
        with caplog.at_level(logging.WARNING, logger="semsearch"), \
                RayExecutor(workers=1, gpus_per_worker=1, device="auto") as executor:
            results = list(executor.prepare(iter(batches), settings))
            (info,) = executor.stats.workers
        assert info["node"] == gpu_node.node_id and info["gpus"] == ["0"]
        if not _torch_has_cuda():
            assert info["device"] == "cpu" and "sees no CUDA" in caplog.text
        check_same_as_local(local_embedder, batches, results)
    finally:
        cluster.remove_node(gpu_node)


def test_too_few_gpus_is_a_plain_error(cluster, settings):
    with pytest.raises(SemsearchError, match="GPUs"), RayExecutor(gpus_per_worker=1) as executor:
        list(executor.prepare(iter(planned_batches(make_documents(2), 2)), settings))


def test_without_ray_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # what `import ray` meets where it is not installed
    with pytest.raises(SemsearchError, match=r"pip install 'semsearch\[ray\]'"):
        require_ray()


def index_documents(n: int) -> list[Document]:
    """Long documents: a few per commit batch, so a run has many batches to be killed between."""
    return make_documents(n, seed=3, words=(400, 700))


def test_index_through_ray_equals_local_index(cluster, tiny_model, tmp_path):
    """End to end: every chunk committed exactly once, with the vectors of a local run."""
    from semsearch import Index

    docs = make_documents(80, seed=4)
    with Index.open(tmp_path / "local", model=tiny_model, chunk_size=CHUNK_SIZE, chunk_overlap=OVERLAP) as local:
        local.add_documents(docs)
        expected = _rows(local)
    with Index.open(tmp_path / "ray", model=tiny_model, chunk_size=CHUNK_SIZE, chunk_overlap=OVERLAP) as idx, \
            RayExecutor(workers=2, cpus_per_worker=0.5) as executor:
        report = idx.add_documents(docs, executor=executor)
        assert report.added == len(docs) and report.chunks == len(expected)
        assert _rows(idx).keys() == expected.keys()
        for key, vector in _rows(idx).items():
            np.testing.assert_allclose(vector, expected[key], atol=1e-6)
        again = idx.add_documents(docs, executor=executor)
        assert again.unchanged == len(docs) and again.chunks == 0
        assert idx.store.counts()["chunks"] == len(expected)
        hits = idx.search(docs[5].text[:60], k=3, mode="dense")
        assert hits and hits[0].id == docs[5].id


DRIVER = f"""
import sys, ray
from semsearch import Index
from semsearch.distributed import RayExecutor
from tests.test_distributed import index_documents
address, path, model, n = sys.argv[1:]
ray.init(address=address, logging_level="ERROR")
with Index.open(path, model=model, chunk_size={CHUNK_SIZE}, chunk_overlap={OVERLAP}) as idx, \
        RayExecutor(workers=1, cpus_per_worker=0.5) as executor:
    idx.add_documents(index_documents(int(n)), executor=executor,
                      on_progress=lambda p: print("committed", p.chunks, flush=True))
print("done", flush=True)
"""


@pytest.mark.slow
def test_driver_killed_mid_run_rerun_completes_without_duplicates(cluster, tiny_model, tmp_path):
    from semsearch import Index

    n, path = 40, tmp_path / "index"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    driver = subprocess.Popen([sys.executable, "-c", DRIVER, cluster.address, str(path), str(tiny_model), str(n)],
                              stdout=subprocess.PIPE, text=True, env=env, cwd=REPO)
    try:
        deadline = time.monotonic() + 600
        for line in driver.stdout:
            if line.startswith("committed") and int(line.split()[1]) > 0:
                break  # one batch is in; the rest are in flight
            assert time.monotonic() < deadline
        else:
            pytest.fail(f"the driver ended before committing anything (exit {driver.wait()})")
        driver.send_signal(signal.SIGKILL)
    finally:
        driver.kill()
        driver.wait()
    with Index.open(path) as idx:
        before = idx.store.counts()
        assert 0 < before["documents"] < n, "killed mid-run: some documents committed, not all"
        with RayExecutor(workers=1, cpus_per_worker=0.5) as executor:
            report = idx.add_documents(index_documents(n), executor=executor)
        assert report.unchanged == before["documents"] and report.added == n - before["documents"]
        rows = _rows(idx)
        counts = idx.store.counts()
        assert (counts["documents"], counts["chunks"]) == (n, len(rows))
        assert idx.vectors.size == len(rows)
    with Index.open(tmp_path / "local", model=tiny_model, chunk_size=CHUNK_SIZE, chunk_overlap=OVERLAP) as local:
        local.add_documents(index_documents(n))
        assert _rows(local).keys() == rows.keys(), "every chunk once, none missing"


def _rows(idx) -> dict:
    """(document id, chunk position) -> vector, failing on a duplicate."""
    rows = {}
    query = ("SELECT d.id, c.position, v.vector FROM chunks c JOIN documents d ON d.pk = c.document "
             "JOIN chunk_vectors v ON v.id = c.id")
    for doc_id, position, vector in idx.store.conn.execute(query):
        assert (doc_id, position) not in rows, f"chunk {position} of {doc_id} committed twice"
        rows[doc_id, position] = np.frombuffer(vector, dtype=np.float32)
    return rows


def _torch_has_cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def test_cli_index_through_ray(cluster, tiny_model, tmp_path):
    import json

    from click.testing import CliRunner

    from semsearch.cli import cli

    corpus = tmp_path / "corpus.jsonl"
    docs = make_documents(40, seed=5)
    corpus.write_text("".join(json.dumps({"id": d.id, "text": d.text}) + "\n" for d in docs))
    args = ["index", str(corpus), "-i", str(tmp_path / "index"), "--model", str(tiny_model),
            "--chunk-size", str(CHUNK_SIZE), "--chunk-overlap", str(OVERLAP), "--no-progress", "--json"]
    result = CliRunner().invoke(cli, [*args, "--ray", cluster.address, "--workers", "1"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["added"] == 40 and out["total_chunks"] == out["chunks"] > 40
    assert out["ray"]["workers"] == 1 and out["ray"]["startup_seconds"] > 0
    assert ray.is_initialized(), "a Ray the CLI did not start is left running"


def test_cli_worker_options_need_ray(tmp_path):
    from click.testing import CliRunner

    from semsearch.cli import cli

    result = CliRunner().invoke(cli, ["index", str(tmp_path), "-i", str(tmp_path / "i"), "--workers", "2"])
    assert result.exit_code == 2 and "need --ray" in result.output
