"""Secrets over real HTTP: no piece of an access token, refresh token or client secret in
exceptions, reprs, logs at any level, the journal file or the report; the journal is private to
its owner; credentials never travel over plain http:// to a non-loopback host unless the
caller opts in.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from client_helpers import (
    CLIENT_ID,
    CLIENT_SECRET,
    REFRESH_TOKEN,
    SECRETS,
    STATIC_TOKEN,
    Env,
    Scripted,
    ScriptedServer,
    StartEnv,
    VirtualSleep,
)
from fakes import FakeClock
from leaks import assert_no_secret, exception_texts, fake_secret

from zoho_convert import (
    AuthenticationError,
    PollPolicy,
    RefreshTokenAuth,
    RetryPolicy,
    StaticToken,
    ZohoConvertClient,
    ZohoConvertError,
)
from zoho_convert.simulator import Faults

TIMEOUT = 30.0


def minted_tokens(e: Env) -> set[str]:
    """Every access token the simulator has issued (read from its state, for leak checks)."""
    book = getattr(e.sim.state.tokens, "_tokens", {})
    return {str(token) for token in book} | {e.sim.access_token}


def log_texts(records: list[logging.LogRecord]) -> Iterator[str]:
    """What any handler could print: the message, its args, and any exception info."""
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    for record in records:
        yield formatter.format(record)
        yield repr(record.args)
        if record.exc_info and record.exc_info[1] is not None:
            yield from exception_texts(record.exc_info[1])


def file_texts(path: Path) -> Iterator[str]:
    """The bytes of a file and of its SQLite sidecars, decoded leniently."""
    for candidate in (path, *(path.with_name(path.name + s) for s in ("-wal", "-shm", "-journal"))):
        if candidate.exists():
            yield candidate.read_bytes().decode("latin-1")


# Tokens the simulator mints are hex, not chosen by the test: 4-digit pieces of them occur in
# record ids by chance, so they are searched for by 8-character pieces.
MINTED_PIECE = 8


def assert_nothing_leaked(texts: Any, minted: set[str], where: str) -> None:
    """No 4-character piece of the test's secrets, no 8-character piece of a minted token."""
    texts = list(texts)
    assert_no_secret(texts, SECRETS, where)
    assert_no_secret(texts, minted, where, size=MINTED_PIECE)


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Capture every logger at DEBUG (the library's, aiohttp's, asyncio's, the simulator's)."""
    caplog.set_level(logging.DEBUG)
    for name in ("zoho_convert", "aiohttp", "asyncio"):
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


async def test_faulty_run_leaks_no_secret_anywhere(
    env: StartEnv, tmp_path: Path, debug_logs: pytest.LogCaptureFixture
) -> None:
    """Refreshes, 401s, 429s, 500s, drops and corrupt replies: no secret is shown or stored."""
    e = await env(
        auth="refresh",
        retry=RetryPolicy(max_tries=12, deadline=100_000),
        job_duration=2.0,
        faults=Faults(
            token_max_uses=4,
            token_endpoint_failures=1,
            rate_429=0.1,
            retry_after=1.0,
            rate_500=0.08,
            drop_rate=0.05,
            corrupt_rate=0.03,
        ),
        client={"max_concurrency": 1},  # sequential: every 401 is followed by one refresh
    )
    errors: list[BaseException] = []
    ids = e.sim.state.create_records("Quotes", 200)
    journal = tmp_path / "run.journal"
    try:
        report = await asyncio.wait_for(
            e.client.convert_many(
                "Quotes", ids, to="Sales_Orders", batch_size=10, journal=str(journal),
                poll=PollPolicy(initial=1.0, timeout=5_000),
            ),
            TIMEOUT,
        )
    except ZohoConvertError as stopped:
        errors.append(stopped)
        report = stopped.partial_report  # type: ignore[attr-defined]
    # Single calls that fail on purpose, to have exceptions of every kind to inspect.
    leads = e.sim.state.create_records("Leads", 8)
    for lead in leads:
        try:
            await asyncio.wait_for(e.client.convert_lead(lead), TIMEOUT)
            await asyncio.wait_for(e.client.convert_lead(lead), TIMEOUT)
        except ZohoConvertError as error:
            errors.append(error)
    e.sim.state.revoke_refresh_token()
    e.clock.advance(10_000)  # the current token expires: the next call must refresh, and fails
    with pytest.raises(AuthenticationError) as revoked:
        await asyncio.wait_for(e.client.module_id("Invoices"), TIMEOUT)
    errors.append(revoked.value)

    stats = e.sim.state.stats
    # The run really went through every fault it is meant to survive without leaking.
    assert stats.token_refreshes >= 3 and stats.token_refresh_failures >= 2
    assert stats.responses_by_status[401] >= 1 and stats.rate_limited >= 1
    assert stats.responses_by_status[500] >= 1 and stats.dropped >= 1
    assert any(isinstance(err, AuthenticationError) for err in errors)
    assert len(debug_logs.records) > 0

    minted = minted_tokens(e) - set(SECRETS)
    assert len(minted) >= 3
    assert_nothing_leaked(log_texts(debug_logs.records), minted, "a log record")
    for error in errors:
        assert_nothing_leaked(exception_texts(error), minted, "an exception")
    assert_nothing_leaked(
        [repr(e.client), repr(e.auth), repr(report), repr(e.sim.config), str(e.client.retry)],
        minted,
        "a repr",
    )
    assert_nothing_leaked([report.to_json(), json.dumps(report.to_dict())], minted, "the report")
    journal_text = "".join(file_texts(journal))
    assert ids[0] in journal_text  # the journal really holds the run
    assert_nothing_leaked([journal_text], minted, "the journal")
    assert CLIENT_ID in repr(e.auth)  # the client id is not a secret: it helps debugging


async def test_static_token_errors_and_logs_hide_the_token(
    env: StartEnv, debug_logs: pytest.LogCaptureFixture
) -> None:
    """A refused static token, 500s on POST and drops on GET: the token appears nowhere."""
    e = await env(
        retry=RetryPolicy(max_tries=3),
        faults=Faults(token_max_uses=8, rate_500=0.3, drop_rate=0.2),
    )
    errors: list[BaseException] = []
    for record in e.sim.state.create_records("Quotes", 30):
        try:
            await asyncio.wait_for(e.client.convert("Quotes", record, to="Invoices"), TIMEOUT)
        except ZohoConvertError as error:
            errors.append(error)
    kinds = {type(err).__name__ for err in errors}
    assert {"AuthenticationError", "ServerError", "TransportError"} <= kinds, kinds
    secrets = {STATIC_TOKEN}
    assert_no_secret(log_texts(debug_logs.records), secrets, "a log record")
    for error in errors:
        assert_no_secret(exception_texts(error), secrets, "an exception")
    assert_no_secret([repr(e.client), repr(e.auth)], secrets, "a repr")


@pytest.mark.parametrize("umask", [0o022, 0o000])
async def test_journal_file_is_private_to_its_owner(
    env: StartEnv, tmp_path: Path, umask: int
) -> None:
    """The journal (and any SQLite sidecar) is created mode 0600, whatever the umask."""
    e = await env()
    ids = e.sim.state.create_records("Quotes", 30)
    journal = tmp_path / "private.journal"
    modes: dict[str, int] = {}

    files = [journal, *(journal.with_name(journal.name + s) for s in ("-wal", "-shm"))]

    def look(_: object) -> None:  # progress events fire while the journal is open
        for path in files:
            if path.exists():
                modes[path.name] = stat.S_IMODE(path.stat().st_mode)

    old = os.umask(umask)
    try:
        report = await asyncio.wait_for(
            e.client.convert_many(
                "Quotes", ids, to="Sales_Orders", journal=str(journal), progress=look
            ),
            TIMEOUT,
        )
    finally:
        os.umask(old)
    assert report.ok
    look(None)
    assert modes.get(journal.name) == 0o600
    assert all(mode == 0o600 for mode in modes.values()), modes


def test_the_leak_checks_catch_a_planted_secret(tmp_path: Path) -> None:
    """The scanners used above find four characters of a secret in an exception chain, a log
    record and a file, and eight of a minted token."""
    try:
        try:
            raise RuntimeError(f"header was Zoho-oauthtoken {STATIC_TOKEN[:4]}...")
        except RuntimeError as inner:
            raise ValueError("outer") from inner
    except ValueError as outer:
        with pytest.raises(AssertionError):
            assert_nothing_leaked(exception_texts(outer), set(), "an exception")
    record = logging.LogRecord(
        "x", logging.DEBUG, __file__, 1, "form %s", (REFRESH_TOKEN[-4:],), None
    )
    with pytest.raises(AssertionError):
        assert_nothing_leaked(log_texts([record]), set(), "a log record")
    planted = tmp_path / "planted"
    planted.with_name("planted-wal").write_bytes(CLIENT_SECRET[9:13].encode())
    planted.write_bytes(b"clean")
    with pytest.raises(AssertionError):
        assert_nothing_leaked(file_texts(planted), set(), "the journal")
    minted = "1000.0123456789abcdef0123456789abcdef.fedcba9876543210fedcba9876543210"
    with pytest.raises(AssertionError):
        assert_nothing_leaked([f"token {minted[20:28]}"], {minted}, "a repr")
    assert_nothing_leaked([f"token {minted[20:27]}", "clean"], {minted}, "a repr")


# -- plain http -----------------------------------------------------------------------------------

INSECURE = ["http://crm.example.com", "http://10.0.0.5:8080", "http://zohoapis.com.evil.test"]
LOOPBACK = ["http://127.0.0.1:1", "http://localhost:1", "http://[::1]:1", "http://127.8.9.10:1"]


@pytest.mark.parametrize("domain", INSECURE)
def test_static_token_refused_over_plain_http(domain: str) -> None:
    """A plain-http API domain that is not loopback is refused when the client is made."""
    with pytest.raises(ValueError, match="allow_insecure_http") as caught:
        ZohoConvertClient(StaticToken(STATIC_TOKEN), api_domain=domain)
    assert_no_secret(exception_texts(caught.value), SECRETS, "an exception")


@pytest.mark.parametrize("accounts", INSECURE)
def test_refresh_credentials_refused_over_plain_http(accounts: str) -> None:
    """A plain-http accounts server that is not loopback is refused, even with https API."""
    auth = RefreshTokenAuth(CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN, accounts_url=accounts)
    with pytest.raises(ValueError) as caught:
        ZohoConvertClient(auth, api_domain="https://www.zohoapis.com")
    assert_no_secret(exception_texts(caught.value), set(SECRETS), "an exception")


@pytest.mark.parametrize("domain", INSECURE)
def test_plain_http_allowed_only_on_explicit_opt_in(domain: str) -> None:
    """allow_insecure_http=True lets a caller use plain http deliberately."""
    auth = RefreshTokenAuth(CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN, accounts_url=domain)
    client = ZohoConvertClient(auth, api_domain=domain, allow_insecure_http=True)
    assert_no_secret([repr(client), repr(auth)], SECRETS, "a repr")


@pytest.mark.parametrize("domain", LOOPBACK)
def test_plain_http_to_loopback_is_allowed(domain: str) -> None:
    """Loopback addresses (the simulator, a local proxy) may use plain http."""
    ZohoConvertClient(StaticToken(STATIC_TOKEN), api_domain=domain)
    auth = RefreshTokenAuth(CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN, accounts_url=domain)
    ZohoConvertClient(auth, api_domain=domain)


MINTED_BY_SCRIPT = fake_secret("token minted by the scripted server")


async def test_token_reply_naming_a_plain_http_domain_is_not_used() -> None:
    """A token reply pointing at a plain-http API domain stops the call: the token stays home."""
    reply = {
        "access_token": MINTED_BY_SCRIPT,
        "api_domain": "http://crm.example.com",
        "token_type": "Bearer",
        "expires_in": 3600,
    }
    server = ScriptedServer()
    server.reply = Scripted(200, json.dumps(reply).encode())
    clock = FakeClock()
    async with server.running():
        auth = RefreshTokenAuth(
            CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN, accounts_url=server.url, clock=clock
        )
        client = ZohoConvertClient(auth, sleep=VirtualSleep(clock), clock=clock)
        async with client:
            with pytest.raises(ValueError, match="plain http") as caught:
                await asyncio.wait_for(client.module_id("Quotes"), TIMEOUT)
    assert server.methods == ["POST"]  # only the token call; nothing went to the http domain
    assert_no_secret(
        exception_texts(caught.value), {*SECRETS, MINTED_BY_SCRIPT}, "an exception"
    )


async def test_refresh_form_goes_only_to_the_accounts_server(env: StartEnv) -> None:
    """The refresh form (client secret, refresh token) is posted to the token endpoint only."""
    e = await env(auth="refresh")
    await asyncio.wait_for(e.client.module_id("Quotes"), TIMEOUT)
    by_endpoint = e.sim.state.stats.requests_by_endpoint
    assert by_endpoint["token"] == 1 and by_endpoint["modules"] == 1
    with contextlib.suppress(AttributeError):
        assert e.auth.refresh_count == 1  # type: ignore[union-attr]
