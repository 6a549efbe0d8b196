"""Install the Debian packages of a single-node Slurm (with munge and MariaDB-backed accounting)."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from slurm.localcluster.errors import ClusterUnavailable

PACKAGES = ("slurmctld", "slurmd", "slurm-client", "munge", "slurmdbd", "mariadb-server")

# Executables the cluster needs; their absence means "install the packages".
BINARIES = ("slurmctld", "slurmd", "slurmdbd", "sbatch", "squeue", "sinfo", "sacct", "scancel",
            "sacctmgr", "munged", "mungekey", "mariadbd", "mariadb-install-db", "mariadb")

# invoke-rc.d asks this script whether a package's postinst may start its service; exit 101
# means "no". Without it, installing mariadb-server starts the system database, which we never
# use (the cluster runs its own instance in its state directory).
_POLICY_RC = Path("/usr/sbin/policy-rc.d")
_POLICY_RC_TEXT = "#!/bin/sh\n# written by synthscale's slurm.localcluster during apt-get install\nexit 101\n"


def missing_binaries() -> list[str]:
    """Names of the required executables that are not on PATH (sbin directories included)."""
    path = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
    return [name for name in BINARIES if shutil.which(name, path=path) is None]


def find_binary(name: str) -> str:
    """Absolute path of a required executable, looking in sbin directories too."""
    path = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
    found = shutil.which(name, path=path)
    if found is None:
        raise ClusterUnavailable(f"{name} not found: run `python -m slurm.localcluster install` as root")
    return found


def _apt_install(log: Path) -> int:
    """Run apt-get install once, appending its output to `log`; returns the exit code."""
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    cmd = ["apt-get", "install", "-y", "-q", "--no-install-recommends", *PACKAGES]
    with log.open("a") as out:
        return subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, env=env).returncode


def _apt_update(log: Path) -> None:
    """Refresh the package lists (needed on a fresh machine whose lists are empty or stale)."""
    with log.open("a") as out:
        subprocess.run(["apt-get", "update", "-q"], stdout=out, stderr=subprocess.STDOUT)


def ensure_installed(log: Path) -> bool:
    """Install the packages if any binary is missing; True if something was installed."""
    if not missing_binaries():
        return False
    if os.geteuid() != 0:
        raise ClusterUnavailable(
            "Slurm packages missing (" + ", ".join(missing_binaries()) + ") and not root: "
            "run `sudo .venv/bin/python -m slurm.localcluster install` from the repository")
    if shutil.which("apt-get") is None:
        raise ClusterUnavailable("Slurm packages missing and no apt-get: install "
                                 + " ".join(PACKAGES) + " by hand")
    log.parent.mkdir(parents=True, exist_ok=True)
    wrote_policy = not _POLICY_RC.exists()
    if wrote_policy:
        _POLICY_RC.write_text(_POLICY_RC_TEXT)
        _POLICY_RC.chmod(0o755)
    try:
        if _apt_install(log) != 0:
            _apt_update(log)
            if _apt_install(log) != 0:
                raise ClusterUnavailable(f"apt-get install of the Slurm packages failed; see {log}")
    finally:
        if wrote_policy:
            _POLICY_RC.unlink(missing_ok=True)
    still = missing_binaries()
    if still:
        raise ClusterUnavailable(f"installed the packages but still missing: {', '.join(still)}")
    return True
