"""Metrics against pytrec_eval (trec_eval), dataset errors, and sweep consistency."""

import json
import random

import numpy as np
import pytest
from click.testing import CliRunner

from semsearch import SemsearchError
from semsearch.cli import cli
from semsearch.evaluating import (
    evaluate_beir,
    load_beir,
    load_sts,
    score_run,
    spearman,
    sweep_beir,
    trec_order,
)

from .conftest import SAMPLE_DATA

pytrec_eval = pytest.importorskip("pytrec_eval")

MEASURES = {"ndcg_cut_10": "nDCG@10", "recall_100": "Recall@100"}


def _pytrec(run, qrels):
    evaluator = pytrec_eval.RelevanceEvaluator(qrels, set(MEASURES) | {"recip_rank"})
    full = evaluator.evaluate(run)
    # MRR@10 = trec_eval's recip_rank over the run cut to its top 10 (in trec_eval's order).
    top10 = {q: {d: docs[d] for d in trec_order(docs)[:10]} for q, docs in run.items()}
    cut = evaluator.evaluate(top10)
    return full, cut


def _assert_agrees(run, qrels):
    ours = score_run(run, qrels)["per_query"]
    full, cut = _pytrec(run, qrels)
    assert set(full) <= set(ours)
    for query_id, values in full.items():
        for measure, name in MEASURES.items():
            assert ours[query_id][name] == pytest.approx(values[measure], abs=1e-6), (query_id, name)
        assert ours[query_id]["MRR@10"] == pytest.approx(cut[query_id]["recip_rank"], abs=1e-6)
    return len(full)


def test_metrics_match_trec_eval_with_ties_and_grades():
    rng = random.Random(7)
    docs = [f"d{i:03d}" for i in range(300)]
    qrels, run = {}, {}
    for q in range(60):
        judged = rng.sample(docs, rng.randint(1, 15))
        qrels[f"q{q}"] = {d: rng.choice([0, 1, 1, 2, 3]) for d in judged}
        qrels[f"q{q}"][judged[0]] = max(1, qrels[f"q{q}"][judged[0]])
        # Coarse scores: many ties, which trec_eval breaks by document id, descending.
        run[f"q{q}"] = {d: float(rng.randint(0, 20)) / 4 for d in rng.sample(docs, 150)}
    assert _assert_agrees(run, qrels) == 60


def test_trec_order_breaks_ties_by_descending_id():
    assert trec_order({"a": 1.0, "c": 1.0, "b": 2.0, "d": 0.5}) == ["b", "c", "a", "d"]


def test_unjudged_or_empty_queries():
    scores = score_run({"q1": {"x": 1.0}}, {"q1": {"x": 1}, "q2": {"y": 1}, "q3": {"z": 0}})
    assert scores["queries"] == 2  # q3 has no relevant document
    assert scores["nDCG@10"] == pytest.approx(0.5)  # q2 was not answered: it counts 0


def test_spearman():
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert spearman([1, 2, 2, 3], [1, 2, 3, 4]) == pytest.approx(0.9486833, abs=1e-6)


def make_beir(root, with_problems=False):
    """A BEIR-layout set over the sample notes: queries are note titles, graded qrels."""
    notes = [json.loads(line) for line in (SAMPLE_DATA / "notes.jsonl").read_text().splitlines()]
    (root / "qrels").mkdir(parents=True)
    with open(root / "corpus.jsonl", "w") as handle:
        for note in notes:
            handle.write(json.dumps({"_id": note["id"], "title": note["title"], "text": note["text"]}) + "\n")
        if with_problems:
            handle.write("{broken\n")
    with open(root / "queries.jsonl", "w") as handle:
        for i, note in enumerate(notes[:20]):
            handle.write(json.dumps({"_id": f"q{i}", "text": note["title"].lower()}) + "\n")
    lines = ["query-id\tcorpus-id\tscore"]
    for i, note in enumerate(notes[:20]):
        lines.append(f"q{i}\t{note['id']}\t2")
        same = [n["id"] for n in notes if n["category"] == note["category"] and n["id"] != note["id"]]
        lines.append(f"q{i}\t{same[0]}\t1")
    if with_problems:
        lines += ["q99\tnote-001\t1", "q0\tnot-a-doc\t1", "garbage"]
    (root / "qrels" / "test.tsv").write_text("\n".join(lines) + "\n")
    return root


def test_load_beir_reports_problems(tmp_path):
    dataset = load_beir(make_beir(tmp_path / "set", with_problems=True))
    assert len(dataset.corpus) == 40 and len(dataset.queries) == 20
    text = " ".join(dataset.problems)
    assert "1 corpus line" in text and "unknown query ids" in text and "unknown document ids" in text
    assert "malformed qrels" in text


def test_load_beir_missing_files(tmp_path):
    with pytest.raises(SemsearchError, match="not a BEIR dataset"):
        load_beir(tmp_path)


def test_load_sts(tmp_path):
    path = tmp_path / "sts.jsonl"
    path.write_text('{"sentence1": "a", "sentence2": "b", "score": 1}\n{"sentence1": "x"}\n'
                    '{"sentence1": "c", "sentence2": "d", "score": "2.5"}\n')
    first, second, gold, problems = load_sts(path)
    assert first == ["a", "c"] and gold == [1.0, 2.5] and problems == ["1 malformed line(s) skipped"]


def test_real_run_agrees_with_trec_eval(tmp_path, tiny_model):
    dataset_dir = make_beir(tmp_path / "set")
    from semsearch import Index
    from semsearch.evaluating import evaluate_index

    dataset = load_beir(dataset_dir)
    with Index.open(tmp_path / "idx", model=tiny_model, precision="fp32") as idx:
        for mode in ("dense", "keyword", "hybrid"):
            result = evaluate_index(idx, dataset, mode)
            run = {}
            for query_id, text in dataset.queries.items():
                run[query_id] = {h.id: h.score for h in idx.search(text, k=101, mode=mode)}
            assert _assert_agrees(run, dataset.qrels) == 20
            assert result["queries"] == 20
            if mode == "keyword":
                assert result["nDCG@10"] > 0.5  # titles share words with their notes


def test_sweep_last_row_equals_plain_eval(tmp_path, tiny_model):
    dataset_dir = make_beir(tmp_path / "set")
    sweep = sweep_beir(dataset_dir, model=str(tiny_model), precision="fp32")
    names = [r["recipe"] for r in sweep["recipes"]]
    assert {"layer 0", "layer 3", "all", "first-last", "-2:", "last, cls", "all, cls"} <= set(names)
    assert sum(r["auto"] for r in sweep["recipes"]) == 1
    assert next(r for r in sweep["recipes"] if r["auto"])["recipe"] == "all"  # plain checkpoint
    nd = [r["nDCG@10"] for r in sweep["recipes"]]
    assert nd == sorted(nd, reverse=True)
    for spec, recipe in (("last", "layer 3"), ("all", "all"), ("first-last", "first-last")):
        plain = evaluate_beir(dataset_dir, mode="dense", model=str(tiny_model), layers=spec, precision="fp32")
        row = next(r for r in sweep["recipes"] if r["recipe"] == recipe)
        for metric in ("nDCG@10", "Recall@100", "MRR@10"):
            assert row[metric] == pytest.approx(plain[metric], abs=1e-6), (spec, metric)


def test_fusion_sweep_rows_agree_with_plain_searches(tmp_path, tiny_model):
    from semsearch import Index
    from semsearch.evaluating import evaluate_index, sweep_fusion

    dataset = load_beir(make_beir(tmp_path / "set"))
    with Index.open(tmp_path / "idx", model=tiny_model, precision="fp32") as idx:
        sweep = sweep_fusion(idx, dataset)
        rows = {r["setting"]: r for r in sweep["rows"]}
        assert len(rows) == 9 and sweep["queries"] == 20
        for mode in ("dense", "keyword", "hybrid"):
            plain = evaluate_index(idx, dataset, mode)
            row = rows["hybrid (as searched)" if mode == "hybrid" else mode]
            for metric in ("nDCG@10", "Recall@100", "MRR@10"):
                assert row[metric] == pytest.approx(plain[metric], abs=1e-4), (mode, metric)
    (default,) = [r for r in sweep["rows"] if r["default"]]
    assert default["setting"] == "convex, dense weight 0.5"
    assert default["nDCG@10"] == pytest.approx(rows["hybrid (as searched)"]["nDCG@10"], abs=1e-4)
    assert rows["convex, dense weight 0.3"] != rows["convex, dense weight 0.7"]


def test_encode_layers_agrees_with_encode(tiny_embedder):
    from semsearch.embedding import combine_layers

    texts = ["the cat sat", "a dog ran to the river", "music"]
    pooled = tiny_embedder.encode_layers(texts)
    assert pooled.shape == (3, 4, 2, 32)
    recipe = combine_layers(pooled[:, list(tiny_embedder.recipe.layers), 0].transpose(1, 0, 2))
    np.testing.assert_allclose(recipe, tiny_embedder.encode(texts), atol=1e-6)


def test_eval_cli(tmp_path, tiny_model):
    dataset_dir = make_beir(tmp_path / "set")
    runner = CliRunner()
    result = runner.invoke(cli, ["eval", str(dataset_dir), "--model", str(tiny_model), "--mode", "keyword",
                                 "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert {"nDCG@10", "Recall@100", "MRR@10", "queries", "settings"} <= set(data) and data["queries"] == 20
    result = runner.invoke(cli, ["eval", str(dataset_dir), "--model", str(tiny_model), "--sweep-layers"])
    assert result.exit_code == 0, result.output
    assert "<- auto" in result.stdout and "nDCG@10" in result.stdout
    result = runner.invoke(cli, ["eval", str(dataset_dir), "--model", str(tiny_model), "--sweep-fusion",
                                 "-i", str(tmp_path / "fusion-index")])
    assert result.exit_code == 0, result.output
    assert "convex, dense weight 0.5" in result.stdout and "<- default" in result.stdout and "rrf" in result.stdout
    sts = tmp_path / "sts.jsonl"
    sts.write_text("".join(json.dumps({"sentence1": f"cat {i}", "sentence2": f"dog {i % 3}", "score": i % 5}) + "\n"
                           for i in range(12)))
    result = runner.invoke(cli, ["eval", "--sts", str(sts), "--model", str(tiny_model), "--sweep-layers", "--json"])
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.stdout)["recipes"]) >= 5
    result = runner.invoke(cli, ["eval", str(tmp_path)])
    assert result.exit_code == 1 and "not a BEIR dataset" in result.stderr
    assert runner.invoke(cli, ["eval"]).exit_code == 2


@pytest.mark.slow
def test_bundled_model_sweep_marks_last_layer_auto(tmp_path):
    sweep = sweep_beir(make_beir(tmp_path / "set"), precision="fp32")
    auto = next(r for r in sweep["recipes"] if r["auto"])
    assert auto["recipe"] == "layer 6" and auto["pooling"] == "mean"
