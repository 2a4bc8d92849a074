"""``python -m ossfast``: the command line (see ossfast.cli)."""
import sys

from .cli import main

sys.exit(main())
