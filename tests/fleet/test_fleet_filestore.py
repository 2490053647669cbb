"""FileTokenStore: a token shared by the processes of one machine through a 0600 file."""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
from pathlib import Path

import pytest
from leaks import exception_texts

from zoho_convert.fleet import FileTokenStore, StoredToken, TokenStore

SECRET = "1000.file-token-secret.0123456789"


async def _yield(_: float) -> None:
    await asyncio.sleep(0)  # lock polling without waiting real time


def _mint(token: str = SECRET, expires_in: float = 3600.0):  # type: ignore[no-untyped-def]
    async def mint() -> tuple[str, float, str | None]:
        return token, expires_in, "https://www.zohoapis.com"

    return mint


async def test_file_store_is_a_token_store_and_writes_0600(tmp_path: Path) -> None:
    """The file is created owner-only, even replacing a world-readable one, and round-trips."""
    path = tmp_path / "token.json"
    path.write_text("{}")
    os.chmod(path, 0o644)
    store = FileTokenStore(path)
    assert isinstance(store, TokenStore)
    token = await store.refresh(None, _mint())
    assert path.stat().st_mode & 0o777 == 0o600
    assert json.loads(path.read_text())["access_token"] == SECRET
    assert await FileTokenStore(path).get() == token


async def test_file_store_put_and_expired_token(tmp_path: Path) -> None:
    """put() writes a token another store reads; an expired token reads as none."""
    path = tmp_path / "token.json"
    await FileTokenStore(path).put(StoredToken("t1", 1.0, None))
    assert await FileTokenStore(path).get() is None  # expired in 1970
    await FileTokenStore(path).put(StoredToken("t2", 4_000_000_000.0, None))
    got = await FileTokenStore(path).get()
    assert got is not None
    assert got.token == "t2"


async def test_file_store_damaged_file_is_rewritten(tmp_path: Path) -> None:
    """A damaged file counts as no token: the next refresh mints and rewrites it."""
    path = tmp_path / "token.json"
    path.write_text('{"access_token": "half')
    store = FileTokenStore(path)
    assert await store.get() is None
    assert (await store.refresh(None, _mint("fresh"))).token == "fresh"
    assert json.loads(path.read_text())["access_token"] == "fresh"


async def test_file_store_failed_mint_changes_nothing(tmp_path: Path) -> None:
    """A mint that raises leaves the file as it was and the lock free."""
    path = tmp_path / "token.json"
    store = FileTokenStore(path, sleep=_yield)
    await store.refresh(None, _mint("first", 1.0))

    async def broken() -> tuple[str, float, str | None]:
        raise RuntimeError("no")

    with pytest.raises(RuntimeError):
        await store.refresh("first", broken)
    assert json.loads(path.read_text())["access_token"] == "first"
    assert (await store.refresh("first", _mint("second"))).token == "second"


async def test_file_store_waits_for_another_process_lock(tmp_path: Path) -> None:
    """While another process holds the lock, a refresh waits; a cancelled waiter takes no
    lock with it; once the lock is free the refresh goes through."""
    path = tmp_path / "token.json"
    store = FileTokenStore(path, sleep=_yield)
    other = os.open(store.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(other, fcntl.LOCK_EX)  # "another process" (another open file description)
    try:
        waiting = asyncio.ensure_future(store.refresh(None, _mint("a")))
        for _ in range(20):
            await asyncio.sleep(0)
        assert not waiting.done()
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        second = asyncio.ensure_future(store.refresh(None, _mint("b")))
        for _ in range(20):
            await asyncio.sleep(0)
        assert not second.done()
    finally:
        fcntl.flock(other, fcntl.LOCK_UN)
        os.close(other)
    assert (await second).token == "b"
    assert sorted(os.listdir(tmp_path)) == ["token.json", "token.json.lock"]  # no strays


async def test_file_store_never_shows_the_token(tmp_path: Path) -> None:
    """The token is in the file only: not in reprs, nor in an error about a bad mint."""
    path = tmp_path / "token.json"
    store = FileTokenStore(path)
    token = await store.refresh(None, _mint())
    assert SECRET not in repr(store)
    assert SECRET not in repr(token)

    async def bad() -> tuple[str, float, str | None]:
        return SECRET, -1.0, None

    with pytest.raises(ValueError) as caught:
        await store.refresh(SECRET, bad)
    assert all(SECRET not in text for text in exception_texts(caught.value))
