"""The AuthorizationServer: form login, HS512 JWT access tokens (LogiSense claims) and refresh tokens."""

from __future__ import annotations

import secrets
import time
from datetime import UTC, datetime
from typing import Any

import jwt

from logisense_sync.sandbox.logisense.errors import unauthorized

USERNAME = "admin"
PASSWORD = "sandbox"
CLIENT_ID = "sandbox"
CLIENT_SECRET = "sandbox-secret"
ISSUER = "http://authorizationserver.logisense.com"
DEFAULT_LIFETIME = 1800
REFRESH_LIFETIME = 86400


class TokenIssuer:
    """Issues and verifies tokens with a per-data-dir secret; lifetime adjustable for renewal tests."""

    def __init__(self, secret: str, lifetime: int = DEFAULT_LIFETIME) -> None:
        self.secret = secret
        self.lifetime = lifetime

    @staticmethod
    def new_secret() -> str:
        """A fresh signing secret."""
        return secrets.token_hex(32)

    def _sign(self, claims: dict[str, Any]) -> str:
        return jwt.encode(claims, self.secret, algorithm="HS512")

    def login(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        """Answer ``POST Access/Login``: (HTTP status, body)."""
        client_id = form.get("client_id", "")
        if client_id != CLIENT_ID:
            return 400, {"error": "invalid_client", "error_description": "Client id is not valid."}
        grant = form.get("grant_type", "")
        user = USERNAME
        if grant == "password":
            if "client_secret" in form and "username" not in form:
                ok = form["client_secret"] == CLIENT_SECRET
            else:
                ok = form.get("username") == USERNAME and form.get("password") == PASSWORD
            if not ok:
                return 400, {
                    "error": "invalid_grant",
                    "error_description": "The user name or password is incorrect.",
                }
        elif grant == "refresh_token":
            try:
                claims = jwt.decode(
                    form.get("refresh_token", ""),
                    self.secret,
                    algorithms=["HS512"],
                    audience=CLIENT_ID,
                    issuer=ISSUER,
                )
            except jwt.PyJWTError:
                return 400, {
                    "error": "invalid_grant",
                    "error_description": "The refresh token is invalid or expired.",
                }
            if claims.get("token_use") != "refresh":
                return 400, {
                    "error": "invalid_grant",
                    "error_description": "The refresh token is invalid or expired.",
                }
            user = str(claims.get("unique_name", USERNAME))
        else:
            return 400, {
                "error": "unsupported_grant_type",
                "error_description": f"Grant type '{grant}' is not supported.",
            }
        return 200, self._tokens(user)

    def _tokens(self, user: str) -> dict[str, Any]:
        now = int(time.time())
        base = {
            "ownerId": "1",
            "actingOwnerId": "1",
            "userId": "1",
            "roleId": "1",
            "isInteractive": "False",
            "unique_name": user,
            "sub": user,
            "iss": ISSUER,
            "aud": CLIENT_ID,
            "nbf": now,
            "jti": secrets.token_hex(8),
        }
        access = self._sign({**base, "exp": now + self.lifetime})
        refresh = self._sign({**base, "exp": now + REFRESH_LIFETIME, "token_use": "refresh"})
        return {
            "access_token": access,
            "refresh_token": refresh,
            "token_type": "bearer",
            "expires_in": self.lifetime,
            "audience": CLIENT_ID,
            ".issued": datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            ".expires": datetime.fromtimestamp(now + self.lifetime, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "actingOwnerId": 1,
        }

    def verify(self, authorization: str | None) -> dict[str, Any]:
        """Check an ``Authorization: Bearer`` header; raises the 401 LogiSense error when not valid."""
        if not authorization or not authorization.lower().startswith("bearer "):
            raise unauthorized()
        token = authorization[7:].strip()
        try:
            claims: dict[str, Any] = jwt.decode(
                token, self.secret, algorithms=["HS512"], audience=CLIENT_ID, issuer=ISSUER, leeway=0
            )
        except jwt.PyJWTError:
            raise unauthorized() from None
        if claims.get("token_use") == "refresh":
            raise unauthorized()
        return claims
