"""API tokens of an index: created once, shown once, stored only as a SHA-256 hash.

The ``tokens`` table lives in the index database (created on first use, so the
index format does not change).  A token is ``ss_`` + 43 URL-safe characters
(256 random bits); its first 11 characters are kept in the clear as a *prefix*
so that ``semsearch tokens list`` can tell tokens apart and ``revoke`` can name
one, without the table ever holding enough to use it.

Scopes are ordered: ``read`` < ``write`` < ``admin``; a token may do what its
scope and every scope below it allow.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import sqlite3
import threading
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from .errors import InvalidArgument, NotFound

SCOPES = ("read", "write", "admin")
PREFIX = "ss_"
PREFIX_CHARS = 11  # "ss_" + 8 characters: enough to tell tokens apart, far too few to guess the rest

SCHEMA = """
CREATE TABLE IF NOT EXISTS tokens (
    id INTEGER PRIMARY KEY,
    prefix TEXT NOT NULL,
    hash TEXT NOT NULL UNIQUE,
    scope TEXT NOT NULL,
    name TEXT,
    created TEXT NOT NULL,
    expires TEXT,
    revoked TEXT
)
"""
_DURATION = re.compile(r"^(\d+)\s*([dhm])$")


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0)


def parse_expiry(value: str | None, now: datetime | None = None) -> datetime | None:
    """``30d``, ``12h``, ``45m``, an ISO date or time (UTC if no zone), or ``never``/None."""
    if value is None or str(value).strip().lower() in ("", "never"):
        return None
    now = now or _now()
    text = str(value).strip().lower()
    match = _DURATION.match(text)
    if match:
        amount, unit = int(match.group(1)), match.group(2)
        if amount < 1:
            raise InvalidArgument(f"expiry {value!r} must be in the future")
        return now + {"d": timedelta(days=amount), "h": timedelta(hours=amount), "m": timedelta(minutes=amount)}[unit]
    try:
        when = datetime.fromisoformat(str(value).strip())
    except ValueError:
        raise InvalidArgument(
            f"expiry {value!r} is not a duration (30d, 12h, 45m), an ISO date (2027-01-31) or 'never'"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    if when <= now:
        raise InvalidArgument(f"expiry {value!r} is in the past")
    return when


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass
class Token:
    """A stored token (never its secret)."""

    id: int
    prefix: str
    scope: str
    name: str | None
    created: str
    expires: str | None
    revoked: str | None

    @property
    def active(self) -> bool:
        if self.revoked:
            return False
        return self.expires is None or datetime.fromisoformat(self.expires) > _now()

    def allows(self, scope: str) -> bool:
        return SCOPES.index(self.scope) >= SCOPES.index(scope)

    def to_dict(self) -> dict:
        return {**asdict(self), "active": self.active}


class TokenStore:
    """The ``tokens`` table of one index database; safe to share between threads."""

    def __init__(self, db_path: str | Path) -> None:
        path = Path(db_path)
        if not path.exists():
            raise NotFound(f"no index database at {path}")
        self._conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False, timeout=30)
        self._conn.execute("PRAGMA busy_timeout = 30000")
        self._lock = threading.Lock()
        with self._lock:
            self._conn.execute(SCHEMA)

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> TokenStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    _COLUMNS = "id, prefix, scope, name, created, expires, revoked"

    def create(self, scope: str = "read", *, name: str | None = None, expires: str | None = None) -> tuple[Token, str]:
        """A new token: ``(its record, the secret)``.  The secret is not kept; show it once."""
        if scope not in SCOPES:
            raise InvalidArgument(f"unknown scope {scope!r}: use one of {', '.join(SCOPES)}")
        when = parse_expiry(expires)
        secret = PREFIX + secrets.token_urlsafe(32)
        with self._lock:
            cursor = self._conn.execute(
                "INSERT INTO tokens(prefix, hash, scope, name, created, expires) VALUES (?, ?, ?, ?, ?, ?)",
                (secret[:PREFIX_CHARS], hash_token(secret), scope, name, _now().isoformat(),
                 when.isoformat() if when else None),
            )
            token_id = cursor.lastrowid
        return self.get(token_id), secret

    def get(self, token_id: int) -> Token:
        with self._lock:
            row = self._conn.execute(f"SELECT {self._COLUMNS} FROM tokens WHERE id = ?", (token_id,)).fetchone()
        if row is None:
            raise NotFound(f"no token {token_id}")
        return Token(*row)

    def list(self) -> list[Token]:
        with self._lock:
            rows = self._conn.execute(f"SELECT {self._COLUMNS} FROM tokens ORDER BY id").fetchall()
        return [Token(*row) for row in rows]

    def revoke(self, which: str | int) -> Token:
        """Revoke by id or by prefix (as ``tokens list`` shows them)."""
        text = str(which).strip()
        with self._lock:
            if text.isdigit():
                rows = self._conn.execute("SELECT id FROM tokens WHERE id = ?", (int(text),)).fetchall()
            else:
                rows = self._conn.execute("SELECT id FROM tokens WHERE prefix = ?", (text[:PREFIX_CHARS],)).fetchall()
            if not rows:
                raise NotFound(f"no token {text!r}: `semsearch tokens list` shows their ids and prefixes")
            if len(rows) > 1:
                raise InvalidArgument(f"{len(rows)} tokens start with {text!r}: revoke one by its id")
            self._conn.execute("UPDATE tokens SET revoked = ? WHERE id = ? AND revoked IS NULL",
                               (_now().isoformat(), rows[0][0]))
        return self.get(rows[0][0])

    def verify(self, secret: str) -> Token | None:
        """The active token with this secret, or None (unknown, revoked or expired)."""
        if not secret or not secret.startswith(PREFIX):
            return None
        digest = hash_token(secret)
        with self._lock:
            row = self._conn.execute(f"SELECT {self._COLUMNS}, hash FROM tokens WHERE hash = ?", (digest,)).fetchone()
        if row is None or not hmac.compare_digest(row[-1], digest):
            return None
        token = Token(*row[:-1])
        return token if token.active else None

    def any_active(self) -> bool:
        return any(t.active for t in self.list())
