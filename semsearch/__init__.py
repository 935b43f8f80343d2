"""semsearch: semantic search over your documents with averaged multi-layer BERT embeddings."""

__version__ = "0.1.0"

from .embedding import Embedder, LayerRecipe  # noqa: E402
from .errors import (  # noqa: E402
    DiskFull,
    IndexCorrupt,
    IndexLocked,
    InvalidArgument,
    NotFound,
    ReadOnlyIndex,
    SemsearchError,
    SettingsMismatch,
)
from .index import AddReport, Index  # noqa: E402
from .reading import Document, RecordFields, read_inputs  # noqa: E402
from .searching import Hit  # noqa: E402

__all__ = [
    "AddReport", "DiskFull", "Document", "Embedder", "Hit", "Index", "IndexCorrupt", "IndexLocked",
    "InvalidArgument", "LayerRecipe", "NotFound", "ReadOnlyIndex", "RecordFields", "SemsearchError",
    "SettingsMismatch", "read_inputs",
]
