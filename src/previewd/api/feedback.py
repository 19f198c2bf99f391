"""A project's feedback (problems condensed for a chat), its live stream, its webhooks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from previewd.errors import Unavailable
from previewd.feedback import FeedbackBook
from previewd.feedback.condense import Kind
from previewd.schemas import FeedbackView, WebhookCreated, WebhookView

router = APIRouter(tags=["feedback"])
PING_EVERY = 15.0  # seconds between SSE comments on a quiet stream


class NewWebhook(BaseModel):
    url: str = Field(description="An http(s) URL that receives the events by POST.")
    secret: str | None = Field(
        None, description="HMAC key of the signatures (16-128 characters); made when left out."
    )


def book_of(request: Request) -> FeedbackBook:
    book: FeedbackBook | None = getattr(request.app.state, "feedback", None)
    if book is None:
        raise Unavailable(
            "feedback is not recorded by this server",
            hint="Feedback runs in `previewd up`; this API was started without it.",
        )
    return book


@router.get("/projects/{project}/feedback")
async def list_feedback(
    project: str,
    request: Request,
    conversation: Annotated[str | None, Query(description="Only this conversation's.")] = None,
    kind: Annotated[Kind | None, Query(description="build, crash, http or console.")] = None,
    since: Annotated[datetime | None, Query(description="Seen since (ISO 8601).")] = None,
    include_resolved: Annotated[bool, Query(description="Also the resolved ones.")] = False,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[FeedbackView]:
    """The project's distinct problems, most recently seen first."""
    return await book_of(request).list(
        project,
        conversation=conversation,
        kind=kind,
        since=since,
        include_resolved=include_resolved,
        limit=limit,
    )


@router.get("/projects/{project}/feedback/stream", response_model=None)
async def stream_feedback(
    project: str,
    request: Request,
    conversation: str | None = Query(None, description="Only this conversation's problems."),
) -> StreamingResponse:
    """Server-sent events: ``new``, ``seen``, ``reopened``, ``resolved``, each a problem."""
    subscription = await book_of(request).follow(project, conversation=conversation)

    async def events() -> AsyncIterator[str]:
        try:
            yield ": following\n\n"
            while True:
                change = await subscription.next(PING_EVERY)
                if change is None:
                    yield ": ping\n\n"
                    continue
                event, view = change
                yield f"event: {event}\nid: {view.id}\ndata: {view.model_dump_json()}\n\n"
        finally:
            await subscription.aclose()

    return StreamingResponse(
        events(), media_type="text/event-stream", headers={"cache-control": "no-cache"}
    )


@router.post("/projects/{project}/webhooks", status_code=201)
async def create_webhook(project: str, body: NewWebhook, request: Request) -> WebhookCreated:
    """Send the project's feedback events to ``url``, signed (see docs/feedback.md)."""
    return await book_of(request).hooks.create(project, body.url, body.secret)


@router.get("/projects/{project}/webhooks")
async def list_webhooks(project: str, request: Request) -> list[WebhookView]:
    return await book_of(request).hooks.find(project)


@router.delete("/projects/{project}/webhooks/{webhook_id}", status_code=204)
async def delete_webhook(project: str, webhook_id: int, request: Request) -> Response:
    await book_of(request).hooks.delete(project, webhook_id)
    return Response(status_code=204)
