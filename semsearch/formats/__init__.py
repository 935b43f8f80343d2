"""Document formats: PDF, Word, PowerPoint, EPUB and OpenDocument files -> text with pages.

A file is read by what its bytes are, not by what its name claims: :func:`detect`
looks at the magic bytes (and, for a ZIP container, at the members that tell
Office, OpenDocument and EPUB apart), so a ``.pdf`` that is really a Word file is
read as Word, and a ``.docx`` that is really text is skipped with a reason.

Every reader returns an :class:`Extracted` (text, page start offsets, title) or
raises :class:`Unreadable` with the reason a user is shown.
"""

from __future__ import annotations

import hashlib
import os
import stat
import zipfile
from collections.abc import Callable
from pathlib import Path

from .base import EXTRACTION_VERSION, Extracted, Unreadable

__all__ = ["SUFFIXES", "Extracted", "Unreadable", "detect", "file_digest", "read", "sniff"]

# Suffix -> the kind a file with it claims to be.
SUFFIXES = {
    ".pdf": "pdf", ".docx": "docx", ".docm": "docx", ".pptx": "pptx", ".pptm": "pptx",
    ".odt": "odt", ".odp": "odp", ".epub": "epub", ".doc": "doc", ".ppt": "ppt",
}
NAMES = {
    "pdf": "PDF", "docx": "Word document", "pptx": "PowerPoint presentation", "odt": "OpenDocument text",
    "odp": "OpenDocument presentation", "epub": "EPUB book", "doc": "Word 97-2003 document",
    "ppt": "PowerPoint 97-2003 presentation",
}
LEGACY = {
    "doc": "legacy Word 97-2003 .doc is not supported: save it as .docx "
           "(or: soffice --headless --convert-to docx FILE)",
    "ppt": "legacy PowerPoint 97-2003 .ppt is not supported: save it as .pptx "
           "(or: soffice --headless --convert-to pptx FILE)",
}
_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # Compound File: legacy Office, or encrypted OOXML
_ZIP = (b"PK\x03\x04", b"PK\x05\x06")
_ODF_TYPES = {
    "application/vnd.oasis.opendocument.text": "odt",
    "application/vnd.oasis.opendocument.presentation": "odp",
    "application/epub+zip": "epub",
}


def _readers() -> dict[str, Callable[[Path], Extracted]]:
    from .epub import read_epub
    from .ooxml import read_docx, read_pptx
    from .opendocument import read_odp, read_odt
    from .pdf import read_pdf

    return {"pdf": read_pdf, "docx": read_docx, "pptx": read_pptx, "odt": read_odt, "odp": read_odp,
            "epub": read_epub}


def sniff(head: bytes, lenient: bool = True) -> str | None:
    """The container a file's first bytes announce: ``pdf``, ``zip``, ``ole``, or None.

    ``lenient`` finds a PDF header anywhere in the first KB, as PDF readers do; strict
    (for files whose name claims another format) only at the very start.
    """
    if head.startswith(b"%PDF-") or (lenient and b"%PDF-" in head[:1024]):
        return "pdf"
    if head.startswith(_ZIP):
        return "zip"
    if head.startswith(_OLE):
        return "ole"
    return None


def _regular(path: Path) -> bool:
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False


def sniff_file(path: Path, lenient: bool = True) -> str | None:
    """:func:`sniff` of a regular file (never opens a FIFO or a device, which could block)."""
    if not _regular(path):
        return None
    try:
        with open(path, "rb") as handle:
            return sniff(handle.read(1024), lenient)
    except OSError:
        return None


def detect(path: Path) -> str | None:
    """The document kind a file's bytes are (``pdf``, ``docx``, ... ``ole``), or None."""
    container = sniff_file(path)
    if container != "zip":
        return container
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            if "mimetype" in names:
                info = archive.getinfo("mimetype")
                if info.file_size <= 200:
                    kind = _ODF_TYPES.get(archive.read(info).decode("ascii", "replace").strip())
                    if kind:
                        return kind
            if "word/document.xml" in names:
                return "docx"
            if "ppt/presentation.xml" in names:
                return "pptx"
            if "META-INF/container.xml" in names:
                return "epub"
            if "content.xml" in names:
                return "odt"  # an OpenDocument file without its mimetype member
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, RuntimeError, NotImplementedError):
        return "zip"  # the reader reports the corruption
    return "zip"


def _ole_reason(path: Path, claimed: str | None) -> str:
    """Why a Compound File is skipped: an encrypted Office file, or a legacy binary one."""
    marker = "EncryptedPackage".encode("utf-16-le")
    tail = b""
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            if marker in tail + block:
                return "encrypted"
            tail = block[-len(marker):]
    if claimed in LEGACY:
        return LEGACY[claimed]
    return "a legacy Office 97-2003 file (.doc, .ppt, .xls) is not supported: save it in the current format"


def read(path: Path) -> Extracted:
    """Read a document file by what it is; :class:`Unreadable` (the reason) if it cannot be."""
    claimed = SUFFIXES.get(path.suffix.lower())
    try:
        actual = detect(path)
        if actual == "ole":
            raise Unreadable(_ole_reason(path, claimed))
        readers = _readers()
        if actual not in readers:
            what = NAMES.get(claimed or "", "document")
            if actual == "zip":
                from .archive import Archive

                with Archive(path):  # a damaged one says "corrupt ZIP container" here
                    pass
                raise Unreadable(f"a ZIP archive, not a {what} (the parts that make one are missing)")
            raise Unreadable(f"not a {what}: its bytes do not start like one")
        return readers[actual](path)
    except Unreadable:
        raise
    except MemoryError:
        raise Unreadable("out of memory reading it") from None
    except RecursionError:
        raise Unreadable("too deeply nested to read") from None
    except OSError as exc:
        raise Unreadable(f"unreadable ({exc.strerror or exc})") from None
    except Exception as exc:  # a reader's bug on one odd file must not stop the run
        raise Unreadable(f"could not be read ({type(exc).__name__}: {exc})") from None


def file_digest(path: Path) -> str:
    """SHA-256 of the file's bytes (and the extractor version): unchanged bytes, unchanged document."""
    digest = hashlib.sha256(f"semsearch-formats-{EXTRACTION_VERSION}\0".encode())
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()
