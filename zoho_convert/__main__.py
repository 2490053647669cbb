"""``python -m zoho_convert``: the same as the ``zoho-convert`` command."""

import sys

from zoho_convert.cli import main

if __name__ == "__main__":
    sys.exit(main())
