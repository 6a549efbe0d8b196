"""Where a local cluster keeps its files, and its configuration rendered from the templates."""
from __future__ import annotations

import hashlib
import json
import os
import secrets
import socket
import stat
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from string import Template

TEMPLATES = Path(__file__).resolve().parent / "templates"
LOW_PARTITION = "low"     # PriorityTier 1, the default: jobs here can be preempted
HIGH_PARTITION = "high"   # PriorityTier 10: a job here preempts (requeues) jobs in `low`
# A Unix socket path must fit in sun_path (108 bytes on Linux, including the NUL).
_MAX_SOCKET_PATH = 100


def repo_root() -> Path:
    """The checkout this module lives in (two levels above slurm/localcluster/)."""
    return Path(__file__).resolve().parents[2]


def default_state_dir() -> Path:
    """`$SYNTHSCALE_CLUSTER_DIR`, else `<repo>/.cache/localcluster`."""
    env = os.environ.get("SYNTHSCALE_CLUSTER_DIR")
    return Path(env).resolve() if env else repo_root() / ".cache" / "localcluster"


def _world_traversable(path: Path) -> bool:
    """True if every ancestor of `path` can be entered by any user (munged insists on it)."""
    for part in [path, *path.parents]:
        if part.exists() and not os.stat(part).st_mode & stat.S_IXOTH:
            return False
    return True


def runtime_dir(state_dir: Path) -> Path:
    """Directory for sockets and pid files: under the state dir, else a short private /tmp path."""
    candidate = state_dir / "run"
    if len(str(candidate / "munge.socket")) <= _MAX_SOCKET_PATH and _world_traversable(state_dir):
        return candidate
    digest = hashlib.sha1(str(state_dir).encode()).hexdigest()[:10]
    return Path(tempfile.gettempdir()) / f"synthscale-slurm-{digest}"


@dataclass(frozen=True)
class Layout:
    """Every path of one cluster instance, derived from its state directory."""

    state_dir: Path

    @property
    def run_dir(self) -> Path:
        return runtime_dir(self.state_dir)

    @property
    def conf_dir(self) -> Path:
        return self.state_dir / "etc"

    @property
    def slurm_conf(self) -> Path:
        return self.conf_dir / "slurm.conf"

    @property
    def log_dir(self) -> Path:
        return self.state_dir / "log"

    @property
    def db_dir(self) -> Path:
        return self.state_dir / "mariadb"

    @property
    def munge_key(self) -> Path:
        return self.state_dir / "munge" / "munge.key"

    @property
    def munge_socket(self) -> Path:
        return self.run_dir / "munge.socket"

    @property
    def settings_file(self) -> Path:
        return self.conf_dir / "settings.json"

    def pid_file(self, daemon: str) -> Path:
        """Where the pid of `daemon` is recorded."""
        return self.run_dir / f"{daemon}.pid"


@dataclass(frozen=True)
class Settings:
    """The values a cluster instance was configured with (ports are chosen at `up` time)."""

    cluster_name: str
    ctld_port: int
    slurmd_port: int
    dbd_port: int
    db_port: int
    db_password: str
    cpus: int
    memory_mb: int

    def save(self, path: Path) -> None:
        """Write as JSON (mode 600: it holds the database password)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        write_private(path, json.dumps(asdict(self), indent=1))

    @classmethod
    def load(cls, path: Path) -> "Settings":
        """Read back what `save` wrote."""
        return cls(**json.loads(path.read_text()))


def write_private(path: Path, text: str) -> None:
    """Write `text` to a file only its owner may read (mode 600) from its creation on: written with
    the default mode and chmod-ed after, a file holding the database password was readable by anyone
    for that moment. A file already there is made private before it is written."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        os.fchmod(fd, 0o600)  # O_CREAT's mode applies to a new file only
        fh.write(text)


def free_ports(n_ports: int) -> list[int]:
    """`n_ports` distinct loopback ports that are free right now (held open together, then released)."""
    socks = []
    try:
        for _ in range(n_ports):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            socks.append(sock)
        return [sock.getsockname()[1] for sock in socks]
    finally:
        for sock in socks:
            sock.close()


def node_memory_mb() -> int:
    """RealMemory to declare: 90 % of MemTotal, so slurmd never finds less than configured."""
    with open("/proc/meminfo") as fh:
        kib = next(int(line.split()[1]) for line in fh if line.startswith("MemTotal:"))
    return int(kib / 1024 * 0.9)


def new_settings() -> Settings:
    """Fresh settings: free ports, this machine's CPUs and memory, a random database password."""
    ctld, slurmd, dbd, db = free_ports(4)
    return Settings(cluster_name="synthscale", ctld_port=ctld, slurmd_port=slurmd, dbd_port=dbd,
                    db_port=db, db_password=secrets.token_hex(12), cpus=os.cpu_count() or 1,
                    memory_mb=node_memory_mb())


def render(template: str, layout: Layout, settings: Settings) -> str:
    """The text of `templates/<template>` with every $name filled in (a missing name is a bug)."""
    values = dict(asdict(settings), run_dir=layout.run_dir, log_dir=layout.log_dir,
                  munge_socket=layout.munge_socket, ctld_state=layout.state_dir / "slurmctld",
                  slurmd_spool=layout.state_dir / "slurmd", low_partition=LOW_PARTITION,
                  high_partition=HIGH_PARTITION)
    return Template((TEMPLATES / template).read_text()).substitute(values)


def write_configs(layout: Layout, settings: Settings) -> None:
    """Write slurm.conf, slurmdbd.conf (mode 600, as slurmdbd demands) and the settings."""
    layout.conf_dir.mkdir(parents=True, exist_ok=True)
    settings.save(layout.settings_file)
    layout.slurm_conf.write_text(render("slurm.conf", layout, settings))
    write_private(layout.conf_dir / "slurmdbd.conf", render("slurmdbd.conf", layout, settings))  # its StoragePass
