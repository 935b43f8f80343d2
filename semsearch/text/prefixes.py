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
