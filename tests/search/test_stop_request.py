"""Ctrl-C that Python swallows (raised inside a finaliser) still stops a search worker."""

from __future__ import annotations

import signal

import pytest

from smart_tuner.search.worker import StopRequest


class SignalledWhenCollected:
    """Like SQLAlchemy's weakref callbacks: Ctrl-C arriving here is printed and ignored."""

    def __del__(self) -> None:
        signal.raise_signal(signal.SIGINT)


@pytest.fixture
def stop():
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    request = StopRequest()
    request.install()
    yield request
    for signum, handler in saved.items():
        signal.signal(signum, handler)


def test_an_interrupt_swallowed_by_a_finaliser_is_raised_at_the_next_check(stop):
    SignalledWhenCollected()  # collected at once: the KeyboardInterrupt is "ignored"
    assert stop.signum == signal.SIGINT
    with pytest.raises(KeyboardInterrupt):
        stop.check()


def test_no_signal_no_interrupt(stop):
    stop.check()
    assert stop.signum is None


def test_sigterm_is_an_interrupt_too(stop):
    with pytest.raises(KeyboardInterrupt):
        signal.raise_signal(signal.SIGTERM)
    assert stop.signum == signal.SIGTERM
