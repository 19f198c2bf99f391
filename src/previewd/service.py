"""The service layer: every interface (API, CLI through the API, SDK, MCP) ends here.

It owns the rules that make previews trustworthy: a deployment is recorded
only once its whole changeset is valid, it becomes visible only when complete,
and aliases only ever move forward unless rolled back on purpose.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from typing import BinaryIO

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from previewd import names, snapshots
from previewd.blobs import LocalBlobStore, is_digest
from previewd.changeset import Changeset, FileSpec
from previewd.config import Config
from previewd.errors import Conflict, DeploymentNotFound, InvalidContent, NotFound, ProjectNotFound
from previewd.events import Broker, Event
from previewd.schemas import AliasView, DeploymentView, ProjectView
from previewd.store import Alias, Database, Deployment, Job, Project, Snapshot
from previewd.store.models import utcnow

ROUTES = "routes"
JOBS = "jobs"


def deployment_topic(deployment_id: str) -> str:
    return f"deployment:{deployment_id}"


class Service:
    def __init__(self, config: Config, db: Database, blobs: LocalBlobStore, broker: Broker):
        self.config = config
        self.db = db
        self.blobs = blobs
        self.broker = broker
        # Set by the process that runs an edge: tells whether it serves a deployment
        # yet, so that waiting callers get an answer only once the URL works.
        self.serving: Callable[[str, str], bool] | None = None

    # -- projects ---------------------------------------------------------

    async def create_project(self, name: str) -> ProjectView:
        names.check_project(name)
        async with self.db.session() as s:
            if await _find_project(s, name):
                raise Conflict(f"project {name!r} exists already")
            s.add(Project(name=name))
        return await self.get_project(name)

    async def get_project(self, name: str) -> ProjectView:
        async with self.db.session() as s:
            project = await _project(s, name)
            return await self._project_view(s, project)

    async def list_projects(self) -> list[ProjectView]:
        async with self.db.session() as s:
            projects = (await s.scalars(select(Project).order_by(Project.name))).all()
            return [await self._project_view(s, p) for p in projects]

    async def delete_project(self, name: str) -> None:
        async with self.db.session() as s:
            project = await _project(s, name)
            ids = (
                await s.scalars(select(Deployment.id).where(Deployment.project_id == project.id))
            ).all()
            alias_names = (
                await s.scalars(select(Alias.name).where(Alias.project_id == project.id))
            ).all()
            await s.execute(delete(Project).where(Project.id == project.id))
        for prefix in [*ids, *alias_names]:
            self._route(names.label(name, prefix), name, None)

    # -- blobs ------------------------------------------------------------

    def missing_blobs(self, digests: Sequence[str]) -> list[str]:
        for digest in digests:
            if not is_digest(digest):
                raise InvalidContent(
                    f"{digest!r} is not a SHA-256 digest (64 lowercase hex digits)"
                )
        return [d for d in dict.fromkeys(digests) if not self.blobs.has(d)]

    def put_blob(self, digest: str, stream: BinaryIO) -> int:
        """Store an upload whose bytes must hash to ``digest`` (blocking: run in a thread)."""
        return self.blobs.put_verified(digest, stream, max_bytes=self.config.max_file_bytes)

    # -- deployments --------------------------------------------------------

    async def deploy(
        self,
        project_name: str,
        changeset: Changeset,
        *,
        alias: str | None = None,
        spa: bool = False,
    ) -> DeploymentView:
        """Record a deployment of ``changeset`` and queue its build; the project is made if new."""
        names.check_project(project_name)
        if alias is not None:
            names.check_alias(alias)
        async with self.db.session() as s:
            project = await _find_project(s, project_name)
            if project is None:
                project = Project(name=project_name)
                s.add(project)
                await s.flush()
            base = await self._base_files(s, project, changeset.base)
            snap = snapshots.apply(base, changeset, self.config)
            await _store_snapshot(s, snap)
            deployment = Deployment(
                id=names.new_deployment_id(),
                project_id=project.id,
                source=snap.digest,
                alias=alias,
                spa=spa,
            )
            s.add(deployment)
            await s.flush()
            s.add(Job(kind="build", deployment_seq=deployment.seq))
            view = await self._deployment_view(s, deployment, project.name)
        self.broker.publish(JOBS, {"deployment": deployment.id})
        return view

    async def wait(self, deployment_id: str, timeout: float = 60.0) -> DeploymentView:
        """The deployment once it failed or its URL serves it (or as it is after ``timeout`` s)."""
        async with self.broker.subscribe(deployment_topic(deployment_id)) as queue:
            view = await self.get_deployment(deployment_id)
            loop = asyncio.get_running_loop()
            deadline = loop.time() + timeout
            while not self._settled(view):
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                try:
                    await asyncio.wait_for(queue.get(), remaining)
                except TimeoutError:
                    break
                view = await self.get_deployment(deployment_id)
            return view

    def _settled(self, view: DeploymentView) -> bool:
        if view.status == "ready":
            return self.serving is None or self.serving(view.project, view.id)
        return view.status == "failed"

    async def get_deployment(self, deployment_id: str) -> DeploymentView:
        async with self.db.session() as s:
            deployment, project = await _deployment(s, deployment_id)
            return await self._deployment_view(s, deployment, project.name)

    async def list_deployments(self, project_name: str) -> list[DeploymentView]:
        async with self.db.session() as s:
            project = await _project(s, project_name)
            rows = await s.scalars(
                select(Deployment)
                .where(Deployment.project_id == project.id)
                .order_by(Deployment.seq.desc())
            )
            return [await self._deployment_view(s, d, project.name) for d in rows.all()]

    async def deployment_files(self, deployment_id: str) -> dict[str, dict[str, int | str]]:
        async with self.db.session() as s:
            deployment, _ = await _deployment(s, deployment_id)
            snap = await _snapshot(s, deployment.source)
        return {
            p: {"digest": f.digest, "size": f.size, "mode": f.mode} for p, f in snap.files.items()
        }

    async def delete_deployment(self, deployment_id: str) -> None:
        """Remove a deployment; aliases that served it fall back to the one before."""
        async with self.db.session() as s:
            deployment, project = await _deployment(s, deployment_id)
            moved = []
            for alias in (
                await s.scalars(select(Alias).where(Alias.deployment_seq == deployment.seq))
            ).all():
                previous = await _previous_ready(s, project, alias.name, before=deployment.seq)
                if previous is None:
                    await s.delete(alias)
                else:
                    alias.deployment_seq = previous.seq
                moved.append((alias.name, previous))
            await s.delete(deployment)
        self._route(names.label(project.name, deployment.id), project.name, None)
        for alias_name, previous in moved:
            self._route(names.label(project.name, alias_name), project.name, previous)

    async def rollback(
        self, project_name: str, alias: str = "", to: str | None = None
    ) -> AliasView:
        """Point an alias at an earlier ready deployment (the one before, or ``to``) without rebuilding."""
        if alias:
            names.check_alias(alias)
        async with self.db.session() as s:
            project = await _project(s, project_name)
            row = await s.scalar(
                select(Alias).where(Alias.project_id == project.id, Alias.name == alias)
            )
            if row is None:
                raise NotFound(
                    f"{names.label(project_name, alias)} has no deployment to roll back from"
                )
            if to is None:
                target = await _previous_ready(s, project, alias, before=row.deployment_seq)
                if target is None:
                    raise Conflict(
                        f"{names.label(project_name, alias)} has no earlier ready deployment",
                        hint="List deployments with `previewd ls --project NAME` and pass --to ID.",
                    )
            else:
                target, owner = await _deployment(s, to)
                if owner.id != project.id or target.status != "ready":
                    raise Conflict(f"deployment {to} is not a ready deployment of {project_name!r}")
            row.deployment_seq = target.seq
        self._route(names.label(project_name, alias), project_name, target)
        return self._alias_view(project_name, alias, target.id)

    # -- the worker's side ----------------------------------------------------

    async def claim_job(self) -> tuple[int, str] | None:
        """Take the oldest queued job (job id, deployment id), or None when there is none."""
        async with self.db.session() as s:
            job_id = await s.scalar(
                update(Job)
                .where(
                    Job.id
                    == select(Job.id)
                    .where(Job.status == "queued")
                    .order_by(Job.id)
                    .limit(1)
                    .scalar_subquery(),
                    Job.status == "queued",
                )
                .values(status="running", started_at=utcnow())
                .returning(Job.id)
            )
            if job_id is None:
                return None
            job = await s.get_one(Job, job_id)
            deployment = await s.get_one(Deployment, job.deployment_seq)
            deployment.status = "building"
            return job_id, deployment.id

    async def requeue_interrupted(self) -> int:
        """Jobs a previous process left running go back to the queue (called on start)."""
        async with self.db.session() as s:
            result = await s.execute(
                update(Job).where(Job.status == "running").values(status="queued")
            )
            return int(getattr(result, "rowcount", 0) or 0)

    async def source_of(self, deployment_id: str) -> snapshots.Snapshot:
        async with self.db.session() as s:
            deployment, _ = await _deployment(s, deployment_id)
            return await _snapshot(s, deployment.source)

    async def publish(self, job_id: int, output: snapshots.Snapshot) -> None:
        """Make a built deployment live: its own URL, then every alias it is newer than."""
        async with self.db.session() as s:
            job = await s.get_one(Job, job_id)
            deployment = await s.get_one(Deployment, job.deployment_seq)
            project = await s.get_one(Project, deployment.project_id)
            await _store_snapshot(s, output)
            deployment.output, deployment.status, deployment.ready_at = (
                output.digest,
                "ready",
                utcnow(),
            )
            job.status, job.finished_at = "done", utcnow()
            moved = [
                name
                for name in {"", deployment.alias or ""}
                if await _advance_alias(s, project, name, deployment)
            ]
        self._route(names.label(project.name, deployment.id), project.name, deployment)
        for name in moved:
            self._route(names.label(project.name, name), project.name, deployment)
        self.broker.publish(deployment_topic(deployment.id), {"status": "ready"})

    async def fail(self, job_id: int, error: str) -> None:
        async with self.db.session() as s:
            job = await s.get_one(Job, job_id)
            deployment = await s.get_one(Deployment, job.deployment_seq)
            deployment.status, deployment.error = "failed", error
            job.status, job.finished_at = "failed", utcnow()
        self.broker.publish(deployment_topic(deployment.id), {"status": "failed"})

    # -- routes -----------------------------------------------------------------

    async def routes(self) -> list[Event]:
        """Every live route, as the events that would have created it (for an edge's start)."""
        async with self.db.session() as s:
            ready = await s.execute(
                select(Deployment, Project.name).join(Project).where(Deployment.status == "ready")
            )
            by_seq = {d.seq: (d, name) for d, name in ready.all()}
            events = [_route_event(names.label(p, d.id), p, d) for d, p in by_seq.values()]
            for alias in (await s.scalars(select(Alias))).all():
                d, p = by_seq[alias.deployment_seq]
                events.append(_route_event(names.label(p, alias.name), p, d))
            return events

    async def snapshot(self, digest: str) -> snapshots.Snapshot:
        async with self.db.session() as s:
            return await _snapshot(s, digest)

    def _route(self, label: str, project: str, deployment: Deployment | None) -> None:
        self.broker.publish(ROUTES, _route_event(label, project, deployment))

    # -- views --------------------------------------------------------------------

    def _alias_view(self, project: str, alias: str, deployment_id: str) -> AliasView:
        url = self.config.preview_url(names.label(project, alias))
        return AliasView(name=alias, url=url, deployment=deployment_id)

    async def _deployment_view(
        self, s: AsyncSession, d: Deployment, project: str
    ) -> DeploymentView:
        alias_names = (
            await s.scalars(select(Alias.name).where(Alias.deployment_seq == d.seq))
        ).all()
        source = await s.get_one(Snapshot, d.source)
        return DeploymentView(
            id=d.id,
            project=project,
            status=d.status,
            url=self.config.preview_url(names.label(project, d.id)),
            aliases=[self._alias_view(project, a, d.id) for a in sorted(alias_names)],
            alias=d.alias,
            spa=d.spa,
            files=source.file_count,
            bytes=source.total_bytes,
            source=d.source,
            error=d.error,
            created_at=d.created_at,
            ready_at=d.ready_at,
        )

    async def _project_view(self, s: AsyncSession, p: Project) -> ProjectView:
        current = await s.scalar(
            select(Deployment.id)
            .join(Alias, Alias.deployment_seq == Deployment.seq)
            .where(Alias.project_id == p.id, Alias.name == "")
        )
        count = await s.scalar(select(func.count()).where(Deployment.project_id == p.id))
        return ProjectView(
            name=p.name,
            url=self.config.preview_url(p.name),
            created_at=p.created_at,
            current=current,
            deployments=count or 0,
        )

    async def _base_files(
        self, s: AsyncSession, project: Project, base: str | None
    ) -> Mapping[str, FileSpec]:
        if base is None:
            return snapshots.EMPTY
        if base == "latest":
            digest = await s.scalar(
                select(Deployment.source)
                .where(Deployment.project_id == project.id)
                .order_by(Deployment.seq.desc())
                .limit(1)
            )
            return (await _snapshot(s, digest)).files if digest else snapshots.EMPTY
        deployment, owner = await _deployment(s, base)
        if owner.id != project.id:
            raise DeploymentNotFound(
                f"deployment {base} does not belong to project {project.name!r}"
            )
        return (await _snapshot(s, deployment.source)).files


# -- queries shared by the methods above ------------------------------------------


async def _find_project(s: AsyncSession, name: str) -> Project | None:
    return await s.scalar(select(Project).where(Project.name == name))


async def _project(s: AsyncSession, name: str) -> Project:
    project = await _find_project(s, name)
    if project is None:
        raise ProjectNotFound(
            f"no project named {name!r}", hint="List projects with `previewd ls`."
        )
    return project


async def _deployment(s: AsyncSession, deployment_id: str) -> tuple[Deployment, Project]:
    row = (
        await s.execute(
            select(Deployment, Project).join(Project).where(Deployment.id == deployment_id)
        )
    ).first()
    if row is None:
        raise DeploymentNotFound(
            f"no deployment {deployment_id!r}",
            hint="List deployments with `previewd ls --project NAME`.",
        )
    return row[0], row[1]


async def _snapshot(s: AsyncSession, digest: str) -> snapshots.Snapshot:
    row = await s.get_one(Snapshot, digest)
    return snapshots.parse(row.digest, row.manifest)


async def _store_snapshot(s: AsyncSession, snap: snapshots.Snapshot) -> None:
    """Record a snapshot once per digest; flushed so rows that refer to it can follow."""
    if await s.get(Snapshot, snap.digest) is None:
        s.add(
            Snapshot(
                digest=snap.digest,
                manifest=snap.manifest,
                file_count=len(snap.files),
                total_bytes=snap.total_bytes,
            )
        )
        await s.flush()


async def _previous_ready(
    s: AsyncSession, project: Project, alias: str, *, before: int
) -> Deployment | None:
    query = select(Deployment).where(
        Deployment.project_id == project.id, Deployment.status == "ready", Deployment.seq < before
    )
    if alias:
        query = query.where(Deployment.alias == alias)
    return await s.scalar(query.order_by(Deployment.seq.desc()).limit(1))


async def _advance_alias(
    s: AsyncSession, project: Project, name: str, deployment: Deployment
) -> bool:
    """Point alias ``name`` at ``deployment`` unless it already serves a newer one."""
    alias = await s.scalar(select(Alias).where(Alias.project_id == project.id, Alias.name == name))
    if alias is None:
        s.add(Alias(project_id=project.id, name=name, deployment_seq=deployment.seq))
        return True
    if alias.deployment_seq < deployment.seq:
        alias.deployment_seq = deployment.seq
        return True
    return False


def _route_event(label: str, project: str, deployment: Deployment | None) -> Event:
    if deployment is None:
        return {"label": label, "project": project, "deployment": None}
    return {
        "label": label,
        "project": project,
        "deployment": deployment.id,
        "snapshot": deployment.output,
        "spa": deployment.spa,
    }
