"""``semsearch serve``: the HTTP API and web page over one index (FastAPI + uvicorn)."""

from .app import ServerConfig, create_app

__all__ = ["ServerConfig", "create_app"]
