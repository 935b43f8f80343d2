"""Crash safety: kill an indexing process mid-run, reopen, search, and finish the job."""

import json
import signal
import sqlite3
import subprocess
import sys
import time

from semsearch import Index
from semsearch.index import DB_FILE

N_DOCS = 4_000
WORDS = "cat dog bird fish tree river mountain city music art science history health food sport".split()


def _committed(db) -> int:
    try:  # read-only: a plain connect would create an empty index.db before the indexer does
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as conn:
            return conn.execute("SELECT count(*) FROM documents").fetchone()[0]
    except sqlite3.Error:
        return 0


def test_kill_mid_run_loses_nothing_committed(tmp_path, tiny_model, caplog):
    corpus = tmp_path / "corpus.jsonl"
    with open(corpus, "w") as handle:
        for i in range(N_DOCS):
            words = " ".join(WORDS[(i * 7 + j) % len(WORDS)] for j in range(5 + i % 20))
            handle.write(json.dumps({"id": f"d{i}", "text": f"{words} number {i}"}) + "\n")
    path = tmp_path / "idx"
    command = [sys.executable, "-m", "semsearch", "index", str(corpus), "-i", str(path),
               "--model", str(tiny_model), "--no-progress", "--json"]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    db = path / DB_FILE
    searches = 0
    deadline = time.time() + 120
    try:
        while _committed(db) < 500 and time.time() < deadline:
            assert proc.poll() is None, proc.stderr.read().decode()
            if _committed(db) > 0:
                # A reader during the ingest sees the last committed state and never crashes.
                with Index.open(path, create=False) as reader:
                    reader.search("river city", k=5, mode="keyword")
                    reader.search("river city", k=5, mode="dense")
                    searches += 1
            time.sleep(0.02)
        assert proc.poll() is None, "the ingest finished before it could be killed: make the corpus larger"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
    assert searches > 0

    with caplog.at_level("WARNING", logger="semsearch"), Index.open(path) as idx:
        counts = idx.store.counts()
        assert 0 < counts["documents"] < N_DOCS
        stored_chunks = idx.store.conn.execute("SELECT sum(chunk_count) FROM documents").fetchone()[0]
        assert stored_chunks == counts["chunks"], "no half-written document"
        hits = idx.search("river city", k=5, mode="dense")
        assert len(hits) == 5
        assert idx.vectors.size == counts["chunks"]
        assert idx.info()["faiss_up_to_date"]
        assert "rebuilt" in caplog.text  # the killed run's FAISS file was behind the database
        done = counts["documents"]

    finish = subprocess.run(command, capture_output=True, text=True, check=True)
    report = json.loads(finish.stdout)
    assert report["unchanged"] == done and report["added"] == N_DOCS - done
    assert report["total_documents"] == N_DOCS
