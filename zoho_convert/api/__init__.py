"""The endpoint surface: one request, one reply; it knows nothing of runs.

Owns: the endpoint client (``client.py``: one method per Zoho endpoint, input checked before
anything is sent), the transport (``transport.py``: one aiohttp request under ``RetryPolicy``,
within a request slot), the auth flow (``auth.py``, ``oauth.py``, ``tokens.py``), the wire
format (``wire.py``: the one cattrs converter), models, errors, ids, data centers, and waiting
for one job (``polling.py``).

May import: only modules of this package (and third-party libraries). Nothing here imports
``zoho_convert.bulk``, ``zoho_convert.fleet``, the CLI or the simulator.
"""
