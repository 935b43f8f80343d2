"""Text analysis: everything language-dependent, behind one :class:`Analyzer`.

An index records its analyzer in its settings (``"analyzer": {"name", "version"}``); an
index without that key was made before analyzers existed and is ``english`` v1.  New
indexes get :data:`DEFAULT` (``multilingual``), which reads English exactly as ``english``
does and adds CJK.  See :mod:`semsearch.text.english` and :mod:`semsearch.text.multilingual`.
"""

from __future__ import annotations

from .analyzer import Analyzer, Span
from .english import EnglishAnalyzer
from .multilingual import MultilingualAnalyzer
from .snippets import snippet

ANALYZERS: dict[str, type[Analyzer]] = {"english": EnglishAnalyzer, "multilingual": MultilingualAnalyzer}
DEFAULT = "multilingual"
# What an index without an "analyzer" setting was made with.
LEGACY = {"name": "english", "version": 1}
SETTINGS_KEY = "analyzer"

ENGLISH = EnglishAnalyzer()


def get_analyzer(name: str = DEFAULT) -> Analyzer:
    """The current version of the analyzer called ``name``."""
    try:
        return ANALYZERS[name]()
    except KeyError:
        from ..errors import SemsearchError

        raise SemsearchError(f"unknown analyzer {name!r}: use one of {', '.join(ANALYZERS)}") from None


def stored_analyzer(settings: dict) -> dict:
    """The ``{"name", "version"}`` an index's settings record (old indexes: ``english`` v1)."""
    return dict(settings.get(SETTINGS_KEY) or LEGACY)


def is_current(recorded: dict, analyzer: Analyzer) -> bool:
    return recorded.get("name") == analyzer.name and recorded.get("version") == analyzer.version


__all__ = ["ANALYZERS", "DEFAULT", "ENGLISH", "Analyzer", "EnglishAnalyzer", "MultilingualAnalyzer", "Span",
           "get_analyzer", "is_current", "snippet", "stored_analyzer"]
