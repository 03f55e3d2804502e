"""`smart-tuner ui`: argument lists bound to 127.0.0.1; children started and stopped cleanly."""

from __future__ import annotations

import io
import socket
import sys

from rich.console import Console
from synthetic_run import tracking_config

from smart_tuner.track.ui import Service, port_free, start_services, stop_services, ui_services


def test_services_are_argument_lists_bound_to_localhost_on_configured_ports(tmp_path):
    config = tracking_config(
        tmp_path,
        **{"tracking.ui.mlflow_port": 5123, "tracking.ui.tensorboard_port": 6123},
    )
    services = ui_services(config, tmp_path / "runs")
    assert [s.name for s in services] == ["MLflow", "TensorBoard"]
    mlflow, tensorboard = services
    for s in services:
        assert isinstance(s.argv, list) and all(isinstance(a, str) for a in s.argv)
        assert s.argv[s.argv.index("--host") + 1] == "127.0.0.1"
    assert mlflow.argv[1:4] == ["-m", "mlflow", "server"]
    assert mlflow.argv[mlflow.argv.index("--port") + 1] == "5123"
    uri = mlflow.argv[mlflow.argv.index("--backend-store-uri") + 1]
    assert uri == f"sqlite:///{(tmp_path / 'smart_tuner' / 'mlflow.db').resolve()}"
    assert tensorboard.argv[tensorboard.argv.index("--logdir") + 1] == str(tmp_path / "runs")
    assert tensorboard.url == "http://127.0.0.1:6123/"
    # a remote tracking server is not started here
    remote = tracking_config(tmp_path, "http://127.0.0.1:5999")
    assert [s.name for s in ui_services(remote, tmp_path)] == ["TensorBoard"]


def test_started_services_print_their_url_and_stop(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    argv = [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"]
    service = Service("fake", argv, f"http://127.0.0.1:{port}/", port)
    out = io.StringIO()
    started = start_services([service], Console(file=out), host="127.0.0.1", ready_seconds=20)
    try:
        assert started == [service]
        assert f"fake: http://127.0.0.1:{port}/" in out.getvalue()
        assert not port_free("127.0.0.1", port)
        # a second one on the same port is refused up front
        again = Service("again", argv, service.url, port)
        assert start_services([again], Console(file=out), host="127.0.0.1") == []
        assert "in use" in out.getvalue()
    finally:
        stop_services(started)
    assert service.process is not None and service.process.returncode is not None
    assert (tmp_path / "smart_tuner" / "ui" / "fake.log").exists()
