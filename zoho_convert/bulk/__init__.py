"""The bulk engine: ``convert_many`` and ``resume``, many batches, one report.

Owns: the run's events (``events.py``: the single source of truth), its state machine
(``machine.py``: decisions, no I/O), the driver that performs the I/O (``driver.py``), the
subscribers folding the events (``tally.py`` for the report, ``journal.py`` for resume, the
caller's progress callback), reading the input (``reader.py``, ``idset.py``), failure
isolation (``isolation.py``), adaptive polling (``adaptive.py``) and settling
(``settling.py``).

May import: ``zoho_convert.api`` (through one narrow protocol, ``binding.py``) and this
package. Nothing here imports the CLI, the simulator or ``zoho_convert.fleet``.
"""
