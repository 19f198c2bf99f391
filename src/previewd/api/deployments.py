"""Single deployments by id."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import StreamingResponse

from previewd.api.deps import service_of
from previewd.previews import views
from previewd.schemas import DeploymentView, PreviewView

router = APIRouter(tags=["deployments"])


@router.get("/deployments/{deployment_id}")
async def get_deployment(
    deployment_id: str,
    request: Request,
    wait: bool = Query(False, description="Answer once the deployment is served (or failed)."),
    timeout: float = Query(60.0, gt=0, le=600),
) -> DeploymentView:
    service = service_of(request)
    if wait:
        return await service.wait(deployment_id, timeout)
    return await service.get_deployment(deployment_id)


@router.get("/deployments/{deployment_id}/logs", response_model=None)
async def logs(
    deployment_id: str,
    request: Request,
    follow: bool = Query(False, description="Stream as server-sent events until the build ends."),
) -> StreamingResponse | list[dict[str, Any]]:
    """The build log: JSON records, or with ``follow=true`` a live `text/event-stream`."""
    records = service_of(request).follow_logs(deployment_id, follow=follow)
    if not follow:
        return [record async for record in records]
    first = await anext(records, None)  # raises here, as JSON, if the deployment is unknown

    async def events() -> AsyncIterator[str]:
        if first is not None:
            yield f"data: {json.dumps(first)}\n\n"
        async for record in records:
            yield f"data: {json.dumps(record)}\n\n"
        yield "event: end\ndata: {}\n\n"

    return StreamingResponse(
        events(), media_type="text/event-stream", headers={"cache-control": "no-cache"}
    )


@router.get("/previews", tags=["previews"])
async def previews(request: Request) -> list[PreviewView]:
    """App servers on this node: state, live CPU and memory, restarts and crashes."""
    return views.previews(service_of(request).supervisor)


@router.get("/deployments/{deployment_id}/runtime-logs", tags=["previews"], response_model=None)
async def runtime_logs(
    deployment_id: str,
    request: Request,
    follow: bool = Query(False, description="Stream new lines as server-sent events."),
) -> StreamingResponse | list[dict[str, Any]]:
    """What the deployment's app server printed: at, stream, text, instance; with
    ``follow=true`` a live `text/event-stream` of the lines kept, then each new one."""
    service = service_of(request)
    if not follow:
        return views.runtime_logs(service.supervisor, deployment_id)
    # raises here, as JSON, if there is no such app server
    views.runtime_logs(service.supervisor, deployment_id)

    async def events() -> AsyncIterator[str]:
        async for line in views.follow_runtime_logs(
            service.supervisor, service.broker, deployment_id
        ):
            yield f"data: {json.dumps(line)}\n\n"

    return StreamingResponse(
        events(), media_type="text/event-stream", headers={"cache-control": "no-cache"}
    )


@router.get("/deployments/{deployment_id}/files")
async def files(deployment_id: str, request: Request) -> dict[str, dict[str, int | str]]:
    """The deployment's source files: path -> digest, size, mode."""
    return await service_of(request).deployment_files(deployment_id)


@router.delete("/deployments/{deployment_id}", status_code=204)
async def delete_deployment(deployment_id: str, request: Request) -> Response:
    await service_of(request).delete_deployment(deployment_id)
    return Response(status_code=204)
