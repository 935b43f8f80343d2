"""ZIP containers (Office Open XML, OpenDocument, EPUB) read within limits.

A zip bomb is a small file that inflates to gigabytes.  Every member is read through
a capped stream, so neither the sizes a ZIP declares (which can lie) nor its
compression ratio can make us inflate more than the limits below.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from xml.etree.ElementTree import Element

import defusedxml.ElementTree as safe_xml
from defusedxml import DefusedXmlException

from .base import Unreadable

# Whole-archive and per-member limits.  Real documents are far below them: a 500-page
# novel's EPUB inflates to ~5 MB of XHTML, a long report's document.xml to ~20 MB.
MAX_TOTAL_BYTES = 512 * 1024 * 1024
MAX_MEMBER_BYTES = 128 * 1024 * 1024  # parsed whole as XML: ~5-10x this in memory
MAX_RATIO = 200  # inflated / compressed, per member; plain XML compresses ~10-20x
MAX_MEMBERS = 20_000
# A member below this many inflated bytes is never a bomb, whatever its ratio
# (tiny XML parts of repeated markup compress several hundred times).
RATIO_FLOOR = 1024 * 1024


class Archive:
    """A ZIP file opened for reading named members within the limits."""

    def __init__(self, path: Path) -> None:
        try:
            self.zip = zipfile.ZipFile(path)
            infos = self.zip.infolist()
        except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
            raise Unreadable(f"corrupt ZIP container ({exc})") from None
        if len(infos) > MAX_MEMBERS:
            raise Unreadable(f"ZIP container with {len(infos):,} members (limit {MAX_MEMBERS:,})")
        self.infos = {info.filename: info for info in infos}
        self.read_bytes = 0

    def __enter__(self) -> Archive:
        return self

    def __exit__(self, *exc) -> None:
        self.zip.close()

    def names(self) -> list[str]:
        return list(self.infos)

    def has(self, name: str) -> bool:
        return name in self.infos

    def read(self, name: str) -> bytes:
        """A member's bytes; Unreadable if it is missing, corrupt, or inflates past a limit."""
        info = self.infos.get(name)
        if info is None:
            raise Unreadable(f"corrupt container: {name} is missing")
        if info.flag_bits & 0x1:
            raise Unreadable("encrypted")
        cap = min(MAX_MEMBER_BYTES, MAX_TOTAL_BYTES - self.read_bytes)
        if info.file_size > cap:
            raise Unreadable(f"zip bomb? {name} declares {info.file_size:,} bytes uncompressed")
        out = bytearray()
        try:
            with self.zip.open(info) as stream:
                while block := stream.read(1 << 20):
                    out += block
                    if len(out) > cap:
                        raise Unreadable(f"zip bomb? {name} inflates past {cap:,} bytes")
                    if len(out) > RATIO_FLOOR and len(out) > MAX_RATIO * max(info.compress_size, 1):
                        raise Unreadable(
                            f"zip bomb? {name} inflates more than {MAX_RATIO}x its compressed size"
                        )
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as exc:
            raise Unreadable(f"corrupt ZIP container ({name}: {exc})") from None
        except RuntimeError as exc:  # zipfile: "File ... is encrypted, password required"
            raise Unreadable("encrypted" if "encrypt" in str(exc) else f"corrupt ZIP container ({exc})") from None
        self.read_bytes += len(out)
        return bytes(out)

    def xml(self, name: str) -> Element:
        """A member parsed as XML, with entity expansion and external references refused."""
        data = self.read(name)
        try:
            return safe_xml.fromstring(data)
        except DefusedXmlException as exc:
            raise Unreadable(f"unsafe XML in {name} ({type(exc).__name__})") from None
        except Exception as exc:  # ParseError, and expat's errors on broken encodings
            raise Unreadable(f"malformed XML in {name} ({exc})") from None

    def optional_xml(self, name: str) -> Element | None:
        """A member that only adds to the text (document properties) parsed as XML, or None when
        it is missing or unreadable: a broken optional part never costs the text."""
        if not self.has(name):
            return None
        try:
            return self.xml(name)
        except Unreadable:
            return None


def local(tag: str) -> str:
    """An element's tag without its ``{namespace}``."""
    return tag.rsplit("}", 1)[-1]
