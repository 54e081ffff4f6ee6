"""``python -m sidecar``."""

import sys

from sidecar.cli import main

# Guarded: worker processes import the main module again and must not run the command.
if __name__ == "__main__":
    sys.exit(main())
