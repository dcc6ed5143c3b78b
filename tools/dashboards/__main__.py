"""``python -m tools.dashboards [--out DIR] [--check]``."""

from __future__ import annotations

import sys

from tools.dashboards import main

if __name__ == "__main__":
    sys.exit(main())
