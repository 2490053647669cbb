"""Shared helpers of the core-client unit tests: a recording sleep, client factory, seeds."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from aioresponses import aioresponses
from fakes import FakeClock
from leaks import fake_secret
from yarl import URL

from zoho_convert import RefreshTokenAuth, RetryPolicy, StaticToken, ZohoConvertClient

API = "https://www.zohoapis.com"
BASE = f"{API}/crm/v8"
TOKEN_URL = "https://accounts.zoho.com/oauth/v2/token"

# Fake credentials of rare letters: the secrets tests search for every 4-character piece.
ACCESS_TOKEN = fake_secret("unit access token")
NEW_ACCESS_TOKEN = fake_secret("unit new access token")
REFRESH_TOKEN = fake_secret("unit refresh token")
CLIENT_ID = "1000.CLIENTID0PUBLIC"
CLIENT_SECRET = fake_secret("unit client secret")
SECRETS = (ACCESS_TOKEN, NEW_ACCESS_TOKEN, REFRESH_TOKEN, CLIENT_SECRET)

SEEDS = Path(__file__).resolve().parents[3] / "shared" / "seeds"
if not SEEDS.is_dir():  # the checkout may live elsewhere; the seeds sit beside DESIGN.md
    SEEDS = Path("/work/shared/seeds")

SALES_ORDERS_ID = "2423488000000000171"
INVOICES_ID = "2423488000000000200"


class RecordingSleep:
    """An injected sleep: records each delay and advances the fake clock, never waits."""

    def __init__(self, clock: FakeClock | None = None) -> None:
        self.clock = clock
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        if self.clock is not None:
            self.clock.advance(seconds)


def make_client(
    auth: StaticToken | RefreshTokenAuth | None = None,
    *,
    sleep: RecordingSleep | None = None,
    clock: FakeClock | None = None,
    retry: RetryPolicy | None = None,
    **kwargs: Any,
) -> ZohoConvertClient:
    """A client for the tests: static token, fixed API domain, fake sleep and clock."""
    clock = clock or FakeClock()
    kwargs.setdefault("api_domain", API)
    return ZohoConvertClient(
        auth or StaticToken(ACCESS_TOKEN),
        sleep=sleep or RecordingSleep(clock),
        clock=clock,
        retry=retry,
        **kwargs,
    )


def refresh_auth(**kwargs: Any) -> RefreshTokenAuth:
    """A RefreshTokenAuth with the fake credentials."""
    return RefreshTokenAuth(CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN, **kwargs)


def token_reply(token: str = ACCESS_TOKEN, **extra: Any) -> dict[str, Any]:
    """A successful token endpoint reply."""
    reply: dict[str, Any] = {
        "access_token": token,
        "api_domain": API,
        "token_type": "Bearer",
        "expires_in": 3600,
    }
    reply.update(extra)
    return reply


def calls(m: aioresponses, method: str, url: str) -> list[Any]:
    """The recorded calls to one method + URL (the URL with its query string, if any)."""
    return list(m.requests.get((method, URL(url)), []))


def all_calls(m: aioresponses) -> list[tuple[str, URL, Any]]:
    """Every recorded call as (method, url, call)."""
    return [(method, url, call) for (method, url), found in m.requests.items() for call in found]


def body_of(call: Any) -> Any:
    """The decoded JSON body a recorded call sent."""
    return json.loads(call.kwargs["data"])


def seed_text(name_part: str) -> str:
    """The text of the seed page whose file name contains ``name_part``."""
    (path,) = [p for p in SEEDS.iterdir() if name_part in p.name]
    return path.read_text()


def seed_json_blocks(name_part: str) -> list[Any]:
    """Every JSON sample in a seed page, decoded (the markdown escapes removed)."""
    text = seed_text(name_part).replace("\\\n", "\n").replace("\\", "")
    blocks = []
    for match in re.finditer(r"Copied(\{)", text):
        start = match.start(1)
        depth = 0
        for index in range(start, len(text)):
            if text[index] == "{":
                depth += 1
            elif text[index] == "}":
                depth -= 1
                if depth == 0:
                    blocks.append(json.loads(text[start : index + 1]))
                    break
    return blocks


def error_codes_in_seeds() -> dict[str, set[int]]:
    """Every error code the four seed pages list, with the HTTP statuses they give it."""
    found: dict[str, set[int]] = {}
    for path in sorted(SEEDS.iterdir()):
        text = path.read_text().replace("\\_", "_")
        for code, status in re.findall(r"\b([A-Z][A-Z_]{3,})\s*HTTP\s*(\d{3})", text):
            found.setdefault(code, set()).add(int(status))
    return found


# The seed pages' samples, copied here so the tests run without the seeds beside the checkout
# (test_requests.py checks them against the seed files when those are present).
MASS_CONVERT_INPUT: dict[str, Any] = {
    "convert_to": [
        {
            "module": {"id": "2423488000000000171", "api_name": "Sales_Orders"},
            "carry_over_tags": True,
        }
    ],
    "assign_to": {"id": "2423488000000483001"},
    "related_modules": [
        {"api_name": "Calls", "id": "2423488000000017015"},
        {"api_name": "Tasks", "id": "2423488000000000143"},
    ],
    "ids": ["2423488000000625004", "2423488000000625032"],
}
MASS_CONVERT_REPLY: dict[str, Any] = {
    "code": "SCHEDULED",
    "details": {"job_id": "2423488000000626117"},
    "message": "Mass Convert scheduled successfully",
    "status": "success",
}
STATUS_REPLY: dict[str, Any] = {
    "data": [
        {
            "total_count": 10,
            "not_converted_count": 0,
            "failed_count": 0,
            "converted_count": 10,
            "status": "COMPLETED",
        }
    ]
}
CONVERT_INPUT: dict[str, Any] = {
    "data": [
        {"convert_to": [{"module": {"id": "2423488000000000171", "api_name": "Sales_Orders"}}]}
    ]
}
CONVERT_REPLY: dict[str, Any] = {
    "data": [
        {
            "code": "SUCCESS",
            "details": {"Sales_Orders": {"name": "Patricia", "id": "2423488000000619001"}},
            "message": "The record has been converted successfully",
            "status": "success",
        }
    ]
}
LEAD_INPUT: dict[str, Any] = {
    "data": [
        {
            "overwrite": True,
            "notify_lead_owner": True,
            "notify_new_entity_owner": True,
            "move_attachments_to": {"api_name": "Deals"},
            "Accounts": {"id": "3652397000000624046"},
            "Contacts": {"id": "3652397000000624640"},
            "Deals": {
                "Deal_Name": "test",
                "Closing_Date": "2020-10-20",
                "Stage": "Negotiation/Review",
                "Amount": 20000000,
                "Pipeline": "Standard (Standard)",
                "Contact_Role": "5545974000000006873",
            },
            "carry_over_tags": {
                "Contacts": ["tag1", "tag2"],
                "Accounts": ["tag1"],
                "Deals": ["tag1"],
            },
        }
    ]
}
LEAD_REPLY: dict[str, Any] = {
    "data": [
        {
            "code": "SUCCESS",
            "details": {
                "Contacts": {"name": "Paul Daly", "id": "3652397000007603014"},
                "Deals": {"name": "test", "id": "3652397000007603019"},
                "Accounts": {"name": "Zylker", "id": "3652397000000624046"},
            },
            "message": "The record has been converted successfully",
            "status": "success",
        }
    ]
}

# Every error code the four seed pages list, with the HTTP status each page gives it.
SEED_ERROR_CODES: dict[str, tuple[int, ...]] = {
    "MANDATORY_NOT_FOUND": (400,),
    "INVALID_DATA": (400,),
    "NO_PERMISSION": (403,),
    "AMBIGUITY_DURING_PROCESSING": (400,),
    "LIMIT_EXCEEDED": (400,),
    "EXPECTED_FIELD_MISSING": (400,),
    "INVALID_REQUEST_METHOD": (400,),
    "INVALID_MODULE": (400,),
    "OAUTH_SCOPE_MISMATCH": (401,),
    "AUTHENTICATION_FAILURE": (401,),
    "INVALID_URL_PATTERN": (404,),
    "INTERNAL_ERROR": (500,),
    "REQUIRED_PARAM_MISSING": (400,),
    "ID_ALREADY_CONVERTED": (400,),
    "NOT_APPROVED": (400,),
    "NOT_REVIEWED": (400,),
    "DUPLICATE_DATA": (400, 401),
    "AUTHORIZATION_FAILED": (400,),
    "RECORD_LOCKED": (400,),
}
