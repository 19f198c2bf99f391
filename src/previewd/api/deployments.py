"""Single deployments by id."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request, Response

from previewd.api.deps import service_of
from previewd.schemas import DeploymentView

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


@router.get("/deployments/{deployment_id}/files")
async def files(deployment_id: str, request: Request) -> dict[str, dict[str, int | str]]:
    """The deployment's source files: path -> digest, size, mode."""
    return await service_of(request).deployment_files(deployment_id)


@router.delete("/deployments/{deployment_id}", status_code=204)
async def delete_deployment(deployment_id: str, request: Request) -> Response:
    await service_of(request).delete_deployment(deployment_id)
    return Response(status_code=204)
