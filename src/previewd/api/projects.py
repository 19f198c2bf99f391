"""Projects, their deployments and their aliases."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, Field

from previewd.api.deps import service_of
from previewd.api.uploads import read_changeset
from previewd.schemas import AliasView, DeploymentView, ProjectView

router = APIRouter(tags=["projects"])


class NewProject(BaseModel):
    name: str


class Rollback(BaseModel):
    alias: str = Field("", description='Alias to move; "" is the project\'s own URL.')
    to: str | None = Field(None, description="Deployment to point at; default: the one before.")


@router.get("/projects")
async def list_projects(request: Request) -> list[ProjectView]:
    return await service_of(request).list_projects()


@router.post("/projects", status_code=201)
async def create_project(body: NewProject, request: Request) -> ProjectView:
    return await service_of(request).create_project(body.name)


@router.get("/projects/{name}")
async def get_project(name: str, request: Request) -> ProjectView:
    return await service_of(request).get_project(name)


@router.delete("/projects/{name}", status_code=204)
async def delete_project(name: str, request: Request) -> Response:
    await service_of(request).delete_project(name)
    return Response(status_code=204)


@router.get("/projects/{name}/deployments")
async def list_deployments(name: str, request: Request) -> list[DeploymentView]:
    return await service_of(request).list_deployments(name)


@router.post("/projects/{name}/deployments", status_code=201)
async def deploy(
    name: str,
    request: Request,
    alias: str | None = Query(None, description="Also move this named alias (<alias>--<project>)."),
    spa: bool = Query(False, description="Serve index.html for unknown extension-less paths."),
    base: str | None = Query(None, description='Apply the upload to "latest" or a deployment id.'),
    wait: bool = Query(False, description="Answer once the deployment is served (or failed)."),
    timeout: float = Query(60.0, gt=0, le=600),
) -> DeploymentView:
    """Deploy files: JSON, multipart, or a tar/zip archive (see the docs for each shape)."""
    service = service_of(request)
    changes = await read_changeset(request, service, base)
    deployment_id = await service.deploy(name, changes, alias=alias, spa=spa)
    if wait:
        return await service.wait(deployment_id, timeout)
    return await service.get_deployment(deployment_id)


@router.post("/projects/{name}/rollback")
async def rollback(name: str, body: Rollback, request: Request) -> AliasView:
    return await service_of(request).rollback(name, body.alias, body.to)
