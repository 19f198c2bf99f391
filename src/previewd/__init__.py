"""previewd: self-hosted instant previews for code written in a conversation."""

__version__ = "0.1.0"

from previewd.client import AsyncClient, Client
from previewd.config import Config
from previewd.errors import PreviewdError

__all__ = ["AsyncClient", "Client", "Config", "PreviewdError", "__version__"]
