"""OpenDocument text (.odt) and presentations (.odp), with the standard library."""

from __future__ import annotations

from pathlib import Path
from xml.etree.ElementTree import Element

from .archive import Archive, local
from .base import Extracted, Unreadable, assemble, first_line_title, tidy_lines
from .ooxml import _PageText

# Elements whose text is not the document's: comments, tracked (deleted) changes,
# footnote numbers, and slide furniture repeated on every page.
SKIPPED = {"annotation", "annotation-end", "tracked-changes", "note-citation", "page-thumbnail"}
REPEATED_CLASSES = {"page-number", "footer", "date-time", "header", "page"}


def _attr(el: Element, name: str) -> str | None:
    for key, value in el.attrib.items():
        if local(key) == name:
            return value
    return None


def check_encryption(archive: Archive) -> None:
    if archive.has("META-INF/manifest.xml"):
        for el in archive.xml("META-INF/manifest.xml").iter():
            if local(el.tag) == "encryption-data":
                raise Unreadable("encrypted")


def meta_title(archive: Archive) -> str | None:
    root = archive.optional_xml("meta.xml")
    if root is None:
        return None
    for el in root.iter():
        if local(el.tag) == "title" and el.text and el.text.strip():
            return " ".join(el.text.split())[:300]
    return None


def _page_break_styles(root: Element) -> set[str]:
    """Names of the automatic paragraph styles that start a new page."""
    found = set()
    for style in root.iter():
        if local(style.tag) != "style":
            continue
        name = _attr(style, "name")
        starts_page = bool(_attr(style, "master-page-name"))
        for props in style:
            if local(props.tag) == "paragraph-properties" and _attr(props, "break-before") == "page":
                starts_page = True
        if name and starts_page:
            found.add(name)
    return found


class _Walker:
    def __init__(self, breaks: set[str]) -> None:
        self.out = _PageText()
        self.breaks = breaks
        self.heading: str | None = None

    def walk(self, el: Element) -> None:
        name = local(el.tag)
        if name in SKIPPED:
            return
        if name in ("p", "h"):
            if _attr(el, "style-name") in self.breaks:
                self.out.page_break()
            mark = len(self.out.pages), len(self.out.pages[-1])
            self.inline(el)
            if name == "h" and self.heading is None and mark[0] == len(self.out.pages):
                self.heading = " ".join("".join(self.out.pages[-1][mark[1]:]).split())[:300] or None
            self.out.add("\n")
        elif name == "soft-page-break":  # where LibreOffice's last layout broke the page
            self.out.page_break()
        else:
            for child in el:
                self.walk(child)

    def inline(self, el: Element) -> None:
        """A paragraph's text: its own, its spans', and the text after each child (``tail``)."""
        if el.text:
            self.out.add(el.text)
        for child in el:
            name = local(child.tag)
            if name == "s":
                self.out.add(" " * int(_attr(child, "c") or 1))
            elif name == "tab":
                self.out.add("\t")
            elif name == "line-break":
                self.out.add("\n")
            elif name == "soft-page-break":
                self.out.page_break()
            elif name in SKIPPED:
                pass
            elif name in ("note", "frame", "p", "h", "list"):
                self.out.add("\n")
                self.walk(child)  # footnote bodies and text boxes as their own paragraphs
            else:
                self.inline(child)
            if child.tail:
                self.out.add(child.tail)


def _body(root: Element, kind: str) -> Element:
    for el in root.iter():
        if local(el.tag) == kind:
            return el
    raise Unreadable(f"corrupt document: content.xml has no office:{kind}")


def read_odt(path: Path) -> Extracted:
    with Archive(path) as archive:
        check_encryption(archive)
        root = archive.xml("content.xml")
        walker = _Walker(_page_break_styles(root))
        walker.walk(_body(root, "text"))
        text, starts = assemble(walker.out.texts())
        if not walker.out.breaks:
            starts = ()  # no layout recorded: pages unknown
        title = meta_title(archive) or walker.heading or first_line_title(text)
        return Extracted(text, starts, title, {"format": "odt"})


def read_odp(path: Path) -> Extracted:
    with Archive(path) as archive:
        check_encryption(archive)
        root = archive.xml("content.xml")
        pages: list[str] = []
        first_title: str | None = None
        for page in _body(root, "presentation"):
            if local(page.tag) != "page":
                continue
            slide, notes = [], []
            for frame in page:
                name = local(frame.tag)
                target = notes if name == "notes" else slide
                if name not in ("notes", "frame", "custom-shape", "g", "rect", "ellipse"):
                    continue
                if _attr(frame, "class") in REPEATED_CLASSES:
                    continue
                walker = _Walker(set())
                walker.walk(frame)
                frame_text = tidy_lines("".join("".join(p) for p in walker.out.pages))
                if frame_text:
                    target.append(frame_text)
                    if first_title is None and _attr(frame, "class") == "title":
                        first_title = " ".join(frame_text.split())[:300]
            pages.append("\n".join(slide) + ("\n\n" + "\n".join(notes) if notes else ""))
        text, starts = assemble(pages)
        title = meta_title(archive) or first_title or first_line_title(text)
        return Extracted(text, starts, title, {"format": "odp", "slides": len(pages)})
