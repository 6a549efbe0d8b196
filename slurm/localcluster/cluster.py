"""A single-node Slurm (munged, mariadbd, slurmdbd, slurmctld, slurmd) on loopback, run by hand."""
from __future__ import annotations

import fcntl
import os
import shutil
import stat
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from slurm.localcluster import daemons
from slurm.localcluster.config import (Layout, Settings, default_state_dir, new_settings, render,
                                       write_configs, write_private)
from slurm.localcluster.errors import ClusterUnavailable
from slurm.localcluster.install import ensure_installed, find_binary

DAEMONS = ("munged", "mariadbd", "slurmdbd", "slurmctld", "slurmd")  # start order
_READY_FILE = ".synthscale-initialised"  # written once mariadb-install-db has finished


def check_run_dir(path: Path) -> None:
    """The runtime folder (pid files, sockets) is this user's own folder, or absent: the /tmp fallback's
    name is computable by anyone, and a link planted there made `up` (as root) remove pid files through
    it and then fail with 'File exists'. A link, a file or another user's folder is refused in one line."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid():
        what = "a link" if stat.S_ISLNK(st.st_mode) else "not a folder" if not stat.S_ISDIR(st.st_mode) \
            else f"a folder of user id {st.st_uid}"
        raise ClusterUnavailable(f"the cluster's runtime folder {path} is {what}, not this user's own folder: "
                                 "remove it (someone may have planted it) and run the command again")


class LocalCluster:
    """One cluster instance whose files all live under `state_dir`."""

    def __init__(self, state_dir: Path | None = None) -> None:
        self.layout = Layout(Path(state_dir or default_state_dir()).resolve())

    @property
    def slurm_conf(self) -> Path:
        """The slurm.conf clients must see as $SLURM_CONF."""
        return self.layout.slurm_conf

    def client_env(self) -> dict[str, str]:
        """The environment for sbatch, squeue, sacct and submitit: os.environ plus SLURM_CONF."""
        return dict(os.environ, SLURM_CONF=str(self.slurm_conf))

    def pids(self) -> dict[str, int | None]:
        """Each daemon's pid, or None when it is not running."""
        lay = self.layout
        return {name: daemons.read_pid(lay.pid_file(name), lay.state_dir) for name in DAEMONS}

    def node_state(self) -> str:
        """The node's state as sinfo reports it ('idle', 'mixed', 'down*', ...) or 'unreachable'."""
        if not self.slurm_conf.exists() or shutil.which("sinfo") is None:
            return "unreachable"
        try:
            res = subprocess.run(["sinfo", "-h", "-N", "-n", "localhost", "-o", "%T"], text=True,
                                 capture_output=True, env=self.client_env(), timeout=30)
        except subprocess.TimeoutExpired:  # a controller that accepts but never answers
            return "unreachable"
        states = res.stdout.split()  # one line per partition the node is in; all say the same
        return states[0] if res.returncode == 0 and states else "unreachable"

    def healthy(self) -> bool:
        """True if every daemon runs and the node accepts jobs."""
        if not all(self.pids().values()):
            return False
        return self.node_state().rstrip("*~#") in ("idle", "mixed", "allocated", "completing")

    def up(self, timeout_s: float = 120.0) -> bool:
        """Make the cluster run (install packages if needed); True if started, False if reused."""
        with self._lock():
            if self.healthy():
                return False
            ensure_installed(self.layout.log_dir / "apt.log")
            if os.geteuid() != 0:
                raise ClusterUnavailable("starting the local Slurm needs root (slurmd runs jobs as "
                                         "their users)")
            self._stop_all()
            try:
                self._start_all(timeout_s)
            except (subprocess.CalledProcessError, OSError) as exc:  # mungekey, install-db, spawn
                detail = getattr(exc, "stderr", b"") or b""
                last = detail.decode(errors="replace").strip().splitlines()[-1:] or [str(exc)]
                raise ClusterUnavailable(f"starting the local Slurm failed: {last[0]}") from exc
            return True

    def down(self) -> None:
        """Cancel every job, then stop all daemons of this cluster (by pid file and by marker)."""
        with self._lock():
            if self.healthy():
                subprocess.run(["scancel", "--full", "--user", str(os.geteuid())],
                               env=self.client_env(), capture_output=True, timeout=30)
            self._stop_all()

    @contextmanager
    def session(self, timeout_s: float = 120.0) -> Iterator["LocalCluster"]:
        """Use the cluster for a while; tear it down after the last user, unless `up` kept it."""
        self.layout.state_dir.mkdir(parents=True, exist_ok=True)
        with (self.layout.state_dir / "users.lock").open("a") as users:
            fcntl.flock(users, fcntl.LOCK_SH)  # one shared hold per concurrent session
            self.up(timeout_s)
            try:
                yield self
            finally:
                try:
                    fcntl.flock(users, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    return  # another session still uses it and will tear it down
                if not self._keep_file.exists():
                    self.down()

    def keep(self, keep: bool) -> None:
        """Mark the cluster as started by a person (`up` on the command line): sessions leave it up."""
        self._keep_file.parent.mkdir(parents=True, exist_ok=True)
        if keep:
            self._keep_file.touch()
        else:
            self._keep_file.unlink(missing_ok=True)

    @property
    def _keep_file(self) -> Path:
        return self.layout.state_dir / "keep"

    @contextmanager
    def _lock(self) -> Iterator[None]:
        self.layout.state_dir.mkdir(parents=True, exist_ok=True)
        with (self.layout.state_dir / "updown.lock").open("a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            yield

    def _stop_all(self) -> None:
        """Stop recorded daemons in reverse start order, then any stray process with our marker."""
        lay = self.layout
        check_run_dir(lay.run_dir)  # (up and down both begin here)
        for name in reversed(DAEMONS):
            pid = daemons.read_pid(lay.pid_file(name), lay.state_dir)
            if pid is not None:
                daemons.terminate([pid])
            lay.pid_file(name).unlink(missing_ok=True)
        daemons.terminate(daemons.marked_pids(lay.state_dir))

    def _start_all(self, timeout_s: float) -> None:
        lay = self.layout
        for sub in ("slurmctld", "slurmd"):  # a fresh cluster: no job state from an older one
            shutil.rmtree(lay.state_dir / sub, ignore_errors=True)
            (lay.state_dir / sub).mkdir(parents=True)
        shutil.rmtree(lay.run_dir, ignore_errors=True)
        lay.run_dir.mkdir(parents=True)
        lay.run_dir.chmod(0o755)  # munged insists that everyone may reach its socket
        settings = new_settings()
        write_configs(lay, settings)
        deadline = time.monotonic() + timeout_s
        for name in DAEMONS:
            getattr(self, f"_start_{name}")(settings, max(5.0, deadline - time.monotonic()))

    def _spawn(self, name: str, argv: list[str]) -> tuple[int, Path]:
        out = self.layout.log_dir / f"{name}.out"
        env = dict(os.environ, SLURM_CONF=str(self.slurm_conf))
        pid = daemons.spawn(argv, self.layout.state_dir, self.layout.pid_file(name), out, env)
        return pid, out

    def _start_munged(self, settings: Settings, timeout_s: float) -> None:
        lay = self.layout
        lay.munge_key.parent.mkdir(parents=True, exist_ok=True)
        if not lay.munge_key.exists():
            subprocess.run([find_binary("mungekey"), "--create", f"--keyfile={lay.munge_key}"],
                           check=True, capture_output=True)
        lay.munge_key.chmod(0o600)
        pid, out = self._spawn("munged", [
            find_binary("munged"), "--foreground", "--force", f"--socket={lay.munge_socket}",
            f"--key-file={lay.munge_key}", f"--pid-file={lay.pid_file('munged')}",
            f"--log-file={lay.log_dir / 'munged.log'}",
            f"--seed-file={lay.munge_key.parent / 'munged.seed'}"])
        daemons.wait_until(self._munge_works, "munged", pid, out, timeout_s)

    def _munge_works(self) -> bool:
        sock = str(self.layout.munge_socket)
        return os.path.exists(sock) and subprocess.run(
            ["munge", "-n", "-S", sock], capture_output=True).returncode == 0

    def _start_mariadbd(self, settings: Settings, timeout_s: float) -> None:
        lay = self.layout
        data = lay.db_dir / "data"
        if not (data / _READY_FILE).exists():  # absent or half-initialised: start over
            shutil.rmtree(data, ignore_errors=True)
            data.mkdir(parents=True)
            subprocess.run([find_binary("mariadb-install-db"), "--no-defaults", f"--datadir={data}",
                            "--user=root", "--auth-root-authentication-method=socket",
                            "--skip-test-db"], check=True, capture_output=True)
            (data / _READY_FILE).touch()
        init_sql = lay.conf_dir / "mariadb-init.sql"
        write_private(init_sql, render("mariadb-init.sql", lay, settings))  # it holds the database password
        pid, out = self._spawn("mariadbd", [
            find_binary("mariadbd"), "--no-defaults", f"--datadir={data}", "--user=root",
            f"--socket={lay.run_dir / 'mysqld.sock'}", f"--pid-file={lay.pid_file('mariadbd')}",
            f"--port={settings.db_port}", "--bind-address=127.0.0.1", "--skip-name-resolve",
            f"--init-file={init_sql}", "--innodb-buffer-pool-size=32M"])
        daemons.wait_until(lambda: daemons.port_open(settings.db_port), "mariadbd", pid, out, timeout_s)

    def _start_slurmdbd(self, settings: Settings, timeout_s: float) -> None:
        pid, out = self._spawn("slurmdbd", [find_binary("slurmdbd"), "-D"])
        daemons.wait_until(lambda: daemons.port_open(settings.dbd_port), "slurmdbd", pid, out,
                           timeout_s)
        # Register the cluster before slurmctld connects, so accounting works from job 1 on.
        daemons.wait_until(lambda: self._register(settings.cluster_name), "slurmdbd cluster "
                           "registration", pid, out, timeout_s)

    def _register(self, name: str) -> bool:
        env = self.client_env()
        try:
            listed = subprocess.run(["sacctmgr", "-n", "-P", "list", "cluster", "format=cluster"],
                                    env=env, capture_output=True, text=True, timeout=30)
            if listed.returncode == 0 and name in listed.stdout.split():
                return True
            subprocess.run(["sacctmgr", "-i", "add", "cluster", name], env=env,
                           capture_output=True, timeout=30)
        except subprocess.TimeoutExpired:
            pass  # slurmdbd still busy: wait_until polls again or reports the timeout in one line
        return False

    def _start_slurmctld(self, settings: Settings, timeout_s: float) -> None:
        pid, out = self._spawn("slurmctld", [find_binary("slurmctld"), "-D", "-c", "-f",
                                             str(self.slurm_conf)])
        daemons.wait_until(lambda: daemons.port_open(settings.ctld_port), "slurmctld", pid, out,
                           timeout_s)

    def _start_slurmd(self, settings: Settings, timeout_s: float) -> None:
        pid, out = self._spawn("slurmd", [find_binary("slurmd"), "-D", "-N", "localhost", "-f",
                                          str(self.slurm_conf)])
        daemons.wait_until(lambda: self.node_state() == "idle", "slurmd (node idle)", pid, out,
                           timeout_s)
