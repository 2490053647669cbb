"""Property tests of the pure state: whatever the call sequence, the ledger stays sound."""

from __future__ import annotations

from fakes import FakeClock
from hypothesis import given, settings
from hypothesis import strategies as st

from zoho_convert.simulator import Faults, SimulatorConfig
from zoho_convert.simulator.state import CrmState, RecordError

ID = st.integers(min_value=1, max_value=30)
ACTIONS = st.lists(
    st.one_of(
        st.tuples(st.just("mass"), st.lists(ID, min_size=1, max_size=8)),
        st.tuples(st.just("single"), ID),
        st.tuples(st.just("tick"), st.floats(min_value=0, max_value=5)),
        st.tuples(st.just("poll"), st.integers(min_value=0, max_value=20)),
    ),
    max_size=40,
)


@settings(max_examples=150, deadline=None)
@given(actions=ACTIONS, mode=st.sampled_from(["fail_call", "fail_in_job"]),
       seed=st.integers(0, 5))
def test_no_record_converts_twice_and_counts_add_up(
    actions: list[tuple[str, object]], mode: str, seed: int
) -> None:
    """Any mix of mass/single converts, polls and time: counts <= 1 and job counts add up."""
    clock = FakeClock(0.0)
    state = CrmState(SimulatorConfig(
        seed=seed, clock=clock, job_duration=3.0, job_duration_jitter=2.0,
        already_converted=mode,  # type: ignore[arg-type]
        not_approved_ids=frozenset({"7"}), locked_ids=frozenset({"8"}),
        faults=Faults(failed_job_rate=0.2, never_finish_rate=0.1),
    ))
    for kind, arg in actions:
        if kind == "mass":
            assert isinstance(arg, list)
            try:
                state.submit_job("Quotes", "Invoices", arg)
            except RecordError as err:
                assert err.code in ("ID_ALREADY_CONVERTED",)
        elif kind == "single":
            assert isinstance(arg, int)
            try:
                state.convert_one("Quotes", arg)
            except RecordError as err:
                assert err.code in ("ID_ALREADY_CONVERTED", "NOT_APPROVED", "RECORD_LOCKED")
        elif kind == "tick":
            assert isinstance(arg, float)
            clock.now += arg
        else:
            assert isinstance(arg, int)
            jobs = list(state.jobs)
            if jobs:
                snap = state.poll_job("Quotes", jobs[arg % len(jobs)])
                assert snap.total == snap.converted + snap.not_converted + snap.failed
        assert all(count == 1 for count in state.conversions.values())
        converted = state.converted_ids("Quotes")
        assert not converted & state.reserved_ids("Quotes")
        assert not converted & {"7", "8"}
