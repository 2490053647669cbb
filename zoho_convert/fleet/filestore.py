"""A token store in a file, so CLI runs and cron jobs on one machine reuse one access token.

The file is JSON, mode 0600, replaced atomically (write a temporary file, then ``os.replace``).
Every read-modify-write holds an OS lock (``fcntl.flock``) on a sibling ``.lock`` file: the
data file itself is replaced, so a lock on it would not survive the write it protects.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import json
import os
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from zoho_convert.api.timing import Sleep
from zoho_convert.fleet.base import Mint, StoredToken, minted

__all__ = ["FileTokenStore"]

_POLL_FIRST = 0.005
_POLL_MAX = 0.1


class FileTokenStore:
    """Keeps the access token in a file shared by the processes of one machine.

    Args:
        path: the token file; created with mode 0600 (its folder must exist).
        clock: wall-clock epoch seconds (injectable for tests).
        sleep: how to wait between tries of a lock another process holds.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        clock: Callable[[], float] = time.time,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.path = Path(path)
        self.lock_path = self.path.with_name(self.path.name + ".lock")
        self._clock = clock
        self._sleep = sleep
        # Tasks of this process queue here, so only one of them polls the OS lock.
        self._local = asyncio.Lock()
        self.mints = 0

    def __repr__(self) -> str:
        return f"FileTokenStore({str(self.path)!r})"

    async def get(self) -> StoredToken | None:
        """The token in the file if unexpired (reads without the lock: replaces are atomic)."""
        token = self._read()
        return token if token is not None and token.usable(self._clock()) else None

    async def put(self, token: StoredToken) -> None:
        """Write ``token`` to the file."""
        async with self._locked():
            self._write(token)

    async def refresh(self, stale: str | None, mint: Mint) -> StoredToken:
        """See ``TokenStore.refresh``: the OS lock makes one process mint at a time."""
        async with self._locked():
            current = self._read()
            if current is not None and current.token != stale and current.usable(self._clock()):
                return current
            self.mints += 1
            token, expires_in, api_domain = await mint()
            fresh = minted(token, expires_in, api_domain, self._clock())
            self._write(fresh)
            return fresh

    @contextlib.asynccontextmanager
    async def _locked(self) -> AsyncIterator[None]:
        async with self._local:
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                await self._flock(fd)
                yield
            finally:
                os.close(fd)  # closing the descriptor releases the lock, cancelled or not

    async def _flock(self, fd: int) -> None:
        # A blocking flock would stall the event loop (and cannot be cancelled): try without
        # blocking and back off, which keeps a cancelled waiter from ever taking the lock.
        delay = _POLL_FIRST
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except OSError as error:
                if error.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    raise
            await self._sleep(delay)
            delay = min(delay * 2, _POLL_MAX)

    def _read(self) -> StoredToken | None:
        try:
            raw = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        try:
            data = json.loads(raw)
            token = data["access_token"]
            expires_at = float(data["expires_at"])
            api_domain = data.get("api_domain")
        except (ValueError, KeyError, TypeError, AttributeError):
            # A damaged file is a file without a token: the next refresh rewrites it. The
            # content is never quoted, it may hold a token.
            return None
        if not isinstance(token, str) or not token:
            return None
        return StoredToken(token, expires_at, api_domain if isinstance(api_domain, str) else None)

    def _write(self, token: StoredToken) -> None:
        body = json.dumps(
            {
                "access_token": token.token,
                "expires_at": token.expires_at,
                "api_domain": token.api_domain,
            }
        )
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            # O_CREAT's mode does not apply to a leftover file: set it before writing.
            os.fchmod(fd, 0o600)
            os.write(fd, body.encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self.path)
