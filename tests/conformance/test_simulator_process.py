"""The simulator's process entry point: start it, read its URL, make a request, SIGINT it."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import urllib.request


def test_module_entry_point_serves_and_exits_cleanly_on_sigint() -> None:
    """`python -m zoho_convert.simulator --port 0 --token T` prints url/token, serves, exits 0."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "zoho_convert.simulator", "--port", "0", "--token", "tok-123",
         "--seed", "3"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None
        url_line = proc.stdout.readline().strip()
        token_line = proc.stdout.readline().strip()
        assert url_line.startswith("url: http://127.0.0.1:"), url_line
        assert token_line == "token: tok-123"
        url = url_line.removeprefix("url: ")
        request = urllib.request.Request(
            url + "/crm/v8/settings/modules/Quotes",
            headers={"Authorization": "Zoho-oauthtoken tok-123"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200
            assert json.load(response)["modules"][0]["api_name"] == "Quotes"
        with urllib.request.urlopen(url + "/__simulator__/state?jobs=0", timeout=10) as response:
            assert json.load(response)["stats"]["requests_served"] == 1
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=20)
        assert proc.returncode == 0, stderr
        assert "Traceback" not in stderr
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def test_entry_point_rejects_nonsense_options() -> None:
    """An out-of-range fault option is a usage error (exit status 2), not a traceback."""
    result = subprocess.run(
        [sys.executable, "-m", "zoho_convert.simulator", "--rate-429", "2"],
        capture_output=True, text=True, timeout=30, check=False,
    )
    assert result.returncode == 2
    assert "rate_429" in result.stderr and "Traceback" not in result.stderr
