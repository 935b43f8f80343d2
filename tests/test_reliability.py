"""Reliability, one test (or a few) per failure class of issue 16, on the real CLI and API.

Each class was broken from the outside (hostile input, unlucky users); each test builds
the condition for real: FIFOs and /dev/zero, read-only bind mounts, a small tmpfs that
fills up, SIGKILL/SIGINT/SIGTERM at a chosen SQL statement of a child process, bytes
overwritten in the files.  Conditions the OS cannot provide here (no root, no mount)
skip with the reason.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from semsearch import Index
from semsearch.cli import cli
from semsearch.errors import DiskFull, IndexCorrupt, IndexLocked, InvalidArgument, ReadOnlyIndex
from semsearch.keywords import document_terms

WORDS = "cat dog bird fish tree river mountain city music art science history health food sport".split()


def words(i: int, n: int = 12) -> str:
    return " ".join(WORDS[(i * 7 + j * 3) % len(WORDS)] for j in range(n)) + f" number {i}"


def invoke(*args, **kwargs):
    """The CLI in-process; ``result.exception`` is a SystemExit unless something escaped as a traceback."""
    return CliRunner().invoke(cli, [str(a) for a in args], **kwargs)


def assert_clean(result, code: int | None = None) -> None:
    """No traceback: the CLI exited by itself (0, or 1 with an ``Error:`` line)."""
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        import traceback

        raise AssertionError("traceback:\n" + "".join(traceback.format_exception(result.exception)))
    if code is not None:
        assert result.exit_code == code, result.output


def semsearch(*args, timeout: float = 120, input: bytes | None = None, stdin=None, env=None):
    """``python -m semsearch ARGS`` in a child process (for what must not hang or leak into pytest)."""
    return subprocess.run([sys.executable, "-m", "semsearch", *map(str, args)], input=input, stdin=stdin,
                          capture_output=True, timeout=timeout, env=env)


def no_traceback(proc) -> str:
    err = proc.stderr.decode(errors="replace")
    assert "Traceback" not in err, err
    return err


@pytest.fixture
def small_index(tmp_path, tiny_model):
    path = tmp_path / "idx"
    with Index.open(path, model=tiny_model, chunk_size=40) as idx:
        idx.add([words(i) for i in range(12)], ids=[f"d{i}" for i in range(12)],
                metadata=[{"group": "even" if i % 2 == 0 else "odd", "n": i} for i in range(12)])
    return path


# ---------------------------------------------------------------------------------------------
# Class 1: the types of public arguments are checked (remove("api1") deleted "a", "p", "i")
def test_class1_api_checks_argument_types(tmp_path, tiny_model):
    with Index.open(tmp_path / "i", model=tiny_model) as idx:
        idx.add(["alpha text", "pi text", "iota text", "the api text"], ids=["a", "p", "i", "api1"])
        with pytest.raises(InvalidArgument, match="single string"):
            idx.remove("api1")
        assert idx.store.counts()["documents"] == 4, "remove() with a bare string deleted documents"
        for bad in (2.5, "3", True, 0, None):
            with pytest.raises(InvalidArgument):
                idx.search("text", k=bad)
        for bad in ("a=b", 5, [("a",)], {"a": [1]}, {"a": float("nan")}):
            with pytest.raises(InvalidArgument):
                idx.search("text", where=bad)
        for bad in (None, 5, b"text", ["text"]):
            with pytest.raises(InvalidArgument):
                idx.search(bad)
        with pytest.raises(InvalidArgument):
            idx.search_many("text")  # a string is not a list of queries
        with pytest.raises(InvalidArgument):
            idx.similar("a", k=1.5)
        with pytest.raises(InvalidArgument):
            idx.similar(None)
        with pytest.raises(InvalidArgument):
            idx.keywords("a", n=2.5)
        with pytest.raises(InvalidArgument):
            idx.get(["a"])
        for bad in ({"k": 2.5}, {"k": "2"}, {"k": True}, {"seed": 1.5}, {"method": "dbscan", "eps": "wide"},
                    {"method": "hdbscan", "min_cluster_size": 2.0}):
            with pytest.raises(InvalidArgument):
                idx.cluster(save=False, **bad)
        with pytest.raises(InvalidArgument):
            idx.add(["x"], ids=["a", "b"])
        with pytest.raises(InvalidArgument):
            idx.add(["x"], metadata=[["not", "a", "dict"]])
        with pytest.raises(InvalidArgument):
            idx.add([None])
        assert idx.store.counts()["documents"] == 4
        assert idx.remove(["api1"]) == ["api1"]
        assert sorted(idx.store.stored_documents(["a", "p", "i", "api1"])) == ["a", "i", "p"]


# ---------------------------------------------------------------------------------------------
# Class 2: only regular files are read, and every read is bounded
def test_class2_fifos_devices_and_endless_input_never_hang(tmp_path, tiny_model):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "good.txt").write_text("the river runs to the sea")
    os.mkfifo(docs / "pipe.txt")        # inside a directory: found by the walk
    os.mkfifo(tmp_path / "named.jsonl")  # named on the command line
    (tmp_path / "big.txt").write_text("cat " * 3000)  # 12 kB: over the limit set below
    path = tmp_path / "idx"
    proc = semsearch("index", docs, tmp_path / "named.jsonl", "/dev/zero", tmp_path / "big.txt", "-i", path,
                     "--model", tiny_model, "--max-document-bytes", 10_000, "--json", "--no-progress",
                     timeout=180, stdin=subprocess.DEVNULL)
    err = no_traceback(proc)
    assert proc.returncode == 0, err
    report = json.loads(proc.stdout)
    assert report["added"] == 1
    reasons = {Path(s["source"]).name: s["reason"] for s in report["skipped"]}
    assert "not a regular file" in reasons["pipe.txt"] and "FIFO" in reasons["pipe.txt"]
    assert "not a regular file" in reasons["named.jsonl"]
    assert "not a regular file" in reasons["zero"]
    assert "larger than" in reasons["big.txt"] and "--max-document-bytes" in reasons["big.txt"]


def test_class2_endless_stdin_is_bounded(tmp_path, tiny_model):
    path = tmp_path / "idx"
    with open("/dev/zero", "rb") as zero:
        proc = semsearch("index", "-", "-i", path, "--model", tiny_model, "--max-document-bytes", 1_000_000,
                         "--json", "--no-progress", stdin=zero, timeout=180)
    err = no_traceback(proc)
    assert proc.returncode == 0, err
    report = json.loads(proc.stdout)
    assert report["added"] == 0 and "larger than" in report["skipped"][0]["reason"]
    # JSON lines on stdin are bounded per line, not per stream: a long line is skipped, the rest kept.
    lines = [json.dumps({"id": "a", "text": "cat " * 100}), json.dumps({"id": "b", "text": "dog"}),
             json.dumps({"id": "c", "text": "bird"})]
    result = invoke("index", "-", "-i", path, "--max-document-bytes", 200, "--json", input="\n".join(lines).encode())
    assert_clean(result, 0)
    report = json.loads(result.stdout)
    assert report["added"] == 2 and len(report["skipped"]) == 1
    assert "larger than" in report["skipped"][0]["reason"]


# ---------------------------------------------------------------------------------------------
# Class 3: creating an index is atomic; a killed creation never blocks the re-run
KILL_AT = r"""
import os, signal, sqlite3, sys

sig, marker = int(sys.argv[1]), sys.argv[2]


class Killing(sqlite3.Connection):
    # Sends `sig` to this process when a statement containing `marker` is about to run.
    def execute(self, sql, *args):
        if marker in sql:
            os.kill(os.getpid(), sig)
        return super().execute(sql, *args)


real_connect = sqlite3.connect
sqlite3.connect = lambda *a, **k: real_connect(*a, factory=Killing, **k)
from semsearch.cli import main
sys.argv = ["semsearch", *sys.argv[3:]]
main()
"""


def kill_at(sig: int, marker: str, *args, wait: bool = True, **kwargs):
    command = [sys.executable, "-c", KILL_AT, str(int(sig)), marker, *map(str, args)]
    if not wait:
        return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return subprocess.run(command, capture_output=True, timeout=180, **kwargs)


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT, signal.SIGTERM])
def test_class3_interrupted_creation_leaves_a_rerunnable_index(tmp_path, tiny_model, sig):
    corpus = tmp_path / "c.jsonl"
    corpus.write_text("".join(json.dumps({"id": f"d{i}", "text": words(i)}) + "\n" for i in range(5)))
    path = tmp_path / "idx"
    args = ["index", corpus, "-i", path, "--model", tiny_model, "--json", "--no-progress"]
    killed = kill_at(sig, "CREATE TABLE IF NOT EXISTS chunks", *args)
    assert killed.returncode != 0, "the child was not interrupted"
    if sig == signal.SIGINT:  # Ctrl-C exits cleanly, and must not claim a half-made index was saved
        err = no_traceback(killed)
        assert "Interrupted" in err
    rerun = invoke(*args)
    assert_clean(rerun, 0)
    assert json.loads(rerun.stdout)["total_documents"] == 5
    assert not [p.name for p in path.iterdir() if p.name.endswith(".tmp")], "a temporary database was left"


def test_class3_index_left_empty_by_an_older_version_is_recreated(tmp_path, tiny_model):
    path = tmp_path / "idx"
    path.mkdir()
    sqlite3.connect(path / "index.db").execute("PRAGMA journal_mode = WAL").fetchall()  # no tables
    result = invoke("index", "-", "-i", path, "--model", tiny_model, "--json", input="a cat on a mat")
    assert_clean(result, 0)
    assert json.loads(result.stdout)["total_documents"] == 1


def test_class3_empty_file_made_by_a_reader_before_the_index_is_replaced(tmp_path, tiny_model):
    # A monitoring script's plain sqlite3.connect can create a 0-byte index.db after the indexer has made
    # the folder: the indexer re-checks under its lock and creates the index rather than refuse it.
    path = tmp_path / "idx"
    path.mkdir()
    (path / "index.db").touch()
    with Index.open(path, model=tiny_model) as idx:
        idx.add(["a cat on a mat"])
        assert idx.store.counts()["documents"] == 1


# ---------------------------------------------------------------------------------------------
# Class 4: one bad record or file is skipped with its reason; the good input of the run is kept
def test_class4_bad_records_are_skipped_and_good_ones_kept(tmp_path, tiny_model):
    deep = "[" * 10_000 + "]" * 10_000
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.jsonl").write_text(
        json.dumps({"id": "j1", "text": "first good record"}) + "\n"
        + '{"id": "deep", "text": "x", "meta": ' + deep + "}\n"
        + deep + "\n"
        + json.dumps({"id": "j2", "text": "second good record"}) + "\n"
    )
    (docs / "b.json").write_text(deep)
    (docs / "c.json").write_text(json.dumps([{"id": "c1", "text": "good json record", "m": {"x": [1, 2]}}]))
    (docs / "d.txt").write_text("a plain good text file")
    result = invoke("index", docs, "-i", tmp_path / "idx", "--model", tiny_model, "--json")
    assert_clean(result, 0)
    report = json.loads(result.stdout)
    assert report["total_documents"] == 4, report
    reasons = " | ".join(s["reason"] for s in report["skipped"])
    assert len(report["skipped"]) == 3 and "deep" in reasons, reasons


def test_class4_undecodable_stdin_is_skipped_not_fatal(tmp_path, tiny_model):
    path = tmp_path / "idx"
    latin1 = "caf\xe9 au lait, cr\xe8me br\xfbl\xe9e".encode("latin-1")
    result = invoke("index", "-", "-i", path, "--model", tiny_model, "--json", input=latin1)
    assert_clean(result, 0)
    assert "UTF-8" in json.loads(result.stdout)["skipped"][0]["reason"]
    lines = (json.dumps({"id": "g1", "text": "good one"}).encode() + b"\n"
             + b'{"id": "bad", "text": "caf\xe9"}\n'
             + b"\x00\x01\x02\xff\xfe binary junk\n"
             + json.dumps({"id": "g2", "text": "good two"}).encode() + b"\n")
    result = invoke("index", "-", "-i", path, "--json", input=lines)
    assert_clean(result, 0)
    report = json.loads(result.stdout)
    assert report["added"] == 2 and len(report["skipped"]) == 2, report
    with Index.open(path, create=False) as idx:
        assert idx.get("g1") and idx.get("g2") and idx.get("bad") is None


def test_class4_api_documents_that_cannot_be_stored_are_skipped(tmp_path, tiny_model):
    from semsearch.reading import Document

    with Index.open(tmp_path / "i", model=tiny_model) as idx:
        report = idx.add_documents([
            Document("ok1", "a good text"),
            Document("bad1", "lone surrogate \udce9 here"),
            Document("bad2", "text", metadata={"x": object()}),
            Document("ok2", "another good text"),
        ])
        assert report.added == 2 and len(report.skipped) == 2
        assert idx.store.counts()["documents"] == 2


# ---------------------------------------------------------------------------------------------
# Class 5: NaN and Infinity never reach the database or the output
def _strict_json(text: str):
    def refuse(token):
        raise AssertionError(f"non-standard JSON token {token}")

    return json.loads(text, parse_constant=refuse)


def test_class5_nan_metadata_is_stored_as_null_and_output_is_strict_json(tmp_path, tiny_model):
    corpus = tmp_path / "c.jsonl"
    corpus.write_text(
        '{"id": "n1", "text": "the cat and the dog", "tag": "a", "score": NaN}\n'
        '{"id": "n2", "text": "the cat and the bird", "tag": "a", "score": Infinity, "more": [-Infinity]}\n'
        '{"id": "n3", "text": "a fish in the river", "tag": "b", "score": 1.5}\n'
    )
    path = tmp_path / "idx"
    assert_clean(invoke("index", corpus, "-i", path, "--model", tiny_model), 0)
    with sqlite3.connect(path / "index.db") as conn:
        assert conn.execute("SELECT count(*) FROM documents WHERE NOT json_valid(metadata)").fetchone()[0] == 0
    for mode in ("dense", "hybrid", "keyword"):
        result = invoke("search", "cat", "-i", path, "--mode", mode, "--where", "tag=a", "--json")
        assert_clean(result, 0)
        hits = _strict_json(result.stdout)
        assert sorted(h["id"] for h in hits) == ["n1", "n2"]
    hit = {h["id"]: h for h in _strict_json(invoke("search", "cat", "-i", path, "--json").stdout)}
    assert hit["n1"]["metadata"]["score"] is None and hit["n2"]["metadata"]["more"] == [None]
    with Index.open(path) as idx:
        idx.add(["api text with nan"], ids=["api"], metadata=[{"v": float("nan"), "w": np.float32("inf")}])
        assert idx.get("api")["metadata"] == {"v": None, "w": None}


# ---------------------------------------------------------------------------------------------
# Class 6: an index that can be read but not written is readable; writes say why not
@contextlib.contextmanager
def read_only_view(source: Path):
    """``source`` bind-mounted read-only (root ignores permissions, not a read-only mount)."""
    target = Path(tempfile.mkdtemp(prefix="semsearch-ro-"))
    done = subprocess.run(["mount", "--bind", "-o", "ro", str(source), str(target)], capture_output=True)
    if done.returncode != 0:
        target.rmdir()
        pytest.skip(f"cannot make a read-only bind mount here: {done.stderr.decode().strip()}")
    try:
        yield target
    finally:
        busy = subprocess.run(["umount", str(target)], capture_output=True).returncode != 0
        if busy:  # something still holds a file of the index open: detach, and say so
            subprocess.run(["umount", "-l", str(target)], check=True)
        target.rmdir()
    assert not busy, "a file of the read-only index was left open"


def test_class6_read_only_index_can_be_read(small_index, tmp_path):
    with Index.open(small_index) as idx:  # one writer-side look, so the FAISS file is current
        idx.search("cat", mode="dense")
        idx.cluster(k=2, name="two")
    docs = tmp_path / "more.txt"
    docs.write_text("more text about a cat")
    with read_only_view(small_index) as ro:
        assert not os.access(ro, os.W_OK)
        for args in (["info", "--json"], ["search", "cat dog", "--json"], ["search", "cat", "--mode", "dense"],
                     ["search", "cat", "--mode", "keyword"], ["similar", "d1"], ["clusters"],
                     ["clusters", "show", "two"], ["keywords", "d1"], ["topics", "-n", "2"]):
            result = invoke(*args, "-i", ro)
            assert_clean(result, 0)
        for args in (["index", docs], ["remove", "d1"], ["cluster", "-k", "2"], ["clusters", "delete", "two"]):
            result = invoke(*args, "-i", ro)
            assert_clean(result, 1)
            assert "read-only" in result.output, result.output
        with Index.open(ro) as idx:
            assert len(idx.search("cat", k=3)) == 3
            # Keyword terms never counted (the writer leaves them to the first tfidf use): counted in memory.
            assert idx.store.terms_pending() == idx.store.counts()["documents"]
            texts = [text for _, _, text in idx.store.iter_texts()]
            expected = Counter(term for text in texts for term in document_terms(text))
            assert idx.store.document_frequencies(expected) == dict(expected)
            assert idx.keywords("d1", method="tfidf")
            with pytest.raises(ReadOnlyIndex):
                idx.remove(["d1"])
            with pytest.raises(ReadOnlyIndex):
                idx.add(["new text"])
    with Index.open(small_index) as idx:
        assert idx.store.counts()["documents"] == 12


# ---------------------------------------------------------------------------------------------
# Class 7: a FAISS file whose content was damaged is noticed and rebuilt
@pytest.mark.parametrize("damage", ["random", "zeros", "idmap"])
def test_class7_corrupt_faiss_content_is_rebuilt(small_index, damage, caplog):
    with Index.open(small_index) as idx:
        queries = [words(i, 5) for i in range(6)]
        expected = [[(h.id, round(h.score, 5)) for h in hits]
                    for hits in idx.search_many(queries, k=5, mode="dense")]
    faiss_path = small_index / "vectors.faiss"
    data = bytearray(faiss_path.read_bytes())
    rng = random.Random(7)
    if damage == "idmap":  # the id map is the file's tail: 8 bytes per chunk id
        start = len(data) - 8 * 12
        data[start:] = bytes(rng.randrange(256) for _ in range(len(data) - start))
    else:  # the float vectors sit in the middle
        start, end = len(data) // 3, 2 * len(data) // 3
        data[start:end] = bytes(end - start) if damage == "zeros" else rng.randbytes(end - start)
    faiss_path.write_bytes(bytes(data))
    with caplog.at_level("WARNING", logger="semsearch"), Index.open(small_index) as idx:
        got = [[(h.id, round(h.score, 5)) for h in hits] for hits in idx.search_many(queries, k=5, mode="dense")]
    assert got == expected
    assert "checksum" in caplog.text and "rebuilt" in caplog.text
    assert faiss_path.read_bytes() != bytes(data), "the repaired file was not saved"


# ---------------------------------------------------------------------------------------------
# Class 8: a corrupt index.db is reported plainly, and never written into
def test_class8_not_a_database_is_reported_without_traceback(small_index, tmp_path):
    db = small_index / "index.db"
    db.write_bytes(b"this is not a database at all " * 200)
    (tmp_path / "new.txt").write_text("a new text")
    for args in (["info"], ["search", "cat"], ["index", tmp_path / "new.txt"], ["remove", "d1"]):
        result = invoke(*args, "-i", small_index)
        assert_clean(result, 1)
        assert "corrupt" in result.output and "re-index" in result.output, result.output
    with pytest.raises(IndexCorrupt):
        Index.open(small_index)


def test_class8_damaged_pages_are_detected_before_any_write(tmp_path, tiny_model):
    path = tmp_path / "idx"
    with Index.open(path, model=tiny_model, chunk_size=40) as idx:
        idx.add([words(i, 40) for i in range(150)], ids=[f"d{i}" for i in range(150)])
    db = path / "index.db"
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
    assert pages > 20
    data = bytearray(db.read_bytes())
    rng = random.Random(3)
    for page in (pages // 3, pages // 2, 2 * pages // 3):  # junk in the middle of the file
        data[page * page_size : (page + 1) * page_size] = rng.randbytes(page_size)
    db.write_bytes(bytes(data))
    digest = hashlib.sha256(db.read_bytes()).hexdigest()
    (tmp_path / "new.txt").write_text("a new text about rivers")
    result = invoke("index", tmp_path / "new.txt", "-i", path)
    assert_clean(result, 1)
    assert "corrupt" in result.output, result.output
    assert hashlib.sha256(db.read_bytes()).hexdigest() == digest, "wrote into a corrupt database"
    with pytest.raises(IndexCorrupt):
        Index.open(path)
    assert hashlib.sha256(db.read_bytes()).hexdigest() == digest


# ---------------------------------------------------------------------------------------------
# Class 9: a full disk says "disk full", loses nothing committed, and the re-run finishes
@contextlib.contextmanager
def small_tmpfs(size: str):
    target = Path(tempfile.mkdtemp(prefix="semsearch-full-"))
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(target)], capture_output=True)
    if done.returncode != 0:
        target.rmdir()
        pytest.skip(f"cannot mount a small tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield target
    finally:
        subprocess.run(["umount", "-l", str(target)], check=True)
        target.rmdir()


def fill(directory: Path, leave: int) -> Path:
    """A file taking all free space of ``directory``'s file system but ``leave`` bytes."""
    st = os.statvfs(directory)
    free = st.f_bavail * st.f_frsize
    filler = directory / "filler"
    with open(filler, "wb") as handle:
        with contextlib.suppress(OSError):
            handle.write(b"\0" * max(0, free - leave))
    return filler


def test_class9_disk_full_is_reported_plainly_and_loses_nothing(tmp_path, tiny_model):
    corpus = tmp_path / "c.jsonl"
    n = 60
    corpus.write_text("".join(json.dumps({"id": f"d{i}", "text": words(i, 25)}) + "\n" for i in range(n)))
    seen = set()
    with small_tmpfs("16m") as disk:
        # From no byte free (the lock file, the WAL) to room for part of the run (SQLite, the FAISS save).
        for leave in (0, 8_000, 40_000, 120_000):
            path = disk / "idx"
            shutil.rmtree(path, ignore_errors=True)
            first = invoke("index", "-", "-i", path, "--model", tiny_model, input="a first small document")
            assert_clean(first, 0)
            filler = fill(disk, leave)
            result = invoke("index", corpus, "-i", path, "--json")
            assert_clean(result)  # never a traceback
            if result.exit_code:
                assert "disk full" in result.output, result.output
                assert "cannot rollback" not in result.output
                seen.add(leave)
            filler.unlink()
            with Index.open(path) as idx:  # whatever was committed is intact and usable
                counts = idx.store.counts()
                assert counts["documents"] >= 1
                assert idx.store.conn.execute("SELECT sum(chunk_count) FROM documents").fetchone()[0] \
                    == counts["chunks"]
                assert len(idx.search("cat", k=1, mode="dense")) == 1
            rerun = invoke("index", corpus, "-i", path, "--json")
            assert_clean(rerun, 0)
            assert json.loads(rerun.stdout)["total_documents"] == n + 1
            assert not [p for p in path.iterdir() if p.name.endswith(".tmp")]
    assert len(seen) >= 2, f"the disk filled up only with {seen} bytes left: make the corpus larger"


def test_class9_full_disk_fails_every_command_plainly(tmp_path, tiny_model):
    with small_tmpfs("2m") as disk:
        path = disk / "idx"
        assert_clean(invoke("index", "-", "-i", path, "--model", tiny_model, input="one small document"), 0)
        (tmp_path / "more.txt").write_text("another small document")
        filler = fill(disk, 0)
        for args in (["index", tmp_path / "more.txt"], ["remove", "stdin"], ["search", "small"]):
            result = invoke(*args, "-i", path)
            assert_clean(result)
            assert result.exit_code == 0 or "disk full" in result.output, result.output
        with pytest.raises(DiskFull, match="disk full"), Index.open(path) as idx:
            idx.add(["a text that cannot be stored"])
        filler.unlink()
        with Index.open(path) as idx:
            assert idx.store.counts()["documents"] == 1
            assert idx.search("small", k=1)[0].id == "stdin"


def test_class9_faiss_save_on_a_full_disk_says_so_and_leaves_no_temporary(tmp_path):
    from semsearch.integrity import translated
    from semsearch.vectors.flat import FlatVectors

    vectors = FlatVectors.build(32, [(np.arange(1000), np.random.default_rng(0).random((1000, 32), np.float32))])
    with small_tmpfs("64k") as disk:
        target = disk / "vectors.faiss"
        with pytest.raises(DiskFull, match="disk full.*No space left"), translated(target):
            vectors.save(target)  # what VectorSync.save does
        assert os.listdir(disk) == [], "the failed save left a file behind"


# ---------------------------------------------------------------------------------------------
# Class 10: one bad CSV row skips that row, not the file; long fields are fine
def test_class10_csv_bad_rows_skip_the_row_not_the_file(tmp_path, tiny_model):
    long_article = ("the river flows past the mountain city " * 4000)[:200_000]
    rows = [b"id,text,tag\n",
            b"r1,a good first row,x\n",
            f"long,{long_article},x\n".encode(),
            "latin,caf\xe9 au lait,x\n".encode("latin-1"),
            b"nul,a row with a \x00 byte,x\n",
            b"r2,a good last row,y\n"]
    (tmp_path / "t.csv").write_bytes(b"".join(rows))
    result = invoke("index", tmp_path / "t.csv", "-i", tmp_path / "idx", "--model", tiny_model, "--json")
    assert_clean(result, 0)
    report = json.loads(result.stdout)
    assert report["added"] == 3, report
    reasons = {s["source"].rsplit(":", 1)[-1]: s["reason"] for s in report["skipped"]}
    assert "UTF-8" in reasons["4"] and "NUL" in reasons["5"], reasons
    with Index.open(tmp_path / "idx") as idx:
        assert idx.get("long")["text"] == long_article.strip()
        assert idx.get("r1") and idx.get("r2")


# ---------------------------------------------------------------------------------------------
# Class 12: temporary files of a killed save are cleaned up
KILL_IN_FAISS_SAVE = r"""
import os, signal, sys
import faiss

real_write = faiss.write_index


def write_then_die(index, path):
    real_write(index, path)
    os.kill(os.getpid(), signal.SIGKILL)


faiss.write_index = write_then_die
from semsearch.cli import main
sys.argv = ["semsearch", *sys.argv[1:]]
main()
"""


def test_class12_temporary_files_of_a_killed_save_are_removed(small_index, tmp_path):
    (tmp_path / "new.txt").write_text("a new text about rivers")
    killed = subprocess.run([sys.executable, "-c", KILL_IN_FAISS_SAVE, "index", tmp_path / "new.txt", "-i",
                             small_index], capture_output=True, timeout=180)
    assert killed.returncode == -signal.SIGKILL
    leaked = [p.name for p in small_index.iterdir() if p.name.endswith(".tmp")]
    assert leaked, "the kill did not leave a temporary file: the test no longer reproduces the condition"
    result = invoke("search", "river", "-i", small_index)
    assert_clean(result, 0)
    assert not [p.name for p in small_index.iterdir() if p.name.endswith(".tmp")]


# ---------------------------------------------------------------------------------------------
# Class 13: smaller wrong results
def test_class13_nan_min_score_and_empty_queries_are_refused(small_index):
    for value in ("nan", "inf", "-nan"):
        result = invoke("search", "cat", "-i", small_index, "--min-score", value)
        assert_clean(result)
        assert result.exit_code != 0 and "finite" in result.output, result.output
    with Index.open(small_index) as idx:
        with pytest.raises(InvalidArgument):
            idx.search("cat", min_score=float("nan"))
        for query in ("", "   ", "\n\t"):  # no words, no hits: not 10 arbitrary documents
            for mode in ("dense", "hybrid", "keyword"):
                assert idx.search(query, mode=mode) == []
        assert [len(hits) for hits in idx.search_many(["cat", " ", "dog"], k=3, mode="dense")] == [3, 0, 3]
    result = invoke("search", "  ", "-i", small_index, "--mode", "dense")
    assert_clean(result, 0)
    assert "No results." in result.output


def test_class13_text_that_is_a_list_or_object_is_skipped(tmp_path, tiny_model):
    corpus = tmp_path / "c.jsonl"
    corpus.write_text(json.dumps({"id": "list", "text": ["a", "b"]}) + "\n"
                      + json.dumps({"id": "obj", "text": {"a": "b"}}) + "\n"
                      + json.dumps({"id": "num", "text": 42}) + "\n"
                      + json.dumps({"id": "ok", "text": "plain text"}) + "\n")
    result = invoke("index", corpus, "-i", tmp_path / "idx", "--model", tiny_model, "--json")
    assert_clean(result, 0)
    report = json.loads(result.stdout)
    assert report["added"] == 2
    reasons = {s["source"].rsplit(":", 1)[-1]: s["reason"] for s in report["skipped"]}
    assert "list" in reasons["1"] and "object" in reasons["2"], reasons


def test_class13_remove_during_creation_says_locked(tmp_path, tiny_model):
    path = tmp_path / "idx"
    creating = kill_at(signal.SIGSTOP, "CREATE TABLE IF NOT EXISTS chunks", "index", "-", "-i", path,
                       "--model", tiny_model, wait=False)
    try:
        deadline = time.time() + 120
        while time.time() < deadline:  # wait until the child stops itself inside the creation
            with open(f"/proc/{creating.pid}/stat") as handle:
                if handle.read().split(") ", 1)[1].startswith("T"):
                    break
            time.sleep(0.1)
        else:
            pytest.fail("the creating process never reached the creation")
        result = invoke("remove", "x", "-i", path)
        assert_clean(result, 1)
        assert "locked" in result.output, result.output
        with pytest.raises(IndexLocked):
            Index.open(path, create=False)
    finally:
        creating.kill()
        creating.wait()

