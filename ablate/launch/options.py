"""What each launcher can be told: one options class per launcher.

`conf/launcher/<name>.yaml` holds a launcher's defaults and
`ablate.config.launch.load_launch_options` reads it into the class its
registry entry names (ablate.launch.LAUNCHERS): a key another launcher has
(`slurm_time` for --launcher ray) is an unknown key there, with the keys it
has. These settings never enter a run's config, so they never change a run id.

Adding a launcher is its module, its YAML and its options class here (or
beside its module, if that imports nothing heavy); `launcher.KEY=VALUE` sets
any of its options, and the command line's --slurm-* / --ray-* / --cpus-per-run
flags are shorthands for the options of the launchers that have them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ablate.schema.checks import require

_MEM = re.compile(r"^\d+[KMGT]?$")  # sbatch --mem: a number, megabytes unless suffixed


@dataclass(frozen=True)
class LaunchOptions:
    """Every launcher's: which engine runs the sweep (a YAML named after a cluster says which)."""

    launcher: str = "local"


@dataclass(frozen=True)
class ClusterOptions(LaunchOptions):
    """What a task books on a cluster's node."""

    cpus_per_run: int = 1  # also the run's torch threads: a task never uses more cores than it booked
    gpus_per_run: float = 0  # whole GPUs under SLURM; fractions on Ray pack several runs on one GPU

    def __post_init__(self) -> None:
        require(self.cpus_per_run >= 1, "cpus_per_run", self.cpus_per_run, ">= 1")
        require(self.gpus_per_run >= 0, "gpus_per_run", self.gpus_per_run, ">= 0")


@dataclass(frozen=True)
class SlurmOptions(ClusterOptions):
    """One array job per sweep, one task per run, each with these resources."""

    launcher: str = "slurm"
    slurm_partition: str | None = None
    slurm_account: str | None = None
    slurm_time: int = 60  # minutes per task; submitit requeues a task that reaches it
    slurm_mem: str | None = None  # per task, sbatch syntax: "8G", "500M", "16000" (MB)
    slurm_max_parallel: int | None = None  # array tasks running at once (sbatch --array=...%K)
    slurm_extra: tuple[str, ...] = ()  # more sbatch flags, "--key=value" or "--flag"
    slurm_folder: str | None = None  # submitit's pickles and logs; default <sweep_dir>/slurm

    def __post_init__(self) -> None:
        super().__post_init__()
        require(self.slurm_time >= 1, "slurm_time", self.slurm_time, ">= 1 minute")
        if self.slurm_mem is not None:
            require(bool(_MEM.match(self.slurm_mem)), "slurm_mem", self.slurm_mem,
                    "a size such as 8G, 500M or 16000 (MB)")
        if self.slurm_max_parallel is not None:
            require(self.slurm_max_parallel >= 1, "slurm_max_parallel", self.slurm_max_parallel, ">= 1")
        # YAML gives lists; a frozen dataclass wants the hashable tuple.
        object.__setattr__(self, "slurm_extra", tuple(self.slurm_extra))
        for flag in self.slurm_extra:
            require(isinstance(flag, str) and flag.startswith("--") and len(flag) > 2, "slurm_extra", flag,
                    "sbatch flags written '--key=value' or '--flag'")
        require(float(self.gpus_per_run).is_integer(), "gpus_per_run", self.gpus_per_run,
                "a whole number under SLURM (fractions of a GPU need --launcher ray)")

    def sbatch_extra(self) -> dict[str, Any]:
        """`slurm_extra` as submitit's `additional_parameters`: {"qos": "high", "exclusive": True}."""
        out: dict[str, Any] = {}
        for flag in self.slurm_extra:
            key, sep, value = flag[2:].partition("=")
            out[key] = value if sep else True
        return out


@dataclass(frozen=True)
class RayOptions(ClusterOptions):
    """A Ray task per run."""

    launcher: str = "ray"
    # "auto" joins the cluster this node belongs to, "ray://host:10001" a remote one,
    # None starts a private instance on this machine for the length of the sweep.
    ray_address: str | None = None
    ray_max_retries: int = 3  # re-runs of a task whose worker died; each resumes from checkpoint.pt

    def __post_init__(self) -> None:
        super().__post_init__()
        require(self.ray_max_retries >= 0, "ray_max_retries", self.ray_max_retries, ">= 0")
