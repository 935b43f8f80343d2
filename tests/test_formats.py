"""Document formats on real files (data/documents, made by LibreOffice) and on malformed ones built here."""

from __future__ import annotations

import io
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from semsearch import formats
from semsearch.formats import Unreadable, archive, pdf
from semsearch.reading import Document, DocumentFile, Skipped, read_inputs
from tests.conftest import SAMPLE_DATA
from tests.pdfmaker import make_pdf

DOCUMENTS = SAMPLE_DATA / "documents"
ARTICLES = ["four-articles.pdf", "four-articles.docx", "four-articles.odt", "four-articles.epub"]
SLIDES = ["four-slides.pptx", "four-slides.odp"]
# From page 3 (slide 3, chapter 3) of every sample document, and from no other page.
PAGE_3 = "The buried snow is gradually compressed into grainy firn"


def page_texts(found: formats.Extracted) -> list[str]:
    bounds = [*found.pages, len(found.text)]
    return [found.text[bounds[i]:bounds[i + 1]] for i in range(len(found.pages))]


@pytest.mark.parametrize("name", ARTICLES + SLIDES)
def test_every_format_reports_four_pages_and_the_sentence_on_page_3(name):
    found = formats.read(DOCUMENTS / name)
    pages = page_texts(found)
    assert len(pages) == 4
    assert [i for i, text in enumerate(pages, start=1) if PAGE_3 in text] == [3]
    assert found.pages[0] == 0 and list(found.pages) == sorted(found.pages)
    expected = "Four Topics in Four Slides" if name in SLIDES else "Four Articles from the Sample Corpus"
    assert found.title == expected
    assert found.metadata["format"] == name.rsplit(".", 1)[1]


@pytest.mark.parametrize("name", SLIDES)
def test_slides_include_their_notes_on_the_slide_s_page(name):
    pages = page_texts(formats.read(DOCUMENTS / name))
    # The notes of slide 3 are the glacier article's second paragraph.
    assert "Glaciers flow in two main ways" in pages[2]
    assert "Glaciers flow in two main ways" not in pages[1] + pages[3]


def test_the_same_text_comes_out_of_every_article_format():
    texts = {name: " ".join(formats.read(DOCUMENTS / name).text.split()) for name in ARTICLES}
    assert len(set(texts.values())) == 1, {k: v[:80] for k, v in texts.items()}


def test_a_file_is_read_by_its_bytes_not_its_name(tmp_path):
    disguised = tmp_path / "report.pdf"  # a Word file named .pdf
    disguised.write_bytes((DOCUMENTS / "four-articles.docx").read_bytes())
    found = formats.read(disguised)
    assert found.metadata["format"] == "docx" and PAGE_3 in page_texts(found)[2]
    as_text = tmp_path / "notes.txt"  # a PDF named .txt: read as the PDF it is
    as_text.write_bytes((DOCUMENTS / "four-articles.pdf").read_bytes())
    docs = [d for d in read_inputs([as_text]) if isinstance(d, Document)]
    assert docs and docs[0].pages and PAGE_3 in docs[0].text
    fake = tmp_path / "slides.pptx"  # text named .pptx
    fake.write_text("just some words, not a presentation")
    with pytest.raises(Unreadable, match="not a PowerPoint presentation"):
        formats.read(fake)
    a_zip = tmp_path / "letter.docx"  # a ZIP that is no Word file
    with zipfile.ZipFile(a_zip, "w") as z:
        z.writestr("hello.txt", "hello")
    with pytest.raises(Unreadable, match="ZIP archive, not a Word document"):
        formats.read(a_zip)


def test_a_markdown_file_that_mentions_the_pdf_header_stays_text(tmp_path):
    note = tmp_path / "pdf-notes.md"
    note.write_text("# PDF notes\n\nEvery PDF starts with %PDF-1.7 on its first line.\n")
    [doc] = list(read_inputs([note]))
    assert isinstance(doc, Document) and doc.pages is None and "%PDF-1.7" in doc.text


def test_legacy_and_encrypted_files_are_skipped_with_their_reason(tmp_path):
    ole = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504)
    (tmp_path / "old.doc").write_bytes(ole + b"WordDocument".ljust(2048, b"\0"))
    (tmp_path / "old.ppt").write_bytes(ole + b"PowerPoint Document".ljust(2048, b"\0"))
    (tmp_path / "locked.docx").write_bytes(ole + "EncryptedPackage".encode("utf-16-le") + bytes(2048))
    (tmp_path / "locked.pdf").write_bytes((DOCUMENTS / "encrypted.pdf").read_bytes())
    reasons = {Path(s.source).name: s.reason for s in read_inputs([tmp_path]) if isinstance(s, Skipped)}
    assert reasons["old.doc"].startswith("legacy Word 97-2003 .doc is not supported")
    assert reasons["old.ppt"].startswith("legacy PowerPoint 97-2003 .ppt is not supported")
    assert reasons["locked.docx"] == "encrypted"
    assert reasons["locked.pdf"] == "encrypted"


def test_encrypted_opendocument_and_drm_epub_are_skipped(tmp_path):
    odt = tmp_path / "locked.odt"
    with zipfile.ZipFile(odt, "w") as z:
        z.writestr("mimetype", "application/vnd.oasis.opendocument.text")
        z.writestr("META-INF/manifest.xml",
                   '<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0">'
                   '<manifest:file-entry manifest:full-path="content.xml"><manifest:encryption-data/>'
                   "</manifest:file-entry></manifest:manifest>")
        z.writestr("content.xml", b"\x8f\x01 encrypted bytes")
    with pytest.raises(Unreadable, match="^encrypted$"):
        formats.read(odt)
    epub = tmp_path / "drm.epub"
    with zipfile.ZipFile(DOCUMENTS / "four-articles.epub") as source, zipfile.ZipFile(epub, "w") as z:
        for info in source.infolist():
            z.writestr(info, source.read(info))
        z.writestr("META-INF/encryption.xml",
                   '<encryption xmlns="urn:oasis:names:tc:opendocument:xmlns:container" '
                   'xmlns:enc="http://www.w3.org/2001/04/xmlenc#"><enc:EncryptedData>'
                   '<enc:CipherData><enc:CipherReference URI="OEBPS/chapter3.xhtml"/></enc:CipherData>'
                   "</enc:EncryptedData></encryption>")
    with pytest.raises(Unreadable, match="encrypted"):
        formats.read(epub)


@pytest.mark.parametrize("name", ARTICLES + SLIDES)
def test_truncated_and_garbled_files_are_skipped_or_read_never_raised(tmp_path, name):
    data = (DOCUMENTS / name).read_bytes()
    variants = {
        "half": data[: len(data) // 2],
        "head": data[:200],
        "garbled": data[:64] + bytes((b * 7 + 3) % 256 for b in data[64:]),
    }
    for label, content in variants.items():
        path = tmp_path / f"{label}-{name}"
        path.write_bytes(content)
        [item] = list(read_inputs([path]))
        assert isinstance(item, (Document, Skipped)), label
        if isinstance(item, Skipped):
            assert item.reason and "\n" not in item.reason
            if label == "head" and not name.endswith(".pdf"):  # a ZIP container cut after 200 bytes
                assert item.reason.startswith("corrupt ZIP container"), item.reason


def _docx_with_body(tmp_path: Path, body: bytes, name: str = "bomb.docx") -> Path:
    path = tmp_path / name
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("word/document.xml", body)
    return path


def test_zip_bombs_are_refused_by_ratio_and_by_size(tmp_path, monkeypatch):
    # 4 MB of one repeated character inflates ~1000x: refused by the ratio limit.
    body = (b'<w:document xmlns:w="x"><w:body><w:p><w:r><w:t>' + b"a" * 4_000_000
            + b"</w:t></w:r></w:p></w:body></w:document>")
    with pytest.raises(Unreadable, match="zip bomb"):
        formats.read(_docx_with_body(tmp_path, body))
    # Ordinary text under a total limit made small: refused by size, whatever the ZIP declares.
    words = " ".join(f"word{i}" for i in range(60_000)).encode()
    doc = b'<w:document xmlns:w="x"><w:body><w:p><w:r><w:t>' + words + b"</w:t></w:r></w:p></w:body></w:document>"
    path = _docx_with_body(tmp_path, doc, "big.docx")
    assert "word59999" in formats.read(path).text
    monkeypatch.setattr(archive, "MAX_MEMBER_BYTES", 100_000)
    with pytest.raises(Unreadable, match="zip bomb"):
        formats.read(path)


def test_xml_entity_expansion_is_refused(tmp_path):
    laughs = (b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]>'
              b'<w:document xmlns:w="x"><w:body><w:p><w:r><w:t>&b;</w:t></w:r></w:p></w:body></w:document>')
    with pytest.raises(Unreadable, match="unsafe XML"):
        formats.read(_docx_with_body(tmp_path, laughs, "laughs.docx"))


# -- PDF ---------------------------------------------------------------------------
def _report(pages: int = 6) -> list[list[str]]:
    """Pages with a running header and a numbered footer around distinct body text."""
    body = [
        "Glaciers carve valleys into broad troughs over many thousands of years, slowly",
        "grinding the bedrock with the stones frozen into their base; this is an extra-",
        "ordinary process, and a well-",
        "known one among geologists who study the high mountains and the ice sheets.",
    ]
    out = []
    for number in range(1, pages + 1):
        lines = [f"Section {number}: notes on topic {chr(64 + number)}", *body]
        lines[1] = lines[1].replace("Glaciers", f"Glaciers ({number * 11} of them)")
        out.append(["Annual Report of the Glacier Survey", *lines, f"Page {number} of {pages}"])
    out[0].append("It is a well-known fact that ice moves.")
    return out


def test_pdf_drops_running_headers_and_page_numbers_and_mends_hyphens(tmp_path):
    path = tmp_path / "report.pdf"
    path.write_bytes(make_pdf(_report(), title="Glacier Survey 2024"))
    found = formats.read(path)
    assert found.title == "Glacier Survey 2024"
    assert len(found.pages) == 6
    assert "Annual Report of the Glacier Survey" not in found.text
    assert "Page 3 of 6" not in found.text
    assert "Section 3: notes on topic C" in page_texts(found)[2]
    assert "an extraordinary process" in found.text  # line-end hyphen repaired
    assert "well-known one" in found.text  # a compound the document also writes with its hyphen
    assert "ice sheets." in found.text and "slowly grinding" in found.text  # paragraph lines joined


def test_pdf_title_falls_back_to_the_first_heading_like_line(tmp_path):
    path = tmp_path / "untitled.pdf"
    path.write_bytes(make_pdf([["Ice Ages Explained", "A body line that is long enough to be a paragraph."]],
                              title="Microsoft Word - draft3.docx"))
    assert formats.read(path).title == "Ice Ages Explained"


def test_pdf_without_text_layer_is_skipped(tmp_path):
    path = tmp_path / "scan.pdf"
    path.write_bytes(make_pdf([[], [], []]))
    with pytest.raises(Unreadable, match="no text layer — scanned\\? OCR is not supported"):
        formats.read(path)


def test_a_pdf_is_read_and_skipped_by_reading_with_one_line_reasons(tmp_path):
    (tmp_path / "scan.pdf").write_bytes(make_pdf([[]]))
    (tmp_path / "junk.pdf").write_bytes(b"%PDF-1.4\n" + bytes(range(256)) * 4)
    (tmp_path / "empty.pdf").write_bytes(b"")
    (tmp_path / "good.pdf").write_bytes(make_pdf([["A page about glaciers and the ice that carves valleys."]]))
    items = list(read_inputs([tmp_path]))
    skipped = {Path(s.source).name: s.reason for s in items if isinstance(s, Skipped)}
    assert skipped["scan.pdf"].startswith("no text layer")
    assert skipped["junk.pdf"].startswith("corrupt or not a PDF")
    assert "empty.pdf" in skipped
    assert [d.id.rsplit("/", 1)[1] for d in items if isinstance(d, Document)] == ["good.pdf"]


def test_deferred_reading_hashes_first_and_extracts_on_demand(tmp_path):
    path = tmp_path / "a.pdf"
    path.write_bytes((DOCUMENTS / "four-articles.pdf").read_bytes())
    [item] = list(read_inputs([tmp_path], defer=True))
    assert isinstance(item, DocumentFile) and item.file_hash == formats.file_digest(path)
    doc = item.read()
    assert isinstance(doc, Document) and doc.file_hash == item.file_hash and len(doc.pages) == 4
    path.write_bytes(path.read_bytes() + b"\n")  # one more byte: another digest
    assert formats.file_digest(path) != item.file_hash


# Peak RSS from VmHWM: getrusage's ru_maxrss survives fork and exec on Linux, so a child
# would report this (larger) test process's peak instead of its own.
MEMORY_PROBE = """
import sys
from pathlib import Path
from semsearch.formats import read
found = read(Path(sys.argv[1]))
with open("/proc/self/status") as status:
    peak = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
print(len(found.pages), peak)
"""


def test_a_2000_page_pdf_is_read_page_by_page_in_bounded_memory(tmp_path):
    def body(number: int) -> list[str]:
        return [f"Entry {number}: the {number}th glacier of the catalogue, its valley and its moraine.",
                f"Observed in {1900 + number % 120}, length {number % 37} km, flowing {number % 5} m a day."]

    sizes = {}
    for pages in (20, 2000):
        path = tmp_path / f"catalogue-{pages}.pdf"
        path.write_bytes(make_pdf([body(n) for n in range(1, pages + 1)]))
        run = subprocess.run([sys.executable, "-c", MEMORY_PROBE, str(path)], capture_output=True, text=True,
                             timeout=300, env={"PYTHONPATH": str(Path(__file__).resolve().parent.parent)})
        count, peak_kb = map(int, run.stdout.split())
        assert count == pages
        sizes[pages] = peak_kb
    found = formats.read(tmp_path / "catalogue-2000.pdf")
    assert "Entry 1234: the 1234th glacier" in page_texts(found)[1233]
    # 100x the pages: the text grows (~300 KB), the peak must not grow with the file's pages.
    assert 50 * 1024 < sizes[20] and sizes[2000] - sizes[20] < 64 * 1024, sizes


def test_pdf_pages_without_text_keep_the_page_numbers_of_the_rest(tmp_path):
    path = tmp_path / "gaps.pdf"
    path.write_bytes(make_pdf([["First page text about rivers and lakes."], [],
                               ["Third page text about deserts and dunes."]]))
    found = formats.read(path)
    assert len(found.pages) == 3
    assert "deserts" in page_texts(found)[2] and page_texts(found)[1] == ""


def test_pdf_reader_gives_up_past_its_time_limit(tmp_path):
    path = tmp_path / "slow.pdf"
    path.write_bytes(make_pdf([["Some text on a page."]] * 3))
    reader = pdf._open(path)
    try:
        with pytest.raises(Unreadable, match="gave up after"):
            list(pdf.iter_pages(reader, time_limit=-1))
    finally:
        reader.close()


def test_assemble_keeps_offsets_and_refuses_giant_text(monkeypatch):
    text, starts = formats.base.assemble(["one", "", "three"])
    assert text == "one\n\nthree" and starts == (0, 5, 5)
    assert formats.base.assemble(["one", ""]) == ("one", (0, 3))
    monkeypatch.setattr(formats.base, "MAX_TEXT_CHARS", 10)
    with pytest.raises(Unreadable, match="more than"):
        formats.base.assemble(["0123456789", "abc"])


def test_sniff_tells_containers_apart():
    assert formats.sniff(b"%PDF-1.7\n") == "pdf"
    assert formats.sniff(b"garbage\n%PDF-1.4") == "pdf"
    assert formats.sniff(b"garbage\n%PDF-1.4", lenient=False) is None
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr("a", "b")
    assert formats.sniff(buffer.getvalue()[:8]) == "zip"
    assert formats.sniff(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1") == "ole"
    assert formats.sniff(b"hello") is None


def test_word_pages_follow_word_s_last_layout(tmp_path):
    """As Word saves it: no explicit breaks, a w:lastRenderedPageBreak where each page began."""
    w = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'

    def run(text, rendered_break=False):
        mark = "<w:lastRenderedPageBreak/>" if rendered_break else ""
        return f"<w:r>{mark}<w:t xml:space='preserve'>{text}</w:t></w:r>"

    body = (f"<w:p><w:pPr><w:pStyle w:val='Title'/></w:pPr>{run('Field Notes')}</w:p>"
            f"<w:p>{run('Page one is about rivers. ')}{run('Page two starts mid-paragraph.', True)}</w:p>"
            f"<w:p>{run('Still page two, with a table:')}</w:p>"
            f"<w:tbl><w:tr><w:tc><w:p>{run('a cell on page three', True)}</w:p></w:tc></w:tr></w:tbl>"
            f"<w:p><w:r><w:delText>deleted words</w:delText></w:r>{run('the end.')}</w:p>")
    path = _docx_with_body(tmp_path, f"<w:document {w}><w:body>{body}</w:body></w:document>".encode(), "word.docx")
    found = formats.read(path)
    pages = page_texts(found)
    assert found.title == "Field Notes" and len(pages) == 3
    assert pages[0].startswith("Field Notes") and "rivers" in pages[0]
    assert pages[1].startswith("Page two starts mid-paragraph.") and "table" in pages[1]
    assert pages[2].startswith("a cell on page three") and "deleted" not in found.text


def test_opendocument_pages_follow_soft_page_breaks(tmp_path):
    text = "urn:oasis:names:tc:opendocument:xmlns:text:1.0"
    office = "urn:oasis:names:tc:opendocument:xmlns:office:1.0"
    content = (f'<office:document-content xmlns:office="{office}" xmlns:text="{text}"><office:body><office:text>'
               "<text:h>Lake Survey</text:h><text:p>First page text.</text:p>"
               "<text:p>More on page one<text:soft-page-break/> and this goes on page two.</text:p>"
               "<text:soft-page-break/><text:p>Page three<text:s text:c='2'/>text.</text:p>"
               "</office:text></office:body></office:document-content>")
    path = tmp_path / "survey.odt"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("mimetype", "application/vnd.oasis.opendocument.text")
        z.writestr("content.xml", content)
    found = formats.read(path)
    pages = page_texts(found)
    assert found.title == "Lake Survey" and len(pages) == 3
    assert pages[1].startswith("and this goes on page two.")
    assert pages[2].startswith("Page three text.")  # runs of spaces collapsed
