"""Fuzzing `semsearch index`: randomly corrupted JSONL, CSV, HTML and text files.

For each seed, a directory of good files and corrupted copies (flipped, inserted and
deleted bytes, NULs, invalid UTF-8, deep nesting, NaN, over-long lines, truncation,
random junk) goes through the real CLI.  Every run must end (a watchdog ends a hung one),
exit 0 without a traceback, and index every good record: each record on an untouched
line or row, and each untouched file, is in the index with its text.
"""

from __future__ import annotations

import faulthandler
import json
import random
import secrets
from pathlib import Path

import pytest
from click.testing import CliRunner

from semsearch import Index
from semsearch.cli import cli

from .conftest import WORDS

SEEDS = range(8)
MAX_DOCUMENT_BYTES = 20_000


def _sentence(rng: random.Random, marker: str) -> str:
    return f"{marker} " + " ".join(rng.choice(WORDS) for _ in range(rng.randrange(3, 25)))


def _mutate(data: bytes, rng: random.Random, forbidden: bytes) -> bytes:
    """One to four random damages; never a byte in ``forbidden`` (line breaks, CSV quotes)."""
    allowed = [b for b in range(256) if b not in forbidden]
    data = bytearray(data)
    for _ in range(rng.randrange(1, 5)):
        kind = rng.randrange(9)
        at = rng.randrange(len(data) + 1)
        if kind == 0 and data:  # flip bytes
            for _ in range(rng.randrange(1, 4)):
                data[rng.randrange(len(data))] = rng.choice(allowed)
        elif kind == 1:  # insert random bytes
            data[at:at] = bytes(rng.choice(allowed) for _ in range(rng.randrange(1, 12)))
        elif kind == 2:  # delete a span
            del data[at : at + rng.randrange(1, 20)]
        elif kind == 3:
            data[at:at] = b"\x00"
        elif kind == 4:  # invalid UTF-8 / Latin-1
            data[at:at] = rng.choice([b"\xff\xfe", b"\xe9", b"\xc3", b"\xed\xa0\x80"])
        elif kind == 5:  # deep nesting
            depth = rng.choice([50, 3000, 20000])
            data[at:at] = b"[" * depth + b"]" * depth
        elif kind == 6:  # JSON's missing numbers and escapes of lone surrogates
            data[at:at] = rng.choice([b"NaN", b"Infinity", b"-Infinity", b'"\\ud800"', b"1e999"])
        elif kind == 7:  # an over-long stretch
            data[at:at] = b"x" * rng.choice([MAX_DOCUMENT_BYTES // 2, MAX_DOCUMENT_BYTES + 10])
        else:  # truncate
            del data[at:]
    return bytes(data)


def _corpus(root: Path, seed: int) -> dict[str, str]:
    """Write the files; returns ``{id: marker}`` of every good record (its text starts with the marker)."""
    rng = random.Random(seed)
    good: dict[str, str] = {}

    lines = []
    for i in range(30):
        doc_id, marker = f"j{seed}-{secrets.token_hex(6)}", f"jsonl{seed}x{i}"
        record = {"id": doc_id, "text": _sentence(rng, marker), "n": i, "tags": ["a", {"b": i}]}
        line = json.dumps(record).encode()
        if rng.random() < 0.4:
            lines.append(_mutate(line, rng, b"\n\r"))
        else:
            lines.append(line)
            good[doc_id] = marker
    (root / "records.jsonl").write_bytes(b"\n".join(lines) + b"\n")

    rows = [b"id,text,tag"]
    for i in range(30):
        doc_id, marker = f"c{seed}-{secrets.token_hex(6)}", f"csv{seed}x{i}"
        row = f"{doc_id},{_sentence(rng, marker)},t{i % 3}".encode()
        if rng.random() < 0.4:
            rows.append(_mutate(row, rng, b'\n\r"'))
        else:
            rows.append(row)
            good[doc_id] = marker
    (root / "table.csv").write_bytes(b"\n".join(rows) + b"\n")

    for i in range(6):
        marker = f"html{seed}x{i}"
        page = (f"<html><head><title>Page {i}</title><style>p {{}}</style></head><body>"
                f"<h1>Heading</h1><p>{_sentence(rng, marker)}</p><script>var x = 1;</script></body></html>").encode()
        path = root / f"page{i}.html"
        if i % 2:
            path.write_bytes(_mutate(page, rng, b""))
        else:
            path.write_bytes(page)
            good[path.as_posix()] = marker
    for i in range(6):
        marker = f"text{seed}x{i}"
        text = f"Title {i}\n\n{_sentence(rng, marker)}\n".encode()
        path = root / f"note{i}.txt"
        if i % 2:
            path.write_bytes(_mutate(text, rng, b""))
        else:
            path.write_bytes(text)
            good[path.as_posix()] = marker
    for suffix in (".jsonl", ".csv", ".html", ".txt", ".json"):  # pure junk of every kind
        (root / f"junk{suffix}").write_bytes(rng.randbytes(rng.randrange(0, 5000)))
    (root / "deep.json").write_bytes(b"[" * 100_000 + b"]" * 100_000)
    return good


@pytest.fixture
def watchdog():
    """A hung run dumps every thread's stack and ends the test process instead of hanging CI."""
    faulthandler.dump_traceback_later(600, exit=True)
    yield
    faulthandler.cancel_dump_traceback_later()


@pytest.mark.parametrize("seed", SEEDS)
def test_corrupted_input_never_stops_a_run_and_loses_no_good_record(tmp_path, tiny_model, seed, watchdog):
    root = tmp_path / "corpus"
    root.mkdir()
    good = _corpus(root, seed)
    path = tmp_path / "idx"
    result = CliRunner().invoke(cli, ["index", str(root), "-i", str(path), "--model", str(tiny_model), "--json",
                                      "--max-document-bytes", str(MAX_DOCUMENT_BYTES)])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        import traceback

        pytest.fail("traceback:\n" + "".join(traceback.format_exception(result.exception)))
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    report = json.loads(result.stdout)
    assert report["skipped"], "nothing was corrupted: the fuzzer is not fuzzing"
    with Index.open(path, create=False) as idx:
        missing = [doc_id for doc_id in good if idx.get(doc_id) is None]
        assert not missing, f"good records not indexed: {missing}"
        for doc_id, marker in good.items():
            assert marker in idx.get(doc_id)["text"], doc_id
        bad_json = idx.store.conn.execute("SELECT count(*) FROM documents WHERE NOT json_valid(metadata)")
        assert bad_json.fetchone()[0] == 0
