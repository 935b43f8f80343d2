import io
import json

from semsearch.reading import Document, RecordFields, Skipped, html_to_text, read_inputs

from .conftest import SAMPLE_DATA


def _split(items):
    docs = [i for i in items if isinstance(i, Document)]
    skips = [i for i in items if isinstance(i, Skipped)]
    return docs, skips


def make_bad_corpus(root):
    """Good files mixed with every kind of bad input."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "good.txt").write_text("A Good Title\n\nThe cat sat on the mat.")
    (root / "good.md").write_text("# Markdown Title\n\nRivers flow to the sea.")
    (root / "binary.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00binary")
    (root / "latin1.txt").write_bytes("caf\xe9 au lait".encode("latin-1"))
    (root / "empty.md").write_text("   \n\n")
    (root / "records.jsonl").write_text(
        json.dumps({"id": "r1", "text": "first record", "tag": "x"}) + "\n"
        + "{not json at all\n"
        + json.dumps({"id": "r3", "body": "no text field"}) + "\n"
        + json.dumps(["not", "an", "object"]) + "\n"
        + json.dumps({"id": "r5", "text": ""}) + "\n"
        + json.dumps({"id": "r6", "text": "sixth record"}) + "\n"
    )
    (root / "broken-link.txt").symlink_to(root / "does-not-exist.txt")
    (root / "ignored.bin").write_bytes(b"\x00\x01")
    return root


def test_bad_input_is_skipped_not_fatal(tmp_path):
    root = make_bad_corpus(tmp_path / "corpus")
    docs, skips = _split(list(read_inputs([root])))
    assert sorted(d.id for d in docs) == sorted([f"{root.as_posix()}/good.txt", f"{root.as_posix()}/good.md",
                                                 "r1", "r6"])
    reasons = {s.source.rsplit("/", 1)[-1]: s.reason for s in skips}
    assert reasons["binary.txt"] == "binary file"
    assert reasons["latin1.txt"].startswith("not valid UTF-8")
    assert reasons["empty.md"] == "empty"
    assert reasons["broken-link.txt"].startswith("unreadable")
    assert reasons["records.jsonl:2"].startswith("malformed JSON")
    assert reasons["records.jsonl:3"] == "no 'text' field"
    assert reasons["records.jsonl:4"] == "record is not a JSON object"
    assert reasons["records.jsonl:5"] == "empty text"
    assert "ignored.bin" not in reasons  # unsupported suffixes in a directory walk are not inputs
    assert len(skips) == 8


def test_titles_and_metadata(tmp_path):
    root = make_bad_corpus(tmp_path / "corpus")
    docs = {d.id: d for d in _split(list(read_inputs([root])))[0]}
    assert docs[f"{root.as_posix()}/good.txt"].title == "A Good Title"
    assert docs[f"{root.as_posix()}/good.md"].title == "Markdown Title"
    assert docs["r1"].metadata == {"tag": "x"}
    assert docs["r1"].source == str((root / "records.jsonl").resolve())


def test_record_fields_and_default_ids(tmp_path):
    path = tmp_path / "corpus.jsonl"
    path.write_text(
        json.dumps({"_id": "d1", "title": "Title one", "text": "body one", "year": 2001}) + "\n"
        + json.dumps({"title": "Title two", "text": "body two"}) + "\n"
    )
    docs, _ = _split(list(read_inputs([path], RecordFields(text=("title", "text"), id="_id"))))
    assert docs[0].id == "d1" and docs[0].text == "Title one body one" and docs[0].metadata == {"year": 2001}
    assert docs[1].id == f"{path.as_posix()}#2"


def test_csv_and_json(tmp_path):
    (tmp_path / "t.csv").write_text("id,text,colour\nc1,red things,red\nc2,blue things,blue\n")
    (tmp_path / "t.json").write_text(json.dumps([{"id": "j1", "text": "json one"}, {"text": "json two"}]))
    (tmp_path / "bad.json").write_text("[{]")
    docs, skips = _split(list(read_inputs([tmp_path])))
    ids = {d.id: d for d in docs}
    assert ids["c1"].metadata == {"colour": "red"}
    assert "j1" in ids and f"{(tmp_path / 't.json').as_posix()}#2" in ids
    assert len(skips) == 1 and skips[0].reason.startswith("malformed JSON")


def test_glob_filters_directories(tmp_path):
    root = make_bad_corpus(tmp_path / "corpus")
    docs, _ = _split(list(read_inputs([root], globs=["*.md"])))
    assert [d.title for d in docs] == ["Markdown Title"]


def test_stdin_text_and_jsonl():
    docs, _ = _split(list(read_inputs(["-"], stdin=io.StringIO("plain words from a pipe\n"))))
    assert docs[0].id == "stdin" and docs[0].text == "plain words from a pipe"
    lines = io.StringIO('{"id": "s1", "text": "one"}\n{"id": "s2", "text": "two"}\n')
    docs, _ = _split(list(read_inputs(["-"], stdin=lines)))
    assert [d.id for d in docs] == ["s1", "s2"]


def test_missing_path_is_reported(tmp_path):
    _, skips = _split(list(read_inputs([tmp_path / "nope"])))
    assert skips[0].reason == "no such file or directory"


def test_html_text_excludes_scripts_and_styles():
    title, body = html_to_text(
        "<html><head><title>Page  Title</title><style>.x{color:red}</style></head>"
        "<body><script>var secret = 1;</script><h1>Heading</h1><p>First &amp; para.</p><p>Second</p></body></html>"
    )
    assert title == "Page Title"
    assert body == "Heading\nFirst & para.\nSecond"


def test_sample_html_pages_read_cleanly():
    docs, skips = _split(list(read_inputs([SAMPLE_DATA / "articles"], globs=["*.html"])))
    assert len(docs) == 4 and not skips
    for doc in docs:
        assert "<" not in doc.text and "console.log" not in doc.text and "{" not in doc.text
