"""The ``semsearch`` command: a thin layer over :class:`semsearch.Index`."""

from __future__ import annotations

import json
import logging
import math
import shutil
import sqlite3
import sys
import textwrap
from pathlib import Path

import click

from . import __version__
from .clustering import METHODS as CLUSTER_METHODS
from .clustering import NOISE, PROJECTIONS, Clustering
from .clustering import VECTORS as CLUSTER_VECTORS
from .docvectors import DEFAULT_DOCUMENT_VECTOR
from .errors import SemsearchError
from .index import DB_FILE, DEFAULT_INDEX_DIR, INDEX_ENV_VAR, TOPIC_METHODS, Index
from .integrity import translate
from .keywords import DEFAULT_DIVERSITY, MAX_WORDS, Keyword
from .keywords import METHODS as KEYWORD_METHODS
from .progress import terminal_bar
from .queries import batch_record, parse_where, read_query_file
from .reading import DEFAULT_MAX_DOCUMENT_BYTES, RecordFields, read_inputs
from .searching import MODES, Hit
from .validation import clean_json
from .vectors import METRICS
from .vectors.policy import POLICIES as INDEX_TYPES


class _Group(click.Group):
    """Turn library errors into one ``Error: ...`` line and exit status 1, not a traceback."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except SemsearchError as exc:
            raise click.ClickException(str(exc)) from None
        except (sqlite3.Error, OSError, RuntimeError) as exc:
            # A full disk, a read-only or damaged index met outside the checked paths: say so plainly.
            better = translate(exc, _index_file(ctx))
            if better is None:
                raise
            raise click.ClickException(str(better)) from None
        except KeyboardInterrupt:
            click.echo("Interrupted: everything reported done is saved; re-run to continue.", err=True)
            sys.exit(130)


def _index_file(ctx: click.Context) -> Path:
    """The database of the index the command was run on (for error messages)."""
    return Path(ctx.meta.get("semsearch.index_path") or DEFAULT_INDEX_DIR) / DB_FILE


def _remember_index(ctx, param, value):
    ctx.meta["semsearch.index_path"] = value  # meta is shared by every context of one run
    return value


def _finite(ctx, param, value):
    """--min-score and friends: a number that compares (NaN drops every hit, silently)."""
    if value is not None and not math.isfinite(value):
        raise click.BadParameter(f"{value} is not a finite number")
    return value


def index_option(f):
    return click.option(
        "-i", "--index", "index_path", type=click.Path(file_okay=False, path_type=Path),
        envvar=INDEX_ENV_VAR, default=DEFAULT_INDEX_DIR, show_default=True, callback=_remember_index,
        help=f"Index directory (or set ${INDEX_ENV_VAR}).",
    )(f)


def json_option(f):
    return click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")(f)


def _dumps(data, **kwargs) -> str:
    """Strict JSON: NaN and Infinity (which JSON lacks and strict parsers refuse) become null."""
    return json.dumps(clean_json(data, "output"), ensure_ascii=False, allow_nan=False, **kwargs)


def _echo_json(data) -> None:
    click.echo(_dumps(data, indent=2))


def _parse_where(values: tuple[str, ...]) -> list[tuple[str, str]]:
    try:
        return parse_where(values)
    except SemsearchError as exc:
        raise click.BadParameter(str(exc), param_hint="--where") from None


def _print_hits(hits: list[Hit]) -> None:
    if not hits:
        click.echo("No results.")
        return
    width = shutil.get_terminal_size((100, 20)).columns
    for rank, hit in enumerate(hits, start=1):
        page = f"p. {hit.page}  " if hit.page is not None else ""  # before the id, which can be long
        heading = f"{rank:>3}  {hit.score:.4f}  {page}{hit.id}"
        if hit.title and hit.title != hit.id:
            heading += f"  {hit.title}"
        click.echo(click.style(heading[:width], bold=True))
        snippet = " ".join(hit.text.split())
        for line in textwrap.wrap(snippet, width=max(40, width - 6), max_lines=3, placeholder=" …"):
            click.echo(" " * 5 + line)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="semsearch")
@click.option("-q", "--quiet", is_flag=True, help="Only print results and errors.")
def cli(quiet: bool) -> None:
    """Semantic search over your documents: index them, then search, from the terminal.

    \b
      semsearch index docs/ notes.jsonl --text-field body
      semsearch search "how do vaccines train the immune system" -k 5
      semsearch cluster --method hdbscan --plot clusters.png
      semsearch keywords docs/report.md --method embed
      semsearch topics -n 8
      semsearch info

    Every command takes -i/--index DIR (default: $SEMSEARCH_INDEX, else ./.semsearch).
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("semsearch: %(message)s"))
    logger = logging.getLogger("semsearch")
    logger.handlers[:] = [handler]
    logger.setLevel(logging.ERROR if quiet else logging.INFO)
    logger.propagate = False


@cli.command()
@click.argument("inputs", nargs=-1, required=True)
@index_option
@click.option("--text-field", default="text", show_default=True,
              help="Record field(s) holding the text; several comma-separated are joined with a space.")
@click.option("--id-field", default="id", show_default=True, help="Record field holding the document id.")
@click.option("--title-field", default="title", show_default=True, help="Record field holding the title.")
@click.option("--glob", "globs", multiple=True, help="Only files in directories matching this pattern (repeatable).")
@click.option("--model", help="Model for a NEW index: a local Hugging Face model directory. "
              "Default: the bundled all-MiniLM-L6-v2.")
@click.option("--layers", help="Layers for a NEW index: auto (default), all, last, first-last, "
              "a slice like -4: or a list like 1,3,6 (0 = embedding output).")
@click.option("--pooling", type=click.Choice(["mean", "cls"]), help="Pooling per layer for a NEW index.")
@click.option("--chunk-size", type=click.IntRange(8), help="Tokens per chunk for a NEW index "
              "(default: the model's limit less 2).")
@click.option("--chunk-overlap", type=click.IntRange(0), help="Tokens shared by neighbouring chunks "
              "(default 32).")
@click.option("--precision", type=click.Choice(["auto", "fp32", "bf16"]), help="Arithmetic for a NEW index: "
              "auto (default) = bf16 where the CPU has native bf16 (AVX512-BF16/AMX), else fp32.")
@click.option("--document-vector", type=click.Choice(["lead", "mean", "first"]),
              help="How one vector per document is made from its chunks, for cluster, similar and keywords "
              "--method embed, in a NEW index: lead (default: the first chunk and the mean of all, "
              "equally weighted), mean, or first.")
@click.option("--index-type", type=click.Choice(INDEX_TYPES), help="Vector index for a NEW index: auto "
              "(default: exact up to 500k chunks, then approximate IVF), exact, ivf (SQ8 codes) or ivfpq (4-bit PQ).")
@click.option("--recall", type=click.FloatRange(0.5, 1.0), help="Recall@10 target the approximate index is "
              "calibrated to, for a NEW index (default 0.95).")
@click.option("--query-prefix", help="Text put before every query when embedding it, for a NEW index "
              "(default from the model's name: 'query: ' for e5 models, an instruction for bge, else none).")
@click.option("--passage-prefix", help="Text put before every chunk when embedding it, for a NEW index "
              "(default: 'passage: ' for e5 models, else none).")
@click.option("--batch-size", type=click.IntRange(1), default=32, show_default=True, help="Texts per forward pass.")
@click.option("--device", help="Where the model runs: auto, cpu (default), cuda, cuda:N, mps. Not stored "
              "in the index. With --ray: the workers' device (default cuda with --gpus-per-worker, else cpu).")
@click.option("--ray", "ray_address", metavar="auto|ADDRESS", help="Chunk and embed on a Ray cluster: auto "
              "($RAY_ADDRESS, else the Ray started on this machine, else a new local one) or its address. "
              "Needs pip install 'semsearch[ray]'.")
@click.option("--workers", type=click.IntRange(1), help="With --ray: embedding workers (default: one per GPU "
              "with --gpus-per-worker, else one per CPU of the cluster).")
@click.option("--gpus-per-worker", type=click.FloatRange(0), default=0, show_default=True,
              help="With --ray: GPUs each worker holds (0: workers embed on CPUs).")
@click.option("--max-document-bytes", type=click.IntRange(1), default=DEFAULT_MAX_DOCUMENT_BYTES, show_default=True,
              help="Skip any document (a text file, a JSON line, a CSV row, standard input) larger than this.")
@click.option("--strict", is_flag=True, help="Exit with an error if any input was skipped.")
@click.option("--progress/--no-progress", default=None, help="Progress bar (default: on a terminal).")
@json_option
def index(inputs, index_path, text_field, id_field, title_field, globs, model, layers, pooling,
          chunk_size, chunk_overlap, precision, document_vector, index_type, recall, query_prefix, passage_prefix,
          batch_size, max_document_bytes, device, ray_address, workers, gpus_per_worker, strict, progress, as_json):
    """Add or update documents from files, directories or - (stdin).

    Reads .txt, .md, .html, .pdf, .docx, .pptx, .odt, .odp, .epub, and records
    from .jsonl, .json and .csv. Unchanged documents are skipped (a PDF or Office
    file by its bytes, before it is read); changed ones are re-embedded. Unusable inputs are
    skipped with one line each and a summary. Settings (--model, --layers,
    --pooling, --chunk-*) apply when the index is created and are stored in it.

    \b
    Examples:
      semsearch index docs/
      semsearch index corpus.jsonl --id-field _id --text-field title,text
      semsearch index notes/ --glob '*.md' -i ~/indexes/notes
      cat posts.jsonl | semsearch index - --text-field body
      semsearch index corpus/ --device cuda
      semsearch index corpus/ --ray auto --gpus-per-worker 1
      semsearch index papers/ --model ~/models/multilingual-e5-small   # Chinese: a model that reads it
    """
    if ray_address is None and (workers is not None or gpus_per_worker):
        raise click.UsageError("--workers and --gpus-per-worker need --ray")
    executor = None
    if ray_address is not None:
        from .distributed import RayExecutor, require_ray

        require_ray()  # before anything is read or loaded
        executor = RayExecutor(ray_address, workers=workers, gpus_per_worker=gpus_per_worker,
                               batch_size=batch_size, device=device)
        device = None  # the workers' device; this process only writes
    fields = RecordFields(text=tuple(f.strip() for f in text_field.split(",") if f.strip()),
                          id=id_field, title=title_field)
    try:
        with Index.open(index_path, model=model, layers=layers, pooling=pooling, chunk_size=chunk_size,
                        chunk_overlap=chunk_overlap, precision=precision, query_prefix=query_prefix,
                        passage_prefix=passage_prefix, device=device, index_type=index_type,
                        recall=recall, document_vector=document_vector) as idx:
            show = sys.stderr.isatty() if progress is None else progress
            with terminal_bar("Indexing", "doc", enabled=show) as update:
                report = idx.add_documents(
                    read_inputs(inputs, fields, globs, defer=True, max_document_bytes=max_document_bytes),
                    batch_size=batch_size, executor=executor,
                    on_skip=lambda s: click.echo(f"semsearch: {s}", err=True),
                    on_progress=lambda p: update(p.documents, chunks=p.chunks, embedded=p.embedded,
                                                 chunks_per_s=f"{p.chunks_per_second:.1f}"),
                )
            counts = idx.counts()
            warning = idx.text_info()["warning"]
    finally:
        if executor is not None:
            executor.close()
    extra = {}
    if executor is not None:
        extra = {"ray": {"startup_seconds": round(executor.stats.startup_seconds, 3),
                         "workers": len(executor.stats.workers), "resent_batches": executor.stats.resent}}
    if as_json:
        _echo_json({**report.to_dict(), "index": str(index_path), **{f"total_{k}": v for k, v in counts.items()},
                    **extra})
    else:
        rate = report.chunks / report.seconds if report.seconds else 0.0
        click.echo(
            f"Indexed {report.added} new and {report.updated} changed documents ({report.chunks} chunks, "
            f"{rate:.1f} chunks/s); {report.unchanged} unchanged, {len(report.skipped)} skipped. "
            f"Index {index_path}: {counts['documents']} documents, {counts['chunks']} chunks.",
            err=True,
        )
    if warning:
        click.echo(f"semsearch: warning: {warning}", err=True)
    if strict and report.skipped:
        raise click.ClickException(f"{len(report.skipped)} input(s) skipped (--strict)")


@cli.command()
@click.argument("query", required=False)
@index_option
@click.option("-k", "k", type=click.IntRange(1), default=10, show_default=True, help="Number of documents.")
@click.option("--mode", type=click.Choice(MODES), default="hybrid", show_default=True,
              help="dense: cosine over vectors; keyword: BM25; hybrid: reciprocal-rank fusion of both.")
@click.option("--metric", type=click.Choice(METRICS), default="cosine", show_default=True,
              help="Similarity for the dense side (distances are shown as 1/(1+d)).")
@click.option("--where", multiple=True, metavar="FIELD=VALUE",
              help="Only documents whose metadata FIELD equals VALUE (repeatable; also id, title, source).")
@click.option("--min-score", type=float, callback=_finite, help="Drop hits scoring below this.")
@click.option("--cluster", metavar="NAME:LABEL",
              help="Only documents in cluster LABEL of the stored clustering NAME (see `semsearch clusters`).")
@click.option("--queries", "queries_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Batch mode: a text file (one query per line) or JSONL with id and text; writes JSONL.")
@click.option("-o", "--out", type=click.File("w"), default="-", help="Batch mode output file (default stdout).")
@click.option("--exact", is_flag=True, help="Scan every stored vector even if the index is approximate (slow "
              "at millions of chunks; a check of what the approximate index returns).")
@json_option
def search(query, index_path, k, mode, metric, where, min_score, cluster, queries_file, out, exact, as_json):
    """Search the index for QUERY.

    \b
    Examples:
      semsearch search "how do vaccines train the immune system" -k 5
      semsearch search "inflation" --where category=economics --json
      semsearch search "glaciers" --mode keyword
      semsearch search "interest rates" --cluster news-k8:3
      semsearch search --queries questions.txt -o results.jsonl
      semsearch search "protein folding" --mode dense --exact
    """
    if (query is None) == (queries_file is None):
        raise click.UsageError("give a QUERY or --queries FILE (one of them)")
    filters = _parse_where(where)
    # One process, one run of queries: an ONNX Runtime session (0.3 s to start) would not pay off.
    with Index.open(index_path, create=False, query_backend="torch") as idx:
        if queries_file is not None:
            queries = read_query_file(queries_file)
            results = idx.search_many([q for _, q in queries], k, mode=mode, where=filters,
                                      min_score=min_score, metric=metric, cluster=cluster, exact=exact)
            for (query_id, text), hits in zip(queries, results):
                out.write(_dumps(batch_record(query_id, text, hits)) + "\n")
            return
        hits = idx.search(query, k, mode=mode, where=filters, min_score=min_score, metric=metric, cluster=cluster,
                          exact=exact)
    if as_json:
        _echo_json([h.to_dict() for h in hits])
    else:
        _print_hits(hits)


@cli.command()
@click.argument("doc_id")
@index_option
@click.option("-k", "k", type=click.IntRange(1), default=10, show_default=True, help="Number of documents.")
@click.option("--where", multiple=True, metavar="FIELD=VALUE", help="Metadata filter (repeatable).")
@click.option("--cluster", metavar="NAME:LABEL", help="Only documents in this cluster of a stored clustering.")
@click.option("--metric", type=click.Choice(METRICS), default="cosine", show_default=True)
@click.option("--exact", is_flag=True, help="Scan every stored vector even if the index is approximate (slow "
              "on millions of chunks).")
@json_option
def similar(doc_id, index_path, k, where, cluster, metric, exact, as_json):
    """Documents most like DOC_ID (more like this).

    \b
    Examples:
      semsearch similar data/articles/photosynthesis.md -k 5
      semsearch similar data/articles/photosynthesis.md --exact
    """
    with Index.open(index_path, create=False) as idx:
        hits = idx.similar(doc_id, k, where=_parse_where(where), metric=metric, cluster=cluster, exact=exact)
    if as_json:
        _echo_json([h.to_dict() for h in hits])
    else:
        _print_hits(hits)


@cli.command()
@index_option
@json_option
def info(index_path, as_json):
    """Model, layer recipe, counts and sizes of an index.

    \b
    Example:
      semsearch info --json
    """
    with Index.open(index_path, create=False) as idx:
        data = idx.info()
    if as_json:
        _echo_json(data)
        return
    s = data["settings"]
    rows = [
        ("index", data["path"]),
        ("documents", data["documents"]),
        ("chunks", data["chunks"]),
        ("model", s["model"]),
        ("layers", f"{s['layers']} -> hidden states {s['layer_indices']} of {s['num_layers']}"
                   + (f" ({s['layers_reason']})" if s.get("layers_reason") else "")),
        ("pooling", s["pooling"]),
        ("precision", s.get("precision", "fp32")),
        ("dimension", s["dimension"]),
        ("chunking", f"{s['chunk_size']} tokens, {s['chunk_overlap']} overlap (max length {s['max_length']})"),
        ("doc vector", s.get("document_vector", DEFAULT_DOCUMENT_VECTOR)),
        ("created", s.get("created")),
        ("updated", data.get("updated")),
        ("languages", ", ".join(f"{lang or '?'} {n}" for lang, n in data.get("languages", {}).items()) or "-"),
        ("unknown", "-" if data.get("unknown_token_share") is None
         else f"{data['unknown_token_share']:.1%} of the model's tokens are [UNK]"),
        ("database", f"{data['size_bytes']['database'] / 1e6:.2f} MB"),
        ("faiss", f"{data['size_bytes']['faiss'] / 1e6:.2f} MB"
                  + ("" if data["faiss_up_to_date"] else " (stale: rebuilt on next use)")),
        ("vectors", describe_vector_index(data["vector_index"])),
        ("terms", f"{data['keyword_terms_pending']:,} documents' keyword terms not counted yet "
                  f"(counted at the first `keywords --method tfidf`)" if data["keyword_terms_pending"]
         else "keyword terms counted for every document"),
    ]
    for name, value in rows:
        click.echo(f"{name:<10} {value}")
    if data.get("warning"):
        click.echo(f"semsearch: warning: {data['warning']}", err=True)


def describe_vector_index(v: dict) -> str:
    """One line: type, policy, and for an approximate index its cells, nprobe and measured recall."""
    line = f"{v.get('index_type', 'flat')} (index type {v.get('policy', 'auto')}"
    if v.get("exact", True):
        return line + ": exact scan)"
    line += f", nlist {v.get('nlist')}, nprobe {v.get('nprobe')}, refine {v.get('refine')}xk)"
    cal = v.get("calibration")
    if cal and cal.get("logged"):  # measured on the user's own past queries
        line += (f"; recall@{cal['k']} {cal['recall']:.3f} (95% CI {cal['low']:.3f}-{cal['high']:.3f}, "
                 f"{cal['logged']} logged queries, {cal['size']} vectors, {cal['date'][:10]}; "
                 f"target {cal['target']}{'' if cal['reached'] else ' NOT reached'})")
    elif cal:
        line += (f"; recall@{cal['k']} {cal['recall']:.3f} (95% CI {cal['low']:.3f}-{cal['high']:.3f}, "
                 f"{cal['queries']} held-out queries, {cal['size']} vectors, {cal['date'][:10]}; "
                 f"target {cal['target']}: held-out >= {cal.get('required', cal['target'])}"
                 f"{'' if cal['reached'] else ' NOT reached'})")
    return line


@cli.command()
@index_option
@click.option("--index-type", type=click.Choice(INDEX_TYPES), help="The vector index type to rebuild as "
              "(default: the index's own).")
@click.option("--recall", type=click.FloatRange(0.5, 1.0), help="Recall@10 target to calibrate to "
              "(default: the index's own).")
@json_option
def reindex(index_path, index_type, recall, as_json):
    """Rebuild the vector index from the stored vectors (no re-embedding).

    \b
    Examples:
      semsearch reindex --index-type ivf --recall 0.98
      semsearch reindex --index-type exact
    """
    with Index.open(index_path, create=False) as idx:
        described = idx.reindex(index_type=index_type, recall=recall)
    if as_json:
        _echo_json(described)
    else:
        click.echo(describe_vector_index(described))


@cli.command()
@index_option
@click.option("--vacuum", is_flag=True, help="Also rewrite the database to give freed space back to the disk "
              "(takes as long as copying it; searches wait meanwhile).")
@json_option
def migrate(index_path, vacuum, as_json):
    """Bring an index to this version's format (as any write access does), optionally compacting it.

    \b
    Examples:
      semsearch migrate
      semsearch migrate --vacuum --json
    """
    with Index.open(index_path, create=False) as idx:  # a write-access open migrates an old format
        if vacuum:
            report = idx.vacuum()
        else:
            report = {"format_version": idx.store.settings().get("format_version")}
    if as_json:
        _echo_json(report)
    elif vacuum:
        click.echo(f"index format {report['format_version']}, {report['page_size']} B pages: database "
                   f"{report['database_bytes_before'] / 1e6:.2f} MB -> {report['database_bytes_after'] / 1e6:.2f} MB "
                   f"({report['free_pages_before']} free pages given back)")
    else:
        click.echo(f"index format {report['format_version']}")


@cli.command()
@click.argument("doc_ids", nargs=-1)
@index_option
@click.option("--missing", is_flag=True, help="Remove documents whose source file no longer exists.")
@json_option
def remove(doc_ids, index_path, missing, as_json):
    """Remove documents by id, or those whose files are gone (--missing).

    \b
    Examples:
      semsearch remove notes/old.md
      semsearch remove --missing
    """
    if not doc_ids and not missing:
        raise click.UsageError("give DOC_IDs to remove, or --missing")
    with Index.open(index_path, create=False) as idx:
        removed = idx.remove(doc_ids) if doc_ids else []
        if missing:
            removed += idx.remove_missing()
    unknown = [d for d in doc_ids if d not in removed]
    if as_json:
        _echo_json({"removed": removed, "not_found": unknown})
    else:
        click.echo(f"Removed {len(removed)} document(s).", err=True)
        for doc_id in removed:
            click.echo(doc_id)
    if unknown:
        raise click.ClickException(f"not in the index: {', '.join(unknown)}")


def _print_sweep(rows: list[dict], metric_names: tuple[str, ...]) -> None:
    header = f"{'recipe':<14}{'layers':<22}{'pooling':<9}" + "".join(f"{m:>12}" for m in metric_names)
    click.echo(header)
    for row in rows:
        layers = ",".join(str(i) for i in row["layers"])
        line = f"{row['recipe']:<14}{layers:<22}{row['pooling']:<9}" + "".join(
            f"{row[m]:>12.4f}" for m in metric_names)
        click.echo(line + ("   <- auto" if row["auto"] else ""))


@cli.command(name="eval")
@click.argument("dataset", required=False, type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("-i", "--index", "index_path", type=click.Path(file_okay=False, path_type=Path),
              help="Index to build or reuse (default: a temporary one, deleted afterwards).")
@click.option("--mode", type=click.Choice(MODES), default="hybrid", show_default=True, help="Search mode to score.")
@click.option("--split", default="test", show_default=True, help="Which qrels/SPLIT.tsv to score.")
@click.option("--model", help="Local Hugging Face model directory (default: the bundled all-MiniLM-L6-v2).")
@click.option("--layers", help="Layer recipe (default auto); see `semsearch index --help`.")
@click.option("--pooling", type=click.Choice(["mean", "cls"]), help="Pooling per layer.")
@click.option("--precision", type=click.Choice(["auto", "fp32", "bf16"]), help="Arithmetic (default auto).")
@click.option("--query-prefix", help="Text before every query (default from the model's name; see `index --help`).")
@click.option("--passage-prefix", help="Text before every chunk (default from the model's name).")
@click.option("--sweep-layers", is_flag=True,
              help="Score every layer recipe (dense) from one forward pass, best first, marking auto's choice.")
@click.option("--sweep-fusion", is_flag=True,
              help="Score hybrid search's fusion settings (convex at dense weights 0.3-0.7, RRF) and each side "
                   "alone, from one dense and one keyword search per query.")
@click.option("--sts", "sts_file", type=click.Path(path_type=Path),
              help="Score a sentence-pair file (JSONL: sentence1, sentence2, score) by Spearman correlation.")
@click.option("--progress/--no-progress", default=None, help="Progress bars (default: on a terminal).")
@json_option
def evaluate(dataset, index_path, mode, split, model, layers, pooling, precision, query_prefix, passage_prefix,
             sweep_layers, sweep_fusion, sts_file, progress, as_json):
    """Measure retrieval quality on a labelled BEIR-layout DATASET directory.

    DATASET holds corpus.jsonl (_id, title, text), queries.jsonl (_id, text) and
    qrels/SPLIT.tsv (query-id, corpus-id, score). Prints nDCG@10, Recall@100 and
    MRR@10 (computed as trec_eval does), the number of queries, and the time
    spent indexing and searching. --sweep-layers tells you which layers of your
    model to average, on your own data, from one forward pass; --sweep-fusion how
    to weigh dense against keyword search in hybrid mode.

    \b
    Examples:
      semsearch eval ../shared/data/scifact
      semsearch eval DIR --mode dense --json
      semsearch eval DIR --sweep-layers
      semsearch eval DIR -i DIR/index --sweep-fusion --split dev
      semsearch eval --sts pairs.jsonl --sweep-layers
      semsearch eval ../shared/data/csl/retrieval-title --split dev --mode keyword   # Chinese (CSL)
    """
    from .evaluating import METRIC_NAMES, evaluate_beir, evaluate_fusion, evaluate_sts, sweep_beir

    show = sys.stderr.isatty() if progress is None else progress
    if sts_file is not None:
        result = evaluate_sts(sts_file, model=model, layers=layers, pooling=pooling, precision=precision,
                              sweep=sweep_layers)
        if as_json:
            _echo_json(result)
        elif sweep_layers:
            _print_sweep(result["recipes"], ("spearman",))
        else:
            click.echo(f"Spearman {result['spearman']:.4f} over {result['pairs']} pairs "
                       f"(layers {result['layers']}, {result['pooling']})")
        for problem in result["problems"]:
            click.echo(f"semsearch: {problem}", err=True)
        return
    if dataset is None:
        raise click.UsageError("give a DATASET directory, or --sts FILE")
    if sweep_fusion:
        if sweep_layers:
            raise click.UsageError("--sweep-fusion and --sweep-layers are two runs: give one")
        result = evaluate_fusion(dataset, index_path=index_path, split=split, show_progress=show, model=model,
                                 layers=layers, pooling=pooling, precision=precision, query_prefix=query_prefix,
                                 passage_prefix=passage_prefix)
        if as_json:
            _echo_json(result)
            return
        click.echo(f"{'setting':<30}" + "".join(f"{m:>12}" for m in METRIC_NAMES))
        for row in result["rows"]:
            click.echo(f"{row['setting']:<30}" + "".join(f"{row[m]:>12.4f}" for m in METRIC_NAMES)
                       + ("   <- default" if row["default"] else ""))
        click.echo(f"{result['queries']} queries, {result['documents']} documents, each side {result['depth']} deep; "
                   f"{result['seconds_searching']} s searching.", err=True)
        for problem in result["problems"]:
            click.echo(f"semsearch: {problem}", err=True)
        return
    if sweep_layers:
        if layers or pooling or index_path:
            raise click.UsageError("--sweep-layers scores every recipe itself: drop --layers/--pooling/--index")
        result = sweep_beir(dataset, model=model, precision=precision, split=split, show_progress=show)
        if as_json:
            _echo_json(result)
        else:
            _print_sweep(result["recipes"], METRIC_NAMES)
            click.echo(f"{len(result['recipes'])} recipes, {result['documents']} documents "
                       f"({result['chunks']} chunks), one forward pass: {result['seconds_embedding']} s "
                       f"embedding, {result['seconds_scoring']} s scoring. auto = {result['auto']['reason']}.",
                       err=True)
    else:
        result = evaluate_beir(dataset, index_path=index_path, mode=mode, split=split, show_progress=show,
                               model=model, layers=layers, pooling=pooling, precision=precision,
                               query_prefix=query_prefix, passage_prefix=passage_prefix)
        result.pop("per_query")
        if as_json:
            _echo_json(result)
        else:
            for name in METRIC_NAMES:
                click.echo(f"{name:<12}{result[name]:.4f}")
            s = result["settings"]
            click.echo(f"{'queries':<12}{result['queries']}")
            click.echo(f"{'mode':<12}{mode}  (layers {s['layers']} = {s['layer_indices']}, {s['pooling']}, "
                       f"{s.get('precision', 'fp32')})")
            click.echo(f"{'time':<12}{result['seconds_indexing']} s indexing {result['documents']} documents "
                       f"({result['embedded_chunks']} chunks embedded), {result['seconds_searching']} s searching")
    for problem in result["problems"]:
        click.echo(f"semsearch: {problem}", err=True)


def _describe_params(params: dict) -> str:
    return " ".join(f"{key}={value}" for key, value in params.items() if value is not None and key != "eps_auto")


def _doc_line(idx: Index, doc_id: str, width: int) -> str:
    record = idx.get(doc_id)
    text = "(no longer in the index)"
    if record:
        text = record["title"] if record["title"] and record["title"] != doc_id else " ".join(record["text"].split())
    line = f"{doc_id}  {text}" if text else doc_id
    return line if len(line) <= width else line[: width - 1] + "…"


def _print_changes(result: Clustering) -> None:
    changes = result.changes or {}
    if not any(changes.values()):
        click.echo("The index has not changed since this run.")
        return
    parts = []
    if changes.get("added"):
        parts.append(f"{changes['added']} document(s) added (not in any cluster)")
    if changes.get("removed"):
        parts.append(f"{changes['removed']} removed")
    if changes.get("changed"):
        parts.append(f"{changes['changed']} changed (clustered by their old text)")
    click.echo(click.style("Since this run: " + ", ".join(parts) + ". Re-run `semsearch cluster` to update.",
                           fg="yellow"))


def _print_clustering(idx: Index, result: Clustering, cluster: int | None = None) -> None:
    width = shutil.get_terminal_size((100, 20)).columns
    click.echo(click.style(f"{result.name or '(not stored)'}: {result.method}, {_describe_params(result.params)}",
                           bold=True))
    click.echo(f"{result.documents} documents, {result.num_clusters} clusters, "
               f"{result.noise} noise ({100 * result.noise_fraction:.1f}%); created {result.created}")
    if result.changes is not None:
        _print_changes(result)
    for key, label in (("k_scores", "silhouette by k"),):
        if key in result.details:
            scores = result.details[key]
            click.echo(f"{label}: " + ", ".join(f"{k}: {v:.3f}" for k, v in scores.items()))
    if "eps_chosen" in result.details:
        click.echo(f"eps chosen from the k-distance curve: {result.details['eps_chosen']:.4g}")
    click.echo()
    if cluster is not None:
        c = result.cluster(cluster)
        click.echo(click.style(f"cluster {c.label}: {c.size} documents", bold=True))
        click.echo("keywords: " + (", ".join(c.keywords) or "-"))
        if c.representative:
            click.echo("most central:")
            for doc_id in c.representative:
                click.echo("  " + _doc_line(idx, doc_id, width - 2))
        members = result.members(cluster)
        shown = members[:50]
        click.echo(f"members ({len(members)}):")
        for doc_id in shown:
            click.echo("  " + _doc_line(idx, doc_id, width - 2))
        if len(members) > len(shown):
            click.echo(f"  ... and {len(members) - len(shown)} more (--json lists them all)")
        return
    click.echo(f"{'label':>5}  {'size':>6}  keywords")
    for c in result.clusters:
        keywords = "(noise)" if c.label == NOISE else ", ".join(c.keywords[:6])
        click.echo(f"{c.label:>5}  {c.size:>6}  {keywords}"[:width])
        if c.representative:
            click.echo(" " * 15 + _doc_line(idx, c.representative[0], width - 15))


def _keywords_record(doc_id: str | None, found: list[Keyword]) -> str:
    return _dumps({"id": doc_id, "keywords": [k.to_dict() for k in found]})


def _print_keywords(found: list[Keyword]) -> None:
    if not found:
        click.echo("No keywords (the text has no words outside the stop list).")
    for rank, (phrase, score) in enumerate(found, start=1):
        click.echo(f"{rank:>3}  {score:.4f}  {phrase}")


@cli.command()
@click.argument("doc_ids", nargs=-1)
@index_option
@click.option("--text", help="Extract from this text instead of a stored document (- reads standard input).")
@click.option("--all", "all_documents", is_flag=True, help="Every document in the index, as JSON lines.")
@click.option("-n", "n", type=click.IntRange(1), default=10, show_default=True, help="Key phrases per document.")
@click.option("--method", type=click.Choice(KEYWORD_METHODS), default="tfidf", show_default=True,
              help="tfidf: document frequencies of the whole index; textrank: word graph + PageRank; "
              "embed: cosine to the document with the index's embedder, diversified with MMR.")
@click.option("--diversity", type=click.FloatRange(0, 1),
              help=f"embed only: MMR trade-off, 0 = most relevant, 1 = most varied (default {DEFAULT_DIVERSITY}).")
@click.option("--max-words", type=click.IntRange(1, MAX_WORDS), default=MAX_WORDS, show_default=True,
              help="Longest phrase, in words.")
@click.option("-o", "--out", type=click.File("w"), help="With --all: write the JSON lines to this file.")
@click.option("--progress/--no-progress", default=None, help="Progress bar with --all (default: on a terminal).")
@json_option
def keywords(doc_ids, index_path, text, all_documents, n, method, diversity, max_words, out, progress, as_json):
    """Key phrases of stored documents (DOC_IDs), of --text, or of --all documents.

    Candidates are 1-3-word phrases of the text that never cross a stop word or
    punctuation (English stop list). --json and --all write one JSON object per
    document: {"id": ..., "keywords": [{"phrase": ..., "score": ...}, ...]}, best first.

    \b
    Examples:
      semsearch keywords data/articles/photosynthesis.md -n 5
      semsearch keywords note-004 --method embed --diversity 0.5 --json
      semsearch keywords --text "Glaciers carve valleys as they flow downhill." --method textrank
      semsearch keywords --all --method tfidf --out keywords.jsonl
    """
    if sum([bool(doc_ids), text is not None, all_documents]) != 1:
        raise click.UsageError("give DOC_IDs, --text TEXT or --all (one of them)")
    if out is not None and not all_documents:
        raise click.UsageError("--out goes with --all")
    if text == "-":
        text = sys.stdin.read(DEFAULT_MAX_DOCUMENT_BYTES + 1)  # bounded: `< /dev/zero` must end
        if len(text) > DEFAULT_MAX_DOCUMENT_BYTES:
            raise click.UsageError(f"standard input is longer than {DEFAULT_MAX_DOCUMENT_BYTES:,} characters")
    with Index.open(index_path, create=False) as idx:
        if all_documents:
            show = sys.stderr.isatty() if progress is None else progress
            count = 0
            for doc_id, found in idx.keywords_many(method=method, n=n, diversity=diversity, max_words=max_words,
                                                   show_progress=show):
                click.echo(_keywords_record(doc_id, found), file=out)
                count += 1
            if out is not None:
                click.echo(f"Wrote the {method} keywords of {count} document(s) to {out.name}.", err=True)
            return
        if text is not None:
            results = [(None, idx.keywords(text=text, method=method, n=n, diversity=diversity,
                                           max_words=max_words))]
        else:
            results = [(doc_id, idx.keywords(doc_id, method=method, n=n, diversity=diversity, max_words=max_words))
                       for doc_id in doc_ids]
    for i, (doc_id, found) in enumerate(results):
        if as_json:
            click.echo(_keywords_record(doc_id, found))
            continue
        if len(results) > 1:
            click.echo(("\n" if i else "") + click.style(doc_id, bold=True))
        _print_keywords(found)


@cli.command()
@index_option
@click.option("--method", type=click.Choice(CLUSTER_METHODS), default="kmeans", show_default=True,
              help="kmeans: spherical K-means (FAISS); dbscan (scikit-learn); hdbscan (the hdbscan package).")
@click.option("-k", "k", metavar="N|auto",
              help="K-means: the number of clusters, or auto: the best silhouette for k in 2..--k-max (default).")
@click.option("--k-max", type=int, help="K-means with -k auto: the largest k tried (default 20).")
@click.option("--min-cluster-size", type=int,
              help="HDBSCAN: the smallest cluster (default 1% of the documents, between 5 and 100).")
@click.option("--eps", metavar="X|auto",
              help="DBSCAN: the neighbourhood radius, or auto (default): the knee of the k-distance curve.")
@click.option("--min-samples", type=int,
              help="DBSCAN, HDBSCAN: neighbours (the point included) that make a core point (DBSCAN default "
                   "1% of the documents, between 5 and 100; HDBSCAN default --min-cluster-size).")
@click.option("--reduce", metavar="umap:N|pca:N|none",
              help="Reduce the vectors first: default umap:5 for dbscan and hdbscan, none for kmeans.")
@click.option("--assign-noise", is_flag=True, help="DBSCAN, HDBSCAN: move noise to the nearest cluster centroid.")
@click.option("--center/--no-center", default=None,
              help="Subtract the corpus mean vector first (default: only when the vectors are anisotropic, "
                   "mean pairwise cosine > 0.3, as with --layers all).")
@click.option("--vectors", type=click.Choice(CLUSTER_VECTORS), default=None,
              help="Cluster documents by: hybrid (kmeans' default: the model's vector and the TF-IDF vector "
                   "of the document's words, equally weighted; words only where the model cannot read the "
                   "text), model (dbscan's and hdbscan's default), or terms.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for K-means, UMAP, PCA and sampling.")
@click.option("--name", help="Store the run under NAME (default from method and parameters; replaces a run "
              "of the same name).")
@click.option("--plot", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE.png",
              help="Write a 2-D map of the documents coloured by cluster.")
@click.option("--plot-projection", type=click.Choice(PROJECTIONS), default="umap", show_default=True,
              help="How --plot maps the documents to 2-D.")
@click.option("--progress/--no-progress", default=None, help="Progress bar for -k auto (default: on a terminal).")
@json_option
def cluster(index_path, method, k, k_max, min_cluster_size, eps, min_samples, reduce, assign_noise, center, vectors,
            seed, name, plot, plot_projection, progress, as_json):
    """Cluster the indexed documents and store the run.

    Documents are clustered by their stored vectors (see `info`'s doc vector) and,
    for K-means by default, the TF-IDF vectors of their words beside them (--vectors); each
    cluster is labelled by its top keywords (class-based TF-IDF) and its most
    central documents. The run is stored in the index: see `semsearch clusters`.

    \b
    Examples:
      semsearch cluster --method kmeans -k 8
      semsearch cluster --method kmeans -k auto --k-max 12
      semsearch cluster -k 8 --vectors model
      semsearch cluster --method hdbscan --min-cluster-size 15
      semsearch cluster --method dbscan --eps 0.25 --min-samples 5
      semsearch cluster --method hdbscan --assign-noise --name news --plot clusters.png --json
    """
    with Index.open(index_path, create=False) as idx:
        result = idx.cluster(
            method, k=_number_or_auto(k, int, "-k"), k_max=k_max, eps=_number_or_auto(eps, float, "--eps"),
            min_samples=min_samples, min_cluster_size=min_cluster_size,
            reduce=reduce, assign_noise=assign_noise, center=center, seed=seed, vectors=vectors, name=name, plot=plot,
            plot_projection=plot_projection, show_progress=sys.stderr.isatty() if progress is None else progress,
        )
        if as_json:
            _echo_json(result.to_dict())
            return
        _print_clustering(idx, result)
    replaced = " (replacing the run of that name)" if result.details.get("replaced") else ""
    click.echo(f"\nStored as {result.name!r}{replaced}: `semsearch clusters show {result.name}`.", err=True)
    if result.plot:
        click.echo(f"Map of {result.plot['points']} documents written to {result.plot['path']}.", err=True)


def _number_or_auto(value: str | None, kind, option: str):
    if value is None or value.strip().lower() == "auto":
        return value
    try:
        number = kind(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a {'whole ' if kind is int else ''}number or auto",
                                 param_hint=option) from None
    if not math.isfinite(number):
        raise click.BadParameter(f"{value!r} is not a finite number", param_hint=option)
    return number


def _group_index(ctx: click.Context, index_path: Path) -> Path:
    """A sub-command's -i, else the group's (`semsearch clusters -i DIR show NAME`)."""
    source = ctx.get_parameter_source("index_path")
    if source in (click.core.ParameterSource.DEFAULT, None) and ctx.parent is not None:
        return ctx.parent.params.get("index_path") or index_path
    return index_path


def _list_clusterings(index_path: Path, as_json: bool) -> None:
    with Index.open(index_path, create=False) as idx:
        runs = idx.clusterings()
    if as_json:
        _echo_json(runs)
        return
    if not runs:
        click.echo("No stored clusterings: make one with `semsearch cluster`.")
        return
    width = max(4, *(len(r["name"]) for r in runs))
    click.echo(f"{'name':<{width}}  {'method':<7}  {'clusters':>8}  {'noise':>6}  {'documents':>9}  "
               f"{'created':<25}  params")
    for r in runs:
        click.echo(f"{r['name']:<{width}}  {r['method']:<7}  {r['clusters']:>8}  {100 * r['noise_fraction']:>5.1f}%  "
                   f"{r['documents']:>9}  {r['created']:<25}  {_describe_params(r['params'])}")


@cli.group(invoke_without_command=True)
@index_option
@json_option
@click.pass_context
def clusters(ctx, index_path, as_json):
    """List the stored clustering runs; show or delete one.

    \b
    Examples:
      semsearch clusters
      semsearch clusters show news-k8
      semsearch clusters show news-k8 --cluster 3 --json
      semsearch clusters delete news-k8
    """
    if ctx.invoked_subcommand is None:
        _list_clusterings(index_path, as_json)


@clusters.command("list")
@index_option
@json_option
@click.pass_context
def clusters_list(ctx, index_path, as_json):
    """List the stored clustering runs (the same as `semsearch clusters`).

    \b
    Example:
      semsearch clusters list --json
    """
    _list_clusterings(_group_index(ctx, index_path), as_json or ctx.parent.params.get("as_json", False))


@clusters.command("show")
@click.argument("name")
@index_option
@click.option("--cluster", "label", type=int, help="Show one cluster: its keywords, central documents and members.")
@json_option
@click.pass_context
def clusters_show(ctx, name, index_path, label, as_json):
    """Sizes, keywords and representative documents of the stored run NAME.

    Also says whether documents were added, removed or changed since the run.

    \b
    Examples:
      semsearch clusters show news-k8
      semsearch clusters show news-k8 --cluster 3
      semsearch clusters show news-k8 --json
    """
    with Index.open(_group_index(ctx, index_path), create=False) as idx:
        result = idx.clustering(name, label=label)
        if as_json or ctx.parent.params.get("as_json", False):
            _echo_json(result.to_dict())
        else:
            _print_clustering(idx, result, cluster=label)


@clusters.command("delete")
@click.argument("name")
@index_option
@json_option
@click.pass_context
def clusters_delete(ctx, name, index_path, as_json):
    """Delete the stored run NAME (the documents are not touched).

    \b
    Example:
      semsearch clusters delete news-k8
    """
    with Index.open(_group_index(ctx, index_path), create=False) as idx:
        idx.delete_clustering(name)
    if as_json or ctx.parent.params.get("as_json", False):
        _echo_json({"deleted": name})
    else:
        click.echo(f"Deleted clustering {name!r}.", err=True)


@cli.command()
@index_option
@click.option("--method", type=click.Choice(TOPIC_METHODS), default="lda", show_default=True,
              help="lda: scikit-learn Latent Dirichlet Allocation over the documents' word counts.")
@click.option("-n", "n", type=click.IntRange(1), default=10, show_default=True, help="Number of topics.")
@click.option("--words", type=click.IntRange(1), default=10, show_default=True, help="Top words shown per topic.")
@click.option("--documents", "show_documents", is_flag=True,
              help="List each topic's documents (those whose largest topic it is), with the topic's share.")
@click.option("--topic", "only_topic", type=click.IntRange(0), help="Show only this topic.")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed of the model.")
@json_option
def topics(index_path, method, n, words, show_documents, only_topic, seed, as_json):
    """Topics of the whole corpus: top words and weight of each, largest first.

    A topic's weight is its share of the corpus (the mean of the documents' topic
    proportions). Fitting runs over all documents on each call; --seed fixes the result.

    \b
    Examples:
      semsearch topics -n 8
      semsearch topics -n 8 --documents --topic 3
      semsearch topics --method lda -n 10 --json
    """
    if only_topic is not None and only_topic >= n:
        raise click.UsageError(f"--topic {only_topic} is out of range: topics are numbered 0..{n - 1}")
    with Index.open(index_path, create=False) as idx:
        found = idx.topics(method, n, words=words, seed=seed)
    if only_topic is not None:
        found = [t for t in found if t.topic == only_topic]
    if as_json:
        _echo_json([t.to_dict(with_documents=show_documents) for t in found])
        return
    for i, topic in enumerate(found):
        heading = f"Topic {topic.topic}  weight {topic.weight:.3f}  ({len(topic.documents)} documents)"
        click.echo(("\n" if i else "") + click.style(heading, bold=True))
        click.echo("  " + ", ".join(f"{w.phrase} ({w.score:.3f})" for w in topic.words))
        if show_documents:
            for doc_id, share in topic.documents:
                click.echo(f"    {share:.3f}  {doc_id}")



# -- serving ------------------------------------------------------------------------------
def _token_store(index_path: Path):
    from .index import DB_FILE
    from .tokens import TokenStore

    if not (index_path / DB_FILE).exists():
        raise SemsearchError(f"no index at {index_path}: create one with `semsearch index -i {index_path} FILES...`")
    return TokenStore(index_path / DB_FILE)


@cli.command()
@index_option
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to bind. Anything but loopback needs tokens (or --public).")
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True)
@click.option("--public", is_flag=True, help="Serve reads without a token on any address (writes still need one).")
@click.option("--cors", "cors", multiple=True, metavar="ORIGIN",
              help="Allow browser pages from ORIGIN to call the API (repeatable; default: CORS off).")
@click.option("--allow-host", "allow_hosts", multiple=True, metavar="NAME",
              help="Another Host header to accept, e.g. a name a proxy forwards (repeatable).")
@click.option("--rate", type=click.FloatRange(0), default=50.0, show_default=True,
              help="Requests per second per client before 429 (0 = no limit).")
@click.option("--burst", type=click.IntRange(1), default=200, show_default=True, help="Burst above --rate.")
@click.option("--deadline", type=click.FloatRange(0.1), default=30.0, show_default=True,
              help="Seconds before a request gets 504.")
@click.option("--batching/--no-batching", default=True, show_default=True,
              help="Answer concurrent searches in one forward pass (a few ms window).")
@click.option("--batch-window", type=click.FloatRange(0), default=4.0, show_default=True,
              help="Milliseconds a search waits for others to batch with.")
def serve(index_path, host, port, public, cors, allow_hosts, rate, burst, deadline, batching, batch_window):
    """Serve the index over HTTP: a JSON API and a web page, from this package.

    Binds 127.0.0.1 (this machine only). Without tokens the server is read-only;
    writes need a token from `semsearch tokens create --scope write`. Open
    http://127.0.0.1:8765/ for the page, /api/v1/docs for the API.

    \b
    Examples:
      semsearch serve
      semsearch serve -i ~/indexes/notes --port 9000
      semsearch serve --host 0.0.0.0 --allow-host search.example.org   # needs tokens
      curl 'http://127.0.0.1:8765/api/v1/search?q=glaciers&k=3'
    """
    import uvicorn

    from .server import ServerConfig, create_app
    from .server.auth import is_loopback

    with _token_store(index_path) as store:
        has_tokens = store.any_active()
    if not is_loopback(host) and not (has_tokens or public):
        raise click.ClickException(
            f"refusing to serve on {host}: anyone who can reach it could read the index. Create a token "
            "first (`semsearch tokens create --scope read`), or pass --public to serve reads to everyone."
        )
    config = ServerConfig(host=host, port=port, public=public, cors=tuple(cors), allow_hosts=tuple(allow_hosts),
                          rate=rate, burst=burst, deadline_s=deadline, batching=batching,
                          batch_window_ms=batch_window)
    app = create_app(index_path, config)
    click.echo(f"semsearch: serving {index_path} on http://{host}:{port}/ (API docs: /api/v1/docs); "
               f"{'tokens required' if has_tokens else 'read-only without a token'}", err=True)
    uvicorn.run(app, host=host, port=port, log_level="warning")


@cli.group()
def tokens():
    """Create, list and revoke API tokens of an index (for `semsearch serve`).

    \b
    Examples:
      semsearch tokens create --scope write --name uploader --expires 30d
      semsearch tokens list
      semsearch tokens revoke 3
    """


@tokens.command("create")
@index_option
@click.option("--scope", type=click.Choice(["read", "write", "admin"]), default="read", show_default=True,
              help="read: search and browse; write: also add, delete, cluster; admin: everything.")
@click.option("--name", help="A note to tell tokens apart in `tokens list`.")
@click.option("--expires", metavar="30d|12h|DATE|never", help="When it stops working (default never).")
@json_option
def tokens_create(index_path, scope, name, expires, as_json):
    """Make a token; it is printed once, alone on the last line. Only its hash is stored.

    \b
    Examples:
      semsearch tokens create --scope read
      TOKEN=$(semsearch tokens create --scope write --expires 7d | tail -n 1)
      curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8765/api/v1/info
    """
    with _token_store(index_path) as store:
        token, secret = store.create(scope, name=name, expires=expires)
    if as_json:
        _echo_json({**token.to_dict(), "token": secret})
        return
    click.echo(f"Token {token.id} ({token.scope}{', expires ' + token.expires if token.expires else ''}). "
               "Keep it now: it is not shown again.")
    click.echo(secret)


@tokens.command("list")
@index_option
@json_option
def tokens_list(index_path, as_json):
    """The tokens of an index: id, prefix, scope, name, dates (never the secrets).

    \b
    Example:
      semsearch tokens list --json
    """
    with _token_store(index_path) as store:
        found = store.list()
    if as_json:
        _echo_json([t.to_dict() for t in found])
        return
    if not found:
        click.echo("No tokens: the server is read-only for everyone on this machine.")
        return
    click.echo(f"{'id':>4}  {'prefix':<12} {'scope':<6} {'state':<8} {'expires':<26} name")
    for t in found:
        state = "active" if t.active else ("revoked" if t.revoked else "expired")
        click.echo(f"{t.id:>4}  {t.prefix:<12} {t.scope:<6} {state:<8} {t.expires or 'never':<26} {t.name or ''}")


@tokens.command("revoke")
@click.argument("token")
@index_option
def tokens_revoke(token, index_path):
    """Revoke a token by its id or prefix (as `tokens list` shows them).

    \b
    Examples:
      semsearch tokens revoke 3
      semsearch tokens revoke ss_AbCdEfGh
    """
    with _token_store(index_path) as store:
        revoked = store.revoke(token)
    click.echo(f"Revoked token {revoked.id} ({revoked.prefix}, {revoked.scope}).", err=True)


def main() -> None:
    cli(prog_name="semsearch")
