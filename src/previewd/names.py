"""Names that end up in hostnames: projects, aliases and deployment ids.

A preview hostname is ``<label>.<preview-domain>`` where the label is
``<project>``, ``<alias>--<project>`` or ``<deployment-id>--<project>``.
Project and alias names start with a letter and deployment ids with a digit,
so a label is never ambiguous, and every label fits a DNS label (63 bytes).
"""

from __future__ import annotations

import re
import secrets

from previewd.errors import InvalidName

_NAME = re.compile(r"[a-z](?:[a-z0-9-]{0,38}[a-z0-9])?")
_DEPLOYMENT_ID = re.compile(r"[0-9][a-z0-9]{11}")
_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"


def check_project(name: str) -> str:
    return _check(name, "project")


def check_alias(name: str) -> str:
    return _check(name, "alias")


def _check(name: str, kind: str) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name) or "--" in name:
        raise InvalidName(
            f"invalid {kind} name {name!r}",
            hint=f"A {kind} name is 1-40 lowercase letters, digits and single hyphens, "
            "starting with a letter and not ending with a hyphen, e.g. 'my-app'.",
        )
    return name


def is_deployment_id(value: str) -> bool:
    return _DEPLOYMENT_ID.fullmatch(value) is not None


def new_deployment_id() -> str:
    return secrets.choice("123456789") + "".join(secrets.choice(_ALPHABET) for _ in range(11))


def label(project: str, prefix: str = "") -> str:
    """The hostname label of a project (``prefix`` is an alias name or a deployment id)."""
    return f"{prefix}--{project}" if prefix else project
