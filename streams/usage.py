"""How every ``homefeed`` command refuses bad input: one line on stderr, exit status 2."""

from __future__ import annotations

import sys
from typing import NoReturn


def usage_error(message: str) -> NoReturn:
    """One line on stderr and exit status 2, as for any bad argument."""
    print(f"homefeed: {message}", file=sys.stderr)
    raise SystemExit(2)
