"""Settings: what an index was built with, stored once in its ``settings`` table.

:class:`IndexSettings` is the one place that knows the stored keys, their defaults
for indexes written by older releases, and which requested options conflict with
the stored ones.  Everything else reads the fields of this object.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from .docvectors import DEFAULT_DOCUMENT_VECTOR
from .errors import SettingsMismatch

# Keys of the settings table that are bookkeeping, not settings: they change with every write.
STATE_KEYS = ("generation", "faiss_generation", "faiss_checksum", "term_df_generation", "term_df_lazy_generation",
              "term_df_through", "updated",
              "vector_index", "migrated")


@dataclass(frozen=True)
class IndexSettings:
    """The fixed recipe of an index: model, layer recipe, pooling, chunking, vector index type."""

    model: str
    dimension: int
    num_layers: int
    max_length: int
    layers: str
    layer_indices: tuple[int, ...]
    pooling: str
    layers_reason: str = ""
    # Indexes from before bf16 was the default were embedded in fp32.
    precision: str = "fp32"
    chunk_size: int = 254
    chunk_overlap: int = 32
    # The vector backend (a key of semsearch.vectors.BACKENDS); indexes before backends were flat.
    index_type: str = "flat"
    # How one vector per document is made from its chunks (semsearch.docvectors); applied
    # when read, so an index from before the setting simply gets the default.
    document_vector: str = DEFAULT_DOCUMENT_VECTOR
    format_version: int = 1
    created: str | None = None
    # Keys written by newer code that this class does not know: kept, round-tripped, never dropped.
    extra: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_stored(cls, stored: Mapping[str, Any]) -> IndexSettings:
        """Settings from the ``settings`` table (state keys ignored, old indexes defaulted)."""
        known = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        values = {k: v for k, v in stored.items() if k in known}
        if "layer_indices" in values:
            values["layer_indices"] = tuple(int(i) for i in values["layer_indices"])
        extra = {k: v for k, v in stored.items() if k not in known and k not in STATE_KEYS}
        return cls(**values, extra=extra)

    def to_stored(self) -> dict[str, Any]:
        """The settings as stored: plain JSON values, extra keys included."""
        stored = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "extra"}
        stored["layer_indices"] = list(self.layer_indices)
        if stored["created"] is None:
            del stored["created"]
        return {**stored, **self.extra}

    # Read-only mapping access: ``index.settings["model"]`` worked when settings were a dict.
    def __getitem__(self, key: str) -> Any:
        stored = self.to_stored()
        if key not in stored:
            raise KeyError(key)
        return stored[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.to_stored().get(key, default)

    def __contains__(self, key: object) -> bool:
        return key in self.to_stored()

    def keys(self):
        return self.to_stored().keys()

    def items(self):
        return self.to_stored().items()

    def __iter__(self) -> Iterator[str]:
        return iter(self.to_stored())

    def conflicts(
        self,
        *,
        model: str | None = None,
        layers: str | None = None,
        pooling: str | None = None,
        chunk_size: int | None = None,
        chunk_overlap: int | None = None,
        precision: str | None = None,
        document_vector: str | None = None,
    ) -> list[str]:
        """The requested options (already resolved where they need a model) that differ from these."""
        from .embedding import parse_layers, resolve_model_path, resolve_precision

        found = []
        if model is not None and resolve_model_path(model)[0] != self.model:
            found.append(f"model {model} (index: {self.model})")
        if layers is not None and str(layers).lower() != self.layers:
            requested = "auto" if str(layers).lower() == "auto" else tuple(parse_layers(layers, self.num_layers))
            if requested != self.layer_indices:
                found.append(f"layers {layers} (index: {self.layers} = {list(self.layer_indices)})")
        if pooling is not None and pooling != self.pooling:
            found.append(f"pooling {pooling} (index: {self.pooling})")
        if chunk_size is not None and chunk_size != self.chunk_size:
            found.append(f"chunk size {chunk_size} (index: {self.chunk_size})")
        if chunk_overlap is not None and chunk_overlap != self.chunk_overlap:
            found.append(f"chunk overlap {chunk_overlap} (index: {self.chunk_overlap})")
        if precision is not None and resolve_precision(precision) != self.precision:
            found.append(f"precision {precision} (index: {self.precision})")
        if document_vector is not None and document_vector != self.document_vector:
            found.append(f"document vector {document_vector} (index: {self.document_vector})")
        return found

    def check_requested(self, where: object, **requested: Any) -> None:
        """Raise :class:`SettingsMismatch` for requested options that differ from the stored ones."""
        conflicts = self.conflicts(**requested)
        if conflicts:
            raise SettingsMismatch(
                f"the index at {where} was built with other settings: asked for "
                + "; ".join(conflicts)
                + ". Leave these options out to use the index's own, or index into a new directory."
            )
