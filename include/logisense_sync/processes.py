"""Child processes in their own process groups, stopped with SIGTERM then SIGKILL.

Used by ``python -m logisense_sync.demo`` and by the distributed-topology test: both start Airflow
components (which fork workers of their own) and must leave nothing behind.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType

logger = logging.getLogger(__name__)


class ManagedProcess:
    """A command started in a new session (its own process group), output appended to a log file.

    Args:
        name: Short label used in log lines.
        args: The command line.
        env: The full environment of the child.
        log_path: File that receives stdout and stderr.
        cwd: Working directory of the child.
    """

    def __init__(
        self,
        name: str,
        args: Sequence[str],
        *,
        env: Mapping[str, str],
        log_path: Path,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.log_path = log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = log_path.open("ab")
        self.popen = subprocess.Popen(
            list(args),
            env=dict(env),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        logger.debug("started %s (pid %d): %s", name, self.popen.pid, " ".join(args))

    @property
    def pid(self) -> int:
        """The process id, which is also the process group id."""
        return self.popen.pid

    def running(self) -> bool:
        """Return whether the group leader is still alive."""
        return self.popen.poll() is None

    def log_tail(self, lines: int = 40) -> str:
        """Return the last ``lines`` lines of the log file."""
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout: float = 15.0) -> None:
        """Send SIGTERM to the whole process group, then SIGKILL whatever is left after ``timeout``."""
        _signal_group(self.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.popen.poll() is not None and not _group_alive(self.pid):
                break
            time.sleep(0.1)
        else:
            logger.warning("%s (pgid %d) still running after %.0f s: SIGKILL", self.name, self.pid, timeout)
        _signal_group(self.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=5)
        self._log.close()


class ProcessSet:
    """Several managed processes stopped together, in reverse start order, on exit or on error."""

    def __init__(self) -> None:
        self.processes: list[ManagedProcess] = []

    def start(
        self,
        name: str,
        args: Sequence[str],
        *,
        env: Mapping[str, str],
        log_path: Path,
        cwd: Path | None = None,
    ) -> ManagedProcess:
        """Start a process and remember it for :meth:`stop_all`."""
        process = ManagedProcess(name, args, env=env, log_path=log_path, cwd=cwd)
        self.processes.append(process)
        return process

    def check_alive(self) -> None:
        """Raise ``RuntimeError`` naming the first process that has exited, with its log tail."""
        for process in self.processes:
            if not process.running():
                msg = (
                    f"{process.name} exited with code {process.popen.returncode}; "
                    f"last lines of {process.log_path}:\n{process.log_tail()}"
                )
                raise RuntimeError(msg)

    def stop_all(self, timeout: float = 15.0) -> None:
        """Stop every process group: SIGTERM to all first, then wait, then SIGKILL the rest."""
        for process in reversed(self.processes):
            _signal_group(process.pid, signal.SIGTERM)
        for process in reversed(self.processes):
            process.stop(timeout=timeout)
        self.processes.clear()

    def __enter__(self) -> ProcessSet:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop_all()


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _group_alive(pgid: int) -> bool:
    """Return whether any non-zombie process is left in the group (zombies may wait for a reaper)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        # fields after the command: state, ppid, pgrp, ...
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port that was free on ``host`` a moment ago (bind to port 0, read it, close)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_in_use(host: str, port: int) -> bool:
    """Return whether something already listens on ``host:port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0
