"""Builds the FastAPI application: routers, token check, body limit, one error shape."""

from __future__ import annotations

import hmac
import logging
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from previewd import __version__
from previewd.api import blobs, deployments, feedback, projects
from previewd.api import conversations as conversation_api
from previewd.conversations import Conversations
from previewd.errors import LimitExceeded, PreviewdError, Unauthorized
from previewd.service import Service

log = logging.getLogger("previewd.api")


def create_app(
    service: Service,
    *,
    token: str | None,
    debug: bool = False,
    conversations: Conversations | None = None,
) -> FastAPI:
    """The API for ``service``; every route but ``/api/v1/health`` needs ``token`` when set."""
    app = FastAPI(title="previewd", version=__version__, debug=debug)
    app.state.service = service
    app.state.conversations = conversations or Conversations(service)

    async def require_token(request: Request) -> None:
        if token is None:
            return
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.encode(), token.encode()):
            raise Unauthorized(
                "missing or wrong API token",
                hint="Send 'Authorization: Bearer <token>'; the server keeps its token in "
                "<data-dir>/api-token, and the CLI reads it from there or from PREVIEWD_TOKEN.",
            )

    guarded = [Depends(require_token)]
    for router in (
        projects.router,
        deployments.router,
        blobs.router,
        feedback.router,
        conversation_api.router,
    ):
        app.include_router(router, prefix="/api/v1", dependencies=guarded)

    @app.get("/api/v1/health", tags=["meta"])
    async def health() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    _install_error_handlers(app, debug)
    app.add_middleware(BodyLimit, max_bytes=service.config.max_request_bytes)
    return app


def _error(status: int, code: str, message: str, hint: str | None = None) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": code, "message": message, "hint": hint}}, status_code=status
    )


def _install_error_handlers(app: FastAPI, debug: bool) -> None:
    @app.exception_handler(PreviewdError)
    async def previewd_error(_: Request, exc: PreviewdError) -> JSONResponse:
        return _error(exc.status, exc.code, exc.message, exc.hint)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        first: dict[str, Any] = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return _error(
            422,
            "invalid_request",
            f"{where}: {first.get('msg', 'invalid request')}",
            "See the API schema at /docs.",
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return _error(exc.status_code, code, str(exc.detail))

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error")
        message = f"{type(exc).__name__}: {exc}" if debug else "internal error"
        return _error(500, "internal", message, "The server log has the details.")


class BodyLimit:
    """Refuses request bodies over ``max_bytes`` with 413, counting what really arrives."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            response = _error(413, LimitExceeded.code, self._message(), self._hint)
            return await response(scope, receive, send)
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:
                raise LimitExceeded(self._message(), hint=self._hint)
            return message

        await self.app(scope, limited, send)

    def _message(self) -> str:
        return f"request body is larger than the limit of {self.max_bytes} bytes"

    _hint = "Raise PREVIEWD_MAX_REQUEST_BYTES, or upload blobs one by one (previewd deploy does)."
