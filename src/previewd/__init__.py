"""previewd: self-hosted instant previews for code written in a conversation."""

__version__ = "0.1.0"

from previewd.client import Client  # noqa: E402  (the version must exist first)
from previewd.config import Config  # noqa: E402
from previewd.errors import PreviewdError  # noqa: E402

__all__ = ["Client", "Config", "PreviewdError", "__version__"]
