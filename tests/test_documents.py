"""PDF, Office and EPUB documents through the index, the search and the CLI (tiny model)."""

from __future__ import annotations

import json
import shutil
import sqlite3

import pytest
from click.testing import CliRunner

from semsearch import Index
from semsearch import reading as reading_module
from semsearch.cli import cli
from semsearch.reading import read_inputs
from semsearch.searching import chunk_page
from tests.conftest import SAMPLE_DATA
from tests.test_formats import PAGE_3

DOCUMENTS = SAMPLE_DATA / "documents"
NAMES = ["four-articles.pdf", "four-articles.docx", "four-articles.odt", "four-articles.epub",
         "four-slides.pptx", "four-slides.odp"]


def _folder(root):
    root.mkdir()
    for name in NAMES:
        shutil.copy(DOCUMENTS / name, root / name)
    (root / "plain.txt").write_text("Plain text\n\nA text file about buried snow has no pages at all.")
    return root


def _index(path, tiny_model, folder):
    idx = Index.open(path, model=tiny_model, chunk_size=100)
    report = idx.add_documents(read_inputs([folder], defer=True))
    assert report.added == len(NAMES) + 1 and not report.skipped, report.skipped
    return idx


@pytest.fixture
def folder(tmp_path):
    return _folder(tmp_path / "docs")


@pytest.fixture
def index(tmp_path, tiny_model, folder):
    idx = _index(tmp_path / "idx", tiny_model, folder)
    yield idx
    idx.close()


@pytest.fixture(scope="module")
def shared(tmp_path_factory, tiny_model):
    """One index of the sample documents for the tests that only read it."""
    root = tmp_path_factory.mktemp("documents")
    idx = _index(root / "idx", tiny_model, _folder(root / "docs"))
    yield idx
    idx.close()


def test_the_sentence_from_page_3_is_found_on_page_3_in_every_format(shared):
    hits = shared.search(PAGE_3, k=20, mode="keyword")
    pages = {hit.id.rsplit("/", 1)[1]: hit.page for hit in hits}
    assert {name: pages.get(name) for name in NAMES} == {name: 3 for name in NAMES}
    assert pages["plain.txt"] is None  # a format without pages
    only_pdf = shared.search(PAGE_3, k=20, mode="keyword", where={"format": "pdf"})
    assert [h.id.rsplit("/", 1)[1] for h in only_pdf] == ["four-articles.pdf"]


@pytest.mark.parametrize("mode", ["dense", "hybrid"])
def test_a_chunk_hit_s_page_is_the_page_its_snippet_sits_on(shared, mode):
    for hit in shared.search(PAGE_3, k=20, mode=mode):
        document = shared.get(hit.id)
        if document["pages"] is None:
            assert hit.page is None
            continue
        start = document["text"].index(hit.text)  # a verbatim slice of its document, within one page
        bounds = [*document["pages"], len(document["text"]) + 1]
        first = next(p for p in range(1, len(bounds)) if bounds[p - 1] <= start < bounds[p])
        last = next(p for p in range(1, len(bounds)) if bounds[p - 1] <= start + len(hit.text) - 1 < bounds[p])
        assert first == hit.page == last


def test_chunk_page_prefers_the_page_with_the_query_words():
    pages = (0, 10, 40)
    text = "aaaa firn glacier ice"  # at offset 5: "aaaa " ends page 1, the rest is on page 2
    assert chunk_page(pages, 5, text, set()) == (1, (0, len(text)))  # no query (similar): where it starts
    page, (low, high) = chunk_page(pages, 5, text, {"firn"})
    assert page == 2 and text[low:high] == "firn glacier ice"  # the snippet: the chunk's part on page 2
    page, (low, high) = chunk_page(pages, 5, text, {"aaaa"})
    assert page == 1 and text[low:high] == "aaaa "
    assert chunk_page(pages, 5, text, {"aaaa", "firn"})[0] == 1  # a tie: the earlier page
    assert chunk_page(None, 5, text, {"firn"}) == (None, (0, len(text)))
    assert chunk_page(pages, 45, "zz", {"zz"}) == (3, (0, 2))


def test_unchanged_documents_are_not_read_again(index, folder, monkeypatch):
    extracted = []
    real = reading_module._extract_document

    def counting(path, doc_id, digest):
        extracted.append(path.name)
        return real(path, doc_id, digest)

    monkeypatch.setattr(reading_module, "_extract_document", counting)
    report = index.add_documents(read_inputs([folder], defer=True))
    assert report.unchanged == len(NAMES) + 1 and report.added == report.updated == 0
    assert extracted == []
    (folder / "four-articles.pdf").write_bytes((DOCUMENTS / "four-slides.pptx").read_bytes())  # now a pptx inside
    report = index.add_documents(read_inputs([folder], defer=True))
    assert report.updated == 1 and extracted == ["four-articles.pdf"]
    assert index.get(str(folder / "four-articles.pdf").replace("\\", "/"))["metadata"]["format"] == "pptx"


def test_eager_reading_skips_unchanged_documents_by_their_byte_hash_too(index, folder):
    report = index.add_documents(read_inputs([folder]))
    assert report.unchanged == len(NAMES) + 1


def test_similar_and_keywords_work_on_documents(shared):
    doc_id = next(d for _, d, _ in shared.store.sources() if d.endswith("four-articles.pdf"))
    hits = shared.similar(doc_id, k=3)
    assert hits and doc_id not in [h.id for h in hits]
    assert all(h.page is None or h.page >= 1 for h in hits)
    phrases = [k.phrase for k in shared.keywords(doc_id, n=10)]
    assert phrases and any("glacier" in p or "photosynthesis" in p or "sleep" in p for p in phrases)


def test_an_index_made_before_pages_gains_the_column(tmp_path, tiny_model, folder):
    path = tmp_path / "old"
    with Index.open(path, model=tiny_model, chunk_size=100) as idx:
        idx.add(["a text without pages about rivers"], ids=["t"])
    db = sqlite3.connect(path / "index.db")
    db.execute("ALTER TABLE documents DROP COLUMN pages")  # as an index written before pages existed
    db.commit()
    db.close()
    with Index.open(path) as idx:
        assert idx.store.has_pages
        idx.add_documents(read_inputs([folder / "four-articles.odt"]))
        hits = idx.search(PAGE_3, k=5, mode="keyword")
        assert [h.page for h in hits if h.id.endswith("four-articles.odt")] == [3]
        assert idx.get("t")["pages"] is None


def test_cli_json_and_table_carry_the_page(tmp_path, tiny_model, folder):
    runner = CliRunner()
    path = tmp_path / "cli"
    result = runner.invoke(cli, ["index", str(folder), "-i", str(path), "--model", str(tiny_model), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["added"] == len(NAMES) + 1
    again = runner.invoke(cli, ["index", str(folder), "-i", str(path), "--json"])
    assert json.loads(again.stdout)["unchanged"] == len(NAMES) + 1
    hits = json.loads(runner.invoke(cli, ["search", PAGE_3, "-i", str(path), "--mode", "keyword", "-k", "10",
                                          "--json"]).stdout)
    assert all("page" in hit for hit in hits)
    assert [h["page"] for h in hits if h["id"].endswith("four-articles.pdf")] == [3]
    table = runner.invoke(cli, ["search", PAGE_3, "-i", str(path), "--mode", "keyword", "-k", "10"],
                          env={"COLUMNS": "400"}).output
    assert any("four-articles.pdf" in line and "  p. 3  " in line for line in table.splitlines())


def test_cli_index_counts_bad_documents_as_skips(tmp_path, tiny_model):
    root = tmp_path / "bad"
    root.mkdir()
    shutil.copy(DOCUMENTS / "encrypted.pdf", root / "locked.pdf")
    (root / "old.doc").write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(1024))
    (root / "half.docx").write_bytes((DOCUMENTS / "four-articles.docx").read_bytes()[:3000])
    shutil.copy(DOCUMENTS / "four-articles.epub", root / "good.epub")
    result = CliRunner().invoke(cli, ["index", str(root), "-i", str(tmp_path / "i"), "--model", str(tiny_model),
                                      "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    reasons = {s["source"].rsplit("/", 1)[1]: s["reason"] for s in report["skipped"]}
    assert report["added"] == 1 and set(reasons) == {"locked.pdf", "old.doc", "half.docx"}
    assert reasons["locked.pdf"] == "encrypted" and reasons["old.doc"].startswith("legacy Word")
    assert sum(line.startswith("semsearch: skipped") for line in result.stderr.splitlines()) == 3


@pytest.mark.slow
def test_with_the_bundled_model_hybrid_search_reports_page_3_in_every_format(tmp_path, folder):
    with Index.open(tmp_path / "real") as idx:
        idx.add_documents(read_inputs([folder], defer=True))
        for mode in ("hybrid", "dense"):
            hits = idx.search(PAGE_3, k=len(NAMES) + 1, mode=mode)
            pages = {hit.id.rsplit("/", 1)[1]: hit.page for hit in hits}
            assert {name: pages.get(name) for name in NAMES} == {name: 3 for name in NAMES}, mode
