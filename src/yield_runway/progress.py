"""Progress messages for slow steps: shown on an interactive terminal, quiet in CI and logs."""

from __future__ import annotations

import logging
import os
import sys


def interactive() -> bool:
    """True when stderr is a terminal and no CI is declared."""
    return sys.stderr.isatty() and not os.environ.get("CI")


def report_progress(logger: logging.Logger, message: str, *args: object) -> None:
    """Log a progress line at INFO on a terminal, at DEBUG otherwise."""
    logger.log(logging.INFO if interactive() else logging.DEBUG, message, *args)
