"""Sweep planning and submission through submitit (local processes, in-process debug, or Slurm)."""
