"""Logins (OAuth 2.0 token endpoint, SOAP partner login), bearer sessions that expire, and API usage limits.

Credentials (CONTRACT.md §4): consumer key `sandbox-client`, secret `sandbox-secret`; user
`integration@sandbox.example` / `sandbox` (empty security token). JWT bearer assertions are verified with
the certificate `<data_dir>/salesforce-jwt/server.crt` (its private key, generated on first start, is
`<data_dir>/salesforce-jwt/server.key`: give that to JWT clients), or with the certificate named by the
`LOGISENSE_SYNC_SF_JWT_CERT` environment variable / the `jwt_certificate` setting.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs
from xml.dom import minidom
from xml.sax.saxutils import escape

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, Response

from logisense_sync.sandbox.salesforce.errors import SalesforceApiError, invalid_session

logger = logging.getLogger(__name__)

CONSUMER_KEY = "sandbox-client"
CONSUMER_SECRET = "sandbox-secret"
USERNAME = "integration@sandbox.example"
PASSWORD = "sandbox"
SECURITY_TOKEN = ""
MIN_VERSION, MAX_VERSION = 52.0, 62.0
#: Defaults, overridable with LOGISENSE_SYNC_SF_SESSION_SECONDS / LOGISENSE_SYNC_SF_DAILY_API_LIMIT.
DEFAULT_SESSION_SECONDS = float(os.environ.get("LOGISENSE_SYNC_SF_SESSION_SECONDS") or 7200)
DEFAULT_DAILY_LIMIT = int(os.environ.get("LOGISENSE_SYNC_SF_DAILY_API_LIMIT") or 100_000)
JWT_CERT_ENV = "LOGISENSE_SYNC_SF_JWT_CERT"


@dataclass
class Session:
    """A bearer session issued by a login."""

    token: str
    user_id: str
    issued: float
    expires: float


@dataclass
class JwtKeys:
    """The key pair whose certificate the sandbox's connected app trusts for JWT bearer logins."""

    private_key: Path
    certificate: Path


def ensure_jwt_keys(data_dir: Path) -> JwtKeys:
    """Create (once) an RSA key and self-signed certificate under `<data_dir>/salesforce-jwt/`."""
    folder = data_dir / "salesforce-jwt"
    keys = JwtKeys(folder / "server.key", folder / "server.crt")
    if keys.private_key.exists() and keys.certificate.exists():
        return keys
    folder.mkdir(parents=True, exist_ok=True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "logisense-sync sandbox connected app")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=3650))
        .sign(key, hashes.SHA256())
    )
    keys.private_key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    keys.private_key.chmod(0o600)
    keys.certificate.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return keys


def base_url(request: Request) -> str:
    """The request's own scheme://host[:port] (no trailing slash), used as instance_url."""
    return str(request.base_url).rstrip("/")


def check_version(version: str) -> None:
    """404 NOT_FOUND unless the API version is one the org serves (52.0-62.0)."""
    try:
        number = float(version)
    except ValueError:
        number = -1.0
    if not MIN_VERSION <= number <= MAX_VERSION or "." not in version:
        raise SalesforceApiError(404, "NOT_FOUND", "The requested resource does not exist")


class Auth:
    """Sessions, API usage and the login endpoints."""

    def __init__(self, data_dir: Path, org_id: str, user_id: Any) -> None:
        self.org_id = org_id
        self._user_id = user_id  # callable returning the integration user's id
        self.session_seconds: float = DEFAULT_SESSION_SECONDS
        self.daily_limit = DEFAULT_DAILY_LIMIT
        self.api_usage = 0
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()
        self.keys = ensure_jwt_keys(data_dir)
        self.jwt_certificate = Path(os.environ.get(JWT_CERT_ENV) or self.keys.certificate)
        self._signing_key = secrets.token_bytes(32)

    # ------------------------------------------------------------------ sessions

    def issue(self) -> Session:
        """A new session for the integration user."""
        token = f"{self.org_id[:15]}!{secrets.token_urlsafe(72)}"
        now = time.time()
        session = Session(token, self._user_id(), now, now + self.session_seconds)
        with self._lock:
            self._sessions[token] = session
        return session

    def session_for(self, token: str | None) -> Session | None:
        """The live session with this token, or None (unknown or expired)."""
        if not token:
            return None
        with self._lock:
            session = self._sessions.get(token)
            if session is None:
                return None
            if time.time() >= session.expires:
                del self._sessions[token]
                return None
            return session

    def expire_all(self) -> None:
        """End every session (clients must log in again)."""
        with self._lock:
            self._sessions.clear()

    def count_call(self) -> None:
        """Count one API call against the daily limit; 403 REQUEST_LIMIT_EXCEEDED once it is used up."""
        with self._lock:
            if self.api_usage >= self.daily_limit:
                raise SalesforceApiError(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
            self.api_usage += 1

    def limit_info(self) -> str:
        """The `Sforce-Limit-Info` header value."""
        return f"api-usage={self.api_usage}/{self.daily_limit}"

    def require_session(self, request: Request) -> Session:
        """FastAPI dependency for REST routes: a valid Bearer session (401 otherwise); counts the call."""
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() not in ("bearer", "oauth"):
            token = ""
        session = self.session_for(token.strip())
        if session is None:
            raise invalid_session()
        version = request.path_params.get("version")
        if version is not None:
            check_version(str(version))
        self.count_call()
        return session

    def settings(self, body: dict[str, Any]) -> dict[str, Any]:
        """Apply control-plane settings and return them all."""
        if "session_timeout_seconds" in body:
            self.session_seconds = float(body["session_timeout_seconds"])
            with self._lock:
                for session in self._sessions.values():
                    session.expires = session.issued + self.session_seconds
        if "daily_api_limit" in body:
            self.daily_limit = int(body["daily_api_limit"])
        if "api_usage" in body:
            self.api_usage = int(body["api_usage"])
        if body.get("expire_sessions"):
            self.expire_all()
        if body.get("jwt_certificate"):
            self.jwt_certificate = Path(body["jwt_certificate"])
        return {
            "session_timeout_seconds": self.session_seconds,
            "daily_api_limit": self.daily_limit,
            "api_usage": self.api_usage,
            "jwt_certificate": str(self.jwt_certificate),
            "jwt_private_key": str(self.keys.private_key),
        }

    def reset(self) -> None:
        """Back to default settings and no usage (sessions stay valid, as after a data reset)."""
        self.api_usage = 0
        self.settings(
            {"session_timeout_seconds": DEFAULT_SESSION_SECONDS, "daily_api_limit": DEFAULT_DAILY_LIMIT}
        )
        self.jwt_certificate = Path(os.environ.get(JWT_CERT_ENV) or self.keys.certificate)

    # ------------------------------------------------------------------ token responses

    def token_response(self, request: Request, session: Session, *, scope: bool = False) -> JSONResponse:
        """The OAuth token JSON for a new session."""
        instance = base_url(request)
        issued = str(int(session.issued * 1000))
        identity = f"{instance}/id/{self.org_id}/{session.user_id}"
        signature = base64.b64encode(
            hmac.new(self._signing_key, (identity + issued).encode(), hashlib.sha256).digest()
        ).decode()
        body: dict[str, Any] = {
            "access_token": session.token,
            "instance_url": instance,
            "id": identity,
            "token_type": "Bearer",
            "issued_at": issued,
            "signature": signature,
        }
        if scope:
            body["scope"] = "api"
        return JSONResponse(body)

    def verify_jwt(self, assertion: str) -> str | None:
        """None if the assertion is valid, else the OAuth error description."""
        try:
            claims = jwt.decode(assertion, options={"verify_signature": False})
        except jwt.PyJWTError:
            return "invalid assertion"
        if claims.get("iss") != CONSUMER_KEY:
            return "invalid_client_id"
        if claims.get("sub") != USERNAME:
            return "user hasn't approved this consumer"
        try:
            cert = x509.load_pem_x509_certificate(self.jwt_certificate.read_bytes())
            jwt.decode(
                assertion,
                cert.public_key(),  # type: ignore[arg-type]
                algorithms=["RS256"],
                options={"verify_aud": False, "require": ["exp"]},
                leeway=5,
            )
        except jwt.ExpiredSignatureError:
            return "expired authorization code"
        except (jwt.PyJWTError, OSError, ValueError):
            return "invalid assertion"
        return None


def oauth_error(error: str, description: str, status: int = 400) -> JSONResponse:
    """Salesforce's OAuth error body."""
    return JSONResponse({"error": error, "error_description": description}, status_code=status)


_SOAP_FAULT = (
    '<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope '
    'xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:sf="urn:fault.partner.soap.sforce.com" '
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body><soapenv:Fault>'
    "<faultcode>sf:{code}</faultcode><faultstring>{code}: {message}</faultstring><detail>"
    '<sf:LoginFault xsi:type="sf:LoginFault"><sf:exceptionCode>{code}</sf:exceptionCode>'
    "<sf:exceptionMessage>{message}</sf:exceptionMessage></sf:LoginFault></detail></soapenv:Fault>"
    "</soapenv:Body></soapenv:Envelope>"
)


def soap_fault(code: str, message: str) -> Response:
    """A SOAP login fault (HTTP 500, as Salesforce answers)."""
    return Response(
        _SOAP_FAULT.format(code=code, message=escape(message)),
        status_code=500,
        media_type="text/xml; charset=utf-8",
    )


def _soap_text(doc: minidom.Document, tag: str) -> str:
    for node in doc.getElementsByTagNameNS("*", tag) or doc.getElementsByTagName(tag):
        return "".join(child.data for child in node.childNodes if child.nodeType == child.TEXT_NODE)
    return ""


def build_auth_router(auth: Auth) -> APIRouter:
    """Routes: `POST /services/oauth2/token` and `POST /services/Soap/u/{version}`."""
    router = APIRouter()

    @router.post("/services/oauth2/token")
    async def token(request: Request) -> Response:
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode("utf-8", "replace")).items()}
        form.update({k: v for k, v in request.query_params.items() if k not in form})
        grant = form.get("grant_type", "")
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        basic = request.headers.get("authorization", "")
        if basic.lower().startswith("basic "):
            try:
                client_id, _, client_secret = base64.b64decode(basic[6:]).decode().partition(":")
            except ValueError:
                return oauth_error("invalid_client", "invalid client credentials")
        if grant in ("client_credentials", "password"):
            if client_id != CONSUMER_KEY:
                return oauth_error("invalid_client_id", "client identifier invalid")
            if client_secret != CONSUMER_SECRET:
                return oauth_error("invalid_client", "invalid client credentials")
            if grant == "password" and (
                form.get("username") != USERNAME or form.get("password") != PASSWORD + SECURITY_TOKEN
            ):
                return oauth_error("invalid_grant", "authentication failure")
            return auth.token_response(request, auth.issue(), scope=grant == "client_credentials")
        if grant == "urn:ietf:params:oauth:grant-type:jwt-bearer":
            problem = auth.verify_jwt(form.get("assertion", ""))
            if problem == "invalid_client_id":
                return oauth_error("invalid_client_id", "client identifier invalid")
            if problem is not None:
                return oauth_error("invalid_grant", problem)
            return auth.token_response(request, auth.issue())
        if not grant:
            return oauth_error("invalid_request", "grant type not supported")
        return oauth_error("unsupported_grant_type", "grant type not supported")

    @router.post("/services/Soap/u/{version}")
    async def soap_login(version: str, request: Request) -> Response:
        try:
            doc = minidom.parseString(await request.body())
        except Exception:  # noqa: BLE001 - any XML parser error is a malformed request
            return soap_fault(
                "INVALID_LOGIN", "Invalid username, password, security token; or user locked out."
            )
        username, password = _soap_text(doc, "username"), _soap_text(doc, "password")
        if username != USERNAME or password != PASSWORD + SECURITY_TOKEN:
            return soap_fault(
                "INVALID_LOGIN", "Invalid username, password, security token; or user locked out."
            )
        session = auth.issue()
        instance = base_url(request)
        body = (
            '<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope '
            'xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns="urn:partner.soap.sforce.com" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body><loginResponse><result>'
            f"<metadataServerUrl>{instance}/services/Soap/m/{version}/{auth.org_id}</metadataServerUrl>"
            "<passwordExpired>false</passwordExpired><sandbox>true</sandbox>"
            f"<serverUrl>{instance}/services/Soap/u/{version}/{auth.org_id}</serverUrl>"
            f"<sessionId>{session.token}</sessionId><userId>{session.user_id}</userId>"
            "<userInfo><currencySymbol>$</currencySymbol>"
            f"<organizationId>{auth.org_id}</organizationId><organizationMultiCurrency>true"
            "</organizationMultiCurrency><organizationName>LogiSense Sync Sandbox</organizationName>"
            f"<sessionSecondsValid>{int(auth.session_seconds)}</sessionSecondsValid>"
            "<userDefaultCurrencyIsoCode>USD</userDefaultCurrencyIsoCode>"
            f"<userEmail>{USERNAME}</userEmail><userFullName>Integration User</userFullName>"
            f"<userId>{session.user_id}</userId><userName>{USERNAME}</userName></userInfo>"
            "</result></loginResponse></soapenv:Body></soapenv:Envelope>"
        )
        return Response(body, media_type="text/xml; charset=utf-8")

    return router
