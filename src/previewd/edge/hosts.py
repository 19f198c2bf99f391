"""Host header → route label: ``Host: main--shop.localhost:7701`` → ``main--shop``."""

from __future__ import annotations

import re

from previewd.errors import InvalidName

_HOSTNAME = re.compile(
    r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
)
_PORT = re.compile(r"[0-9]{1,5}")
_MEMO_LIMIT = 4096


class HostLabels:
    """Finds the label of a Host header under ``preview_domain``, memoised per header value.

    :meth:`label` returns the label, ``None`` for a valid host outside the
    preview domain, and raises :class:`~previewd.errors.InvalidName` for a
    value that is not a hostname at all.
    """

    def __init__(self, preview_domain: str) -> None:
        self.domain = preview_domain.lower().strip(".")
        self._suffix = "." + self.domain
        self._memo: dict[bytes, str | None] = {}

    def label(self, host: bytes) -> str | None:
        try:
            return self._memo[host]
        except KeyError:
            pass
        label = self._parse(host)
        if len(self._memo) >= _MEMO_LIMIT:
            self._memo.clear()  # a flood of made-up hosts must not grow memory
        self._memo[host] = label
        return label

    def hostname(self, host: bytes) -> str:
        """The host name without its port, for messages; raises on invalid values."""
        return self._split(host)

    def _parse(self, host: bytes) -> str | None:
        name = self._split(host)
        if name.endswith(self._suffix) and len(name) > len(self._suffix):
            return name[: -len(self._suffix)]
        return None

    def _split(self, host: bytes) -> str:
        try:
            text = host.decode("ascii").lower()
        except UnicodeDecodeError:
            raise InvalidName("the Host header is not ASCII") from None
        if text.startswith("["):  # an IPv6 literal: valid, never a preview
            end = text.find("]")
            port = text[end + 1 :]
            if end < 0 or (port and not (port[0] == ":" and _PORT.fullmatch(port[1:]))):
                raise InvalidName(f"{text!r} is not a valid Host header")
            return text[: end + 1]
        name, colon, port = text.partition(":")
        if colon and not _PORT.fullmatch(port):
            raise InvalidName(f"{text!r} is not a valid Host header")
        if name.endswith("."):
            name = name[:-1]
        if len(name) > 253 or not _HOSTNAME.fullmatch(name):
            raise InvalidName(f"{text!r} is not a valid host name")
        return name
