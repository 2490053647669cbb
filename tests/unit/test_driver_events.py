"""What the driver publishes while it reads, and how it treats a broken progress callback."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from fake_convert_api import FakeAPI

from zoho_convert.bulk.convert import convert_many
from zoho_convert.bulk.events import BatchRead, Event, IdsRefused, InputEnded


def quote_ids(count: int, first: int = 5000) -> list[str]:
    return [str(first + n) for n in range(count)]


async def test_invalid_ids_are_published_before_the_batch_read_after_them() -> None:
    """An invalid value read before the first batch is published as refused at once (before
    that batch), not when the input ends; one later on comes before the batch after it."""
    events: list[Event] = []
    source = ["not-an-id", *quote_ids(50), "-1", *quote_ids(50, first=6000)]

    report = await convert_many(
        FakeAPI(), "Quotes", source, to="Sales_Orders", progress=events.append
    )

    read = [event for event in events if isinstance(event, (IdsRefused, BatchRead, InputEnded))]
    kinds = [type(event) for event in read]
    assert kinds == [IdsRefused, BatchRead, IdsRefused, BatchRead, InputEnded]
    refused = [
        item.id for event in read if isinstance(event, IdsRefused) for item in event.rejected
    ]
    assert refused == ["not-an-id", "-1"]
    assert report.converted == 100 and report.total == 102 and report.accounted_for


async def test_a_broken_progress_callback_is_logged_with_its_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A progress callback that raises is logged (message and traceback) and ignored."""

    def broken(event: Event) -> None:
        raise RuntimeError("progress bar went away")

    with caplog.at_level(logging.ERROR, logger="zoho_convert.bulk"):
        report = await convert_many(
            FakeAPI(), "Quotes", quote_ids(10), to="Sales_Orders", progress=broken
        )

    assert report.ok
    record = caplog.records[0]
    assert record.getMessage() == "progress callback raised; ignoring"
    assert record.exc_info is not None and "progress bar went away" in str(record.exc_info[1])


async def test_an_input_failing_midway_still_reports_what_was_read_since_the_last_batch() -> None:
    """The caller's iterable raises after a batch, an invalid value and ten ids: the run stops
    with its error, and the partial report has the value as INVALID_ID and the ten ids as
    NOT_SUBMITTED, every value read accounted for."""

    def source() -> Iterator[str]:
        yield from quote_ids(50)
        yield "not-an-id"
        yield from quote_ids(10, first=6000)
        raise OSError("the export file went away")

    with pytest.raises(OSError, match="went away") as stopped:
        await convert_many(FakeAPI(), "Quotes", source(), to="Sales_Orders")

    report = stopped.value.partial_report  # type: ignore[attr-defined]
    codes = {item.id: item.code for item in report.rejected}
    assert codes == {
        "not-an-id": "INVALID_ID",
        **dict.fromkeys(quote_ids(10, 6000), "NOT_SUBMITTED"),
    }
    assert report.converted == 50 and report.total == 61 and report.accounted_for
    assert not report.input_complete
