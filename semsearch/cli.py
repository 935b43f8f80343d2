"""The ``semsearch`` command: a thin layer over :class:`semsearch.Index`."""

from __future__ import annotations

import json
import logging
import shutil
import sys
import textwrap
from pathlib import Path

import click

from . import __version__
from .errors import SemsearchError
from .index import DEFAULT_INDEX_DIR, INDEX_ENV_VAR, TOPIC_METHODS, Index
from .indexing import METRICS
from .keywords import DEFAULT_DIVERSITY, MAX_WORDS, METHODS, Keyword
from .reading import RecordFields, read_inputs
from .searching import MODES, Hit


class _Group(click.Group):
    """Turn library errors into one ``Error: ...`` line and exit status 1, not a traceback."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except SemsearchError as exc:
            raise click.ClickException(str(exc)) from None
        except KeyboardInterrupt:
            click.echo("Interrupted: everything reported done is saved; re-run to continue.", err=True)
            sys.exit(130)


def index_option(f):
    return click.option(
        "-i", "--index", "index_path", type=click.Path(file_okay=False, path_type=Path),
        envvar=INDEX_ENV_VAR, default=DEFAULT_INDEX_DIR, show_default=True,
        help=f"Index directory (or set ${INDEX_ENV_VAR}).",
    )(f)


def json_option(f):
    return click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")(f)


def _echo_json(data) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))


def _parse_where(values: tuple[str, ...]) -> list[tuple[str, str]]:
    pairs = []
    for value in values:
        field, sep, wanted = value.partition("=")
        if not sep or not field:
            raise click.BadParameter(f"{value!r} is not field=value", param_hint="--where")
        pairs.append((field.strip(), wanted))
    return pairs


def _print_hits(hits: list[Hit]) -> None:
    if not hits:
        click.echo("No results.")
        return
    width = shutil.get_terminal_size((100, 20)).columns
    for rank, hit in enumerate(hits, start=1):
        heading = f"{rank:>3}  {hit.score:.4f}  {hit.id}"
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
@click.option("--batch-size", type=click.IntRange(1), default=32, show_default=True, help="Texts per forward pass.")
@click.option("--strict", is_flag=True, help="Exit with an error if any input was skipped.")
@click.option("--progress/--no-progress", default=None, help="Progress bar (default: on a terminal).")
@json_option
def index(inputs, index_path, text_field, id_field, title_field, globs, model, layers, pooling,
          chunk_size, chunk_overlap, batch_size, strict, progress, as_json):
    """Add or update documents from files, directories or - (stdin).

    Reads .txt, .md, .html, and records from .jsonl, .json and .csv. Unchanged
    documents are skipped; changed ones are re-embedded. Unusable inputs are
    skipped with one line each and a summary. Settings (--model, --layers,
    --pooling, --chunk-*) apply when the index is created and are stored in it.

    \b
    Examples:
      semsearch index docs/
      semsearch index corpus.jsonl --id-field _id --text-field title,text
      semsearch index notes/ --glob '*.md' -i ~/indexes/notes
      cat posts.jsonl | semsearch index - --text-field body
    """
    fields = RecordFields(text=tuple(f.strip() for f in text_field.split(",") if f.strip()),
                          id=id_field, title=title_field)
    with Index.open(index_path, model=model, layers=layers, pooling=pooling,
                    chunk_size=chunk_size, chunk_overlap=chunk_overlap) as idx:
        show = sys.stderr.isatty() if progress is None else progress
        report = idx.add_documents(
            read_inputs(inputs, fields, globs), batch_size=batch_size, show_progress=show,
            on_skip=lambda s: click.echo(f"semsearch: {s}", err=True),
        )
        counts = idx.store.counts()
    if as_json:
        _echo_json({**report.to_dict(), "index": str(index_path), **{f"total_{k}": v for k, v in counts.items()}})
    else:
        rate = report.chunks / report.seconds if report.seconds else 0.0
        click.echo(
            f"Indexed {report.added} new and {report.updated} changed documents ({report.chunks} chunks, "
            f"{rate:.1f} chunks/s); {report.unchanged} unchanged, {len(report.skipped)} skipped. "
            f"Index {index_path}: {counts['documents']} documents, {counts['chunks']} chunks.",
            err=True,
        )
    if strict and report.skipped:
        raise click.ClickException(f"{len(report.skipped)} input(s) skipped (--strict)")


def _load_queries(path: Path) -> list[tuple[str, str]]:
    queries = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            line = line.strip()
            if not line:
                continue
            if line.startswith("{"):
                try:
                    record = json.loads(line)
                    queries.append((str(record.get("id", record.get("_id", number))), str(record["text"])))
                except (json.JSONDecodeError, KeyError) as exc:
                    raise SemsearchError(
                        f"{path}:{number}: not a query record with a text field ({exc})"
                    ) from None
            else:
                queries.append((str(number), line))
    return queries


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
@click.option("--min-score", type=float, help="Drop hits scoring below this.")
@click.option("--queries", "queries_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Batch mode: a text file (one query per line) or JSONL with id and text; writes JSONL.")
@click.option("-o", "--out", type=click.File("w"), default="-", help="Batch mode output file (default stdout).")
@json_option
def search(query, index_path, k, mode, metric, where, min_score, queries_file, out, as_json):
    """Search the index for QUERY.

    \b
    Examples:
      semsearch search "how do vaccines train the immune system" -k 5
      semsearch search "inflation" --where category=economics --json
      semsearch search "glaciers" --mode keyword
      semsearch search --queries questions.txt -o results.jsonl
    """
    if (query is None) == (queries_file is None):
        raise click.UsageError("give a QUERY or --queries FILE (one of them)")
    filters = _parse_where(where)
    with Index.open(index_path, create=False) as idx:
        if queries_file is not None:
            queries = _load_queries(queries_file)
            results = idx.search_many([q for _, q in queries], k, mode=mode, where=filters,
                                      min_score=min_score, metric=metric)
            for (query_id, text), hits in zip(queries, results):
                out.write(json.dumps({"query_id": query_id, "query": text,
                                      "hits": [{"id": h.id, "score": h.score} for h in hits]},
                                     ensure_ascii=False) + "\n")
            return
        hits = idx.search(query, k, mode=mode, where=filters, min_score=min_score, metric=metric)
    if as_json:
        _echo_json([h.to_dict() for h in hits])
    else:
        _print_hits(hits)


@cli.command()
@click.argument("doc_id")
@index_option
@click.option("-k", "k", type=click.IntRange(1), default=10, show_default=True, help="Number of documents.")
@click.option("--where", multiple=True, metavar="FIELD=VALUE", help="Metadata filter (repeatable).")
@click.option("--metric", type=click.Choice(METRICS), default="cosine", show_default=True)
@json_option
def similar(doc_id, index_path, k, where, metric, as_json):
    """Documents most like DOC_ID (more like this).

    \b
    Example:
      semsearch similar data/articles/photosynthesis.md -k 5
    """
    with Index.open(index_path, create=False) as idx:
        hits = idx.similar(doc_id, k, where=_parse_where(where), metric=metric)
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
        ("dimension", s["dimension"]),
        ("chunking", f"{s['chunk_size']} tokens, {s['chunk_overlap']} overlap (max length {s['max_length']})"),
        ("created", s.get("created")),
        ("updated", data.get("updated")),
        ("database", f"{data['size_bytes']['database'] / 1e6:.2f} MB"),
        ("faiss", f"{data['size_bytes']['faiss'] / 1e6:.2f} MB"
                  + ("" if data["faiss_up_to_date"] else " (stale: rebuilt on next use)")),
    ]
    for name, value in rows:
        click.echo(f"{name:<10} {value}")


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


def _keywords_record(doc_id: str | None, found: list[Keyword]) -> str:
    return json.dumps({"id": doc_id, "keywords": [k.to_dict() for k in found]}, ensure_ascii=False)


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
@click.option("--method", type=click.Choice(METHODS), default="tfidf", show_default=True,
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
        text = sys.stdin.read()
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


def main() -> None:
    cli(prog_name="semsearch")
