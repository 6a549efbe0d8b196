"""A real single-node Slurm on loopback for tests and demos: install, up, down, status.

`python -m slurm.localcluster up` starts munged, mariadbd, slurmdbd, slurmctld and slurmd with
every file under one state directory (default `<repo>/.cache/localcluster`); clients need
`SLURM_CONF` pointing at its slurm.conf. See docs/cluster.md.
"""
from slurm.localcluster.cluster import DAEMONS, LocalCluster
from slurm.localcluster.config import HIGH_PARTITION, LOW_PARTITION, default_state_dir
from slurm.localcluster.errors import ClusterUnavailable
from slurm.localcluster.install import PACKAGES, ensure_installed, missing_binaries

__all__ = ["DAEMONS", "HIGH_PARTITION", "LOW_PARTITION", "PACKAGES", "ClusterUnavailable",
           "LocalCluster", "default_state_dir", "ensure_installed", "missing_binaries"]
