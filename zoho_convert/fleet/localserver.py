"""A throwaway ``redis-server`` on 127.0.0.1, for tests, benchmarks and trying a fleet out.

It persists nothing (``--save "" --appendonly no``), keeps its files in a temporary folder,
listens on a free port, and is stopped (then killed if it lingers) on exit::

    with RedisServerProcess() as server:
        async with RedisFleet(server.url) as fleet:
            ...
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

__all__ = ["RedisServerProcess", "find_redis_server"]


def find_redis_server() -> str | None:
    """The path of the ``redis-server`` binary, or None when it is not installed."""
    return shutil.which("redis-server")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class RedisServerProcess:
    """Runs ``redis-server`` as a child process.

    Args:
        binary: the redis-server to run (default: the one on ``PATH``).
        port: the port (default: a free one).
        startup_timeout: seconds to wait for it to accept connections.
    """

    def __init__(
        self, binary: str | None = None, *, port: int | None = None, startup_timeout: float = 10.0
    ) -> None:
        found = binary or find_redis_server()
        if found is None:
            raise FileNotFoundError(
                "redis-server is not installed (Debian/Ubuntu: apt-get install redis-server)"
            )
        self.binary = found
        self.port = port or _free_port()
        self.host = "127.0.0.1"
        self._startup_timeout = startup_timeout
        self._dir: tempfile.TemporaryDirectory[str] | None = None
        self.process: subprocess.Popen[bytes] | None = None

    def __repr__(self) -> str:
        return f"RedisServerProcess(port={self.port}, running={self.running})"

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:PORT/0``."""
        return f"redis://{self.host}:{self.port}/0"

    @property
    def running(self) -> bool:
        """Whether the server process is alive."""
        return self.process is not None and self.process.poll() is None

    def start(self) -> RedisServerProcess:
        """Start the server and wait until it accepts connections.

        Raises:
            RuntimeError: it exited or did not answer within ``startup_timeout``.
        """
        self._dir = tempfile.TemporaryDirectory(prefix="zc-redis-")
        log = Path(self._dir.name) / "redis.log"
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port", str(self.port),
                "--bind", self.host,
                "--dir", self._dir.name,
                "--save", "",
                "--appendonly", "no",
                "--logfile", str(log),
                "--daemonize", "no",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + self._startup_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                tail = log.read_text(errors="replace")[-500:] if log.exists() else ""
                self.stop()
                raise RuntimeError(f"redis-server exited at start: {tail}")
            if self._answers():
                return self
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"redis-server did not answer on port {self.port}")

    def _answers(self) -> bool:
        try:
            with socket.create_connection((self.host, self.port), timeout=0.5) as conn:
                conn.sendall(b"PING\r\n")
                return conn.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after 5 s) and remove its folder."""
        if self.process is not None:
            if self.process.poll() is None:
                self.process.terminate()
                try:
                    self.process.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait()
            self.process = None
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None

    def kill(self) -> None:
        """SIGKILL the server at once (to test a lost Redis); ``stop`` still cleans up."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> RedisServerProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
