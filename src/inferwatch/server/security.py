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


def check_bind(settings: Settings) -> None:
    """Raise ``InsecureBindError`` for a non-loopback host without token or explicit opt-in."""
    if is_loopback(settings.host) or settings.allow_insecure_public_bind:
        return
    if settings.resolved_api_token() is None:
        raise InsecureBindError(
            f"refusing to listen on {settings.host} without an API token: set "
            "INFERWATCH_API_TOKEN or INFERWATCH_API_TOKEN_FILE, or "
            "INFERWATCH_ALLOW_INSECURE_PUBLIC_BIND=true to accept the risk"
        )


class TokenCheck:
    """Compares the ``Authorization`` header with the configured token in constant time."""

    def __init__(self, token: str | None) -> None:
        self._expected = f"Bearer {token}".encode() if token else None

    @property
    def enabled(self) -> bool:
        return self._expected is not None

    def allows(self, authorization: str | None) -> bool:
        if self._expected is None:
            return True
        if authorization is None:
            return False
        return hmac.compare_digest(authorization.encode(), self._expected)

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
    "InsecureBindError",
    "TokenCheck",
    "check_bind",
    "is_loopback",
]
