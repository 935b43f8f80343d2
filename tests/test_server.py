"""`semsearch serve`: every route through the in-process client, security, parity with the CLI, concurrency."""

from __future__ import annotations

import json
import threading
import time

import httpx
import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from semsearch import Index
from semsearch.cli import cli
from semsearch.server import ServerConfig, create_app
from semsearch.server.running import BackgroundServer
from semsearch.tokens import TokenStore

from .conftest import WORDS

TOPICS = {
    "animals": "the cat and the dog ran by the river with a bird and a fish",
    "food": "bread and coffee for the city with fish and food",
    "science": "science of the vaccine and the immune cell and the virus",
    "sport": "football goal sport and the city with music",
}


def make_corpus(n: int = 40) -> list[dict]:
    docs = []
    for i in range(n):
        topic = list(TOPICS)[i % len(TOPICS)]
        extra = " ".join(WORDS[(i * 7 + j) % len(WORDS)] for j in range(12))
        docs.append({"id": f"doc-{i:03d}", "title": f"{topic} {i}", "text": f"{TOPICS[topic]} {extra}",
                     "metadata": {"topic": topic, "even": i % 2 == 0}})
    return docs


@pytest.fixture(scope="module")
def index_path(tmp_path_factory, tiny_model):
    path = tmp_path_factory.mktemp("serve") / "index"
    docs = make_corpus()
    with Index.open(path, model=tiny_model) as idx:
        idx.add([d["text"] for d in docs], ids=[d["id"] for d in docs], titles=[d["title"] for d in docs],
                metadata=[d["metadata"] for d in docs])
        idx.cluster("kmeans", k=4, name="topics")
    return path


@pytest.fixture(scope="module")
def client(index_path):
    with local_client(create_app(index_path, ServerConfig())) as test_client:
        yield test_client


def local_client(app, **options) -> TestClient:
    """The in-process client, sending the Host header of a loopback server (the allowlist's)."""
    return TestClient(app, base_url="http://127.0.0.1:8765", **options)


def cli_json(*args) -> object:
    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def error_of(response, status: int) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "status"} and body["status"] == status
    assert "Traceback" not in body["error"]
    return body["error"]


# -- status -------------------------------------------------------------------------------------
def test_health_and_info(client, index_path):
    assert client.get("/api/v1/health").json()["ready"] is True
    info = client.get("/api/v1/info").json()
    expected = cli_json("info", "-i", index_path, "--json")
    assert info["documents"] == expected["documents"] == 40
    assert info["settings"] == expected["settings"]
    assert info["server"]["read_only"] is True and info["server"]["limits"]["k"] == 100


def test_openapi_and_pages_are_served_from_the_package(client):
    spec = client.get("/api/v1/openapi.json").json()
    for route in ("/api/v1/search", "/api/v1/documents/{doc_id}", "/api/v1/clusterings/{name}",
                  "/api/v1/jobs/{job_id}"):
        assert route in spec["paths"]
    for page in ("/", "/api/v1/docs", "/static/app.js", "/static/app.css", "/static/docs.js"):
        response = client.get(page)
        assert response.status_code == 200, page
        assert "cdn" not in response.text.lower() and "https://" not in response.text
    assert client.get("/").headers["content-security-policy"].startswith("default-src 'self'")


# -- search ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["hybrid", "dense", "keyword"])
def test_search_matches_the_cli(client, index_path, mode):
    args = {"q": "the dog and the cat by the river", "k": 7, "mode": mode}
    api = client.get("/api/v1/search", params=args).json()
    cli_hits = cli_json("search", args["q"], "-i", index_path, "-k", 7, "--mode", mode, "--json")
    assert [h["id"] for h in api["hits"]] == [h["id"] for h in cli_hits]
    for mine, theirs in zip(api["hits"], cli_hits):
        assert mine["score"] == pytest.approx(theirs["score"], rel=1e-4, abs=1e-6)
        for key in ("title", "text", "metadata", "source", "chunk"):
            assert mine[key] == theirs[key]
    assert api["took_ms"] >= 0


def test_search_with_filters_matches_the_cli(client, index_path):
    api = client.get("/api/v1/search", params=[("q", "coffee bread"), ("where", "topic=food"), ("k", 20)]).json()
    cli_hits = cli_json("search", "coffee bread", "-i", index_path, "--where", "topic=food", "-k", 20, "--json")
    assert [h["id"] for h in api["hits"]] == [h["id"] for h in cli_hits]
    assert api["hits"] and all(h["metadata"]["topic"] == "food" for h in api["hits"])
    clustered = client.get("/api/v1/search", params={"q": "coffee", "cluster": "topics:0"}).json()["hits"]
    members = client.get("/api/v1/clusterings/topics", params={"projection": "pca"}).json()["map"]
    in_zero = {i for i, label in zip(members["ids"], members["labels"]) if label == 0}
    assert clustered and {h["id"] for h in clustered} <= in_zero


def test_highlights_and_explain(client):
    hits = client.get("/api/v1/search", params={"q": "Vaccines immune", "k": 5}).json()["hits"]
    assert hits
    marked = [h["text"][s:e].lower() for h in hits for s, e in h["highlights"]]
    assert marked and set(marked) <= {"vaccine", "vaccines", "immune"}
    for hit in hits:
        explain = hit["explain"]
        assert explain["fused"] == pytest.approx(hit["score"])
        # Hybrid is a convex combination: the mean of the two sides' min-max normalised scores.
        assert explain["fusion"] == "convex"
        sides = [explain["dense"]["normalised"], explain["keyword"]["normalised"]]
        assert all(0.0 <= v <= 1.0 for v in sides)
        assert explain["fused"] == pytest.approx(sum(sides) / 2)
    dense = client.get("/api/v1/search", params={"q": "vaccine", "mode": "dense"}).json()["hits"]
    assert [h["explain"]["dense"]["rank"] for h in dense] == list(range(1, len(dense) + 1))
    assert all(h["explain"]["dense"]["score"] == pytest.approx(h["score"]) for h in dense)
    keyword = client.get("/api/v1/search", params={"q": "vaccine", "mode": "keyword"}).json()["hits"]
    assert all(h["explain"]["keyword"]["bm25"] == pytest.approx(h["score"]) for h in keyword)
    plain = client.get("/api/v1/search", params={"q": "vaccine", "explain": "false", "highlight": "false"}).json()
    assert all(h["explain"] is None and h["highlights"] == [] for h in plain["hits"])


def test_batch_search_is_the_same_as_single_searches(client):
    body = {"queries": ["river dog", {"id": "q2", "text": "coffee bread"}], "k": 5, "mode": "hybrid"}
    result = client.post("/api/v1/search", json=body).json()["results"]
    assert [r["query_id"] for r in result] == ["1", "q2"]
    for item in result:
        single = client.get("/api/v1/search", params={"q": item["query"], "k": 5}).json()["hits"]
        assert [h["id"] for h in item["hits"]] == [h["id"] for h in single]


def test_caps_and_bad_arguments(client):
    assert "k" in error_of(client.get("/api/v1/search", params={"q": "x", "k": 101}), 400)
    error_of(client.get("/api/v1/search", params={"q": "x" * 10_001}), 400)
    error_of(client.get("/api/v1/search", params={"q": "x", "mode": "fuzzy"}), 400)
    assert "FIELD=VALUE" in error_of(client.get("/api/v1/search", params={"q": "x", "where": "topic"}), 400)
    error_of(client.get("/api/v1/search"), 400)
    error_of(client.post("/api/v1/search", json={"queries": ["q"] * 65}), 400)
    error_of(client.post("/api/v1/search", json={"queries": []}), 400)
    error_of(client.post("/api/v1/search", content=b"{not json", headers={"content-type": "application/json"}), 400)
    assert "no clustering" in error_of(client.get("/api/v1/search", params={"q": "x", "cluster": "nope:1"}), 404)
    assert "NAME:LABEL" in error_of(client.get("/api/v1/search", params={"q": "x", "cluster": "nope"}), 400)
    error_of(client.get("/api/v1/nothing-here"), 404)


# -- documents, keywords, topics, facets, clusterings -----------------------------------------------------
def test_documents_routes(client):
    page = client.get("/api/v1/documents", params={"offset": 5, "limit": 10}).json()
    assert page["total"] == 40 and len(page["documents"]) == 10 and page["documents"][0]["id"] == "doc-005"
    error_of(client.get("/api/v1/documents", params={"limit": 0}), 400)
    doc = client.get("/api/v1/documents/doc-003").json()
    assert doc["id"] == "doc-003" and doc["text"] and doc["chunk_spans"][0]["start"] == 0
    assert "no document 'nope'" in error_of(client.get("/api/v1/documents/nope"), 404)
    similar = client.get("/api/v1/documents/doc-003/similar", params={"k": 3}).json()["hits"]
    assert len(similar) == 3 and "doc-003" not in [h["id"] for h in similar]
    error_of(client.get("/api/v1/documents/nope/similar"), 404)
    keywords = client.get("/api/v1/documents/doc-003/keywords", params={"n": 4}).json()["keywords"]
    assert 0 < len(keywords) <= 4 and {"phrase", "score"} <= set(keywords[0])
    error_of(client.get("/api/v1/documents/nope/keywords"), 404)
    selection = client.post("/api/v1/keywords", json={"ids": ["doc-002", "doc-006"], "n": 5}).json()
    assert selection["documents"] == 2 and selection["keywords"]
    error_of(client.post("/api/v1/keywords", json={"ids": ["nope"]}), 404)


def test_document_ids_with_slashes(index_path, tmp_path, tiny_model):
    path = tmp_path / "slashes"
    with Index.open(path, model=tiny_model) as idx:
        idx.add(["a cat on a mat", "a dog in a river"], ids=["notes/a.md", "notes/b.md"])
    with local_client(create_app(path, ServerConfig(query_backend="torch"))) as c:
        assert c.get("/api/v1/documents/notes/a.md").json()["id"] == "notes/a.md"
        assert c.get("/api/v1/documents/notes%2Fb.md").json()["id"] == "notes/b.md"
        assert c.get("/api/v1/documents/notes/a.md/similar").json()["hits"][0]["id"] == "notes/b.md"


def test_topics_facets_clusterings(client):
    topics = client.get("/api/v1/topics", params={"n": 3, "words": 4}).json()["topics"]
    assert len(topics) == 3 and len(topics[0]["words"]) == 4
    facets = {f["field"]: f for f in client.get("/api/v1/facets").json()["facets"]}
    assert {v["value"]: v["count"] for v in facets["topic"]["values"]} == {t: 10 for t in TOPICS}
    assert {v["value"] for v in facets["even"]["values"]} == {"true", "false"}
    runs = client.get("/api/v1/clusterings").json()["clusterings"]
    assert [r["name"] for r in runs] == ["topics"]
    run = client.get("/api/v1/clusterings/topics", params={"projection": "pca"}).json()
    points = run["map"]
    assert points["points"] == 40 and len(points["x"]) == len(points["y"]) == len(points["ids"]) == 40
    assert all(0 <= v <= 1 for v in points["x"] + points["y"])
    assert sorted(set(points["labels"])) == [c["label"] for c in run["clusters"]]
    assert "no clustering named 'nope'" in error_of(client.get("/api/v1/clusterings/nope"), 404)


# -- security ------------------------------------------------------------------------------------
def test_without_tokens_reads_are_open_and_writes_refused(client):
    assert client.get("/api/v1/search", params={"q": "cat"}).status_code == 200
    assert "tokens create" in error_of(client.post("/api/v1/documents", json={"documents": [{"id": "x", "text": "y"}]}),
                                       401)
    error_of(client.delete("/api/v1/documents/doc-001"), 401)
    error_of(client.post("/api/v1/clusterings", json={"method": "kmeans", "k": 2}), 401)


@pytest.fixture
def secured(tmp_path, tiny_model):
    """An index with a read and a write token, served by its own app."""
    path = tmp_path / "secured"
    docs = make_corpus(12)
    with Index.open(path, model=tiny_model) as idx:
        idx.add([d["text"] for d in docs], ids=[d["id"] for d in docs], titles=[d["title"] for d in docs])
    with TokenStore(path / "index.db") as store:
        _, read = store.create("read", name="reader")
        _, write = store.create("write", name="writer")
    return path, read, write


def test_token_scopes(secured):
    path, read, write = secured
    with local_client(create_app(path, ServerConfig(query_backend="torch"))) as c:
        assert c.get("/api/v1/health").status_code == 200  # always open
        assert "token" in error_of(c.get("/api/v1/search", params={"q": "cat"}), 401)
        assert c.get("/api/v1/search", params={"q": "cat"}).headers["www-authenticate"] == "Bearer"
        error_of(c.get("/api/v1/info", headers={"Authorization": "Bearer ss_wrong"}), 401)
        error_of(c.get("/api/v1/info", headers={"Authorization": f"Basic {read}"}), 401)
        as_reader = {"Authorization": f"Bearer {read}"}
        assert c.get("/api/v1/search", params={"q": "cat"}, headers=as_reader).status_code == 200
        # A batch search is a POST but a read: allowed with a read token.
        assert c.post("/api/v1/search", json={"queries": ["cat"]}, headers=as_reader).status_code == 200
        body = {"documents": [{"id": "new", "text": "a brand new fish"}]}
        assert "scope is read" in error_of(c.post("/api/v1/documents", json=body, headers=as_reader), 403)
        error_of(c.delete("/api/v1/documents/doc-001", headers=as_reader), 403)
        error_of(c.post("/api/v1/clusterings", json={"k": 2}, headers=as_reader), 403)
        accepted = c.post("/api/v1/documents", json=body, headers={"Authorization": f"Bearer {write}"})
        assert accepted.status_code == 202
        c.app.state.writer.wait_idle(60)
        job = c.get(f"/api/v1/jobs/{accepted.json()['job']}", headers=as_reader).json()
        assert job["state"] == "done" and job["result"]["added"] == 1 and job["progress"]["done"] == 1
        assert c.get("/api/v1/documents/new", headers=as_reader).json()["text"] == "a brand new fish"
        with TokenStore(path / "index.db") as store:
            store.revoke(read[:11])
        assert "revoked" in error_of(c.get("/api/v1/info", headers=as_reader), 401)
    with local_client(create_app(path, ServerConfig(query_backend="torch", public=True))) as c:
        assert c.get("/api/v1/search", params={"q": "cat"}).status_code == 200  # --public: reads open
        error_of(c.post("/api/v1/documents", json=body), 401)  # ... writes are not


def test_host_body_and_rate_limits(secured):
    path, read, write = secured
    config = ServerConfig(query_backend="torch", public=True, rate=2, burst=3, max_body=1_000_000)
    with local_client(create_app(path, config)) as c:
        assert "Host" in error_of(c.get("/api/v1/health", headers={"Host": "evil.example:8765"}), 400)
        assert c.get("/api/v1/health", headers={"Host": "127.0.0.1:8765"}).status_code == 200
        big = {"documents": [{"id": "big", "text": "x" * 1_100_000}]}
        error_of(c.post("/api/v1/documents", json=big, headers={"Authorization": f"Bearer {write}"}), 413)
        statuses = [c.get("/api/v1/info").status_code for _ in range(6)]
        assert 429 in statuses
        limited = c.get("/api/v1/info")
        error_of(limited, 429)
        assert int(limited.headers["retry-after"]) >= 1
        assert c.get("/api/v1/health").status_code == 200  # health is never limited
    with local_client(create_app(path, ServerConfig(query_backend="torch", cors=("http://app.example",)))) as c:
        preflight = c.options("/api/v1/search", headers={"Origin": "http://app.example",
                                                         "Access-Control-Request-Method": "GET"})
        assert preflight.headers["access-control-allow-origin"] == "http://app.example"
    with local_client(create_app(path, ServerConfig(query_backend="torch"))) as c:
        response = c.get("/api/v1/health", headers={"Origin": "http://app.example"})
        assert "access-control-allow-origin" not in response.headers  # CORS is off by default


def test_serve_refuses_a_public_bind_without_tokens(index_path):
    result = CliRunner().invoke(cli, ["serve", "-i", str(index_path), "--host", "0.0.0.0"])
    assert result.exit_code == 1 and "refusing to serve on 0.0.0.0" in result.output


def test_tokens_cli(tmp_path, tiny_model):
    path = tmp_path / "tok"
    with Index.open(path, model=tiny_model) as idx:
        idx.add(["one text"], ids=["a"])
    runner = CliRunner()
    created = runner.invoke(cli, ["tokens", "create", "-i", str(path), "--scope", "write", "--expires", "7d",
                                  "--name", "ci"])
    assert created.exit_code == 0, created.output
    secret = created.stdout.strip().splitlines()[-1]
    assert secret.startswith("ss_") and len(secret) > 40
    with TokenStore(path / "index.db") as store:
        assert store.verify(secret).scope == "write"
        stored = store._conn.execute("SELECT group_concat(hash) FROM tokens").fetchone()[0]
    assert secret not in stored and secret not in (path / "index.db").read_bytes().decode("latin-1")
    listed = json.loads(runner.invoke(cli, ["tokens", "list", "-i", str(path), "--json"]).stdout)
    assert listed[0]["name"] == "ci" and listed[0]["active"] and "token" not in listed[0]
    assert runner.invoke(cli, ["tokens", "revoke", listed[0]["prefix"], "-i", str(path)]).exit_code == 0
    with TokenStore(path / "index.db") as store:
        assert store.verify(secret) is None
    bad = runner.invoke(cli, ["tokens", "create", "-i", str(path), "--expires", "yesterday"])
    assert bad.exit_code == 1 and "not a duration" in bad.output
    for args in (["serve", "--help"], ["tokens", "create", "--help"], ["tokens", "--help"]):
        result = runner.invoke(cli, args)
        assert result.exit_code == 0 and "Example" in result.output


# -- writes and concurrency ----------------------------------------------------------------------
def test_writes_and_clustering_jobs(secured):
    path, _, write = secured
    auth = {"Authorization": f"Bearer {write}"}
    with local_client(create_app(path, ServerConfig(query_backend="torch")), headers=auth) as c:
        job = c.post("/api/v1/clusterings", json={"method": "kmeans", "k": 2, "name": "two"}, headers=auth).json()
        c.app.state.writer.wait_idle(120)
        done = c.get(f"/api/v1/jobs/{job['job']}").json()
        assert done["state"] == "done" and done["result"]["name"] == "two"
        assert [r["name"] for r in c.get("/api/v1/clusterings").json()["clusterings"]] == ["two"]
        bad = c.post("/api/v1/clusterings", json={"method": "kmeans", "k": 999}, headers=auth).json()
        c.app.state.writer.wait_idle(60)
        failed = c.get(f"/api/v1/jobs/{bad['job']}").json()
        assert failed["state"] == "failed" and failed["error"]["status"] == 400
        assert c.delete("/api/v1/documents/doc-001", headers=auth).json()["deleted"] == "doc-001"
        error_of(c.get("/api/v1/documents/doc-001"), 404)
        error_of(c.delete("/api/v1/documents/doc-001", headers=auth), 404)
        jobs = c.get("/api/v1/jobs").json()["jobs"]
        assert [j["kind"] for j in jobs][:3] == ["count-terms", "cluster", "cluster"]
        # The writer counted the keyword terms the CLI's ingest left (the first job), not a reader.
        assert jobs[0]["state"] == "done" and jobs[0]["result"] > 0
        assert c.get("/api/v1/info").json()["keyword_terms_pending"] == 0
        upsert = c.post("/api/v1/documents", json={"documents": [{"id": "new-1", "text": "fresh words here"}]},
                        headers=auth).json()
        c.app.state.writer.wait_idle(60)
        assert c.get(f"/api/v1/jobs/{upsert['job']}").json()["state"] == "done"
        assert c.get("/api/v1/info").json()["keyword_terms_pending"] == 0  # counted by the upsert's job
        found = c.get("/api/v1/documents/new-1/keywords").json()
        assert found["method"] == "tfidf" and "fresh words" in [k["phrase"] for k in found["keywords"]]
        error_of(c.get("/api/v1/jobs/nope"), 404)


def test_a_locked_index_fails_the_job_with_423(secured):
    from semsearch.index import LOCK_FILE
    from semsearch.locking import WriterLock

    path, _, write = secured
    auth = {"Authorization": f"Bearer {write}"}
    with local_client(create_app(path, ServerConfig(query_backend="torch")), headers=auth) as c:
        assert c.app.state.writer.wait_idle(60)  # its start-up job (counting keyword terms) holds the lock
        with WriterLock(path / LOCK_FILE):
            job = c.post("/api/v1/documents", json={"documents": [{"id": "z", "text": "zebra"}]},
                         headers={"Authorization": f"Bearer {write}"}).json()
            c.app.state.writer.wait_idle(60)
        failed = c.get(f"/api/v1/jobs/{job['job']}").json()
        assert failed["state"] == "failed" and failed["error"]["status"] == 423


def test_searches_during_a_write_job_see_committed_states(secured):
    """Many clients search over real HTTP while a job adds documents: no errors, nothing half-written."""
    path, _, write = secured
    new = [{"id": f"zz-{i:04d}", "text": f"zebra giraffe {' '.join(WORDS[i % 20:i % 20 + 30])}"} for i in range(600)]
    app = create_app(path, ServerConfig(query_backend="torch", rate=0))
    with BackgroundServer(app) as server:
        base = server.url
        auth = {"Authorization": f"Bearer {write}"}
        job = httpx.post(f"{base}/api/v1/documents", json={"documents": new}, headers=auth).json()["job"]
        answers, errors, during = [], [], []
        stop = threading.Event()

        def client_loop():
            with httpx.Client(base_url=base, timeout=60, headers=auth) as http:
                while not stop.is_set():
                    response = http.get("/api/v1/search", params={"q": "zebra giraffe", "k": 100, "mode": "keyword"})
                    if response.status_code != 200:
                        errors.append(response.text)
                        continue
                    ids = {h["id"] for h in response.json()["hits"]}
                    answers.append(ids)
                    state = http.get(f"/api/v1/jobs/{job}").json()["state"]
                    if state == "running":
                        during.append(len(ids))

        threads = [threading.Thread(target=client_loop) for _ in range(8)]
        for t in threads:
            t.start()
        app.state.writer.wait_idle(300)
        time.sleep(0.3)
        stop.set()
        for t in threads:
            t.join()
        final = httpx.get(f"{base}/api/v1/jobs/{job}", headers=auth).json()
        count = httpx.get(f"{base}/api/v1/info", headers=auth).json()["documents"]
    assert not errors
    assert final["state"] == "done" and final["result"]["added"] == 600 and count == 12 + 600  # no lost writes
    assert during, "no search was answered while the job ran"
    # Every answer holds whole commits: a hit is a document that was committed (all its text).
    assert all(ids <= {d["id"] for d in new} for ids in answers)
    assert max(len(a) for a in answers) == 100


def test_concurrent_searches_are_micro_batched(index_path):
    app = create_app(index_path, ServerConfig(query_backend="torch", batch_window_ms=50, rate=0))
    with BackgroundServer(app) as server:
        reader = app.state.reader
        before_batches, before_searches = reader.batches, reader.searches
        barrier = threading.Barrier(16)
        results: dict[int, list[str]] = {}

        def one(i: int):
            barrier.wait()
            response = httpx.get(f"{server.url}/api/v1/search", params={"q": f"{WORDS[i + 20]} river", "k": 5})
            results[i] = [h["id"] for h in response.json()["hits"]]

        threads = [threading.Thread(target=one, args=(i,)) for i in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        searches, batches = reader.searches - before_searches, reader.batches - before_batches
        alone = {i: [h["id"] for h in httpx.get(f"{server.url}/api/v1/search",
                                                 params={"q": f"{WORDS[i + 20]} river", "k": 5}).json()["hits"]]
                 for i in range(16)}
    assert searches == 16 and batches < 16
    assert results == alone  # batched answers are the answers each query gets alone


def test_a_full_queue_answers_503_and_a_slow_request_504(index_path):
    from semsearch.server.batching import Overloaded, ReadWorker

    release = threading.Event()
    worker = ReadWorker(lambda: None, max_queue=1)
    worker.start()
    try:
        worker.call(lambda _: release.wait(30))  # taken by the thread, which now blocks
        time.sleep(0.2)
        worker.call(lambda _: None)  # fills the queue
        with pytest.raises(Overloaded):
            worker.call(lambda _: None)
    finally:
        release.set()
        worker.stop()
    config = ServerConfig(query_backend="torch", deadline_s=0.3)
    with local_client(create_app(index_path, config)) as c:
        blocked = threading.Event()
        c.app.state.slow.call(lambda _: blocked.wait(30))  # the slow-read thread is busy
        try:
            assert "longer than 0.3s" in error_of(c.get("/api/v1/topics"), 504)
            assert c.get("/api/v1/search", params={"q": "cat"}).status_code == 200  # searches are not held up
        finally:
            blocked.set()
