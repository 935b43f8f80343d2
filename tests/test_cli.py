"""The real CLI through CliRunner, on temporary indexes (tiny model for speed)."""

import json
import os

import pytest
from click.testing import CliRunner

from semsearch.cli import cli

from .test_reading import make_bad_corpus


@pytest.fixture
def runner():
    return CliRunner()


@pytest.fixture
def corpus(tmp_path):
    root = tmp_path / "docs"
    root.mkdir()
    (root / "cats.txt").write_text("Cats\n\nthe cat sat on the mat and the cat slept")
    (root / "dogs.md").write_text("# Dogs\n\na dog ran to the river with another dog")
    (root / "notes.jsonl").write_text(
        json.dumps({"id": "n1", "body": "bread and coffee", "topic": "food"}) + "\n"
        + json.dumps({"id": "n2", "body": "music and art in the city", "topic": "art"}) + "\n"
    )
    return root


@pytest.fixture
def indexed(runner, corpus, tmp_path, tiny_model):
    path = tmp_path / "idx"
    result = runner.invoke(cli, ["index", str(corpus), "-i", str(path), "--model", str(tiny_model),
                                 "--text-field", "body,text", "--json"])
    assert result.exit_code == 0, result.output
    return path


def run(runner, *args, **kwargs):
    result = runner.invoke(cli, [str(a) for a in args], **kwargs)
    return result


def test_index_reports_json(runner, corpus, tmp_path, tiny_model):
    result = run(runner, "index", corpus, "-i", tmp_path / "i", "--model", tiny_model, "--text-field", "body,text",
                 "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["added"] == 4 and report["total_documents"] == 4 and report["skipped"] == []
    again = json.loads(run(runner, "index", corpus, "-i", tmp_path / "i", "--text-field", "body,text", "--json").stdout)
    assert again["added"] == 0 and again["unchanged"] == 4


def test_search_table_and_json(runner, indexed):
    result = run(runner, "search", "dog river", "-i", indexed, "-k", "2", "--mode", "keyword")
    assert result.exit_code == 0, result.output
    assert "dogs.md" in result.output.splitlines()[0]
    hits = json.loads(run(runner, "search", "dog river", "-i", indexed, "--json").stdout)
    assert {"id", "score", "text", "metadata"} <= set(hits[0])
    hits = json.loads(run(runner, "search", "anything", "-i", indexed, "--where", "topic=food", "--json").stdout)
    assert [h["id"] for h in hits] == ["n1"] and hits[0]["metadata"] == {"topic": "food"}


def test_search_batch_mode(runner, indexed, tmp_path):
    queries = tmp_path / "q.jsonl"
    queries.write_text(json.dumps({"id": "q1", "text": "dog river"}) + "\n" + json.dumps({"id": "q2", "text": "cat"}))
    result = run(runner, "search", "--queries", queries, "-i", indexed, "-k", "3")
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["query_id"] for line in lines] == ["q1", "q2"]
    assert lines[0]["query"] == "dog river" and len(lines[0]["hits"]) == 3
    assert set(lines[0]["hits"][0]) == {"id", "score"}
    plain = tmp_path / "q.txt"
    plain.write_text("dog river\n\ncat\n")
    out = tmp_path / "out.jsonl"
    assert run(runner, "search", "--queries", plain, "-i", indexed, "-o", out).exit_code == 0
    assert [json.loads(x)["query_id"] for x in out.read_text().splitlines()] == ["1", "3"]


def test_similar_info_remove(runner, indexed, corpus):
    hits = json.loads(run(runner, "similar", "n1", "-i", indexed, "--json").stdout)
    assert "n1" not in [h["id"] for h in hits] and len(hits) == 3
    info = json.loads(run(runner, "info", "-i", indexed, "--json").stdout)
    assert info["documents"] == 4 and info["chunks"] >= 4
    assert info["settings"]["layers"] == "auto" and info["settings"]["pooling"] == "mean"
    text = run(runner, "info", "-i", indexed).output
    assert "documents  4" in text and "layers" in text
    result = run(runner, "remove", "n2", "nope", "-i", indexed, "--json")
    assert result.exit_code == 1 and json.loads(result.stdout) == {"removed": ["n2"], "not_found": ["nope"]}
    (corpus / "cats.txt").unlink()
    result = run(runner, "remove", "--missing", "-i", indexed, "--json")
    assert result.exit_code == 0 and json.loads(result.stdout)["removed"] == [f"{corpus.as_posix()}/cats.txt"]
    assert json.loads(run(runner, "info", "-i", indexed, "--json").stdout)["documents"] == 2


def test_keyword_terms_are_counted_at_the_first_tfidf_use(runner, indexed):
    info = json.loads(run(runner, "info", "-i", indexed, "--json").stdout)
    assert info["keyword_terms_pending"] == 4  # the writer leaves them
    assert "4 documents' keyword terms not counted yet" in run(runner, "info", "-i", indexed).output
    assert run(runner, "keywords", "n2", "-i", indexed, "--method", "textrank").exit_code == 0
    assert json.loads(run(runner, "info", "-i", indexed, "--json").stdout)["keyword_terms_pending"] == 4
    result = run(runner, "keywords", "--all", "-i", indexed, "--method", "tfidf", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(run(runner, "info", "-i", indexed, "--json").stdout)["keyword_terms_pending"] == 0
    assert "keyword terms counted for every document" in run(runner, "info", "-i", indexed).output


def test_index_env_var(runner, indexed):
    result = runner.invoke(cli, ["info", "--json"], env={"SEMSEARCH_INDEX": str(indexed)})
    assert json.loads(result.stdout)["documents"] == 4


def test_bad_input_summary_and_strict(runner, tmp_path, tiny_model):
    root = make_bad_corpus(tmp_path / "bad")
    args = ["index", str(root), "-i", str(tmp_path / "i"), "--model", str(tiny_model)]
    result = runner.invoke(cli, args)
    assert result.exit_code == 0
    assert result.stderr.count("semsearch: skipped") == 8
    assert "4 new" in result.stderr and "8 skipped" in result.stderr
    strict = runner.invoke(cli, [*args, "--strict"])
    assert strict.exit_code == 1 and "--strict" in strict.stderr


def test_stdin(runner, tmp_path, tiny_model):
    result = runner.invoke(cli, ["index", "-", "-i", str(tmp_path / "i"), "--model", str(tiny_model), "--json"],
                           input='{"id": "p1", "text": "piped in"}\n')
    assert json.loads(result.stdout)["added"] == 1


@pytest.mark.parametrize(
    "args, message",
    [
        (["search", "x"], "no index at"),
        (["info"], "no index at"),
        (["similar", "x"], "no index at"),
        (["remove", "x"], "no index at"),
    ],
)
def test_errors_without_index(runner, tmp_path, args, message):
    result = runner.invoke(cli, [*args, "-i", str(tmp_path / "none")])
    assert result.exit_code == 1 and message in result.stderr and "Traceback" not in result.output
    assert not (tmp_path / "none").exists()


def test_usage_errors(runner, indexed, tmp_path):
    assert runner.invoke(cli, ["search", "-i", str(indexed)]).exit_code == 2
    assert runner.invoke(cli, ["remove", "-i", str(indexed)]).exit_code == 2
    assert runner.invoke(cli, ["search", "x", "--where", "novalue", "-i", str(indexed)]).exit_code == 2
    result = runner.invoke(cli, ["similar", "nope", "-i", str(indexed)])
    assert result.exit_code == 1 and "no document 'nope'" in result.stderr
    result = runner.invoke(cli, ["index", str(tmp_path), "-i", str(indexed), "--layers", "last"])
    assert result.exit_code == 1 and "other settings" in result.stderr
    result = runner.invoke(cli, ["index", str(tmp_path), "-i", str(tmp_path / "new"), "--model", "no/such/model"])
    assert result.exit_code == 1 and "never downloads" in result.stderr


def test_every_command_has_help_with_examples(runner):
    for command in ("index", "search", "similar", "info", "remove"):
        result = runner.invoke(cli, [command, "--help"])
        assert result.exit_code == 0 and "Example" in result.output and "--index" in result.output


def test_locked_index_message(runner, indexed):
    from semsearch.index import LOCK_FILE
    from semsearch.locking import WriterLock

    with WriterLock(indexed / LOCK_FILE):
        result = runner.invoke(cli, ["remove", "n1", "-i", str(indexed)])
    assert result.exit_code == 1 and f"locked by process {os.getpid()}" in result.stderr


def test_cli_search_embeds_with_torch_and_exports_nothing(runner, indexed, tmp_path, monkeypatch):
    """A one-shot search would not earn back an ONNX Runtime start-up (0.3 s, or a 2 s export)."""
    monkeypatch.setenv("SEMSEARCH_CACHE", str(tmp_path / "cache"))
    result = run(runner, "search", "dog river", "-i", indexed, "--mode", "dense", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) and not (tmp_path / "cache").exists()
