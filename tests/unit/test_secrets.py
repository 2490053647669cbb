"""No piece of an access token, refresh token or client secret leaks into errors, reprs or logs."""

from __future__ import annotations

import logging
import pickle
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aioresponses import CallbackResult, aioresponses
from core_helpers import (
    ACCESS_TOKEN,
    API,
    BASE,
    CLIENT_ID,
    CLIENT_SECRET,
    MASS_CONVERT_REPLY,
    NEW_ACCESS_TOKEN,
    REFRESH_TOKEN,
    SECRETS,
    STATUS_REPLY,
    TOKEN_URL,
    RecordingSleep,
    calls,
    make_client,
    refresh_auth,
    token_reply,
)
from fakes import FakeClock
from leaks import PIECE, assert_no_secret, exception_texts, fake_secret, leaked_pieces

import zoho_convert
from zoho_convert import (
    AuthenticationError,
    ModuleRef,
    RetryPolicy,
    StaticToken,
    ZohoConvertError,
)
from zoho_convert.simulator import Faults, SimulatorConfig

STATUS_URL = f"{BASE}/Quotes/actions/mass_convert?job_id=1"
MASS_URL = f"{BASE}/Quotes/actions/mass_convert"
LEAD_URL = f"{BASE}/Leads/5/actions/convert"
INVALID_TOKEN = {"code": "INVALID_TOKEN", "message": "invalid oauth token", "status": "error"}
TARGET = ModuleRef("Sales_Orders", "2423488000000000171")


def leaks(text: str) -> set[str]:
    """The pieces of the test secrets found in ``text``."""
    return leaked_pieces(text, SECRETS)


def assert_no_secret_in_error(error: BaseException) -> None:
    for text in exception_texts(error):
        assert leaks(text) == set(), text
    assert leaks(repr(pickle.loads(pickle.dumps(error)).__dict__)) == set()


async def collect(errors: list[BaseException], coro: Any) -> None:
    try:
        await coro
    except (ZohoConvertError, ValueError) as error:
        errors.append(error)


async def run_everything(m: aioresponses) -> list[BaseException]:
    """A run with refreshes, retries, 401s and errors; returns every exception raised."""
    errors: list[BaseException] = []
    valid = {ACCESS_TOKEN}

    def crm(url: Any, **kwargs: Any) -> CallbackResult:
        token = kwargs["headers"]["Authorization"].removeprefix("Zoho-oauthtoken ")
        if token in valid:
            return CallbackResult(status=200, payload=STATUS_REPLY)
        return CallbackResult(status=401, payload=INVALID_TOKEN)

    # token endpoint: a 500, then the first token, then the refreshed one
    m.post(TOKEN_URL, status=500, body="oops")
    m.post(TOKEN_URL, payload=token_reply(ACCESS_TOKEN))
    m.post(TOKEN_URL, payload=token_reply(NEW_ACCESS_TOKEN), repeat=True)
    # status: retried on 500 and 429, then served by the token-checking callback
    m.get(STATUS_URL, status=500)
    m.get(STATUS_URL, status=429, headers={"Retry-After": "1"})
    m.get(STATUS_URL, callback=crm, repeat=True)
    # posts: a 500 (not retried), a dropped connection, an error body, a garbled reply
    m.post(MASS_URL, status=500, payload={"code": "INTERNAL_ERROR", "status": "error"})
    m.post(MASS_URL, exception=aiohttp.ServerDisconnectedError())
    m.post(MASS_URL, status=400, payload={"code": "INVALID_DATA", "status": "error"})
    m.post(MASS_URL, status=200, body="<<garbled>>")
    m.post(MASS_URL, payload=MASS_CONVERT_REPLY)
    # lead convert: always 401 INVALID_TOKEN, so one refresh then AuthenticationError
    m.post(LEAD_URL, status=401, payload=INVALID_TOKEN, repeat=True)

    clock = FakeClock()
    auth = refresh_auth(clock=clock)
    async with make_client(auth, sleep=RecordingSleep(clock), clock=clock) as client:
        await client.mass_convert_status("Quotes", "1")
        valid.clear()
        valid.add(NEW_ACCESS_TOKEN)  # the first token is revoked: 401 -> refresh -> repeat
        await client.mass_convert_status("Quotes", "1")
        for _ in range(5):
            await collect(errors, client.mass_convert("Quotes", ["1"], to=TARGET))
        await collect(errors, client.convert_lead("5"))
        texts = [repr(client), repr(auth), str(client), str(auth)]
    assert len(calls(m, "POST", MASS_URL)) == 5
    assert auth.refresh_count >= 3
    for text in texts:
        assert leaks(text) == set(), text

    # OAuth failures of several kinds, each with its own client and accounts server
    failures: list[dict[str, Any]] = [
        {"payload": {"error": "invalid_code"}},
        {"payload": {"error": "invalid_client"}},
        {"payload": {"nothing": 1}},
        {"status": 401, "payload": {"error": "invalid_client"}},
        {"exception": aiohttp.ServerDisconnectedError(), "repeat": True},
    ]
    for number, failure in enumerate(failures):
        accounts = f"https://accounts{number}.example"
        m.post(f"{accounts}/oauth/v2/token", **failure)
        other_auth = refresh_auth(accounts_url=accounts)
        async with make_client(other_auth, retry=RetryPolicy(max_tries=2)) as other:
            await collect(errors, other.mass_convert_status("Quotes", "1"))
    # a static token refused
    other_domain = "https://static.example"
    m.get(
        f"{other_domain}/crm/v8/Quotes/actions/mass_convert?job_id=1",
        status=401,
        payload=INVALID_TOKEN,
    )
    async with make_client(StaticToken(ACCESS_TOKEN), api_domain=other_domain) as other:
        await collect(errors, other.mass_convert_status("Quotes", "1"))
    return errors


async def test_no_secret_in_errors_reprs_or_debug_logs(
    m: aioresponses, caplog: pytest.LogCaptureFixture
) -> None:
    """Across refreshes, retries, 401s and errors nothing shown or logged holds a secret."""
    caplog.set_level(logging.DEBUG)
    errors = await run_everything(m)
    # the run did go through the paths it means to cover
    kinds = {type(error).__name__ for error in errors}
    assert {
        "ServerError",
        "TransportError",
        "InvalidRequestError",
        "ResponseValidationError",
        "AuthenticationError",
    } <= kinds
    assert sum(isinstance(e, AuthenticationError) for e in errors) >= 5
    for error in errors:
        assert_no_secret_in_error(error)
    assert caplog.records, "the run should have logged something at DEBUG"
    assert any("retry" in record.getMessage() for record in caplog.records)
    assert any("refresh" in record.getMessage() for record in caplog.records)
    for record in caplog.records:
        assert leaks(record.getMessage()) == set(), record.getMessage()
        assert leaks(repr(record.args)) == set(), record.args
        assert leaks(str(record.msg)) == set()
        assert leaks(record.exc_text or "") == set()
    assert leaks(caplog.text) == set()


def test_reprs_hide_credentials() -> None:
    """repr of StaticToken, RefreshTokenAuth and the client show no credential (client id may)."""
    static = StaticToken(ACCESS_TOKEN)
    auth = refresh_auth()
    client = make_client(auth)
    for obj in (static, auth, client, make_client(static)):
        assert leaks(repr(obj)) == set()
        assert leaks(str(obj)) == set()
    assert CLIENT_ID in repr(auth)
    assert "hidden" in repr(static)


def test_reprs_are_exactly_these() -> None:
    """The reprs of the credential holders are pinned whole, so no new field slips a secret in."""
    auth = refresh_auth()
    hidden_auth = (
        f"RefreshTokenAuth(client_id={CLIENT_ID!r}, client_secret=<hidden>, "
        f"refresh_token=<hidden>, token_url={TOKEN_URL!r})"
    )
    assert repr(StaticToken(ACCESS_TOKEN)) == "StaticToken(access_token=<hidden>)"
    assert repr(auth) == hidden_auth
    assert repr(make_client(auth)) == (
        f"ZohoConvertClient(auth={hidden_auth}, api_domain={API!r}, data_center=US, "
        "max_concurrency=10)"
    )
    assert repr(make_client(StaticToken(ACCESS_TOKEN), max_concurrency=3)) == (
        "ZohoConvertClient(auth=StaticToken(access_token=<hidden>), "
        f"api_domain={API!r}, data_center=US, max_concurrency=3)"
    )


def test_simulator_config_repr_hides_its_credentials() -> None:
    """SimulatorConfig shows its client id but no piece of its token, secret or refresh token."""
    config = SimulatorConfig(
        seed=7,
        access_token=ACCESS_TOKEN,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        refresh_token=REFRESH_TOKEN,
    )
    assert repr(config) == (
        f"SimulatorConfig(seed=7, access_token=<hidden>, client_id={CLIENT_ID!r}, "
        f"job_duration=0.0, strict_records=False, already_converted='fail_call', "
        f"status_shape='wrapped', error_details='oas', reserve_ids=True, "
        f"faults={Faults()!r})"
    )
    assert leaks(repr(config)) == set() and leaks(str(config)) == set()


# -- the leak check itself ---------------------------------------------------------------------


def test_the_piece_check_catches_any_four_characters_of_a_secret() -> None:
    """A repr showing the first, middle or last four characters of a secret fails the check."""
    for secret in SECRETS:
        for shown in (secret[:PIECE], secret[10 : 10 + PIECE], secret[-PIECE:], secret):
            text = f"RefreshTokenAuth(client_secret={shown}...)"
            assert shown[:PIECE] in leaks(text)
            with pytest.raises(AssertionError, match="leaked into a repr"):
                assert_no_secret([text], SECRETS, "a repr")
        # three characters are not a piece: the check does not cry wolf on short overlaps
        assert_no_secret([f"client_secret={secret[:PIECE - 1]}..."], SECRETS, "a repr")


def test_the_test_secrets_occur_nowhere_by_chance() -> None:
    """No 4-character piece of a test secret occurs in the package's source or the README.

    The premise of the piece check: a piece found in a text was leaked, not a coincidence.
    """
    root = Path(zoho_convert.__file__).parent
    texts = [path.read_text() for path in sorted(root.rglob("*.py"))]
    texts.append((Path(__file__).parents[2] / "README.md").read_text())
    assert len(texts) > 20
    assert_no_secret(texts, SECRETS, "the package's own text")
    assert fake_secret("a label") == fake_secret("a label") != fake_secret("another label")
    assert leaked_pieces(fake_secret("a label"), SECRETS) == set()
