"""A worker's exit codes, and the one way it stops at once (nothing past a failure commits)."""

from __future__ import annotations

import logging
import os
from typing import Any, NoReturn

EXIT_SEND_FAILED = 70
"""A produced message (changelog record, dead letter) was lost for good."""
EXIT_APPLY_FAILED = 71
"""An event or a batch failed to apply."""
EXIT_STALLED = 75
"""An assigned partition has pending records but its commit has not moved."""


def exit_worker(
    log: logging.Logger, code: int, message: str, *args: Any, exc_info: bool = False
) -> NoReturn:
    """Log ``message`` as critical and end the process with ``code`` immediately: no
    shutdown path runs that could commit offsets; the supervisor restarts the worker and
    it reprocesses from its last commit (every update is idempotent)."""
    log.critical(message, *args, exc_info=exc_info)
    logging.shutdown()
    os._exit(code)
