"""Load on `semsearch serve`: throughput and latency at 1 / 4 / 16 clients, batching on and off, during an ingest.

Bounded and local: the server is started here, as a subprocess, on 127.0.0.1 only;
each level sends a fixed number of requests, then stops.  The baseline is the
library's own single-query latency (``Index.search``, ONNX Runtime query path, the
same index and queries), measured in the same run.

Levels:
- ``library``: ``Index.search`` one query at a time, in this process (the baseline).
- ``batching on`` / ``batching off``: GET /api/v1/search (hybrid, k=10, explain and
  highlights on) from 1, 4 and 16 concurrent clients (threads, one HTTP connection each).
- ``during ingest``: 16 clients while a write job adds ``--ingest`` documents; after
  it, the document count is checked (zero lost writes).

Targets (issue 11): zero errors; p50 at 1 client within 2x of the library's; throughput
at 16 clients >= 3x that at 1 client.

Usage:  python bench/serve_load.py [--docs 1000] [--requests 160] [--ingest 300] [--json out.json]
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
from common import HERE, add_repo_to_path, corpus_texts, percentile, table, write_results

add_repo_to_path()
from semsearch import Index  # noqa: E402
from semsearch.tokens import TokenStore  # noqa: E402

HOST = "127.0.0.1"  # never anything else: this is a load generator


def queries(limit: int) -> list[str]:
    from common import SCIFACT

    path = SCIFACT / "queries.jsonl"
    if path.exists():
        import json

        with open(path) as handle:
            return [json.loads(line)["text"] for line, _ in zip(handle, range(limit))]
    return [f"effect of treatment {i} on immune response and survival" for i in range(limit)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


class Server:
    """`semsearch serve` in a subprocess on 127.0.0.1."""

    def __init__(self, index: Path, batching: bool) -> None:
        self.port = free_port()
        env = {**os.environ, "PYTHONPATH": str(HERE.parent)}
        args = [sys.executable, "-m", "semsearch", "serve", "-i", str(index), "--host", HOST,
                "--port", str(self.port), "--rate", "0", "--batching" if batching else "--no-batching"]
        self.process = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.url = f"http://{HOST}:{self.port}"
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("the server exited: " + self.process.stderr.read().decode()[-2000:])
            try:
                if httpx.get(self.url + "/api/v1/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise RuntimeError("the server did not become ready")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=60)


def load(url: str, token: str, texts: list[str], clients: int, total: int) -> dict:
    """``total`` requests shared by ``clients`` threads; latency of each, wall time of all."""
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    counter = iter(range(total))
    barrier = threading.Barrier(clients)

    def client() -> None:
        with httpx.Client(base_url=url, timeout=120, headers={"Authorization": f"Bearer {token}"}) as http:
            barrier.wait()
            while True:
                with lock:
                    i = next(counter, None)
                if i is None:
                    return
                started = time.perf_counter()
                try:
                    response = http.get("/api/v1/search", params={"q": texts[i % len(texts)], "k": 10})
                    ok = response.status_code == 200
                    problem = None if ok else f"{response.status_code} {response.text[:100]}"
                except httpx.HTTPError as exc:
                    problem = repr(exc)
                elapsed = time.perf_counter() - started
                with lock:
                    if problem:
                        errors.append(problem)
                    else:
                        latencies.append(elapsed)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    ms = {f"p{q}_ms": round(1000 * percentile(latencies, q / 100), 2) for q in (50, 95, 99)}
    return {"clients": clients, "requests": total, "errors": len(errors), "error_samples": errors[:3],
            "throughput_qps": round(len(latencies) / wall, 2), **ms}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=1000, help="documents in the index")
    parser.add_argument("--requests", type=int, default=160, help="requests per level")
    parser.add_argument("--ingest", type=int, default=300, help="documents added by the write job")
    parser.add_argument("--levels", default="1,4,16")
    parser.add_argument("--work", type=Path, help="keep the index here (default: a temporary directory)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    levels = [int(x) for x in args.levels.split(",")]
    texts, source = corpus_texts(args.docs + args.ingest)
    base, extra = texts[: args.docs], texts[args.docs :]
    qs = queries(max(args.requests, 50))
    with tempfile.TemporaryDirectory() as tmp:
        path = (args.work or Path(tmp)) / "serve-load-index"
        with Index.open(path) as idx:
            if idx.counts()["documents"] < len(base):
                print(f"indexing {len(base)} documents of the {source} ...", flush=True)
                idx.add(base, ids=[f"d{i}" for i in range(len(base))])
        with TokenStore(path / "index.db") as store:
            _, token = store.create("write", name="serve_load bench", expires="1d")

        # Baseline: the library, one query at a time, the server's query path (ONNX Runtime).
        with Index.open(path, create=False, query_backend="onnx") as idx:
            for q in qs[:5]:
                idx.search(q, 10, explain=True)
            latencies = []
            for q in qs[: args.requests]:
                started = time.perf_counter()
                idx.search(q, 10, explain=True)
                latencies.append(time.perf_counter() - started)
        library = {"p50_ms": round(1000 * percentile(latencies, 0.5), 2),
                   "p95_ms": round(1000 * percentile(latencies, 0.95), 2),
                   "p99_ms": round(1000 * percentile(latencies, 0.99), 2),
                   "throughput_qps": round(len(latencies) / sum(latencies), 2)}
        results: dict = {"corpus": source, "documents": len(base), "library": library, "runs": []}
        for batching in (True, False):
            server = Server(path, batching)
            try:
                load(server.url, token, qs, 4, 20)  # warm the connections and the threads
                for clients in levels:
                    row = load(server.url, token, qs, clients, args.requests)
                    row["setting"] = "batching on" if batching else "batching off"
                    results["runs"].append(row)
                    print(row, flush=True)
                if batching and args.ingest:
                    auth = {"Authorization": f"Bearer {token}"}
                    before = httpx.get(server.url + "/api/v1/info", headers=auth).json()["documents"]
                    run_id = int(time.time())  # new ids each run: a re-run adds documents too
                    body = {"documents": [{"id": f"new-{run_id}-{i}", "text": t} for i, t in enumerate(extra)]}
                    job = httpx.post(server.url + "/api/v1/documents", json=body, headers=auth, timeout=120).json()
                    row = load(server.url, token, qs, max(levels), args.requests)
                    state = httpx.get(server.url + f"/api/v1/jobs/{job['job']}", headers=auth).json()
                    row["job_state_at_end"] = state["state"]
                    while state["state"] in ("queued", "running"):
                        time.sleep(0.5)
                        state = httpx.get(server.url + f"/api/v1/jobs/{job['job']}", headers=auth).json()
                    after = httpx.get(server.url + "/api/v1/info", headers=auth).json()["documents"]
                    row.update(setting="during ingest", job=state["state"], lost_writes=before + len(extra) - after)
                    results["runs"].append(row)
                    print(row, flush=True)
            finally:
                server.stop()
    one = next(r for r in results["runs"] if r["setting"] == "batching on" and r["clients"] == min(levels))
    top = next(r for r in results["runs"] if r["setting"] == "batching on" and r["clients"] == max(levels))
    results["targets"] = {
        "p50_1_client_over_library": round(one["p50_ms"] / library["p50_ms"], 2),
        "throughput_16_over_1": round(top["throughput_qps"] / one["throughput_qps"], 2),
        "errors": sum(r["errors"] for r in results["runs"]),
    }
    rows = [["library (baseline)", 1, "-", library["throughput_qps"], library["p50_ms"], library["p95_ms"],
             library["p99_ms"], 0]]
    rows += [[r["setting"], r["clients"], r["requests"], r["throughput_qps"], r["p50_ms"], r["p95_ms"], r["p99_ms"],
              r["errors"]] for r in results["runs"]]
    print(f"\n{len(base)} documents ({source}); hybrid k=10 with explain and highlights\n")
    print(table(rows, ["setting", "clients", "requests", "req/s", "p50 ms", "p95 ms", "p99 ms", "errors"]))
    print(f"\np50 at 1 client / library p50: {results['targets']['p50_1_client_over_library']}x (target <= 2x); "
          f"throughput 16 / 1 clients: {results['targets']['throughput_16_over_1']}x (target >= 3x); "
          f"errors: {results['targets']['errors']}")
    out = write_results("serve_load", results)
    if args.json:
        args.json.write_text(out.read_text())


if __name__ == "__main__":
    main()
