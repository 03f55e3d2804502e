"""Short critical sections that Ctrl-C and SIGTERM must not cut in half.

An interrupt that lands inside `torch.save` leaves PyTorch's zip writer broken (it then fails
with "unexpected pos" instead of stopping), and the run exits with a traceback instead of
saving its checkpoint. Inside `signals_deferred()` the signals are only noted; when the block
ends the previous handlers are back and a noted signal is delivered to them, so the interrupt
still happens - right after the write is complete.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from typing import Any

DEFERRED = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """Hold SIGINT/SIGTERM until the block is done (a no-op outside the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    noted: list[int] = []

    def note(signum: int, frame: Any) -> None:
        noted.append(signum)

    previous = {signum: signal.signal(signum, note) for signum in DEFERRED}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if noted:
            handler = previous[noted[0]]
            if callable(handler):
                handler(noted[0], None)  # e.g. raises KeyboardInterrupt
            elif handler == signal.SIG_DFL:
                signal.raise_signal(noted[0])
