"""Start, find and stop the cluster's daemons; every daemon carries a marker in its environment."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Callable, Iterator

from slurm.localcluster.errors import ClusterUnavailable

# Set in each daemon's environment: finds our daemons even when a pid file is stale or gone,
# without ever touching a process some other cluster (or user) started.
MARKER = "SYNTHSCALE_CLUSTER"


def _marker_value(state_dir: Path) -> str:
    return f"{MARKER}={state_dir}"


def _environ(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []


def is_alive(pid: int) -> bool:
    """True if `pid` is a live process (a zombie is dead; reap it if it is our child)."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return False
    return fields[0] not in ("Z", "X")


def belongs_to(pid: int, state_dir: Path) -> bool:
    """True if `pid` is alive and was started for the cluster in `state_dir`."""
    return is_alive(pid) and _marker_value(state_dir) in _environ(pid)


def marked_pids(state_dir: Path) -> list[int]:
    """Every live process started for this cluster (including ones whose pid file is lost)."""
    pids = [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()]
    return [pid for pid in pids if pid != os.getpid() and belongs_to(pid, state_dir)]


def read_pid(pid_file: Path, state_dir: Path) -> int | None:
    """The pid recorded in `pid_file` if that process is alive and ours, else None."""
    try:
        pid = int(pid_file.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pid if belongs_to(pid, state_dir) else None


def spawn(argv: list[str], state_dir: Path, pid_file: Path, log_file: Path,
          env: dict[str, str]) -> int:
    """Start `argv` in its own session (it outlives us), record its pid, return it."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    full_env = dict(env, **dict([_marker_value(state_dir).split("=", 1)]))
    with log_file.open("ab") as log:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                env=full_env, start_new_session=True, close_fds=True)
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    pid_file.write_text(f"{proc.pid}\n")
    return proc.pid


def terminate(pids: list[int], timeout_s: float = 15.0) -> None:
    """SIGTERM each pid, wait up to `timeout_s` for all to exit, then SIGKILL the rest."""
    for pid in pids:
        _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and any(is_alive(pid) for pid in pids):
        time.sleep(0.1)
    for pid in pids:
        if is_alive(pid):
            _signal(pid, signal.SIGKILL)
    for pid in pids:  # SIGKILL cannot be ignored; wait until the kernel has reaped it
        while is_alive(pid):
            time.sleep(0.05)


def _signal(pid: int, sig: signal.Signals) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def port_open(port: int) -> bool:
    """True if something accepts TCP connections on 127.0.0.1:`port`."""
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def wait_until(ready: Callable[[], bool], what: str, pid: int | None, log_file: Path,
               timeout_s: float = 60.0) -> None:
    """Poll `ready` until true; fail with the daemon's last log line if it dies or times out."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if ready():
            return
        if pid is not None and not is_alive(pid):
            raise ClusterUnavailable(f"{what} exited at start: {last_line(log_file)} (log: {log_file})")
        time.sleep(0.2)
    raise ClusterUnavailable(f"{what} not ready after {timeout_s:.0f} s: {last_line(log_file)} "
                             f"(log: {log_file})")


def last_line(path: Path) -> str:
    """The last non-empty line of a log file, or a note that there is none."""
    lines = list(_tail(path, 1))
    return lines[-1] if lines else "(empty log)"


def _tail(path: Path, n_lines: int) -> Iterator[str]:
    try:
        lines = [ln for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return iter(())
    return iter(lines[-n_lines:])
