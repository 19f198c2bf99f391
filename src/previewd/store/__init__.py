"""Metadata: projects, snapshots, deployments, aliases, the job queue, conversations and feedback."""

from previewd.store.database import Database
from previewd.store.models import (
    Alias,
    Conversation,
    Deployment,
    Feedback,
    Job,
    Message,
    Project,
    Snapshot,
    Webhook,
)

__all__ = [
    "Alias",
    "Conversation",
    "Database",
    "Deployment",
    "Feedback",
    "Job",
    "Message",
    "Project",
    "Snapshot",
    "Webhook",
]
