"""`zoho-convert resume` on a journal another process is running: exit 2, naming the holder."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from cli_helpers import one_line, run_cli, sim_env

from zoho_convert.simulator import SimulatorThread

ROOT = Path(__file__).resolve().parents[2]

HOLDER = """
import asyncio, sys
from zoho_convert.bulk.journal import Journal

async def main() -> None:
    journal = await Journal.open(sys.argv[1])
    print("held", flush=True)
    await asyncio.sleep(3600)

asyncio.run(main())
"""


def test_resume_of_a_journal_in_use_exits_2_and_names_the_process(
    sim: SimulatorThread, tmp_path: Path
) -> None:
    """A second resume of one run (a cron overlap) fails at once with exit 2 and the holder's
    pid; once the holder is gone, the same command resumes the run."""
    env = sim_env(sim)
    journal = tmp_path / "run.journal"
    ids = tmp_path / "ids.txt"
    ids.write_text("\n".join(str(n) for n in range(300_001, 300_101)) + "\n")
    first = run_cli(
        "convert", "Quotes", "--to", "Invoices", "--ids-file", ids, "--journal", journal,
        env=env,
    )
    assert first.returncode == 0, first.stderr
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(journal)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        second = run_cli("resume", "--journal", journal, env=env)
    finally:
        holder.kill()
        holder.wait()
    assert second.returncode == 2, second.stderr
    assert f"in use by process {holder.pid} on " in one_line(second.stderr)
    again = run_cli("resume", "--journal", journal, "--json", env=env)
    assert again.returncode == 0, again.stderr
