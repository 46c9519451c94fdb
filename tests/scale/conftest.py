"""The real services the scale-out tests run against, started and stopped here on loopback.

- ``ray_address``: a Ray head on 127.0.0.1 (2 CPUs, a small object store, no dashboard), started
  with ``ray start --head --block`` in its own process group so that the fixture stops exactly the
  processes it started. ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` keeps Ray on the loopback address
  (otherwise it swaps 127.0.0.1 for the machine's routable address).
- ``postgres_dsn``: a PostgreSQL server from Debian's binaries (initdb + pg_ctl) on a temp folder
  and a free loopback port, run as the ``postgres`` user when the tests run as root.
Each fixture skips, with the reason, only when its software is absent.
"""

from __future__ import annotations

import os

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # read when ray is imported: set it first
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # a loopback-only cluster; no token file in ~/.ray

import importlib.util
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_port(port: int, process: subprocess.Popen, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the Ray head exited early with code {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"the Ray head did not open port {port} within {seconds:.0f} s")


def _connect(ray, address: str, seconds: float) -> None:
    """Join the head as this process's driver, retrying: on a loaded 2-core machine the head's
    services can take a while after its port opens."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            ray.init(address=address, namespace="llmga", log_to_driver=False)
            return
        except ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(2)


@pytest.fixture(scope="session")
def ray_address() -> Iterator[str]:
    if importlib.util.find_spec("ray") is None:
        pytest.skip("ray is not installed: pip install -e '.[scale]' (./setup.sh --dev installs it)")
    ray_cli = Path(sys.executable).with_name("ray")
    port = free_port()
    temp_dir = tempfile.mkdtemp(prefix="ray-", dir="/tmp")  # short: Ray's socket paths live under it
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
    }
    head = subprocess.Popen(
        [str(ray_cli), "start", "--head", "--block", "--node-ip-address=127.0.0.1", f"--port={port}", "--num-cpus=2",
         "--object-store-memory=100000000", "--include-dashboard=false", "--disable-usage-stats", f"--temp-dir={temp_dir}"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    import ray

    try:
        _wait_for_port(port, head, 120)
        address = f"127.0.0.1:{port}"
        _connect(ray, address, 180)  # the backends reuse this connection
        yield address
    finally:
        if ray.is_initialized():
            ray.shutdown()
        os.killpg(head.pid, signal.SIGTERM)  # `ray start --block` stops the processes it started
        try:
            head.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)
            head.wait(timeout=30)
        shutil.rmtree(temp_dir, ignore_errors=True)


def _postgres_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))
    return str(candidates[-1]) if candidates else None


@pytest.fixture(scope="session")
def postgres_dsn() -> Iterator[str]:
    initdb, pg_ctl = _postgres_bin("initdb"), _postgres_bin("pg_ctl")
    if not (initdb and pg_ctl):
        pytest.skip("PostgreSQL binaries (initdb, pg_ctl) are absent: ./setup.sh --dev installs Debian's postgresql")
    if importlib.util.find_spec("psycopg") is None or importlib.util.find_spec("langgraph.checkpoint.postgres") is None:
        pytest.skip("psycopg / langgraph-checkpoint-postgres are not installed: pip install -e '.[scale]'")
    as_user: list[str] = []
    root = Path(tempfile.mkdtemp(prefix="llmga-pg-", dir="/tmp"))
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        try:
            shutil.chown(root, "postgres", "postgres")
        except (LookupError, PermissionError):
            pytest.skip("running as root and there is no 'postgres' user to run the server as")
        as_user = ["runuser", "-u", "postgres", "--"]
    data, sockets, log = root / "data", root / "sock", root / "server.log"
    port = free_port()
    run = {"stdout": subprocess.DEVNULL, "stderr": subprocess.PIPE, "timeout": 120}
    subprocess.run([*as_user, initdb, "-D", str(data), "-U", "llmga", "--auth=trust", "-E", "UTF8", "--no-locale"], check=True, **run)
    subprocess.run([*as_user, "mkdir", str(sockets)], check=True, **run)
    options = f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    subprocess.run([*as_user, pg_ctl, "-D", str(data), "-o", options, "-l", str(log), "-w", "-t", "60", "start"], check=True, **run)
    try:
        yield f"postgresql://llmga@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*as_user, pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"], check=False,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
        shutil.rmtree(root, ignore_errors=True)
