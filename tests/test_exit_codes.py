"""Outputs other programs read: exit codes, clean JSON on stdout, help that lists what exists,
and the UI's honest address and warning."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from smart_tuner.cli import main
from smart_tuner.exit_codes import ExitCode
from smart_tuner.track.ui import _url, exposure_warning


def test_exit_codes_are_distinct_and_documented():
    assert len({int(c) for c in ExitCode}) == len(ExitCode)
    readme = Path("README.md").read_text(encoding="utf-8")
    for code in ExitCode:
        assert f"| {int(code)} |" in readme, code


def test_history_json_prints_nothing_but_json(tmp_path, capsys):
    config = tmp_path / "config.yaml"
    history = tmp_path / "history.db"
    config.write_text(yaml.safe_dump({"tracking": {"history": {"path": str(history)}}}))
    assert main(["history", "--json", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert json.loads(out)["db"] == str(history)  # the whole stdout parses: no "Config:" line


def test_ui_shows_the_bound_address_and_warns_off_loopback():
    assert exposure_warning("127.0.0.1") is None and exposure_warning("localhost") is None
    assert exposure_warning("::1") is None
    warning = exposure_warning("0.0.0.0")
    assert warning is not None and "NO authentication" in warning and "ssh -L" in warning
    assert "192.168.1.20" in (exposure_warning("192.168.1.20") or "")
    assert _url("127.0.0.1", 5000) == "http://127.0.0.1:5000/"
    assert _url("192.168.1.20", 5000) == "http://192.168.1.20:5000/"
    everywhere = _url("0.0.0.0", 5000)
    assert "bound to 0.0.0.0" in everywhere and not everywhere.startswith("http://127.0.0.1")


def test_sigterm_stops_a_command_like_ctrl_c(capsys):
    import os
    import signal
    import time

    from smart_tuner.cli import run_command

    def command(args):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # interrupted long before this ends
        return 0

    before = signal.getsignal(signal.SIGTERM)
    assert run_command(command, None) == ExitCode.INTERRUPTED
    assert "Interrupted" in capsys.readouterr().out
    assert signal.getsignal(signal.SIGTERM) is before  # restored afterwards
