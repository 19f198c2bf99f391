"""Every error previewd raises on purpose, in one tree.

    PreviewdError ............... 500 internal
    ├── BadRequest .............. 400 bad_request
    │   ├── InvalidPath ......... 400 invalid_path      a file name that could escape or collide
    │   ├── InvalidName ......... 400 invalid_name      a project, alias or host name
    │   ├── InvalidArchive ...... 400 invalid_archive   tar/zip that is corrupt or holds links/devices
    │   ├── InvalidContent ...... 400 invalid_content   a body that is not what its type says
    │   └── InvalidUrl .......... 400 invalid_url       a webhook URL that is not http(s)
    ├── Unauthorized ............ 401 unauthorized      missing or wrong API token
    ├── NotFound ................ 404 not_found
    │   ├── ProjectNotFound ..... 404 project_not_found
    │   ├── DeploymentNotFound .. 404 deployment_not_found
    │   ├── ConversationNotFound  404 conversation_not_found
    │   └── BlobNotFound ........ 404 blob_not_found
    ├── Conflict ................ 409 conflict
    ├── LimitExceeded ........... 413 limit_exceeded    too many files or bytes
    ├── BuildFailed ............. 422 build_failed      a build step failed or hit a limit
    ├── EditFailed .............. 422 edit_failed       a chat message's edit block cannot apply
    │   └── NoEdits ............. 422 no_edits          a chat message holds no edits at all
    ├── UnsupportedMediaType .... 415 unsupported_media_type
    ├── Unavailable ............. 503 unavailable
    │   ├── PreviewPoolFull ..... 503 preview_pool_full      every app server slot is busy
    │   ├── PreviewCrashed ...... 502 preview_crashed        an app server exited or hit a limit
    │   └── PreviewStartTimeout . 504 preview_start_timeout  an app server never answered
    └── ApiError ................ any   what a client got back from the API

Each error carries a message that says what was wrong and, where it helps, a
hint that says what to do next. The API renders them as
``{"error": {"code", "message", "hint"}}``; the CLI prints the message in one
line and exits with status 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from previewd.previews.instance import Crash


class PreviewdError(Exception):
    status = 500
    code = "internal"

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def to_dict(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "hint": self.hint}}


class BadRequest(PreviewdError):
    status = 400
    code = "bad_request"


class InvalidPath(BadRequest):
    code = "invalid_path"


class InvalidName(BadRequest):
    code = "invalid_name"


class InvalidArchive(BadRequest):
    code = "invalid_archive"


class InvalidContent(BadRequest):
    code = "invalid_content"


class InvalidUrl(BadRequest):
    code = "invalid_url"


class Unauthorized(PreviewdError):
    status = 401
    code = "unauthorized"


class NotFound(PreviewdError):
    status = 404
    code = "not_found"


class ProjectNotFound(NotFound):
    code = "project_not_found"


class DeploymentNotFound(NotFound):
    code = "deployment_not_found"


class ConversationNotFound(NotFound):
    code = "conversation_not_found"


class BlobNotFound(NotFound):
    code = "blob_not_found"


class Conflict(PreviewdError):
    status = 409
    code = "conflict"


class LimitExceeded(PreviewdError):
    status = 413
    code = "limit_exceeded"


class BuildFailed(PreviewdError):
    """A step failed: its message names the step and the limit or the exit status."""

    status = 422
    code = "build_failed"

    def __init__(
        self, message: str, *, step: str, tail: Sequence[str] = (), hint: str | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        self.step = step
        #: the last lines the step wrote (stdout and stderr, in order), for diagnostics
        self.tail = list(tail)


class EditFailed(PreviewdError):
    """A block of a chat message is malformed or does not fit the files: nothing was changed.

    The message names the block (its index, format, file and line) and the reason.
    """

    status = 422
    code = "edit_failed"


class NoEdits(EditFailed):
    code = "no_edits"


class UnsupportedMediaType(PreviewdError):
    status = 415
    code = "unsupported_media_type"


class Unavailable(PreviewdError):
    status = 503
    code = "unavailable"


class PreviewPoolFull(Unavailable):
    """Every running slot is busy: answer ``503`` with ``Retry-After: retry_after``."""

    code = "preview_pool_full"

    def __init__(self, message: str, retry_after: int, *, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.retry_after = retry_after


class PreviewCrashed(Unavailable):
    """The app server exited (or was killed by a limit); ``crash`` says how."""

    status = 502
    code = "preview_crashed"

    def __init__(self, message: str, crash: Crash | None, *, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.crash = crash


class PreviewStartTimeout(Unavailable):
    """The app server did not answer an HTTP request through its socket in time."""

    status = 504
    code = "preview_start_timeout"


class ApiError(PreviewdError):
    """An error the API answered with, as a client (SDK or CLI) sees it."""

    def __init__(self, status: int, code: str, message: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.status = status
        self.code = code
