"""`--failed-ids FILE` lists the uncertain and unfinished ids, each with its reason in the second
column, and the text report names the jobs that need attention (the real `zoho-convert` process
against the simulator).

The CLI has no poll-timeout or settling flags, so a run that would wait on a lost job (60 s
when no job of the run has finished yet) or on a job that never finishes (the 15-minute poll
timeout) is stopped with Ctrl-C once it is in that state: the interrupted run's report and
file are written by the same code as a finished run's.
"""

from __future__ import annotations

import csv
from pathlib import Path

from cli_helpers import (
    FAST_POLL,
    StartSim,
    interrupt,
    no_traceback,
    run_cli,
    sim_env,
    start_cli,
    wait_until,
    write_ids,
)

from zoho_convert.simulator import Faults, SimulatorThread

IDS = [str(n) for n in range(7100, 7115)]  # three batches of 5


def _rows(path: Path) -> dict[str, str]:
    """The file's `id<TAB>reason` rows, each id once, every row two non-empty columns."""
    rows = list(csv.reader(path.read_text(encoding="utf-8").splitlines(), delimiter="\t"))
    assert all(len(row) == 2 and row[0] and row[1] for row in rows), rows
    listed = dict(rows)
    assert len(listed) == len(rows), "an id listed twice"
    return listed


def _submits(sim: SimulatorThread) -> int:
    async def count() -> int:
        return sim.state.stats.requests_by_endpoint["mass_convert"]

    return sim.call(count())


def test_failed_ids_lists_uncertain_ids_when_submit_replies_are_lost(
    start_sim: StartSim, tmp_path: Path
) -> None:
    """Every submit processed, then answered 500: each batch is uncertain (its job did
    convert, the run cannot know) and the file says so for each id."""
    sim = start_sim(
        seed=5,
        faults=Faults(rate_500=1.0, fault_endpoints={"mass_convert"}, fault_after_processing=True),
    )
    failed_ids = tmp_path / "failed.tsv"
    proc = start_cli(
        "convert", "Quotes", "--to", "Sales_Orders", "--ids-file",
        write_ids(tmp_path / "ids.txt", IDS), "--batch-size", "5", "--failed-ids", failed_ids,
        *FAST_POLL, env=sim_env(sim),
    )
    try:
        # Each submit is processed and its reply lost: the batches wait to be settled (a
        # minute, as no job of the run has finished), so the run is stopped here.
        wait_until(lambda: _submits(sim) == 3 and len(sim.state.jobs) == 3, what="lost submits")
    finally:
        out, err = interrupt(proc)

    assert proc.returncode == 130, err
    listed = _rows(failed_ids)
    assert set(listed) == set(IDS)
    for reason in listed.values():
        assert reason == "uncertain: the submission may have reached Zoho; check before converting"
    assert sim.state.converted_ids("Quotes") == set(IDS)  # the replies were lost, not the jobs
    assert "15 ids are uncertain: their submission may have reached Zoho" in out


def test_failed_ids_lists_the_ids_of_unfinished_jobs_by_job(
    start_sim: StartSim, tmp_path: Path
) -> None:
    """Jobs that never finish: each of their ids is listed with its job and why, and the text
    report has one `job X still running` line per job."""
    sim = start_sim(seed=5, faults=Faults(never_finish_rate=1.0))
    failed_ids = tmp_path / "failed.tsv"
    proc = start_cli(
        "convert", "Quotes", "--to", "Sales_Orders", "--ids-file",
        write_ids(tmp_path / "ids.txt", IDS), "--batch-size", "5", "--failed-ids", failed_ids,
        *FAST_POLL, env=sim_env(sim),
    )

    def every_job_polled() -> bool:
        async def check() -> bool:
            polls = sim.state.stats.polls_per_job
            return len(sim.state.jobs) == 3 and all(polls.get(job, 0) for job in sim.state.jobs)

        return sim.call(check())

    try:
        wait_until(every_job_polled, what="three jobs submitted and polled")
    finally:
        out, err = interrupt(proc)

    assert proc.returncode == 130, err
    listed = _rows(failed_ids)
    assert set(listed) == set(IDS)
    for job_id, job in sim.state.jobs.items():
        for value in job.ids:
            # Stopped before the poll timeout, the job's last status is not kept.
            assert listed[str(value)] == f"job {job_id} still running"
        assert f"job {job_id} still running: zoho-convert status Quotes {job_id} --wait" in out
    assert sim.state.converted_ids("Quotes") == set()


def test_failed_job_has_a_text_line_and_its_ids_in_the_file(
    start_sim: StartSim, tmp_path: Path
) -> None:
    """A FAILED job: the text report has its `job X: FAILED, …` line (whole, for grep) and the
    file lists each of its ids with that job and state."""
    sim = start_sim(seed=5, faults=Faults(failed_job_rate=1.0))
    failed_ids = tmp_path / "failed.tsv"

    result = run_cli(
        "convert", "Quotes", "--to", "Sales_Orders", "--ids-file",
        write_ids(tmp_path / "ids.txt", IDS[:5]), "--failed-ids", failed_ids, *FAST_POLL,
        env=sim_env(sim, COLUMNS="40"),
    )

    assert result.returncode == 1, result.stderr
    no_traceback(result)
    (job_id,) = sim.state.jobs
    assert f"job {job_id}: FAILED, 5 ids: 0 converted, 5 failed, 0 not converted" in (
        result.stdout.splitlines()
    )
    listed = _rows(failed_ids)
    assert set(listed) == set(IDS[:5])
    assert all(reason.startswith(f"job {job_id} FAILED") for reason in listed.values())
    assert result.stdout.splitlines()[-1] == f"5 ids need attention: listed in {failed_ids}"
