"""Query and passage prefixes: the instructions some embedding models were trained with.

e5 models expect ``"query: "`` before a query and ``"passage: "`` before a passage; bge v1.5
models an instruction before a query only (English and Chinese variants); bge-m3 and the
bundled all-MiniLM-L6-v2 none.  The prefixes an index uses are stored in its settings
(``query_prefix``, ``passage_prefix``; old indexes: none), chosen at creation with
``--query-prefix`` / ``--passage-prefix`` or by :func:`default_prefixes` from the model's
name.  Chunks are embedded as ``passage_prefix + chunk``, queries and keyphrase candidates
as ``query_prefix + text``; chunk windows leave room for the passage prefix.
"""

from __future__ import annotations

BGE_EN = "Represent this sentence for searching relevant passages: "
BGE_ZH = "为这个句子生成表示以用于检索相关文章："


def default_prefixes(model_name: str) -> tuple[str, str]:
    """``(query prefix, passage prefix)`` for a model, from its directory name."""
    name = model_name.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1].lower()
    if "e5" in name.split("-") or name.startswith(("e5", "multilingual-e5")):
        return "query: ", "passage: "
    if "bge" in name and "m3" not in name:
        return (BGE_ZH if "zh" in name else BGE_EN), ""
    return "", ""


def with_prefix(prefix: str, texts) -> list[str]:
    return [prefix + t for t in texts] if prefix else list(texts)


def prefix_settings(embedder, query_prefix: str | None, passage_prefix: str | None,
                    chunk_size: int | None, chunk_overlap: int | None) -> dict:
    """The stored prefix settings of a new index (and its chunk size, shortened to leave room for the
    passage prefix unless ``chunk_size`` was given)."""
    query_default, passage_default = default_prefixes(embedder.model_name)
    query = query_default if query_prefix is None else query_prefix
    passage = passage_default if passage_prefix is None else passage_prefix
    settings = {"query_prefix": query, "passage_prefix": passage}
    if passage and chunk_size is None:
        room = len(embedder.tokenizer(passage, add_special_tokens=False)["input_ids"])
        from ..chunking import resolve_chunking

        settings["chunk_size"], settings["chunk_overlap"] = resolve_chunking(embedder.max_length - room, None,
                                                                                 chunk_overlap)
    return settings


def check_prefixes(settings, where: object, query_prefix: str | None, passage_prefix: str | None) -> None:
    """Refuse prefixes that differ from the index's (old indexes: none)."""
    from ..errors import SettingsMismatch

    conflicts = [f"{name.replace('_', ' ')} {value!r} (index: {settings.get(name, '')!r})"
                 for name, value in (("query_prefix", query_prefix), ("passage_prefix", passage_prefix))
                 if value is not None and value != settings.get(name, "")]
    if conflicts:
        raise SettingsMismatch(f"the index at {where} was built with other settings: asked for "
                               + "; ".join(conflicts) + ". Leave these options out to use the index's own.")
