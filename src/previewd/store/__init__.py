"""Metadata: projects, snapshots, deployments, aliases and the job queue."""

from previewd.store.database import Database
from previewd.store.models import Alias, Deployment, Job, Project, Snapshot

__all__ = ["Alias", "Database", "Deployment", "Job", "Project", "Snapshot"]
