"""``python -m zoho_convert.simulator --port PORT --token TOKEN [options]``."""

from .cli import main

raise SystemExit(main())
