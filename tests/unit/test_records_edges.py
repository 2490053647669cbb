"""``RecordSettler`` edges its other tests left open (mutation testing of ``bulk/records.py``):
a settler for checks only (``Endpoints.record_checks_only``, the Leads case) never settles record
by record for speed, however fast the records would be.

Driven over a real ``RunMachine`` and the fake run of ``test_records_mutants``.
"""

from __future__ import annotations

from test_records_mutants import IDS, FakeRun, converting, estimating_machine

from zoho_convert.bulk.events import BatchUncertain
from zoho_convert.bulk.records import RecordSettler


def test_a_checks_only_settler_settles_by_record_only_the_batches_flagged_for_checks() -> None:
    """A parked batch whose three records would beat a 2 s job (a speed settler says yes) is
    not settled record by record when only checks may be; once parked as a check, it is."""
    machine = estimating_machine(2.0)
    assert RecordSettler(FakeRun(machine), converting(), 2).wanted(1) is True  # fast enough
    checks = RecordSettler(FakeRun(machine), converting(), 2, checks_only=True)
    assert checks.wanted(1) is False

    machine(BatchUncertain(1, IDS, 3.0, True, "check", "", True, True))
    assert checks.wanted(1) is True
