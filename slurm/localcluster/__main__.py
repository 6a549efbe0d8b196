"""`python -m slurm.localcluster install|up|down|status|env`: manage the local test cluster."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from slurm.localcluster.cluster import LocalCluster
from slurm.localcluster.config import default_state_dir
from slurm.localcluster.errors import ClusterUnavailable
from slurm.localcluster.install import PACKAGES, ensure_installed


def _install(cluster: LocalCluster, args: argparse.Namespace) -> int:
    installed = ensure_installed(cluster.layout.log_dir / "apt.log")
    print(("installed " if installed else "already installed: ") + " ".join(PACKAGES))
    return 0


def _up(cluster: LocalCluster, args: argparse.Namespace) -> int:
    started = cluster.up(timeout_s=args.timeout_s)
    cluster.keep(True)  # started by a person: test sessions must not tear it down
    print(("started" if started else "already running") + f"; state in {cluster.layout.state_dir}")
    print(f"export SLURM_CONF={cluster.slurm_conf}")
    return 0


def _down(cluster: LocalCluster, args: argparse.Namespace) -> int:
    cluster.down()
    cluster.keep(False)
    print("stopped")
    return 0


def _status(cluster: LocalCluster, args: argparse.Namespace) -> int:
    for name, pid in cluster.pids().items():
        print(f"{name:10s} {'pid ' + str(pid) if pid else 'stopped'}")
    print(f"{'node':10s} {cluster.node_state()}")
    print(f"export SLURM_CONF={cluster.slurm_conf}")
    return 0 if cluster.healthy() else 1


def _env(cluster: LocalCluster, args: argparse.Namespace) -> int:
    print(f"export SLURM_CONF={cluster.slurm_conf}")
    return 0


COMMANDS = {"install": (_install, "install the Debian packages if missing (needs root)"),
            "up": (_up, "start the daemons (reuses a healthy running cluster) and print SLURM_CONF"),
            "down": (_down, "cancel all jobs and stop the daemons by their pids"),
            "status": (_status, "show each daemon's pid and the node state; exit 1 if not healthy"),
            "env": (_env, "print the export line for SLURM_CONF (eval it in a shell)")}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `python -m slurm.localcluster`."""
    parser = argparse.ArgumentParser(prog="python -m slurm.localcluster", description=__doc__)
    parser.add_argument("--state-dir", type=Path, default=None,
                        help=f"where configs, logs and data live (default {default_state_dir()})")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (_, help_text) in COMMANDS.items():
        cmd = sub.add_parser(name, help=help_text)
        if name == "up":
            cmd.add_argument("--timeout-s", type=float, default=120.0,
                             help="give up if the node is not idle after this many seconds")
    args = parser.parse_args(argv)
    try:
        return COMMANDS[args.command][0](LocalCluster(args.state_dir), args)
    except ClusterUnavailable as exc:
        print(f"localcluster: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
