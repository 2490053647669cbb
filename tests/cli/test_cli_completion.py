"""`zoho-convert completion bash|zsh`: the scripts complete in a real bash (and zsh if present)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from cli_helpers import TIMEOUT, base_env, run_cli


@pytest.fixture(scope="module")
def bash_script(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bash completion script, written by the real command."""
    result = run_cli("completion", "bash", env=base_env())
    assert result.returncode == 0, result.stderr
    path = tmp_path_factory.mktemp("completion") / "zoho-convert.bash"
    path.write_text(result.stdout)
    return path


def _complete(script: Path, line: str, cwd: Path | None = None) -> list[str]:
    """What bash offers for ``line`` (the cursor at its end), with the script loaded."""
    words = line.split(" ")
    program = (
        f"source {script}\n"
        f"COMP_WORDS=({' '.join(repr(word) for word in words)})\n"
        f"COMP_CWORD={len(words) - 1}\n"
        "_zoho_convert\n"
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    result = subprocess.run(
        ["bash", "--norc", "--noprofile", "-c", program], capture_output=True, text=True,
        timeout=TIMEOUT, check=False, cwd=cwd,
    )
    assert result.returncode == 0, result.stderr
    return [line for line in result.stdout.splitlines() if line]


@pytest.mark.skipif(shutil.which("bash") is None, reason="no bash")
def test_bash_completes_commands_options_and_values(bash_script: Path, tmp_path: Path) -> None:
    """Commands, a command's options, option values, module names and files are offered."""
    assert _complete(bash_script, "zoho-convert conv") == [
        "convert", "convert-lead", "convert-record"
    ]
    assert _complete(bash_script, "zoho-convert au") == ["auth"]
    assert _complete(bash_script, "zoho-convert auth ") == ["check"]
    assert "--json" in _complete(bash_script, "zoho-convert auth check --")
    assert _complete(bash_script, "zoho-convert convert --fail") == ["--failed-ids"]
    assert _complete(bash_script, "zoho-convert convert Quotes --progress ") == [
        "auto", "bar", "lines", "none"
    ]
    assert _complete(bash_script, "zoho-convert convert Quotes --to ") == [
        "Sales_Orders", "Invoices"
    ]
    assert "uk" in _complete(bash_script, "zoho-convert status --data-center ")
    assert _complete(bash_script, "zoho-convert convert ") == ["Quotes", "Sales_Orders", "Leads"]
    (tmp_path / "quotes.txt").write_text("1\n")
    assert _complete(bash_script, "zoho-convert convert Quotes --ids-file quo", cwd=tmp_path) == [
        "quotes.txt"
    ]
    assert _complete(bash_script, "zoho-convert completion ") == ["bash", "zsh"]


@pytest.mark.skipif(shutil.which("bash") is None, reason="no bash")
def test_bash_script_registers_the_completion(bash_script: Path) -> None:
    """Sourcing the script registers _zoho_convert for the zoho-convert command."""
    result = subprocess.run(
        ["bash", "--norc", "--noprofile", "-c", f"source {bash_script}; complete -p zoho-convert"],
        capture_output=True, text=True, timeout=TIMEOUT, check=False,
    )

    assert result.returncode == 0, result.stderr
    assert "-F _zoho_convert zoho-convert" in result.stdout


def test_zsh_script_runs_the_bash_completion_through_bashcompinit() -> None:
    """The zsh script loads bashcompinit and then the bash script; zsh parses it if present."""
    zsh = run_cli("completion", "zsh", env=base_env())
    bash = run_cli("completion", "bash", env=base_env())

    assert zsh.returncode == 0
    assert zsh.stdout.startswith("#compdef zoho-convert\n")
    assert "bashcompinit" in zsh.stdout
    assert zsh.stdout.endswith(bash.stdout)
    if shutil.which("zsh"):
        check = subprocess.run(
            ["zsh", "-n"], input=zsh.stdout, capture_output=True, text=True, timeout=TIMEOUT,
            check=False,
        )
        assert check.returncode == 0, check.stderr
