"""The service layer: every interface (API, CLI through the API, SDK, MCP) ends here.

It owns the rules that make previews trustworthy: a deployment is recorded
only once its whole changeset is valid, it becomes visible only when complete,
and aliases only ever move forward unless rolled back on purpose.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, BinaryIO

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from previewd import names, snapshots
from previewd.blobs import LocalBlobStore, is_digest
from previewd.build.result import ServerBundle
from previewd.changeset import Changeset, FileSpec
from previewd.config import Config
from previewd.errors import Conflict, DeploymentNotFound, InvalidContent, NotFound, ProjectNotFound
from previewd.events import Broker, Event
from previewd.logs import LogBook, Record
from previewd.previews import Supervisor, bundles
from previewd.schemas import AliasView, DeploymentView, ProjectView
from previewd.store import Alias, Database, Deployment, Job, Project, Snapshot
from previewd.store.models import utcnow

ROUTES = "routes"
JOBS = "jobs"
DEPLOYMENTS = "deployments"  # every deployment that went live or failed: feedback follows it


def deployment_topic(deployment_id: str) -> str:
    return f"deployment:{deployment_id}"


@dataclass(frozen=True)
class Prebuilt:
    """What a look at a source decides before any build: its output when it needs no
    sandbox (a static site), and whether unknown paths fall back to index.html."""

    output: snapshots.Snapshot | None
    spa: bool = False


class Service:
    """Async operations over the store; each runs as one transaction in a worker thread."""

    def __init__(
        self, config: Config, db: Database, blobs: LocalBlobStore, broker: Broker, logs: LogBook
    ):
        self.config = config
        self.db = db
        self.blobs = blobs
        self.broker = broker
        self.logs = logs
        # Set by the process that runs an edge: tells whether it serves a deployment
        # yet, so that waiting callers get an answer only once the URL works.
        self.serving: Callable[[str, str], bool] | None = None
        # Set by the process that builds: looks at a source once, at deploy time.
        self.prebuild: Callable[[snapshots.Snapshot], Prebuilt] | None = None
        # Set by the process that runs app servers; interfaces read it through
        # previewd.previews.views.
        self.supervisor: Supervisor | None = None

    # -- projects ---------------------------------------------------------

    async def create_project(self, name: str) -> ProjectView:
        names.check_project(name)

        def create(s: Session) -> ProjectView:
            if _find_project(s, name):
                raise Conflict(f"project {name!r} exists already")
            project = Project(name=name)
            s.add(project)
            s.flush()
            return self._project_view(s, project)

        return await self.db.run(create)

    async def get_project(self, name: str) -> ProjectView:
        return await self.db.run(lambda s: self._project_view(s, _project(s, name)))

    async def list_projects(self) -> list[ProjectView]:
        def list_(s: Session) -> list[ProjectView]:
            projects = s.scalars(select(Project).order_by(Project.name)).all()
            return [self._project_view(s, p) for p in projects]

        return await self.db.run(list_)

    async def delete_project(self, name: str) -> None:
        def remove(s: Session) -> list[str]:
            project = _project(s, name)
            ids = s.scalars(select(Deployment.id).where(Deployment.project_id == project.id))
            aliases = s.scalars(select(Alias.name).where(Alias.project_id == project.id))
            labels = [*ids.all(), *aliases.all()]
            s.execute(delete(Project).where(Project.id == project.id))
            return labels

        for prefix in await self.db.run(remove):
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
        during: Callable[[Session, Deployment], None] | None = None,
    ) -> str:
        """Record a deployment of ``changeset``; return its id. The project is made if new.

        Sources that need no build (``prebuild`` gives their output) go live
        in the same transaction; the others are queued for a worker. ``during``
        runs in that transaction once the deployment is recorded (a conversation
        moves its head there, so the two never disagree).
        """
        names.check_project(project_name)
        if alias is not None:
            names.check_alias(alias)
        record = partial(self._record, project_name, changeset, alias=alias, spa=spa, during=during)
        deployment, moved = await self.db.run(record)
        if moved is None:
            self.broker.publish(JOBS, {"deployment": deployment.id})
        else:
            self._announce(project_name, deployment, moved)
        return deployment.id

    def _record(
        self,
        project_name: str,
        changeset: Changeset,
        s: Session,
        *,
        alias: str | None,
        spa: bool,
        during: Callable[[Session, Deployment], None] | None = None,
    ) -> tuple[Deployment, list[str] | None]:
        project = _find_project(s, project_name)
        if project is None:
            project = Project(name=project_name)
            s.add(project)
            s.flush()
        snap = snapshots.apply(_base_files(s, project, changeset.base), changeset, self.config)
        _store_snapshot(s, snap)
        deployment = Deployment(
            id=names.new_deployment_id(),
            project_id=project.id,
            source=snap.digest,
            alias=alias,
            spa=spa,
        )
        s.add(deployment)
        s.flush()
        if during is not None:
            during(s, deployment)
        prebuilt = self.prebuild(snap) if self.prebuild else Prebuilt(None)
        deployment.spa = spa or prebuilt.spa
        output = prebuilt.output
        if output is None:
            s.add(Job(kind="build", deployment_seq=deployment.seq))
            return deployment, None
        return deployment, _go_live(s, project, deployment, output)

    async def wait(self, deployment_id: str, timeout: float = 60.0) -> DeploymentView:
        """The deployment once it failed or its URL serves it (or as it is after ``timeout`` s)."""
        async with self.broker.subscribe(deployment_topic(deployment_id)) as queue:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + timeout
            settled = await self._settled(deployment_id)
            while not settled:
                try:
                    event = await asyncio.wait_for(queue.get(), deadline - loop.time())
                except TimeoutError:
                    break
                # "live" comes from the edge once it serves the deployment: nothing to re-check
                settled = event["status"] == "live" or await self._settled(deployment_id)
        return await self.get_deployment(deployment_id)

    async def _settled(self, deployment_id: str) -> bool:
        deployment, project = await self.db.run(lambda s: _deployment(s, deployment_id))
        if deployment.status == "ready":
            return self.serving is None or self.serving(project.name, deployment.id)
        return deployment.status == "failed"

    async def get_deployment(self, deployment_id: str) -> DeploymentView:
        def get(s: Session) -> DeploymentView:
            deployment, project = _deployment(s, deployment_id)
            return self._deployment_view(s, deployment, project.name)

        return await self.db.run(get)

    async def list_deployments(self, project_name: str) -> list[DeploymentView]:
        def list_(s: Session) -> list[DeploymentView]:
            project = _project(s, project_name)
            rows = s.scalars(
                select(Deployment)
                .where(Deployment.project_id == project.id)
                .order_by(Deployment.seq.desc())
            )
            return [self._deployment_view(s, d, project.name) for d in rows.all()]

        return await self.db.run(list_)

    async def follow_logs(self, deployment_id: str, *, follow: bool) -> AsyncIterator[Record]:
        """The build log so far, and with ``follow`` every new line until the build ends."""
        deployment, _ = await self.db.run(lambda s: _deployment(s, deployment_id))
        settled = not follow or deployment.status in ("ready", "failed")
        async for record in self.logs.follow(deployment_id, ended=settled):
            yield record

    async def deployment_files(self, deployment_id: str) -> dict[str, dict[str, int | str]]:
        snap = await self.db.run(lambda s: _snapshot(s, _deployment(s, deployment_id)[0].source))
        return {
            p: {"digest": f.digest, "size": f.size, "mode": f.mode} for p, f in snap.files.items()
        }

    async def delete_deployment(self, deployment_id: str) -> None:
        """Remove a deployment; aliases that served it fall back to the one before."""

        def remove(s: Session) -> tuple[str, list[tuple[str, Deployment | None]]]:
            deployment, project = _deployment(s, deployment_id)
            moved = []
            serving = s.scalars(select(Alias).where(Alias.deployment_seq == deployment.seq))
            for alias in serving.all():
                previous = _previous_ready(s, project, alias.name, before=deployment.seq)
                if previous is None:
                    s.delete(alias)
                else:
                    alias.deployment_seq = previous.seq
                moved.append((alias.name, previous))
            s.delete(deployment)
            return project.name, moved

        project, moved = await self.db.run(remove)
        self.logs.remove(deployment_id)
        self._route(names.label(project, deployment_id), project, None)
        for alias_name, previous in moved:
            self._route(names.label(project, alias_name), project, previous)

    async def drop_alias(self, project_name: str, alias: str) -> None:
        """Take the named alias down (its deployments keep their own URLs)."""
        names.check_alias(alias)

        def remove(s: Session) -> None:
            project = _project(s, project_name)
            s.execute(delete(Alias).where(Alias.project_id == project.id, Alias.name == alias))

        await self.db.run(remove)
        self._route(names.label(project_name, alias), project_name, None)

    async def rollback(
        self, project_name: str, alias: str = "", to: str | None = None
    ) -> AliasView:
        """Point an alias at an earlier ready deployment (the one before, or ``to``)."""
        if alias:
            names.check_alias(alias)
        label = names.label(project_name, alias)

        def move(s: Session) -> Deployment:
            project = _project(s, project_name)
            row = s.scalar(select(Alias).where(Alias.project_id == project.id, Alias.name == alias))
            if row is None:
                raise NotFound(f"{label} has no deployment to roll back from")
            if to is None:
                target = _previous_ready(s, project, alias, before=row.deployment_seq)
                if target is None:
                    raise Conflict(
                        f"{label} has no earlier ready deployment",
                        hint="List deployments with `previewd ls --project NAME` and pass --to ID.",
                    )
            else:
                target, owner = _deployment(s, to)
                if owner.id != project.id or target.status != "ready":
                    raise Conflict(f"deployment {to} is not a ready deployment of {project_name!r}")
            row.deployment_seq = target.seq
            return target

        target = await self.db.run(move)
        self._route(label, project_name, target)
        return self._alias_view(project_name, alias, target.id)

    # -- the worker's side ----------------------------------------------------

    async def claim_job(self) -> tuple[int, str] | None:
        """Take the oldest queued job (job id, deployment id), or None when there is none."""

        def claim(s: Session) -> tuple[int, str] | None:
            oldest = (
                select(Job.id).where(Job.status == "queued").order_by(Job.id).limit(1)
            ).scalar_subquery()
            job_id = s.scalar(
                update(Job)
                .where(Job.id == oldest, Job.status == "queued")
                .values(status="running", started_at=utcnow())
                .returning(Job.id)
            )
            if job_id is None:
                return None
            deployment = s.get_one(Deployment, s.get_one(Job, job_id).deployment_seq)
            deployment.status = "building"
            return job_id, deployment.id

        return await self.db.run(claim)

    async def requeue_interrupted(self) -> None:
        """Jobs a previous process left running go back to the queue (called on start)."""
        await self.db.run(
            lambda s: s.execute(update(Job).where(Job.status == "running").values(status="queued"))
        )

    async def source_of(self, deployment_id: str) -> snapshots.Snapshot:
        return await self.db.run(lambda s: _snapshot(s, _deployment(s, deployment_id)[0].source))

    async def publish(
        self,
        job_id: int,
        output: snapshots.Snapshot,
        *,
        server: ServerBundle | None = None,
        routes: dict[str, str] | None = None,
    ) -> None:
        """Make a built deployment live: its own URL, then every alias it is newer than."""

        def finish(s: Session) -> tuple[str, Deployment, list[str]]:
            job = s.get_one(Job, job_id)
            deployment = s.get_one(Deployment, job.deployment_seq)
            project = s.get_one(Project, deployment.project_id)
            job.status, job.finished_at = "done", utcnow()
            if server is not None:
                _store_snapshot(s, server.files)
                deployment.server, deployment.routes = bundles.dump(server), json.dumps(routes)
            return project.name, deployment, _go_live(s, project, deployment, output)

        self._announce(*await self.db.run(finish))

    def _announce(self, project: str, deployment: Deployment, moved: list[str]) -> None:
        self._route(names.label(project, deployment.id), project, deployment)
        for name in moved:
            self._route(names.label(project, name), project, deployment)
        self.broker.publish(deployment_topic(deployment.id), {"status": "ready"})
        self.broker.publish(DEPLOYMENTS, {"deployment": deployment.id, "status": "ready"})

    async def fail(self, job_id: int, error: str, diagnostics: list[dict[str, Any]]) -> None:
        def mark(s: Session) -> str:
            job = s.get_one(Job, job_id)
            deployment = s.get_one(Deployment, job.deployment_seq)
            deployment.status, deployment.error = "failed", error
            deployment.diagnostics = json.dumps(diagnostics)
            job.status, job.finished_at = "failed", utcnow()
            return deployment.id

        deployment_id = await self.db.run(mark)
        self.broker.publish(deployment_topic(deployment_id), {"status": "failed"})
        self.broker.publish(DEPLOYMENTS, {"deployment": deployment_id, "status": "failed"})

    # -- routes -----------------------------------------------------------------

    async def routes(self) -> list[Event]:
        """Every live route, as the events that would have created it (for an edge's start)."""

        def collect(s: Session) -> list[Event]:
            ready = s.execute(
                select(Deployment, Project.name).join(Project).where(Deployment.status == "ready")
            )
            by_seq = {d.seq: (d, name) for d, name in ready.all()}
            events = [_route_event(names.label(p, d.id), p, d) for d, p in by_seq.values()]
            for alias in s.scalars(select(Alias)).all():
                d, p = by_seq[alias.deployment_seq]
                events.append(_route_event(names.label(p, alias.name), p, d))
            return events

        return await self.db.run(collect)

    async def snapshot(self, digest: str) -> snapshots.Snapshot:
        return await self.db.run(lambda s: _snapshot(s, digest))

    def _route(self, label: str, project: str, deployment: Deployment | None) -> None:
        self.broker.publish(ROUTES, _route_event(label, project, deployment))

    # -- views --------------------------------------------------------------------

    def _alias_view(self, project: str, alias: str, deployment_id: str) -> AliasView:
        url = self.config.preview_url(names.label(project, alias))
        return AliasView(name=alias, url=url, deployment=deployment_id)

    def _deployment_view(self, s: Session, d: Deployment, project: str) -> DeploymentView:
        alias_names = s.scalars(select(Alias.name).where(Alias.deployment_seq == d.seq)).all()
        source = s.get_one(Snapshot, d.source)
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
            errors=json.loads(d.diagnostics) if d.diagnostics else [],
            created_at=d.created_at,
            ready_at=d.ready_at,
        )

    def _project_view(self, s: Session, p: Project) -> ProjectView:
        current = s.scalar(
            select(Deployment.id)
            .join(Alias, Alias.deployment_seq == Deployment.seq)
            .where(Alias.project_id == p.id, Alias.name == "")
        )
        count = s.scalar(select(func.count()).where(Deployment.project_id == p.id))
        return ProjectView(
            name=p.name,
            url=self.config.preview_url(p.name),
            created_at=p.created_at,
            current=current,
            deployments=count or 0,
        )


def _base_files(s: Session, project: Project, base: str | None) -> Mapping[str, FileSpec]:
    if base is None:
        return snapshots.EMPTY
    if base == "latest":
        digest = s.scalar(
            select(Deployment.source)
            .where(Deployment.project_id == project.id)
            .order_by(Deployment.seq.desc())
            .limit(1)
        )
        return _snapshot(s, digest).files if digest else snapshots.EMPTY
    deployment, owner = _deployment(s, base)
    if owner.id != project.id:
        raise DeploymentNotFound(f"deployment {base} does not belong to project {project.name!r}")
    return _snapshot(s, deployment.source).files


# -- queries shared by the methods above ------------------------------------------


def _find_project(s: Session, name: str) -> Project | None:
    return s.scalar(select(Project).where(Project.name == name))


def _project(s: Session, name: str) -> Project:
    project = _find_project(s, name)
    if project is None:
        raise ProjectNotFound(
            f"no project named {name!r}", hint="List projects with `previewd ls`."
        )
    return project


def _deployment(s: Session, deployment_id: str) -> tuple[Deployment, Project]:
    row = s.execute(
        select(Deployment, Project).join(Project).where(Deployment.id == deployment_id)
    ).first()
    if row is None:
        raise DeploymentNotFound(
            f"no deployment {deployment_id!r}",
            hint="List deployments with `previewd ls --project NAME`.",
        )
    return row[0], row[1]


def _snapshot(s: Session, digest: str) -> snapshots.Snapshot:
    row = s.get_one(Snapshot, digest)
    return snapshots.parse(row.digest, row.manifest)


def _store_snapshot(s: Session, snap: snapshots.Snapshot) -> None:
    """Record a snapshot once per digest; flushed so rows that refer to it can follow."""
    if s.get(Snapshot, snap.digest) is None:
        s.add(
            Snapshot(
                digest=snap.digest,
                manifest=snap.manifest,
                file_count=len(snap.files),
                total_bytes=snap.total_bytes,
            )
        )
        s.flush()


def _previous_ready(s: Session, project: Project, alias: str, *, before: int) -> Deployment | None:
    query = select(Deployment).where(
        Deployment.project_id == project.id, Deployment.status == "ready", Deployment.seq < before
    )
    if alias:
        query = query.where(Deployment.alias == alias)
    return s.scalar(query.order_by(Deployment.seq.desc()).limit(1))


def _go_live(
    s: Session, project: Project, deployment: Deployment, output: snapshots.Snapshot
) -> list[str]:
    """Mark a deployment ready with ``output``; return the aliases that moved to it."""
    _store_snapshot(s, output)
    deployment.output, deployment.status, deployment.ready_at = output.digest, "ready", utcnow()
    names_ = {"", deployment.alias or ""}
    return [name for name in sorted(names_) if _advance_alias(s, project, name, deployment)]


def _advance_alias(s: Session, project: Project, name: str, deployment: Deployment) -> bool:
    """Point alias ``name`` at ``deployment`` unless it already serves a newer one."""
    alias = s.scalar(select(Alias).where(Alias.project_id == project.id, Alias.name == name))
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
        "server": deployment.server,
        "routes": json.loads(deployment.routes) if deployment.routes else None,
    }
