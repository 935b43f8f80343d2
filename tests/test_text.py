"""Text analysis: the analyzers, Chinese and mixed text through the index, re-analysis of old indexes."""

from __future__ import annotations

import json
import sqlite3

import pytest

from semsearch import Index
from semsearch import keywords as kw
from semsearch.searching import Ranked, fuse, fuse_convex, fuse_hybrid, keyword_query
from semsearch.text import ENGLISH, get_analyzer, snippet
from semsearch.text.coverage import document_weights, fusion_weights, readable, unknown_share
from semsearch.text.languages import detect

ML = get_analyzer("multilingual")

ZH = {
    "db": "数据库系统的设计与实现。本文介绍了一种新的数据库索引方法，提高了查询效率。",
    "nlp": "深度学习在自然语言处理中的应用。我们使用BERT嵌入表示句子，并在中文语料上评估。",
    "bio": "水稻基因组的研究进展。研究人员发现了控制水稻产量的关键基因。",
    "mixed": "Hybrid search combines keyword search with dense vectors. 混合检索结合了关键词检索和向量检索。",
    "en": "The cat sat on the mat while the dogs ran by the river.",
}


# -- the analyzers ------------------------------------------------------------------------------
def test_english_analyzer_is_the_old_query():
    assert keyword_query('the "cat" NEAR dog*') == '"cat" OR "near" OR "dog"'
    assert ENGLISH.query("the of") is None
    assert ENGLISH.index_text("Some Text") == "Some Text"


def test_multilingual_analyzer_reads_english_as_english():
    for text in ('the "cat" NEAR dog*', "Vaccines train the immune system", "x-ray o'brien u.s. 3.5"):
        assert ML.query(text) == ENGLISH.query(text)
        assert ML.index_text(text) == text
        assert ML.scan(text) == ENGLISH.scan(text)
        assert ML.runs(text, keyphrases=True) == ENGLISH.runs(text, keyphrases=True)


def test_cjk_runs_become_bigrams_and_their_last_character():
    assert ML.index_text("数据库") == " 数据 据库 库 "
    assert ML.index_text("BERT嵌入") == "BERT 嵌入 入 "
    assert ML.query("数据库") == '"数据" OR "据库"'
    assert ML.query("库") == '"库"*'  # one character: a prefix of the bigrams it starts, or itself
    assert ML.query("BERT嵌入") == '"bert" OR "嵌入"'


def test_nfkc_makes_full_width_latin_plain():
    assert ML.index_text("ＡＰＩ接口") == "API 接口 口 "
    assert ML.query("ＡＰＩ") == ML.query("API") == '"api"'


def test_snippets_come_from_the_original_text():
    text = "这是第一句话。" * 20 + "深度学习模型在自然语言处理中的应用。" + "另外一句话。" * 20
    cut = snippet(text, "自然语言", ML)
    assert "自然语言" in cut and cut.strip("… ") in text and " 自然 " not in cut
    assert snippet("the cat sat on the mat", "cats", ENGLISH) == "the cat sat on the mat"


def test_language_detection():
    assert detect(ZH["db"]) == "zh" and detect(ZH["mixed"]) == "zh" and detect(ZH["en"]) == "en"
    assert detect("ひらがなとカタカナと漢字の文章です。") == "ja"
    assert detect("한국어 문장입니다.") == "ko"
    assert detect("12345 !!!") == ""


def test_chinese_keyphrase_candidates_are_words_not_clauses():
    phrases = [p for p, _ in kw.phrases(ZH["nlp"], analyzer=ML)]
    assert "深度学习" in phrases and "自然语言处理" in phrases and "bert嵌入" in phrases  # mixed text: both kinds
    assert all(len(p) <= 12 for p in phrases), phrases
    assert "的" not in phrases and "我们" not in phrases


def test_fusion_weights_lean_on_keywords_when_the_model_cannot_read_the_query():
    assert fusion_weights(0.0) == (1.0, 1.0)
    assert fusion_weights(0.65) == (0.0, 1.0)
    dense_weight, _ = fusion_weights(0.15)
    assert 0 < dense_weight < 1
    dense = [Ranked("a", 0.9, 1), Ranked("b", 0.8, 2)]
    keyword = [Ranked("c", 5.0), Ranked("b", 4.0)]
    assert [r.doc_id for r in fuse([dense, keyword], 3)] == ["b", "a", "c"]
    assert [r.doc_id for r in fuse([dense, keyword], 3, weights=(0.0, 1.0))] == ["c", "b"]


def test_a_document_the_model_cannot_read_gets_no_dense_score():
    assert readable(0.0) == readable(0.05) == 1.0 and readable(0.3) == readable(0.65) == 0.0
    assert 0 < readable(0.15) < 1
    assert document_weights({"zh": (65, 100), "en": (0, 100), "empty": (0, 0)}) == {"zh": 0.0, "en": 1.0, "empty": 1.0}
    dense = [Ranked("zh", 0.9, 1), Ranked("a", 0.5, 2), Ranked("b", 0.4, 3)]
    keyword = [Ranked("b", 7.0), Ranked("c", 1.0)]
    fused = {r.doc_id: r.score for r in fuse_hybrid(dense, keyword, 10, readable={"zh": 0.0})}
    # "zh" is not on the dense side at all: a and b are min-max normalised between themselves.
    assert "zh" not in fused
    assert fused == pytest.approx({"a": 0.5 * 1.0 + 0.5 * 0.0, "b": 0.5 * 0.0 + 0.5 * 1.0, "c": 0.0})
    # Partly readable: its normalised dense score counts by its factor.
    half = {r.doc_id: r.score for r in fuse_hybrid(dense, keyword, 10, readable={"zh": 0.5})}
    assert half["zh"] == pytest.approx(0.5 * 0.5 * 1.0)
    # Nothing readable on the dense side: the keyword ranking, as it is.
    assert [r.doc_id for r in fuse_hybrid(dense, keyword, 10, readable={d.doc_id: 0.0 for d in dense})] == ["b", "c"]
    # All readable (English): exactly the fusion without factors.
    assert fuse_hybrid(dense, keyword, 10, readable={"zh": 1.0, "a": 1.0}) == fuse_convex([dense, keyword], 10)
    # Reciprocal-rank fusion takes the factors too.
    rrf = {r.doc_id: r.score for r in fuse([dense, keyword], 10, scales=[{"zh": 0.5}, None])}
    assert rrf["zh"] == pytest.approx(0.5 / 61) and rrf["b"] == pytest.approx(1 / 63 + 1 / 61)


def test_chinese_keyphrase_candidates_include_the_pieces_of_word_runs():
    text = ("附子中生物碱的醇解产物研究\n"
            "本文研究了附子中乌头碱的醇解产物。我们使用BERT模型和Transformer编码器分析质谱数据。")
    phrases = {p for p, _ in kw.phrases(text, analyzer=ML)}
    # Pieces of runs are candidates: 醇解产物 of 醇解产物研究, single words, and mixed Chinese-English ones.
    assert {"醇解产物研究", "醇解产物", "质谱", "bert模型", "transformer编码器", "bert"} <= phrases
    found = [k.phrase for k in kw.tfidf(text, {}, 1, 5, analyzer=ML)]
    assert "醇解产物" in found and "附子" in found  # in the title and the text, not only as part of a longer run
    # English text has no pieces: "fiber" of "optical fiber networks" is no candidate (tuned on Inspec).
    english = "Optical fiber networks carry data.\nWe study optical fiber networks and wavelength services."
    assert kw.phrases(english, analyzer=ML) == kw.phrases(english, analyzer=ENGLISH)
    assert "fiber" not in {p for p, _ in kw.phrases(english, analyzer=ML)}
    assert ML.phrase_weights(english) == ENGLISH.phrase_weights(english)
    assert ML.phrase_weights(text).piece > 0


# -- through an index ----------------------------------------------------------------------------
@pytest.fixture
def zh_index(tmp_path, tiny_model):
    with Index.open(tmp_path / "zh", model=tiny_model, chunk_size=60, precision="fp32") as idx:
        idx.add(list(ZH.values()), ids=list(ZH))
    return tmp_path / "zh"


def test_chinese_keyword_search(zh_index):
    with Index.open(zh_index) as idx:
        assert idx.settings["analyzer"] == {"name": "multilingual", "version": 1}
        assert [h.id for h in idx.search("数据库索引", mode="keyword")][0] == "db"
        assert [h.id for h in idx.search("水稻", mode="keyword")] == ["bio"]
        assert [h.id for h in idx.search("稻", mode="keyword")] == ["bio"]  # one character matches
        assert [h.id for h in idx.search("BERT", mode="keyword")] == ["nlp"]  # a Latin word inside Chinese
        assert [h.id for h in idx.search("ｂｅｒｔ", mode="keyword")] == ["nlp"]
        assert {h.id for h in idx.search("检索", mode="keyword")} == {"mixed"}
        assert [h.id for h in idx.search("cats", mode="keyword")] == ["en"]
        hit = idx.search("水稻产量", mode="keyword")[0]
        assert hit.chunk is None and "水稻" in hit.text and hit.text.strip("… ") in ZH["bio"]


def test_chinese_hybrid_search_is_keyword_search_when_the_model_cannot_read_it(zh_index):
    with Index.open(zh_index) as idx:
        share = unknown_share(idx.embedder.tokenizer, "水稻产量")
        assert share > 0.3  # the tiny model's vocabulary has no Chinese
        for query in ("水稻产量", "数据库", "自然语言处理"):
            keyword = [(h.id, h.text) for h in idx.search(query, mode="keyword")]
            assert [(h.id, h.text) for h in idx.search(query)] == keyword


def test_hybrid_search_leaves_documents_the_model_cannot_read_out_of_the_dense_side(zh_index):
    with Index.open(zh_index) as idx:
        counts = idx.store.document_unknown_tokens(list(ZH))
        assert counts["en"][0] == 0 and counts["db"][0] == counts["db"][1]  # every Chinese character unknown
        weights = document_weights(counts)
        assert weights["en"] == 1.0 and weights["db"] == weights["bio"] == weights["mixed"] == 0.0
        # An English query the model reads: dense ranks every document, but only the readable ones
        # may come from it; the Chinese documents match no keyword, so they are not hits at all.
        assert {h.id for h in idx.search("cat", mode="dense")} == set(ZH)
        hits = idx.search("cat river", explain=True)
        assert [h.id for h in hits] == ["en"]
        assert hits[0].explain["dense"]["readable"] == 1.0
        # A keyword hit the model cannot read: its dense side counts nothing (the readable English
        # document is the dense side's only, and so its best).
        found = {h.id: h.explain for h in idx.search("hybrid search", explain=True)}
        assert set(found) == {"en", "mixed"}
        assert found["mixed"]["dense"]["readable"] == 0.0 and found["mixed"]["dense"]["normalised"] == 0.0
        assert found["mixed"]["keyword"]["normalised"] == 1.0 and found["en"]["dense"]["normalised"] == 1.0


def test_update_and_delete_leave_no_stale_hit(zh_index):
    with Index.open(zh_index) as idx:
        idx.add(["小麦品种的选育研究。"], ids=["bio"])
        assert idx.search("水稻", mode="keyword") == []
        assert [h.id for h in idx.search("小麦", mode="keyword")] == ["bio"]
        idx.remove(["bio", "db"])
        assert idx.search("小麦", mode="keyword") == [] and idx.search("数据库", mode="keyword") == []
        assert [h.id for h in idx.search("BERT", mode="keyword")] == ["nlp"]
        assert idx.store.document_frequencies(["小麦"]) == {}


def test_language_is_stored_filterable_and_shown(zh_index):
    with Index.open(zh_index) as idx:
        info = idx.info()
        assert info["languages"] == {"zh": 4, "en": 1}
        assert info["unknown_token_share"] > 0.3 and "--model" in info["warning"]
        assert {h.id for h in idx.search("search", mode="keyword", where={"lang": "en"})} == set()
        assert {h.id for h in idx.search("search", mode="keyword", where={"lang": "zh"})} == {"mixed"}
        assert {h.id for h in idx.search("cat", mode="dense", where={"lang": "en"})} == {"en"}


def test_chinese_keywords_topics_and_labels(zh_index):
    with Index.open(zh_index) as idx:
        for method in kw.METHODS:
            found = [k.phrase for k in idx.keywords("bio", method=method, n=5)]
            assert found and any("水稻" in p for p in found), (method, found)
            assert all(" " not in p for p in found)
        topics = idx.topics(n=2, words=5)
        assert any("\u4e00" <= w.phrase[0] <= "\u9fff" for t in topics for w in t.words)
        run = idx.cluster("kmeans", k=2, save=False)
        assert any("\u4e00" <= c.keywords[0][0] <= "\u9fff" for c in run.clusters if c.keywords)
        # The model cannot read the corpus (> 30% unknown): the default hybrid keeps only the words.
        assert run.details["vectors"] == "terms" and run.details["model_weight"] == 0.0
        forced = idx.cluster("kmeans", k=2, save=False, vectors="model")
        assert forced.details["vectors"] == "model" and forced.details["model_weight"] == 1.0


def test_embed_keyphrases_fall_back_to_tfidf_where_the_model_cannot_read(zh_index, caplog):
    with Index.open(zh_index) as idx:
        with caplog.at_level("WARNING", logger="semsearch"):
            embed = idx.keywords("bio", method="embed", n=5)
        assert embed == idx.keywords("bio", method="tfidf", n=5)
        assert "unknown to the model" in caplog.text and "tfidf" in caplog.text
        many = dict(idx.keywords_many(["bio", "en"], method="embed", n=5))
        assert many["bio"] == embed
        caplog.clear()
        with caplog.at_level("WARNING", logger="semsearch"):  # English: the model reads it, embed as ever
            english = idx.keywords("en", method="embed", n=5)
        assert "unknown to the model" not in caplog.text
        assert many["en"] == english and english != idx.keywords("en", method="tfidf", n=5)


def _make_legacy(path) -> None:
    """Turn an index into what semsearch made before analyzers: raw text into FTS5 by triggers."""
    conn = sqlite3.connect(path / "index.db")
    conn.executescript("""
        DROP TABLE analyzed_fts;
        DROP TABLE text_stats;
        DELETE FROM settings WHERE key = 'analyzer';
        CREATE VIRTUAL TABLE documents_fts USING fts5(
            title, text, content='documents', content_rowid='pk', tokenize='porter unicode61');
        CREATE TRIGGER documents_fts_insert AFTER INSERT ON documents BEGIN
            INSERT INTO documents_fts(rowid, title, text) VALUES (new.pk, new.title, new.text);
        END;
        CREATE TRIGGER documents_fts_delete AFTER DELETE ON documents BEGIN
            INSERT INTO documents_fts(documents_fts, rowid, title, text)
            VALUES ('delete', old.pk, old.title, old.text);
        END;
        INSERT INTO documents_fts(documents_fts) VALUES ('rebuild');
    """)
    conn.commit()
    conn.close()


def test_an_old_index_is_re_analyzed_on_open(zh_index, caplog):
    with Index.open(zh_index) as idx:
        before = {q: [h.id for h in idx.search(q, mode="keyword")] for q in ("cats", "水稻", "BERT")}
    _make_legacy(zh_index)
    conn = sqlite3.connect(zh_index / "index.db")
    assert conn.execute("SELECT count(*) FROM documents_fts WHERE documents_fts MATCH '\"水稻\"'").fetchone() == (0,)
    conn.close()
    with caplog.at_level("WARNING", logger="semsearch"):
        idx = Index.open(zh_index)
    assert "re-analyzing the 5 documents" in caplog.text
    with idx:
        assert {q: [h.id for h in idx.search(q, mode="keyword")] for q in before} == before
        assert idx.info()["languages"] == {"zh": 4, "en": 1}
        tables = set(idx.store.table_names())
        assert "documents_fts" not in tables and json.loads(
            idx.store.conn.execute("SELECT value FROM settings WHERE key='analyzer'").fetchone()[0]
        ) == {"name": "multilingual", "version": 1}


# -- a multilingual model: XLM-R SentencePiece tokenizer, prefixes ----------------------------------
def make_tiny_xlmr(directory, chars: str, max_length: int | None = 128):
    """A randomly initialised XLM-RoBERTa with a SentencePiece-style (Unigram, ▁) tokenizer that knows
    some Chinese characters: the layout of multilingual-e5 and bge-m3, in miniature."""
    import torch
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers
    from transformers import XLMRobertaConfig, XLMRobertaModel, XLMRobertaTokenizerFast

    directory.mkdir(parents=True, exist_ok=True)
    pieces = [("<s>", 0.0), ("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -2.0)]
    for char in dict.fromkeys(chars):
        pieces += [(char, -3.0), ("▁" + char, -3.5)]
    pieces += [("▁" + w, -4.0) for w in ("search", "data", "model", "the", "cat", "query", "passage", ":")]
    pieces.append(("<mask>", 0.0))
    tokenizer = Tokenizer(models.Unigram(pieces, unk_id=3, byte_fallback=False))
    tokenizer.normalizer = normalizers.NFKC()
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
    tokenizer.decoder = decoders.Metaspace()
    options = {"model_max_length": max_length} if max_length else {}
    fast = XLMRobertaTokenizerFast(tokenizer_object=tokenizer, bos_token="<s>", eos_token="</s>",
                                   unk_token="<unk>", pad_token="<pad>", cls_token="<s>", sep_token="</s>",
                                   mask_token="<mask>", **options)
    torch.manual_seed(0)
    config = XLMRobertaConfig(vocab_size=len(pieces), hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                              intermediate_size=64, max_position_embeddings=130, pad_token_id=1)
    XLMRobertaModel(config).eval().save_pretrained(directory, safe_serialization=True)
    fast.save_pretrained(directory)
    return directory


def test_a_sentencepiece_model_with_a_chinese_vocabulary(tmp_path):
    chars = "".join(ZH.values())
    model = make_tiny_xlmr(tmp_path / "multilingual-e5-tiny", chars, max_length=None)
    long_text = ("深度学习在自然语言处理中的应用研究。" * 40)  # one space-free run, ~720 characters
    with Index.open(tmp_path / "x", model=model, precision="fp32") as idx:
        s = idx.settings
        assert s["max_length"] == 128  # 130 RoBERTa positions less the padding offset
        assert (s["query_prefix"], s["passage_prefix"]) == ("query: ", "passage: ")  # e5, from the name
        prefix_tokens = len(idx.embedder.tokenizer("passage: ", add_special_tokens=False)["input_ids"])
        assert s["chunk_size"] == 128 - 2 - prefix_tokens
        idx.add([*ZH.values(), long_text], ids=[*ZH, "long"])
        assert idx.get("long")["chunks"] <= 12  # not one chunk per character
        assert idx.info()["unknown_token_share"] < 0.2 and idx.info()["warning"] is None
        assert [h.id for h in idx.search("水稻", mode="keyword")] == ["bio"]
        # The model reads these queries, so hybrid fuses both sides (not keyword only).
        assert unknown_share(idx.embedder.tokenizer, "水稻基因") == 0.0
        assert len(idx.search("水稻基因", k=6)) == 6
        assert idx.keywords("nlp", method="embed", n=3)
    with pytest.raises(Exception, match="query prefix"):
        Index.open(tmp_path / "x", query_prefix="")


def test_prefixes_are_used_and_stored(tmp_path, tiny_model):
    from semsearch.text.prefixes import default_prefixes

    assert default_prefixes("/m/multilingual-e5-small") == ("query: ", "passage: ")
    assert default_prefixes("/m/bge-small-zh-v1.5")[1] == "" and default_prefixes("/m/bge-small-zh-v1.5")[0]
    assert default_prefixes("/m/bge-m3") == ("", "") and default_prefixes("/m/all-MiniLM-L6-v2") == ("", "")
    with Index.open(tmp_path / "p", model=tiny_model, precision="fp32", chunk_size=60,
                    query_prefix="query: ", passage_prefix="passage: ") as idx:
        idx.add(["the cat sat on the mat"], ids=["a"])
        expected = idx.embedder.encode(["passage: the cat sat on the mat"])[0]
        stored = idx.store.document_vector(idx.store.find("a")[0], idx.settings["dimension"])
        assert float(expected @ stored) > 0.9999
        query = idx.embedder.encode(["query: cat"])[0]
        assert abs(idx.search("cat", mode="dense")[0].score - float(query @ stored)) < 1e-4


# -- CSL (../shared/data/csl), when present -----------------------------------------------------
@pytest.mark.slow
def test_chinese_keyphrases_on_csl_dev():
    """tfidf key phrases of CSL dev (title + abstract) against the author keywords, as
    bench/csl_chinese.py scores them (F1@5, exact match after NFKC, lower-casing, no spaces):
    0.250 measured (0.216 before the pieces of word runs were candidates)."""
    import unicodedata
    from collections import Counter

    from .conftest import SHARED_DATA

    path = SHARED_DATA / "csl" / "keyphrases" / "dev.jsonl"
    if not path.exists():
        pytest.skip(f"no CSL data at {path}")
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    texts = [f"{r['title']}\n{r['text']}" for r in records]
    df: Counter = Counter()
    for text in texts:
        df.update(kw.document_terms(text, ML))

    def norm(phrase: str) -> str:
        return unicodedata.normalize("NFKC", phrase).lower().replace(" ", "")

    total = 0.0
    for record, text in zip(records, texts):
        top = list(dict.fromkeys(norm(k.phrase) for k in kw.tfidf(text, df, len(texts), 10, analyzer=ML)))[:5]
        gold = {norm(k) for k in record["keywords"]}
        hits = len(set(top) & gold)
        total += 2 * hits / (len(top) + len(gold)) if hits else 0.0
    assert total / len(records) >= 0.24
