"""A real two-node Ray cluster on this machine, for the ENGINE=ray tests.

``RayCluster.start()`` runs ``ray start --head`` and then ``ray start --address ...`` for a
second node, both from the project's cluster environment, each with its own node name and a
custom resource of that name (so a test can tell which node ran what, and pin work to one).
Each ``ray start`` runs in a session of its own: a node's daemons share its process group,
so ``kill_node("worker")`` can SIGKILL exactly one node, as a lost machine would. ``stop()``
ends every process of the cluster (found by its temp folder, its process groups and their
descendants), never anyone else's Ray: ``ray stop`` would stop every Ray on the machine.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
RAY = REPO / ".venvs" / "cluster" / "bin" / "ray"
# For the nodes and the driver alike. Ray 2.60 turns token authentication on for any process
# that finds ~/.ray/auth_token (a local `ray.init()` writes one): say explicitly that this
# throwaway cluster on 127.0.0.1 has none, so a token in the user's home cannot split it.
RAY_ENV = {"RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}
# Notice a dead node within seconds, not Ray's default tens of seconds.
FAST_HEALTH_CHECKS = {"RAY_health_check_initial_delay_ms": "1000", "RAY_health_check_period_ms": "1000",
                      "RAY_health_check_timeout_ms": "1000", "RAY_health_check_failure_threshold": "3", **RAY_ENV}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _stat(pid: int) -> tuple[str, int, int] | None:
    """(state, ppid, pgid) of a process; None when it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()
    return fields[0], int(fields[1]), int(fields[2])


def live_pids() -> dict[int, tuple[str, int, int]]:
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            stat = _stat(int(entry.name))
            if stat and stat[0] != "Z":  # a zombie has ended; only its parent's wait is missing
                found[int(entry.name)] = stat
    return found


class RayCluster:
    """A head node and (``workers=1``) a worker node, each with ``cpus`` CPUs, no GPU and a resource named after it."""

    def __init__(self, env: Mapping[str, str], cpus: int = 1, workers: int = 1) -> None:
        self.env = dict(env, **FAST_HEALTH_CHECKS)
        self.cpus = cpus
        self.workers = workers
        self.temp = Path(tempfile.mkdtemp(prefix="ray", dir="/tmp"))  # Ray's socket paths must stay short
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.groups: dict[str, int] = {}

    def _start(self, name: str, *args: str) -> None:
        command = [str(RAY), "start", f"--node-name={name}", f"--num-cpus={self.cpus}", "--num-gpus=0",
                   f'--resources={{"{name}": 1}}', "--disable-usage-stats", *args]
        proc = subprocess.Popen(command, cwd=self.temp, env=self.env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, start_new_session=True, text=True)
        self.groups[name] = proc.pid
        output, _ = proc.communicate(timeout=180)
        if proc.returncode != 0:
            raise RuntimeError(f"ray start ({name}) failed:\n{output[-3000:]}")

    def start(self) -> RayCluster:
        try:
            self._start("head", "--head", f"--port={self.port}", f"--temp-dir={self.temp}", "--include-dashboard=false",
                        f"--dashboard-port={free_port()}")
            for n in range(self.workers):
                self._start("worker" if n == 0 else f"worker{n + 1}", f"--address={self.address}")
        except BaseException:
            self.stop()
            raise
        return self

    def node_pids(self, name: str) -> list[int]:
        """The processes of one node: its `ray start` process group (raylet, agents, Ray workers)."""
        group = self.groups[name]
        return [pid for pid, (_, _, pgid) in live_pids().items() if pgid == group]

    def kill_node(self, name: str) -> None:
        """SIGKILL one node's Ray processes, as if its machine died (its jobs' make is the task's to clean up)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.groups[name], signal.SIGKILL)

    def pids(self) -> list[int]:
        """Every live process of this cluster: its groups, its temp folder, and their descendants."""
        procs = live_pids()
        marker = str(self.temp).encode()
        ours = {pid for pid, (_, _, pgid) in procs.items() if pgid in self.groups.values()}
        ours |= {pid for pid in procs if marker in _cmdline(pid)}
        grew = True
        while grew:
            more = {pid for pid, (_, ppid, _) in procs.items() if ppid in ours} - ours
            ours |= more
            grew = bool(more)
        return sorted(ours)

    def stop(self) -> None:
        for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
            pids = self.pids()
            for pid in pids:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, sig)
            deadline = time.monotonic() + wait
            while pids and time.monotonic() < deadline:
                time.sleep(0.2)
                pids = self.pids()
            if not pids:
                break
        shutil.rmtree(self.temp, ignore_errors=True)
