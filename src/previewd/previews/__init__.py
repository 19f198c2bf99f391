"""Preview servers: a deployment's server part run in a sandbox, reached by a unix socket.

:class:`Supervisor` starts them on demand, puts idle ones to sleep, caps how
many run at once, and restarts crashed ones with backoff. Inside each sandbox
:mod:`previewd.previews.bridge` forwards ``/run/previewd/http.sock`` to the
app's ``127.0.0.1:$PORT``, so apps need no change.
"""

from previewd.errors import PreviewCrashed, PreviewPoolFull, PreviewStartTimeout
from previewd.previews.instance import Crash, InstanceInfo, LogLine, State
from previewd.previews.supervisor import Supervisor, SupervisorConfig

__all__ = [
    "Crash",
    "InstanceInfo",
    "LogLine",
    "PreviewCrashed",
    "PreviewPoolFull",
    "PreviewStartTimeout",
    "State",
    "Supervisor",
    "SupervisorConfig",
]
