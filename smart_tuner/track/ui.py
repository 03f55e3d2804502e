"""`smart-tuner ui`: the MLflow UI, TensorBoard (and optuna-dashboard) on 127.0.0.1.

Each is a child process started from an argument list (never through a shell), in its own
process group so that stopping it also stops its workers. Their output goes to
`smart_tuner/ui/<name>.log` in the working directory. Ctrl-C stops them all.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from rich.console import Console

from smart_tuner.config import Config
from smart_tuner.track.mlflow_tracker import (
    default_artifact_root,
    resolve_tracking_uri,
    sqlite_path,
)

LOG_DIR = Path("smart_tuner") / "ui"


@dataclass
class Service:
    name: str
    argv: list[str]
    url: str
    port: int
    env: dict[str, str] = field(default_factory=dict)  # added to this process's environment
    process: subprocess.Popen | None = None
    log_path: Path | None = None
    _log: IO[bytes] | None = field(default=None, repr=False)


ALL_INTERFACES = ("0.0.0.0", "", "::")


def _url(host: str, port: int) -> str:
    """The address the service is really bound to (all interfaces said as such)."""
    if host in ALL_INTERFACES:
        return (
            f"http://{socket.gethostname()}:{port}/ (bound to {host or '0.0.0.0'}, every "
            f"interface; on this machine http://127.0.0.1:{port}/)"
        )
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def exposure_warning(host: str) -> str | None:
    """Why a non-loopback address is risky, and how to protect it; None on loopback."""
    if is_loopback(host):
        return None
    return (
        f"tracking.ui.host is {host!r}, not a loopback address: the MLflow server and "
        "TensorBoard have NO authentication, so anyone who can reach this machine's address "
        "can read your runs, and through MLflow change or delete them. Prefer "
        "host 127.0.0.1 and an SSH tunnel (ssh -L 5000:127.0.0.1:5000 you@this-machine), or "
        "put them behind a reverse proxy with authentication and TLS, and firewall the ports."
    )


def ui_services(
    config: Config, run_root: Path, *, optuna_storage: str | None = None
) -> list[Service]:
    """What `smart-tuner ui` would start (argument lists, URLs); starts nothing."""
    ui = config.tracking.ui
    services: list[Service] = []
    uri = resolve_tracking_uri(config.tracking.mlflow)
    if not uri.startswith(("http://", "https://", "databricks")):
        argv = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", uri]
        root = default_artifact_root(config.tracking.mlflow, uri)
        if root:
            argv += ["--default-artifact-root", root]
        argv += ["--host", ui.host, "--port", str(ui.mlflow_port), "--workers", "1"]
        # The server's background job runner (GenAI evaluation jobs) is not needed to browse
        # runs and costs several processes.
        env = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
        url = _url(ui.host, ui.mlflow_port)
        services.append(Service("MLflow", argv, url, ui.mlflow_port, env=env))
    argv = [sys.executable, "-m", "tensorboard.main", "--logdir", str(Path(run_root).resolve())]
    argv += ["--host", ui.host, "--port", str(ui.tensorboard_port)]
    services.append(
        Service("TensorBoard", argv, _url(ui.host, ui.tensorboard_port), ui.tensorboard_port)
    )
    dashboard = shutil.which("optuna-dashboard")
    if optuna_storage and dashboard:
        argv = [dashboard, optuna_storage, "--host", ui.host]
        argv += ["--port", str(ui.optuna_dashboard_port)]
        port = ui.optuna_dashboard_port
        services.append(Service("optuna-dashboard", argv, _url(ui.host, port), port))
    return services


def port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def wait_listening(host: str, port: int, process: subprocess.Popen, seconds: float) -> bool:
    target = "127.0.0.1" if host in ("0.0.0.0", "") else host
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        with contextlib.suppress(OSError), socket.create_connection((target, port), timeout=0.5):
            return True
        time.sleep(0.3)
    return False


def start_services(
    services: list[Service], console: Console, *, host: str, ready_seconds: float = 60.0
) -> list[Service]:
    """Start each service whose port is free; print its URL once it answers."""
    started = []
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    for service in services:
        if not port_free(host, service.port):
            console.print(
                f"[yellow]{service.name}: port {service.port} on {host} is in use (another UI "
                "running?); change tracking.ui in config.yaml. Skipped.[/yellow]"
            )
            continue
        service.log_path = LOG_DIR / f"{service.name.lower()}.log"
        service._log = open(service.log_path, "ab")  # noqa: SIM115 - closed in stop_services
        service.process = subprocess.Popen(
            service.argv,
            stdout=service._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **service.env} if service.env else None,
            start_new_session=True,  # its own process group: stopping it stops its workers
        )
        started.append(service)
    for service in started:
        assert service.process is not None
        if wait_listening(host, service.port, service.process, ready_seconds):
            console.print(f"{service.name}: [bold]{service.url}[/bold]")
        else:
            console.print(f"[red]{service.name} did not start; see {service.log_path}[/red]")
    return started


def stop_services(services: list[Service], timeout: float = 10.0) -> None:
    """SIGTERM each service's own process group, then SIGKILL what is left after `timeout`."""
    for service in services:
        if service.process is not None and service.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(service.process.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for service in services:
        if service.process is None:
            continue
        try:
            service.process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(service.process.pid, signal.SIGKILL)
            service.process.wait()
        if service._log is not None:
            service._log.close()


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _interrupt_on_sigterm() -> dict[int, object]:
    """Ctrl-C and SIGTERM both stop the dashboards (SIGINT may arrive ignored when started in
    the background)."""
    previous: dict[int, object] = {}
    for signum, handler in (
        (signal.SIGINT, signal.default_int_handler),
        (signal.SIGTERM, _raise_interrupt),
    ):
        with contextlib.suppress(ValueError):  # not the main thread: leave signals alone
            previous[signum] = signal.signal(signum, handler)
    return previous


def _restore(previous: dict[int, object]) -> None:
    for signum, handler in previous.items():
        signal.signal(signum, handler)  # type: ignore[arg-type]


def launch_ui(
    config: Config,
    run_root: Path,
    *,
    optuna_storage: str | None = None,
    console: Console | None = None,
) -> int:
    """Start the dashboards, print their URLs, wait for Ctrl-C (or for all of them to exit)."""
    console = console or Console()
    services = ui_services(config, run_root, optuna_storage=optuna_storage)
    uri = resolve_tracking_uri(config.tracking.mlflow)
    if not any(s.name == "MLflow" for s in services):
        console.print(f"MLflow tracking server: {uri} (not started here)")
    db = sqlite_path(uri)
    if db is not None and not db.exists():
        console.print(f"[yellow]No MLflow database yet at {db}: train a run first.[/yellow]")
    host = config.tracking.ui.host
    warning = exposure_warning(host)
    if warning:
        console.print(f"[bold yellow]Warning:[/bold yellow] {warning}")
    started = start_services(services, console, host=host)
    if not started:
        return 1
    console.print("Press Ctrl-C to stop.")
    previous = _interrupt_on_sigterm()
    try:
        while any(s.process is not None and s.process.poll() is None for s in started):
            time.sleep(0.5)
    except KeyboardInterrupt:
        console.print("Stopping the dashboards...")
        return 0
    finally:
        stop_services(started)
        _restore(previous)
    console.print("[red]The dashboards exited; see their logs in smart_tuner/ui/.[/red]")
    return 1
