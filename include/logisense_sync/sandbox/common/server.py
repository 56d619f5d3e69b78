"""Serve sandbox apps over HTTPS with uvicorn, in a background thread (tests) or until a signal (CLI)."""

from __future__ import annotations

import asyncio
import signal
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from logisense_sync.sandbox.common.tls import TlsFiles

TRANSPORT_KEY = "sandbox.transport"


class _TransportAwareProtocol(H11Protocol):
    """h11 protocol that exposes the connection's transport in ``scope["state"]``.

    The control plane needs it to drop a connection without sending a response, the way a crashed
    load balancer does; ASGI itself has no way to say that.
    """

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self.app_state = {**self.app_state, TRANSPORT_KEY: transport}
        super().connection_made(transport)


@dataclass
class ServerHandle:
    """A running server: its base URL, and how to stop it."""

    server: uvicorn.Server
    thread: threading.Thread
    host: str
    port: int
    url: str = field(init=False)

    def __post_init__(self) -> None:
        self.url = f"https://{self.host}:{self.port}"

    @property
    def control_url(self) -> str:
        """Base URL of the control plane."""
        return f"{self.url}/__sandbox__"

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the server to exit and wait for its thread."""
        self.server.should_exit = True
        self.server.force_exit = True  # do not wait for idle keep-alive connections
        self.thread.join(timeout)


def _config(app: Any, tls: TlsFiles, host: str, port: int) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        ssl_certfile=str(tls.cert),
        ssl_keyfile=str(tls.key),
        http=_TransportAwareProtocol,
        lifespan="off",
        log_level="warning",
        access_log=False,
        timeout_keep_alive=30,
        timeout_graceful_shutdown=2,
    )


def serve_in_thread(app: Any, tls: TlsFiles, host: str = "127.0.0.1", port: int = 0) -> ServerHandle:
    """Start ``app`` over HTTPS in a daemon thread and return once it accepts connections.

    Args:
        app: an ASGI application.
        tls: certificate files from :func:`logisense_sync.sandbox.common.tls.ensure_tls`.
        host: address to bind; the sandboxes only ever bind loopback by default.
        port: port to bind; 0 picks a free one.

    Returns:
        A handle with the base URL and a ``stop()`` method.

    Raises:
        RuntimeError: if the server does not start within 15 seconds.
    """
    server = uvicorn.Server(_config(app, tls, host, port))
    thread = threading.Thread(target=server.run, name=f"sandbox-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            msg = f"sandbox server on {host}:{port} did not start"
            raise RuntimeError(msg)
        time.sleep(0.01)
    bound = server.servers[0].sockets[0].getsockname()[1]
    return ServerHandle(server=server, thread=thread, host=host, port=bound)


def serve_forever(apps: Sequence[tuple[Any, int]], tls: TlsFiles, host: str = "127.0.0.1") -> None:
    """Serve every ``(app, port)`` pair until SIGINT or SIGTERM, then stop them all."""
    handles = [serve_in_thread(app, tls, host, port) for app, port in apps]
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    try:
        while not stop.is_set() and all(h.thread.is_alive() for h in handles):
            stop.wait(0.5)
    finally:
        for handle in handles:
            handle.stop()
