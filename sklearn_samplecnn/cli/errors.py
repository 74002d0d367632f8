"""How the command reports: its name, exit statuses, usage and run-time errors, stderr lines.

Standard library only; every other module of the command line imports it.
"""

from __future__ import annotations

import sys

__all__ = ["EXIT_FAILURE", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_USAGE", "PROG", "CLIError", "say"]

PROG = "samplecnn"
EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
#: Ctrl-C (SIGINT): 128 + 2, as shells report a process ended by it.
EXIT_INTERRUPTED = 130


class CLIError(Exception):
    """An error reported as ``samplecnn: error: <message>`` with exit status ``code``."""

    def __init__(self, message: str, code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.code = code


def say(message: str) -> None:
    """One line on standard error, flushed (progress, warnings, what was written)."""
    print(message, file=sys.stderr, flush=True)
