"""What route handlers take from the request."""

from fastapi import Request

from previewd.service import Service


def service_of(request: Request) -> Service:
    service: Service = request.app.state.service
    return service
