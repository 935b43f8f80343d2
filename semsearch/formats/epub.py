"""EPUB books: the chapters of the reading order (the OPF spine), each a page."""

from __future__ import annotations

import posixpath
from pathlib import Path
from urllib.parse import unquote

from .archive import Archive, local
from .base import Extracted, Unreadable, assemble, tidy_lines

TEXT_TYPES = {"application/xhtml+xml", "text/html", "application/x-dtbook+xml"}


def read_epub(path: Path) -> Extracted:
    from ..reading import html_to_text  # reading imports this package: import late

    with Archive(path) as archive:
        container = archive.xml("META-INF/container.xml")
        opf = next((el.get("full-path") for el in container.iter() if local(el.tag) == "rootfile"), None)
        if not opf or not archive.has(opf):
            raise Unreadable("corrupt EPUB: no package document (OPF)")
        package = archive.xml(opf)
        folder = posixpath.dirname(opf)
        manifest: dict[str, tuple[str, str]] = {}
        spine: list[str] = []
        title = None
        for el in package.iter():
            name = local(el.tag)
            if name == "item" and el.get("id") and el.get("href"):
                href = posixpath.normpath(posixpath.join(folder, unquote(el.get("href").split("#")[0])))
                manifest[el.get("id")] = (href, el.get("media-type") or "")
            elif name == "itemref" and el.get("idref"):
                spine.append(el.get("idref"))
            elif name == "title" and title is None and el.text and el.text.strip():
                title = " ".join(el.text.split())[:300]
        chapters = [manifest[i][0] for i in spine if i in manifest and manifest[i][1] in TEXT_TYPES]
        if not chapters:
            raise Unreadable("corrupt EPUB: no chapters in the reading order")
        _check_drm(archive, set(chapters))
        pages = []
        for chapter in chapters:
            if not archive.has(chapter):
                continue  # a dangling spine entry: the rest of the book is still worth reading
            markup = archive.read(chapter).decode("utf-8", errors="replace")
            pages.append(tidy_lines(html_to_text(markup)[1]))
        # Cover, title page and other chapters without text are not pages of the book's text.
        pages = [p for p in pages if p]
        text, starts = assemble(pages)
        return Extracted(text, starts, title, {"format": "epub", "chapters": len(pages)})


def _check_drm(archive: Archive, chapters: set[str]) -> None:
    """Refuse a book whose chapters are encrypted (DRM); obfuscated fonts alone are fine."""
    if not archive.has("META-INF/encryption.xml"):
        return
    for el in archive.xml("META-INF/encryption.xml").iter():
        if local(el.tag) == "CipherReference" and unquote(el.get("URI") or "") in chapters:
            raise Unreadable("encrypted (DRM)")
