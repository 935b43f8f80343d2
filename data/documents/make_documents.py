"""Rebuild the sample documents in this folder from the sample corpus (CC0, see ../LICENSE.md).

Four articles of ../articles (the first two paragraphs of each), one per page or
slide, written by LibreOffice as real Word, OpenDocument, PowerPoint and PDF files;
the EPUB is written here (LibreOffice's EPUB export puts a whole document in one
chapter).  Page 3 (slide 3, chapter 3) is always "How Glaciers Shape the Land".

Needs LibreOffice (`apt-get install libreoffice-writer-nogui libreoffice-impress-nogui`);
the tests use the committed files and need neither this script nor LibreOffice:

    python data/documents/make_documents.py
"""

from __future__ import annotations

import html
import shutil
import subprocess
import tempfile
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ARTICLES = ["photosynthesis.md", "plate-tectonics.md", "how-glaciers-shape-the-land.txt", "sleep-and-memory.txt"]
TITLE = "Four Articles from the Sample Corpus"
SLIDES_TITLE = "Four Topics in Four Slides"


def sections() -> list[tuple[str, list[str]]]:
    found = []
    for name in ARTICLES:
        blocks = [b for b in (HERE.parent / "articles" / name).read_text().split("\n\n") if b.strip()]
        found.append((blocks[0].lstrip("# ").strip(), [" ".join(b.split()) for b in blocks[1:3]]))
    return found


def soffice(source: Path, target: str, outdir: Path) -> None:
    subprocess.run(["soffice", "--headless", "--convert-to", target, "--outdir", str(outdir), str(source)],
                   check=True, capture_output=True, timeout=300)


def article_html(secs) -> str:
    body = []
    for number, (title, paragraphs) in enumerate(secs):
        style = ' style="page-break-before: always"' if number else ""
        body.append(f"<h1{style}>{html.escape(title)}</h1>")
        body += [f"<p>{html.escape(p)}</p>" for p in paragraphs]
    return (f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{TITLE}</title></head>'
            f'<body>{"".join(body)}</body></html>')


def slides_fodp(secs) -> str:
    """A flat OpenDocument presentation: a slide per article (title, 3 sentences), notes = paragraph 2."""

    def paras(texts):
        return "".join(f"<text:p>{html.escape(t)}</text:p>" for t in texts)

    pages = []
    for number, (title, paragraphs) in enumerate(secs, start=1):
        bullets = [s.rstrip(".") + "." for s in paragraphs[0].split(". ")[:3]]
        pages.append(
            f'<draw:page draw:name="page{number}" draw:master-page-name="Default">'
            f'<draw:frame presentation:class="title" svg:x="2cm" svg:y="1cm" svg:width="24cm" svg:height="3cm">'
            f"<draw:text-box>{paras([title])}</draw:text-box></draw:frame>"
            f'<draw:frame presentation:class="outline" svg:x="2cm" svg:y="5cm" svg:width="24cm" svg:height="12cm">'
            f"<draw:text-box>{paras(bullets)}</draw:text-box></draw:frame>"
            f'<presentation:notes><draw:page-thumbnail presentation:class="page" svg:x="3cm" svg:y="2cm" '
            f'svg:width="14cm" svg:height="10cm" draw:page-number="{number}"/>'
            f'<draw:frame presentation:class="notes" svg:x="2cm" svg:y="13cm" svg:width="17cm" svg:height="12cm">'
            f"<draw:text-box>{paras([paragraphs[1]])}</draw:text-box></draw:frame></presentation:notes>"
            f"</draw:page>"
        )
    ns = {
        "office": "urn:oasis:names:tc:opendocument:xmlns:office:1.0",
        "style": "urn:oasis:names:tc:opendocument:xmlns:style:1.0",
        "text": "urn:oasis:names:tc:opendocument:xmlns:text:1.0",
        "draw": "urn:oasis:names:tc:opendocument:xmlns:drawing:1.0",
        "presentation": "urn:oasis:names:tc:opendocument:xmlns:presentation:1.0",
        "svg": "urn:oasis:names:tc:opendocument:xmlns:svg-compatible:1.0",
        "dc": "http://purl.org/dc/elements/1.1/",
    }
    declarations = " ".join(f'xmlns:{k}="{v}"' for k, v in ns.items())
    return (f'<?xml version="1.0" encoding="UTF-8"?><office:document {declarations} office:version="1.3" '
            f'office:mimetype="application/vnd.oasis.opendocument.presentation">'
            f"<office:meta><dc:title>{SLIDES_TITLE}</dc:title></office:meta>"
            f'<office:master-styles><style:master-page style:name="Default"/></office:master-styles>'
            f'<office:body><office:presentation>{"".join(pages)}</office:presentation></office:body></office:document>')


def write_epub(secs, path: Path) -> None:
    """A minimal EPUB 3: one XHTML chapter per article, in spine order."""
    items, refs, nav = [], [], []
    with zipfile.ZipFile(path, "w") as book:
        book.writestr("mimetype", "application/epub+zip", compress_type=zipfile.ZIP_STORED)
        book.writestr("META-INF/container.xml",
                      '<?xml version="1.0"?><container version="1.0" '
                      'xmlns="urn:oasis:names:tc:opendocument:xmlns:container"><rootfiles>'
                      '<rootfile full-path="OEBPS/content.opf" media-type="application/oebps-package+xml"/>'
                      "</rootfiles></container>", compress_type=zipfile.ZIP_DEFLATED)
        for number, (title, paragraphs) in enumerate(secs, start=1):
            name = f"chapter{number}.xhtml"
            body = "".join(f"<p>{html.escape(p)}</p>" for p in paragraphs)
            book.writestr(f"OEBPS/{name}",
                          f'<?xml version="1.0" encoding="utf-8"?><!DOCTYPE html><html xmlns="http://www.w3.org/1999/xhtml">'
                          f"<head><title>{html.escape(title)}</title></head><body><h1>{html.escape(title)}</h1>{body}"
                          f"</body></html>", compress_type=zipfile.ZIP_DEFLATED)
            items.append(f'<item id="c{number}" href="{name}" media-type="application/xhtml+xml"/>')
            refs.append(f'<itemref idref="c{number}"/>')
            nav.append(f'<li><a href="{name}">{html.escape(title)}</a></li>')
        book.writestr("OEBPS/nav.xhtml",
                      '<?xml version="1.0" encoding="utf-8"?><html xmlns="http://www.w3.org/1999/xhtml" '
                      'xmlns:epub="http://www.idpf.org/2007/ops"><head><title>Contents</title></head><body>'
                      f'<nav epub:type="toc"><ol>{"".join(nav)}</ol></nav></body></html>',
                      compress_type=zipfile.ZIP_DEFLATED)
        book.writestr("OEBPS/content.opf",
                      '<?xml version="1.0" encoding="utf-8"?><package xmlns="http://www.idpf.org/2007/opf" '
                      'version="3.0" unique-identifier="id"><metadata xmlns:dc="http://purl.org/dc/elements/1.1/">'
                      '<dc:identifier id="id">semsearch-sample-four-articles</dc:identifier>'
                      f'<dc:title>{TITLE}</dc:title>'
                      '<dc:language>en</dc:language><meta property="dcterms:modified">2026-01-01T00:00:00Z</meta>'
                      '</metadata><manifest><item id="nav" href="nav.xhtml" media-type="application/xhtml+xml" '
                      f'properties="nav"/>{"".join(items)}</manifest><spine>{"".join(refs)}</spine></package>',
                      compress_type=zipfile.ZIP_DEFLATED)


def main() -> None:
    secs = sections()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "four-articles.html").write_text(article_html(secs))
        soffice(work / "four-articles.html", "odt:writer8", work)
        soffice(work / "four-articles.odt", "docx:MS Word 2007 XML", work)
        soffice(work / "four-articles.odt", "pdf:writer_pdf_Export", work)
        (work / "four-slides.fodp").write_text(slides_fodp(secs))
        soffice(work / "four-slides.fodp", "odp", work)
        soffice(work / "four-slides.odp", "pptx", work)
        # The same PDF, encrypted with the open password "secret": read only as a skip.
        encrypted = work / "encrypted"
        soffice(work / "four-articles.odt", 'pdf:writer_pdf_Export:{"EncryptFile":{"type":"boolean","value":"true"},'
                '"DocumentOpenPassword":{"type":"string","value":"secret"}}', encrypted)
        shutil.copy(encrypted / "four-articles.pdf", HERE / "encrypted.pdf")
        for name in ("four-articles.odt", "four-articles.docx", "four-articles.pdf", "four-slides.odp",
                     "four-slides.pptx"):
            shutil.copy(work / name, HERE / name)
    write_epub(secs, HERE / "four-articles.epub")


if __name__ == "__main__":
    main()
