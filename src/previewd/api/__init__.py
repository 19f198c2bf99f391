"""The HTTP API (FastAPI): a thin layer over ``previewd.service``."""

from previewd.api.app import create_app

__all__ = ["create_app"]
