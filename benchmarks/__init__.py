"""Benchmarks of ``zoho_convert.convert_many`` against the official SDK and the theoretical limit.

Run ``python -m benchmarks`` (full run, a few minutes) or ``python -m benchmarks --quick``
(under a minute, for CI: it checks that the harness works and asserts no timing).

Every scenario starts the simulator in its own process (``python -m zoho_convert.simulator``)
and runs the client side in another process, so the client's CPU time and peak RSS are
measured alone. Results land in ``benchmarks/results/`` as JSON, Markdown and a PNG chart.
"""
