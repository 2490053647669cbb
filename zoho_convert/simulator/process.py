"""The simulator in a child process (``python -m zoho_convert.simulator``), as a context manager.

For tests and tools that need the simulator out of their own process: a ledger that outlives a
killed client, a server whose CPU is measured apart, or code that must not share an event loop
with it. Standard library only: like the rest of the simulator, it imports nothing from the
client side of ``zoho_convert``.

Example:
    >>> from zoho_convert.simulator import SimulatorProcess
    >>> with SimulatorProcess(["--seed", "7", "--rate-429", "0.1"]) as sim:  # doctest: +SKIP
    ...     ...  # call sim.url with "Authorization: Zoho-oauthtoken " + sim.token
    ...     print(sim.state(jobs=False)["stats"]["requests_served"])
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import urllib.request
from collections.abc import Sequence
from types import TracebackType
from typing import IO, Any, TypeVar

_P = TypeVar("_P", bound="SimulatorProcess")  # a subclass's `with` gives the subclass
_HOST = "127.0.0.1"
# Options the helper sets itself: the host and port (so that ``url`` is a loopback address
# with a free port) and the token (the ``token`` keyword).
_RESERVED_OPTIONS = ("--host", "--port", "--token")
# urllib honours *_proxy environment variables; the simulator is always on loopback.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class SimulatorProcess:
    """``python -m zoho_convert.simulator`` on 127.0.0.1 and a free port, in a child process.

    Use it as a context manager, synchronous (``with``) or asynchronous (``async with``; the
    blocking waits then run in a worker thread). Entering starts the process and waits, bounded,
    for its ``url:`` and ``token:`` announcement; leaving sends SIGINT (the simulator's clean
    shutdown), waits, bounded, and kills the process if it is still running.

    The child's stderr goes to ``stderr_path`` when given, otherwise to a temporary file that
    ``stderr_text()`` reads (a pipe nobody reads could fill up and stall the simulator).

    Args:
        args: Further options of ``python -m zoho_convert.simulator`` (``--seed``,
            ``--latency``, ``--job-duration``, the faults, ...). ``--host``, ``--port`` and
            ``--token`` are set by this class.
        token: The access token the simulator accepts (None: the simulator generates one;
            ``token`` then tells which).
        python: The Python interpreter that runs the simulator.
        startup_timeout: Seconds to wait for the announcement.
        stop_timeout: Seconds to wait for the process to exit after SIGINT (and again after
            SIGKILL).
        stderr_path: A file for the child's stderr (truncated first).

    Raises:
        ValueError: ``args`` sets ``--host``, ``--port`` or ``--token``.
    """

    def __init__(
        self,
        args: Sequence[str] = (),
        *,
        token: str | None = None,
        python: str = sys.executable,
        startup_timeout: float = 30.0,
        stop_timeout: float = 10.0,
        stderr_path: str | os.PathLike[str] | None = None,
    ) -> None:
        if isinstance(args, str):
            raise TypeError("args must be a sequence of options, not one string")
        for arg in args:
            if arg.split("=", 1)[0] in _RESERVED_OPTIONS:
                raise ValueError(f"{arg.split('=', 1)[0]} is set by SimulatorProcess itself")
        command = [python, "-m", "zoho_convert.simulator", "--host", _HOST, "--port", "0"]
        if token is not None:
            command += ["--token", token]
        self.command: list[str] = command + list(args)
        self.startup_timeout = startup_timeout
        self.stop_timeout = stop_timeout
        self.stderr_path = stderr_path
        self._url: str | None = None
        self._token: str | None = None
        self._proc: subprocess.Popen[str] | None = None
        self._stderr: IO[str] | None = None
        self._stderr_closed = ""  # stderr's text once its file is closed
        self._announced = threading.Event()
        self._reader: threading.Thread | None = None

    # -- what a caller reads ---------------------------------------------------------------

    @property
    def url(self) -> str:
        """Base URL of the running simulator (``http://127.0.0.1:PORT``)."""
        if self._url is None:
            raise RuntimeError("the simulator process is not started")
        return self._url

    @property
    def token(self) -> str:
        """The access token the simulator accepts, as it announced it."""
        if self._token is None:
            raise RuntimeError("the simulator process is not started")
        return self._token

    @property
    def pid(self) -> int:
        """The child process's id."""
        if self._proc is None:
            raise RuntimeError("the simulator process is not started")
        return self._proc.pid

    @property
    def returncode(self) -> int | None:
        """The child's exit status once it has exited (after ``stop``), else None."""
        return None if self._proc is None else self._proc.poll()

    def state(self, *, jobs: bool = True, timeout: float = 60.0) -> dict[str, Any]:
        """``GET /__simulator__/state``: statistics, the conversion ledger and (with ``jobs``)
        every job.

        Args:
            jobs: Include the per-job list (large after many jobs).
            timeout: Seconds to wait for the answer.
        """
        state: dict[str, Any] = self.get_json(
            "/__simulator__/state" + ("" if jobs else "?jobs=0"), timeout
        )
        return state

    def get_json(self, path: str, timeout: float = 60.0) -> Any:
        """``GET path`` (e.g. ``/__simulator__/conversions?module=Quotes``) and parse the JSON.

        Raises:
            urllib.error.HTTPError: The simulator answered with an error status.
        """
        with _OPENER.open(self.url + path, timeout=timeout) as response:
            return json.load(response)

    def stderr_text(self) -> str:
        """What the child wrote to stderr so far (all of it, once the context is left)."""
        if self._stderr is None:
            return self._stderr_closed
        self._stderr.seek(0)
        return self._stderr.read()

    # -- start and stop --------------------------------------------------------------------

    def start(self) -> None:
        """Start the process and wait for its announcement.

        Raises:
            RuntimeError: Already started; or the process exited, or did not announce its URL
                within ``startup_timeout`` (it is stopped then).
        """
        self._spawn()
        self._wait_announced(self._announced.wait(self.startup_timeout))

    def stop(self) -> None:
        """SIGINT the process, wait, kill it if it lingers, and reap it. Idempotent."""
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            try:
                if sys.platform == "win32":  # no SIGINT for a child without a console group
                    proc.terminate()
                else:
                    proc.send_signal(signal.SIGINT)
                proc.wait(self.stop_timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(self.stop_timeout)
        if self._reader is not None:
            self._reader.join(self.stop_timeout)  # stdout is at EOF once the process is gone
        if proc.stdout is not None:
            proc.stdout.close()

    def __enter__(self: _P) -> _P:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    async def __aenter__(self: _P) -> _P:
        self._spawn()
        try:
            announced = await asyncio.to_thread(self._announced.wait, self.startup_timeout)
        except BaseException:  # cancelled while waiting: do not leave the process behind
            await asyncio.to_thread(self.close)
            raise
        self._wait_announced(announced)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await asyncio.to_thread(self.close)

    def close(self) -> None:
        """``stop``, then close the stderr file (``stderr_text`` still returns its text)."""
        try:
            self.stop()
        finally:
            if self._stderr is not None:
                self._stderr_closed = self.stderr_text()
                self._stderr.close()
                self._stderr = None

    # -- internals -------------------------------------------------------------------------

    def _spawn(self) -> None:
        if self._proc is not None:
            raise RuntimeError("the simulator process is already started")
        # Append mode: the child shares the file offset, which stderr_text() moves to read.
        # Closed by close(), which every way out of the context managers goes through.
        if self.stderr_path is not None:
            self._stderr = open(  # noqa: SIM115
                self.stderr_path, "a+", encoding="utf-8", errors="replace"
            )
            self._stderr.truncate(0)
        else:
            self._stderr = tempfile.TemporaryFile(  # noqa: SIM115
                "a+", encoding="utf-8", errors="replace"
            )
        self._proc = subprocess.Popen(
            self.command, stdout=subprocess.PIPE, stderr=self._stderr, text=True,
            encoding="utf-8", bufsize=1,
        )
        self._reader = threading.Thread(
            target=self._read_stdout, name=f"simulator-{self._proc.pid}-stdout", daemon=True
        )
        self._reader.start()

    def _read_stdout(self) -> None:
        """Take the announcement from stdout, then drain it so the child never blocks on it."""
        assert self._proc is not None and self._proc.stdout is not None
        try:
            for line in self._proc.stdout:
                key, _, value = line.strip().partition(": ")
                if key == "url" and self._url is None:
                    self._url = value
                elif key == "token" and self._token is None:
                    self._token = value
                if self._url is not None and self._token is not None:
                    self._announced.set()
        except (OSError, ValueError):  # stdout closed under us by stop()
            pass
        finally:
            self._announced.set()  # EOF: wake the waiter; it sees what is missing

    def _wait_announced(self, announced: bool) -> None:
        if announced and self._url is not None and self._token is not None:
            return
        self.close()
        # The event is set early only at the end of stdout: the process has exited.
        what = "exited before announcing" if announced else "did not announce in time"
        raise RuntimeError(
            f"the simulator process {what} its URL and token; stderr:\n{self.stderr_text()}"
        )
