"""The checked-ids path: convert_many's batches skip the client's second per-id check, and
nothing else does (ids restored from a journal, a caller's plain list)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from aioresponses import aioresponses
from core_helpers import make_client
from fake_convert_api import FakeAPI

from zoho_convert import InvalidIdError, ModuleRef
from zoho_convert.batch import convert_many, resume
from zoho_convert.errors import AuthenticationError
from zoho_convert.ids import CheckedIds, normalize_ids

TARGET = ModuleRef("Sales_Orders", "2423488000000000171")


class RecordingAPI(FakeAPI):
    """A FakeAPI that records the type of each batch it is given, then validates the batch
    as ``ZohoConvertClient`` does (``normalize_ids``) before playing Zoho."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.batch_types: list[type] = []

    async def mass_convert(self, module: str, ids: Iterable[str | int], **kw: Any) -> str:
        self.batch_types.append(type(ids))
        return await super().mass_convert(module, normalize_ids(ids, limit=50), **kw)

    async def mass_convert_leads(self, ids: Iterable[str | int], **kw: Any) -> str:
        self.batch_types.append(type(ids))
        return await super().mass_convert_leads(normalize_ids(ids, limit=50), **kw)


def ids(n: int, start: int = 1000) -> list[str]:
    return [str(start + i) for i in range(n)]


@pytest.fixture
def m() -> Iterator[aioresponses]:
    with aioresponses() as mocked:
        yield mocked


@pytest.mark.parametrize(
    ("module", "to", "source"),
    [
        ("Quotes", "Sales_Orders", ids(120)),
        ("Sales_Orders", "Invoices", [1000 + i for i in range(120)]),  # ints, made canonical
        ("Leads", None, ids(120)),
    ],
    ids=["quotes", "int-ids", "leads"],
)
async def test_convert_many_sends_its_batches_as_checked_ids(
    module: str, to: str | None, source: Sequence[str | int]
) -> None:
    """Every batch convert_many reads reaches the public mass-convert call as CheckedIds."""
    api = RecordingAPI()
    report = await convert_many(api, module, source, to=to)
    assert report.ok and report.converted == 120
    assert api.batch_types == [CheckedIds] * 3
    assert all(isinstance(i, str) for batch in api.submitted_batches for i in batch)
    assert sorted(i for batch in api.submitted_batches for i in batch) == ids(120)


async def _journal_with_a_pending_batch(path: Path) -> RecordingAPI:
    """A journaled run whose second batch was refused by a run-wide error: left pending."""
    api = RecordingAPI(submit_faults={1: AuthenticationError(401, "AUTHENTICATION_FAILURE", "x")})
    with pytest.raises(AuthenticationError):
        await convert_many(
            api, "Quotes", ids(150), to=TARGET, journal=str(path), concurrency=1
        )
    with sqlite3.connect(path) as db:
        states = dict(db.execute("SELECT seq, state FROM batch").fetchall())
    assert states[1] == "pending", states
    api.submit_faults = {}
    return api


async def test_resume_sends_journaled_batches_as_plain_lists(tmp_path: Path) -> None:
    """Batches restored from a journal are not CheckedIds: the client checks them again."""
    path = tmp_path / "run.journal"
    api = await _journal_with_a_pending_batch(path)
    api.batch_types.clear()
    report = await resume(api, str(path))
    assert report.ok and report.converted == 150 and not api.converted_twice()
    assert api.batch_types == [list]


async def test_resume_refuses_a_tampered_journal_id_before_any_request(
    tmp_path: Path, m: aioresponses
) -> None:
    """A bad id written into a journal is refused by the real client's check, nothing sent."""
    path = tmp_path / "run.journal"
    await _journal_with_a_pending_batch(path)
    with sqlite3.connect(path) as db:
        db.execute("UPDATE batch SET ids = replace(ids, '1051', '10x1') WHERE seq = 1")
    async with make_client() as client:
        with pytest.raises(InvalidIdError, match="10x1"):
            await client.resume(str(path))
        assert client.request_count == 0
    assert m.requests == {}


@pytest.mark.parametrize(
    "call",
    [
        lambda c, batch: c.mass_convert("Quotes", batch, to=TARGET),
        lambda c, batch: c.mass_convert_leads(batch),
    ],
    ids=["mass_convert", "mass_convert_leads"],
)
@pytest.mark.parametrize(
    "batch",
    [
        ["1001", "1002", "10x3"],
        type("UserList", (list,), {})(["1001", "10x3"]),
        type("CheckedIdsSubclass", (CheckedIds,), {})(["1001", "10x3"]),
    ],
    ids=["list", "list-subclass", "checked-ids-subclass"],
)
async def test_public_mass_convert_refuses_a_bad_id_in_a_list_before_any_request(
    m: aioresponses, call: Any, batch: list[str]
) -> None:
    """A caller's list (anything but CheckedIds itself) is checked id by id: nothing is sent."""
    async with make_client() as client:
        with pytest.raises(InvalidIdError, match="10x3"):
            await call(client, batch)
        assert client.request_count == 0
    assert m.requests == {}


def test_normalize_ids_trusts_checked_ids_but_still_counts_them() -> None:
    """CheckedIds skip the per-id check only: an empty or oversized batch is still refused."""
    assert normalize_ids(CheckedIds(["1001", "1002"]), limit=50) == ["1001", "1002"]
    with pytest.raises(ValueError, match="no record ids"):
        normalize_ids(CheckedIds(), limit=50)
    with pytest.raises(ValueError, match="at most 50"):
        normalize_ids(CheckedIds(ids(51)), limit=50)
