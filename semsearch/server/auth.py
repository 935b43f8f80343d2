"""Who may do what: bearer tokens and scopes, the Host allowlist, body size and rate limits.

The rules (README, "Serving"):

- ``/api/v1/health`` is always open.
- With no active token in the index, a loopback server serves reads to anyone on the
  machine and refuses every write (401: create a write token).
- With tokens, every route needs one (401 without, 403 with too small a scope),
  except reads on a ``--public`` server.
- The ``Host`` header must name this server (DNS rebinding: a web page on another
  origin that resolves its own name to 127.0.0.1 sends its own name as Host).
"""

from __future__ import annotations

import ipaddress
import json
import math
import threading
import time
from dataclasses import dataclass

from ..errors import SemsearchError
from ..tokens import Token, TokenStore


class HTTPProblem(SemsearchError):
    """An error with its own HTTP status (401, 403, 413, 429, ...), shown as JSON like the rest."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.http_status = status
        self.headers = headers or {}


def is_loopback(host: str) -> bool:
    if host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def allowed_hosts(bind_host: str, extra: tuple[str, ...] = ()) -> set[str]:
    """Host names (no port) a request may carry: loopback names, the bound address, and ``extra``."""
    hosts = {"localhost", "127.0.0.1", "[::1]", "::1"}
    if bind_host not in ("0.0.0.0", "::", ""):
        hosts.add(bind_host.lower())
        if ":" in bind_host and not bind_host.startswith("["):
            hosts.add(f"[{bind_host.lower()}]")
    hosts.update(h.lower() for h in extra)
    return hosts


def host_name(header: str) -> str:
    """The Host header without its port (``[::1]:8765`` -> ``[::1]``)."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[: header.index("]") + 1] if "]" in header else header
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


@dataclass
class AccessPolicy:
    tokens: TokenStore
    public: bool = False

    def check(self, authorization: str | None, scope: str) -> Token | None:
        """The caller's token (None when anonymous and allowed); raises 401/403 otherwise."""
        if authorization:
            kind, _, secret = authorization.partition(" ")
            if kind.lower() != "bearer" or not secret.strip():
                raise HTTPProblem(401, "the Authorization header must be 'Bearer TOKEN'",
                                  {"WWW-Authenticate": "Bearer"})
            token = self.tokens.verify(secret.strip())
            if token is None:
                raise HTTPProblem(401, "this token is unknown, expired or revoked", {"WWW-Authenticate": "Bearer"})
            if not token.allows(scope):
                raise HTTPProblem(403, f"this token's scope is {token.scope}; this needs {scope}")
            return token
        if scope == "read" and (self.public or not self.tokens.any_active()):
            return None
        if scope == "read":
            raise HTTPProblem(401, "a token is needed: send 'Authorization: Bearer TOKEN' "
                              "(`semsearch tokens create --scope read`)", {"WWW-Authenticate": "Bearer"})
        raise HTTPProblem(401, f"writes need a token with the {scope} scope: create one with "
                          f"`semsearch tokens create --scope {scope}` and send 'Authorization: Bearer TOKEN'",
                          {"WWW-Authenticate": "Bearer"})


class RateLimiter:
    """A token bucket per client: ``rate`` requests a second on average, bursts of ``burst``."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = burst
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, client: str) -> float:
        """0 if the request may go ahead, else the seconds to wait."""
        if self.rate <= 0:
            return 0.0
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(client, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.rate)
            if tokens >= 1.0:
                self._buckets[client] = (tokens - 1.0, now)
                return 0.0
            self._buckets[client] = (tokens, now)
            if len(self._buckets) > 10_000:  # forget idle clients rather than grow without bound
                self._buckets = {k: v for k, v in self._buckets.items() if now - v[1] < 60}
            return (1.0 - tokens) / self.rate


def json_response_bytes(status: int, message: str) -> bytes:
    return json.dumps({"error": message, "status": status}).encode()


class GuardMiddleware:
    """Pure ASGI: Host allowlist (400), body cap (413), rate limit (429 + Retry-After).

    Runs before routing and before the body is read, so an oversized or flooding
    client costs almost nothing.
    """

    def __init__(self, app, *, hosts: set[str], max_body: int, limiter: RateLimiter) -> None:
        self.app = app
        self.hosts = hosts
        self.max_body = max_body
        self.limiter = limiter

    async def _reject(self, send, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        body = json_response_bytes(status, message)
        raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
        await send({"type": "http.response.start", "status": status, "headers": raw})
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        host = host_name(headers.get("host", ""))
        if host not in self.hosts:
            return await self._reject(send, 400, f"unknown Host {headers.get('host', '')!r}: this server answers "
                                      "to its own address only (start it with --allow-host NAME to add one)")
        length = headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body):
            return await self._reject(send, 413, f"the request body is over the {self.max_body // 1_000_000} MB limit")
        if scope.get("path") != "/api/v1/health":
            client = headers.get("authorization") or (scope.get("client") or ("?",))[0]
            wait = self.limiter.take(client)
            if wait > 0:
                return await self._reject(send, 429, "too many requests: slow down",
                                          {"Retry-After": str(max(1, math.ceil(wait)))})
        received = 0
        limit = self.max_body

        async def capped_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise HTTPProblem(413, f"the request body is over the {limit // 1_000_000} MB limit")
            return message

        return await self.app(scope, capped_receive, send)
