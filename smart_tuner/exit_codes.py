"""Exit codes: the same meaning for every command, so scripts and CI can tell outcomes apart."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0  # finished (a training run stopped by its plan, budget or controller)
    FAILED = 1  # failed while running: disk full, an I/O error, an unexpected error
    BAD_INPUT = 2  # bad input: config, dataset, checkpoint, command-line usage
    NO_STOP = 3  # synthesis: the decoder never predicted the end, no WAV written
    FOLDER_IN_USE = 4  # another live run holds the run folder's lock
    INTERRUPTED = 130  # Ctrl-C / SIGINT: checkpoint saved where a run was going, resumable


class UserError(Exception):
    """An error the user can fix (exit code BAD_INPUT); printed without a traceback."""
