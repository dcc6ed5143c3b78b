"""The optional bearer token and the safe-bind rule.

With a token configured (``INFERWATCH_API_TOKEN`` or ``INFERWATCH_API_TOKEN_FILE``), the
model routes (``/predict``, ``/invocations``, ``/feedback``) and the mutating admin routes
ask for ``Authorization: Bearer <token>``; ``/metrics``, ``/healthz`` and ``/readyz`` stay
open so Prometheus and orchestrators need no secret.
"""

from __future__ import annotations

import hmac
import ipaddress

from fastapi import HTTPException, Request

from inferwatch.settings import Settings

BEARER_SCHEME = {"bearerAuth": {"type": "http", "scheme": "bearer"}}
"""OpenAPI security scheme for the protected routes."""


class InsecureBindError(RuntimeError):
    """Refusing to listen on a public address without a token."""


def is_loopback(host: str) -> bool:
    """Whether ``host`` only accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


MIN_TOKEN_LENGTH = 16
"""Shortest token accepted for a public bind (a guessable token is no protection)."""


def check_bind(settings: Settings) -> None:
    """Raise ``InsecureBindError`` for a non-loopback host without a usable token (at least
    ``MIN_TOKEN_LENGTH`` characters, not only whitespace) or explicit opt-in."""
    if is_loopback(settings.host) or settings.allow_insecure_public_bind:
        return
    token = settings.resolved_api_token()
    if token is None or not token.strip():
        raise InsecureBindError(
            f"refusing to listen on {settings.host} without an API token: set "
            "INFERWATCH_API_TOKEN or INFERWATCH_API_TOKEN_FILE, or "
            "INFERWATCH_ALLOW_INSECURE_PUBLIC_BIND=true to accept the risk"
        )
    if len(token.strip()) < MIN_TOKEN_LENGTH:
        raise InsecureBindError(
            f"refusing to listen on {settings.host} with an API token of {len(token.strip())} "
            f"characters: use at least {MIN_TOKEN_LENGTH} (for example `openssl rand -hex 32`)"
        )


class TokenCheck:
    """Compares the ``Authorization`` header with the configured token in constant time."""

    def __init__(self, token: str | None) -> None:
        self._expected = token.encode() if token else None

    @property
    def enabled(self) -> bool:
        return self._expected is not None

    def allows(self, authorization: str | None) -> bool:
        """Whether ``authorization`` is ``Bearer <token>`` (the scheme in any case)."""
        if self._expected is None:
            return True
        if authorization is None:
            return False
        scheme, _, credentials = authorization.strip().partition(" ")
        given = credentials.strip().encode("utf-8", "surrogateescape")
        # compare even when the scheme is wrong, so the time taken tells nothing
        same = hmac.compare_digest(given, self._expected)
        return same and scheme.lower() == "bearer"

    def enforce(self, request: Request) -> None:
        """Raise 401 unless the request carries the token (no-op without a token)."""
        if self._expected is None:
            return
        if not self.allows(request.headers.get("authorization")):
            raise HTTPException(
                status_code=401,
                detail="missing or wrong bearer token",
                headers={"WWW-Authenticate": "Bearer"},
            )


__all__ = [
    "BEARER_SCHEME",
    "MIN_TOKEN_LENGTH",
    "InsecureBindError",
    "TokenCheck",
    "check_bind",
    "is_loopback",
]
