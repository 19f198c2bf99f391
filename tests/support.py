"""Helpers the tests share (fixtures live in conftest.py)."""

from __future__ import annotations

import httpx

TOKEN = "test-token"


class EdgeClient:
    """Requests to the edge over a real socket, addressed by preview hostname."""

    def __init__(self, http: httpx.AsyncClient, domain: str) -> None:
        self.http = http
        self.domain = domain

    async def get(self, label: str, path: str = "/", **kwargs: object) -> httpx.Response:
        headers = {"host": f"{label}.{self.domain}", **kwargs.pop("headers", {})}  # type: ignore[dict-item]
        return await self.http.get(path, headers=headers, **kwargs)  # type: ignore[arg-type]
