"""The HTTP API and the web page of ``semsearch serve`` (FastAPI).

Routes are thin: they check the caller (:mod:`.auth`), hand the work to the one
reading thread (:mod:`.batching`) or the one writer (:mod:`.jobs`), and shape the
answer.  Everything served (HTML, JS, CSS, the API docs page) is in ``static/``,
inside the package: no CDN, works offline.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from .. import __version__, browsing
from ..errors import InvalidArgument, NotFound, SemsearchError
from ..index import DB_FILE, Index
from ..queries import parse_where
from ..reading import Document
from ..searching import MODES, highlights
from ..tokens import TokenStore
from .auth import AccessPolicy, GuardMiddleware, HTTPProblem, RateLimiter, allowed_hosts
from .batching import Overloaded, ReadWorker, SearchOptions
from .jobs import JobRunner

log = logging.getLogger("semsearch.server")

API = "/api/v1"
MAX_K = 100
MAX_BATCH = 64
MAX_QUERY_CHARS = 10_000
MAX_BODY = 10_000_000
STATIC = resources.files("semsearch.server") / "static"


@dataclass
class ServerConfig:
    """What ``semsearch serve`` was asked for; the defaults are the safe ones."""

    host: str = "127.0.0.1"
    port: int = 8765
    public: bool = False
    cors: tuple[str, ...] = ()
    allow_hosts: tuple[str, ...] = ()
    rate: float = 50.0  # requests per second per client, on average ...
    burst: int = 200  # ... with bursts of this many
    max_body: int = MAX_BODY
    deadline_s: float = 30.0  # a request not answered by then gets 504
    batching: bool = True
    batch_window_ms: float = 4.0
    max_queue: int = 256
    query_backend: str = "onnx"
    warm: bool = True
    extra: dict = field(default_factory=dict)


# -- request bodies ---------------------------------------------------------------------
class QueryItem(BaseModel):
    id: str | None = None
    text: str = Field(max_length=MAX_QUERY_CHARS)


class BatchSearch(BaseModel):
    """The batch of ``semsearch search --queries FILE``: texts, or ``{"id", "text"}`` records."""

    queries: list[str | QueryItem] = Field(min_length=1, max_length=MAX_BATCH)
    k: int = Field(10, ge=1, le=MAX_K)
    mode: Literal["hybrid", "dense", "keyword"] = "hybrid"
    where: list[str] = Field(default_factory=list, description="FIELD=VALUE filters")
    cluster: str | None = Field(None, description="NAME:LABEL of a stored clustering")
    metric: Literal["cosine", "dot", "l2"] = "cosine"
    min_score: float | None = None
    explain: bool = True
    highlight: bool = True


class NewDocument(BaseModel):
    id: str = Field(min_length=1, max_length=1000)
    text: str = Field(min_length=1)
    title: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    source: str | None = None


class Upsert(BaseModel):
    documents: list[NewDocument] = Field(min_length=1, max_length=100_000)


class ClusterRequest(BaseModel):
    method: Literal["kmeans", "dbscan", "hdbscan"] = "kmeans"
    k: int | Literal["auto"] | None = None
    k_max: int | None = None
    eps: float | Literal["auto"] | None = None
    min_samples: int | None = None
    min_cluster_size: int | None = None
    reduce: str | None = None
    assign_noise: bool = False
    center: bool | None = None
    seed: int = 0
    vectors: Literal["hybrid", "model", "terms"] | None = None
    name: str | None = None


class Selection(BaseModel):
    ids: list[str] = Field(min_length=1, max_length=100_000)
    n: int = Field(10, ge=1, le=50)


def _error(status: int, message: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"error": message, "status": status}, status_code=status, headers=headers)


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for problem in exc.errors()[:5]:
        where = ".".join(str(p) for p in problem.get("loc", ()) if p not in ("body", "query", "path"))
        parts.append(f"{where}: {problem.get('msg', 'invalid')}" if where else problem.get("msg", "invalid"))
    return "invalid request: " + "; ".join(parts)


def _hit_dict(hit, query: str, with_highlights: bool) -> dict:
    data = hit.to_dict()
    data.setdefault("explain", None)
    data["highlights"] = [list(span) for span in highlights(hit.text, query)] if with_highlights else []
    return data


def create_app(index_path: str | Path, config: ServerConfig | None = None) -> FastAPI:
    """The app for the index at ``index_path``; its threads start with the app (lifespan)."""
    config = config or ServerConfig()
    index_path = Path(index_path)
    if not (index_path / DB_FILE).exists():
        raise NotFound(f"no index at {index_path}: create one with `semsearch index -i {index_path} FILES...`")
    tokens = TokenStore(index_path / DB_FILE)
    policy = AccessPolicy(tokens, public=config.public)

    def open_reader() -> Index:
        index = Index.open(index_path, create=False, query_backend=config.query_backend)
        index.counts_terms_on_use = False  # the writer counts keyword terms (below): readers never take its lock
        return index

    def warm(index: Index) -> None:
        if config.warm:
            started = time.perf_counter()
            index.search("warm up", 1, mode="hybrid")  # model, ONNX session, vectors, chunk map
            log.info("warmed up in %.1fs", time.perf_counter() - started)

    reader = ReadWorker(open_reader, batching=config.batching, window_s=config.batch_window_ms / 1000,
                        max_batch=MAX_BATCH, max_queue=config.max_queue, warm=warm)
    # Slow reads (topics, maps, selection keywords) get their own thread and index, so
    # a minute of LDA never holds up a search.
    slow = ReadWorker(open_reader, name="semsearch-read-slow", batching=False, max_queue=32)
    writer = JobRunner(lambda: Index.open(index_path, create=False, query_backend="torch"))
    map_cache: dict[tuple, dict] = {}

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await asyncio.to_thread(reader.start)
        await asyncio.to_thread(slow.start)
        writer.start()
        # Documents indexed outside the server may have keyword terms not counted yet (tfidf key
        # phrases count them on first use): the writer counts them now, as a job, not a reader.
        writer.submit("count-terms", "count the keyword terms of documents not counted yet",
                      lambda idx, _: 0 if idx.store.read_only else idx.count_terms())
        app.state.ready = True
        try:
            yield
        finally:
            app.state.ready = False
            await asyncio.to_thread(writer.stop)
            await asyncio.to_thread(reader.stop)
            await asyncio.to_thread(slow.stop)
            tokens.close()

    app = FastAPI(
        title="semsearch", version=__version__, lifespan=lifespan,
        openapi_url=f"{API}/openapi.json", docs_url=None, redoc_url=None,
        description="Semantic, keyword and hybrid search over one semsearch index. "
        "Errors are JSON {\"error\", \"status\"}. Send `Authorization: Bearer TOKEN` when tokens exist.",
    )
    app.state.ready = False
    app.state.reader, app.state.slow, app.state.writer, app.state.tokens = reader, slow, writer, tokens
    app.state.config = config

    # -- errors: one JSON shape, never a traceback -------------------------------------------
    @app.exception_handler(SemsearchError)
    async def _semsearch_error(request: Request, exc: SemsearchError):
        return _error(exc.http_status, str(exc), getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        return _error(400, _validation_message(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        message = exc.detail if isinstance(exc.detail, str) else "error"
        if exc.status_code == 404:
            message = f"no route {request.url.path}"
        return _error(exc.status_code, message, getattr(exc, "headers", None))

    @app.exception_handler(Overloaded)
    async def _overloaded(request: Request, exc: Overloaded):
        return _error(503, str(exc), {"Retry-After": "1"})

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception):
        log.exception("internal error on %s", request.url.path)
        return _error(500, f"internal error ({type(exc).__name__}); the server log has the details")

    @app.middleware("http")
    async def _headers(request: Request, call_next):
        response = await call_next(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
            "connect-src 'self'; frame-ancestors 'none'",
        )
        return response

    if config.cors:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=list(config.cors), allow_methods=["GET", "POST", "DELETE"],
                           allow_headers=["Authorization", "Content-Type"])
    app.add_middleware(GuardMiddleware, hosts=allowed_hosts(config.host, config.allow_hosts),
                       max_body=config.max_body, limiter=RateLimiter(config.rate, config.burst))

    # -- access ------------------------------------------------------------------------
    def scope(name: str) -> Callable:
        def check(request: Request):
            return policy.check(request.headers.get("authorization"), name)

        return check

    read, write = Depends(scope("read")), Depends(scope("write"))

    async def run(future, what: str = "request"):
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), config.deadline_s)
        except asyncio.TimeoutError:
            future.cancel()
            raise HTTPProblem(504, f"the {what} took longer than {config.deadline_s:g}s") from None

    def read_call(fn: Callable[[Index], Any], *, heavy: bool = False):
        return run((slow if heavy else reader).call(fn))

    # -- routes: status ----------------------------------------------------------------------
    @app.get(f"{API}/health", tags=["status"], summary="Liveness and readiness (always open)")
    async def health():
        ready = bool(app.state.ready and reader.ready)
        return JSONResponse({"status": "ok" if ready else "starting", "ready": ready, "version": __version__},
                            status_code=200 if ready else 503)

    @app.get(f"{API}/info", tags=["status"], summary="What `semsearch info --json` gives", dependencies=[read])
    async def info():
        data = await read_call(lambda idx: idx.info())
        data["server"] = {"read_only": not tokens.any_active(), "public": config.public,
                          "batching": config.batching, "limits": {"k": MAX_K, "batch": MAX_BATCH,
                          "query_chars": MAX_QUERY_CHARS, "body_bytes": config.max_body}}
        return data

    # -- routes: search ----------------------------------------------------------------------
    def options(k, mode, where, cluster, metric, min_score, explain) -> SearchOptions:
        if mode not in MODES:
            raise InvalidArgument(f"unknown mode {mode!r}: use one of {', '.join(MODES)}")
        return SearchOptions(k=k, mode=mode, where=tuple(parse_where(where)), cluster=cluster or None,
                             metric=metric, min_score=min_score, explain=explain)

    @app.get(f"{API}/search", tags=["search"], summary="Search (the hits of `semsearch search --json`)",
             dependencies=[read])
    async def search(
        q: str = Query(..., min_length=1, max_length=MAX_QUERY_CHARS, description="the query"),
        k: int = Query(10, ge=1, le=MAX_K),
        mode: Literal["hybrid", "dense", "keyword"] = "hybrid",
        where: list[str] = Query([], description="FIELD=VALUE (repeatable)"),
        cluster: str | None = Query(None, description="NAME:LABEL of a stored clustering"),
        metric: Literal["cosine", "dot", "l2"] = "cosine",
        min_score: float | None = None,
        explain: bool = True,
        highlight: bool = True,
    ):
        started = time.perf_counter()
        opts = options(k, mode, where, cluster, metric, min_score, explain)
        results = await run(reader.search([q], opts), "search")
        return {"query": q, "mode": mode, "k": k, "hits": [_hit_dict(h, q, highlight) for h in results[0]],
                "took_ms": round(1000 * (time.perf_counter() - started), 2)}

    @app.post(f"{API}/search", tags=["search"], summary="A batch of searches (a read, like GET)", dependencies=[read])
    async def search_batch(body: BatchSearch):
        started = time.perf_counter()
        items = [(str(i + 1), q) if isinstance(q, str) else (q.id or str(i + 1), q.text)
                 for i, q in enumerate(body.queries)]
        for query_id, text in items:
            if not text.strip():
                raise InvalidArgument(f"query {query_id} is empty")
            if len(text) > MAX_QUERY_CHARS:
                raise InvalidArgument(f"query {query_id} is over {MAX_QUERY_CHARS} characters")
        opts = options(body.k, body.mode, body.where, body.cluster, body.metric, body.min_score, body.explain)
        results = await run(reader.search([t for _, t in items], opts), "search")
        return {"results": [{"query_id": query_id, "query": text,
                             "hits": [_hit_dict(h, text, body.highlight) for h in hits]}
                            for (query_id, text), hits in zip(items, results)],
                "took_ms": round(1000 * (time.perf_counter() - started), 2)}

    @app.get(f"{API}/facets", tags=["search"], summary="Metadata fields to filter on, with counts",
             dependencies=[read])
    async def facets():
        return {"facets": await read_call(browsing.facets)}

    # -- routes: documents -------------------------------------------------------------------
    @app.get(f"{API}/documents", tags=["documents"], summary="A page of documents", dependencies=[read])
    async def documents(offset: int = Query(0, ge=0), limit: int = Query(50, ge=1, le=1000)):
        return await read_call(lambda idx: browsing.documents_page(idx, offset, limit))

    @app.get(f"{API}/documents/{{doc_id:path}}/similar", tags=["documents"], summary="More like this",
             dependencies=[read])
    async def similar(doc_id: str, k: int = Query(10, ge=1, le=MAX_K), where: list[str] = Query([]),
                      cluster: str | None = None):
        filters = parse_where(where)

        hits = await read_call(lambda idx: idx.similar(doc_id, k, where=filters, cluster=cluster or None))
        return {"id": doc_id, "hits": [h.to_dict() for h in hits]}

    @app.get(f"{API}/documents/{{doc_id:path}}/keywords", tags=["documents"], summary="Key phrases of a document",
             dependencies=[read])
    async def document_keywords(doc_id: str, method: Literal["tfidf", "textrank", "embed"] = "tfidf",
                                n: int = Query(10, ge=1, le=100), diversity: float | None = Query(None, ge=0, le=1)):
        # tfidf is heavy too: while the writer counts a bulk load's keyword terms, a reader counts the
        # documents not counted yet in memory, which must not hold up searches.
        found = await read_call(lambda idx: idx.keywords(doc_id, method=method, n=n, diversity=diversity),
                                heavy=method != "textrank")
        return {"id": doc_id, "method": method, "keywords": [k.to_dict() for k in found]}

    @app.get(f"{API}/documents/{{doc_id:path}}", tags=["documents"], summary="One document, with chunk spans",
             dependencies=[read])
    async def get_document(doc_id: str):
        return await read_call(lambda idx: browsing.document(idx, doc_id))

    @app.post(f"{API}/documents", tags=["documents"], status_code=202, dependencies=[write],
              summary="Add or update documents (a job)")
    async def upsert(body: Upsert):
        ids = [d.id for d in body.documents]
        documents = [Document(id=d.id, text=d.text, title=d.title, metadata=d.metadata, source=d.source)
                     for d in body.documents]

        def add(idx: Index, progress):
            report = idx.add_documents(progress.count(documents)).to_dict()
            idx.count_terms()  # so the readers' tfidf key phrases find them counted
            return report

        job = writer.submit("upsert", f"add or update {len(ids)} document(s)", add, total=len(ids))
        return JSONResponse({"job": job.id, "href": f"{API}/jobs/{job.id}"}, status_code=202)

    @app.delete(f"{API}/documents/{{doc_id:path}}", tags=["documents"], dependencies=[write],
                summary="Delete a document (through the writer; waits for it)")
    async def delete_document(doc_id: str):
        job = writer.submit("delete", f"delete {doc_id}", lambda idx, _: idx.remove([doc_id]), total=1)
        await asyncio.to_thread(writer.wait, job, config.deadline_s)
        if job.finished is None:
            raise HTTPProblem(504, f"the delete is still queued behind other writes: see {API}/jobs/{job.id}")
        if job.error:
            raise HTTPProblem(job.error["status"], job.error["error"])
        if not job.result:
            raise NotFound(f"no document {doc_id!r} in the index")
        return {"deleted": doc_id, "job": job.id}

    @app.post(f"{API}/keywords", tags=["documents"], dependencies=[read],
              summary="Key phrases of a selection of documents (a read)")
    async def selection_keywords(body: Selection):
        return await read_call(lambda idx: browsing.selection_keywords(idx, body.ids, body.n), heavy=True)

    @app.get(f"{API}/topics", tags=["documents"], summary="LDA topics of the corpus", dependencies=[read])
    async def topics(n: int = Query(10, ge=1, le=100), words: int = Query(10, ge=1, le=50), seed: int = 0,
                     documents: bool = False):
        found = await read_call(lambda idx: idx.topics("lda", n, words=words, seed=seed), heavy=True)
        return {"topics": [t.to_dict(with_documents=documents) for t in found]}

    # -- routes: clusterings -----------------------------------------------------------------
    @app.get(f"{API}/clusterings", tags=["clusterings"], summary="Stored clustering runs", dependencies=[read])
    async def clusterings():
        return {"clusterings": await read_call(lambda idx: idx.clusterings())}

    @app.get(f"{API}/clusterings/{{name}}", tags=["clusterings"], dependencies=[read],
             summary="A stored run with its 2-D map (ids, titles, labels, x, y)")
    async def clustering(name: str, projection: Literal["auto", "umap", "pca"] = "auto", map: bool = True):
        return await read_call(lambda idx: browsing.clustering_view(idx, name, projection, map, map_cache), heavy=True)

    @app.post(f"{API}/clusterings", tags=["clusterings"], status_code=202, dependencies=[write],
              summary="Run a clustering and store it (a job)")
    async def run_clustering(body: ClusterRequest):
        params = body.model_dump()
        method = params.pop("method")

        def cluster(idx: Index, _):
            result = idx.cluster(method, **params)
            return {"name": result.name, "clusters": result.num_clusters, "noise": result.noise,
                    "documents": result.documents}

        job = writer.submit("cluster", f"{method} clustering", cluster)
        return JSONResponse({"job": job.id, "href": f"{API}/jobs/{job.id}"}, status_code=202)

    # -- routes: jobs ------------------------------------------------------------------------
    @app.get(f"{API}/jobs", tags=["jobs"], summary="Write jobs, newest last", dependencies=[read])
    async def jobs():
        return {"jobs": [j.to_dict() for j in writer.list()]}

    @app.get(f"{API}/jobs/{{job_id}}", tags=["jobs"], summary="A write job's state and progress",
             dependencies=[read])
    async def job(job_id: str):
        found = writer.get(job_id)
        if found is None:
            raise NotFound(f"no job {job_id!r} (finished jobs are kept while the server runs)")
        return found.to_dict()

    # -- the web page and the docs page, from the package -----------------------------------------
    static_dir = Path(str(STATIC))

    @app.get("/", include_in_schema=False)
    async def home():
        return FileResponse(static_dir / "index.html")

    @app.get(f"{API}/docs", include_in_schema=False)
    async def docs():
        return FileResponse(static_dir / "docs.html")

    @app.get("/docs", include_in_schema=False)
    async def docs_redirect():
        return RedirectResponse(f"{API}/docs")

    app.mount("/static", StaticFiles(directory=static_dir), name="static")
    return app
