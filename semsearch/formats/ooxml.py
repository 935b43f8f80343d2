"""Office Open XML: Word (.docx) and PowerPoint (.pptx), with the standard library.

Elements are matched by local name, so both the transitional and the strict
namespaces are read.
"""

from __future__ import annotations

import posixpath
from pathlib import Path
from xml.etree.ElementTree import Element

from .archive import Archive, local
from .base import Extracted, Unreadable, assemble, first_line_title, tidy_lines

# Titles that tools put in a file's properties by default: not the document's title.
GENERIC_TITLES = {"powerpoint presentation", "presentation", "document", "untitled", "slide 1"}
# Placeholders repeated on every slide or notes page (footer, date, slide number, the slide's picture).
REPEATED_PLACEHOLDERS = {"sldNum", "dt", "ftr", "hdr", "sldImg"}


def core_title(archive: Archive) -> str | None:
    """``dc:title`` from docProps/core.xml, unless it is missing or a tool's default."""
    root = archive.optional_xml("docProps/core.xml")
    if root is None:
        return None
    for el in root:
        if local(el.tag) == "title" and el.text and el.text.strip():
            title = " ".join(el.text.split())
            return None if title.lower() in GENERIC_TITLES else title[:300]
    return None


def relationships(archive: Archive, part: str) -> dict[str, tuple[str, str]]:
    """A part's relationships: id -> (type's last word, target part path)."""
    folder, name = posixpath.split(part)
    rels = posixpath.join(folder, "_rels", name + ".rels")
    if not archive.has(rels):
        return {}
    found = {}
    for el in archive.xml(rels):
        target = el.get("Target") or ""
        if el.get("TargetMode") == "External" or not target:
            continue
        path = target.lstrip("/") if target.startswith("/") else posixpath.normpath(posixpath.join(folder, target))
        found[el.get("Id") or ""] = ((el.get("Type") or "").rsplit("/", 1)[-1], path)
    return found


# -- Word ---------------------------------------------------------------------------
class _PageText:
    """Text split into pages at breaks; a break before any text on the page starts none."""

    def __init__(self) -> None:
        self.pages: list[list[str]] = [[]]
        self.breaks = 0

    def add(self, text: str) -> None:
        self.pages[-1].append(text)

    def page_break(self) -> None:
        self.breaks += 1
        if "".join(self.pages[-1]).strip():
            self.pages.append([])

    def texts(self) -> list[str]:
        return [tidy_lines("".join(parts)) for parts in self.pages]


def _on(el: Element | None) -> bool:
    """A Word on/off property: present and not switched off."""
    return el is not None and (el.get(_W_VAL) or el.get("val") or "true").lower() not in ("0", "false", "off")


_W_VAL = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}val"


def _child(el: Element, name: str) -> Element | None:
    for child in el:
        if local(child.tag) == name:
            return child
    return None


def _attr(el: Element, name: str) -> str | None:
    for key, value in el.attrib.items():
        if local(key) == name:
            return value
    return None


class _WordWalker:
    def __init__(self) -> None:
        self.out = _PageText()
        self.heading: str | None = None

    def walk(self, el: Element) -> None:
        name = local(el.tag)
        if name == "t":
            self.out.add(el.text or "")
        elif name == "tab":
            self.out.add("\t")
        elif name in ("br", "cr"):
            if _attr(el, "type") == "page":
                self.out.page_break()
            else:
                self.out.add("\n")
        elif name == "lastRenderedPageBreak":  # where Word's last layout broke the page
            self.out.page_break()
        elif name == "AlternateContent":
            # Choice and Fallback hold the same content twice (e.g. a text box as DrawingML and VML).
            if len(el):
                self.walk(el[0])
        elif name == "p":
            self.paragraph(el)
        elif name in ("pPr", "rPr", "instrText", "delText", "sectPr", "tblPr", "trPr", "tcPr"):
            return  # properties, field codes and deleted text are not content
        else:
            for child in el:
                self.walk(child)

    def paragraph(self, el: Element) -> None:
        props = _child(el, "pPr")
        style = None
        if props is not None:
            if _on(_child(props, "pageBreakBefore")):
                self.out.page_break()
            style_el = _child(props, "pStyle")
            style = _attr(style_el, "val") if style_el is not None else None
        start = len(self.out.pages), len(self.out.pages[-1])
        for child in el:
            self.walk(child)
        if self.heading is None and style and style.lower().replace(" ", "").startswith(("title", "heading1")):
            page, index = start
            parts = self.out.pages[page - 1][index:] if page == len(self.out.pages) else []
            text = " ".join("".join(parts).split())
            self.heading = text[:300] or None
        self.out.add("\n")
        if props is not None and (section := _child(props, "sectPr")) is not None:
            kind = _child(section, "type")
            if kind is None or _attr(kind, "val") in (None, "nextPage", "oddPage", "evenPage"):
                self.out.page_break()  # a section break that starts a new page


def read_docx(path: Path) -> Extracted:
    with Archive(path) as archive:
        document = _main_part(archive, "officeDocument", "word/document.xml")
        root = archive.xml(document)
        walker = _WordWalker()
        walker.walk(root)
        pages = walker.out.texts()
        text, starts = assemble(pages)
        if not walker.out.breaks:
            starts = ()  # saved without layout: which page a line falls on is unknown
        title = core_title(archive) or walker.heading or first_line_title(text)
        return Extracted(text, starts, title, {"format": "docx"})


def _main_part(archive: Archive, kind: str, default: str) -> str:
    for rel_type, target in relationships(archive, "").values():
        if rel_type == kind and archive.has(target):
            return target
    if archive.has(default):
        return default
    raise Unreadable(f"corrupt document: no {default}")


# -- PowerPoint ---------------------------------------------------------------------
def _placeholder(shape: Element) -> str | None:
    """The placeholder type of a shape (``title``, ``body``, ``sldNum`` ...), if it is one."""
    for el in shape.iter():
        if local(el.tag) == "ph":
            return el.get("type") or "body"
    return None


def _drawing_text(root: Element, skip: set[str], titles: list[str] | None = None) -> str:
    """Paragraphs of DrawingML text in a slide or notes page, skipping repeated placeholders."""
    lines: list[str] = []

    def visit(el: Element) -> None:
        name = local(el.tag)
        if name == "sp":
            kind = _placeholder(_child(el, "nvSpPr") if _child(el, "nvSpPr") is not None else el)
            if kind in skip:
                return
            before = len(lines)
            for child in el:
                visit(child)
            if titles is not None and kind in ("title", "ctrTitle"):
                titles.append(" ".join(" ".join(lines[before:]).split()))
        elif name == "p":  # a DrawingML paragraph (PresentationML has no element of that name)
            parts = []
            for node in el.iter():
                tag = local(node.tag)
                if tag == "t":
                    parts.append(node.text or "")
                elif tag == "br":
                    parts.append("\n")
            lines.append("".join(parts))
        elif name == "AlternateContent":
            if len(el):
                visit(el[0])
        else:
            for child in el:
                visit(child)

    visit(root)
    return tidy_lines("\n".join(lines))


def read_pptx(path: Path) -> Extracted:
    with Archive(path) as archive:
        presentation = _main_part(archive, "officeDocument", "ppt/presentation.xml")
        rels = relationships(archive, presentation)
        slides: list[str] = []
        for el in archive.xml(presentation).iter():
            if local(el.tag) == "sldId":
                rid = next((v for k, v in el.attrib.items() if k.endswith("}id")), None)  # r:id, not id
                if rid in rels and rels[rid][0] == "slide":
                    slides.append(rels[rid][1])
        if not slides:  # no slide list: take the slide parts in their numeric order
            slides = sorted((n for n in archive.names() if posixpath.dirname(n) == "ppt/slides" and n.endswith(".xml")),
                            key=lambda n: (len(n), n))
        pages: list[str] = []
        titles: list[str] = []
        for slide in slides:
            text = _drawing_text(archive.xml(slide), REPEATED_PLACEHOLDERS, titles)
            notes = [target for kind, target in relationships(archive, slide).values() if kind == "notesSlide"]
            if notes and archive.has(notes[0]):
                note_text = _drawing_text(archive.xml(notes[0]), REPEATED_PLACEHOLDERS)
                text = f"{text}\n\n{note_text}" if note_text else text
            pages.append(text)
        text, starts = assemble(pages)
        title = core_title(archive) or next((t for t in titles if t), None) or first_line_title(text)
        return Extracted(text, starts, title, {"format": "pptx", "slides": len(pages)})
