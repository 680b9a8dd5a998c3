"""``seiflow md-batched CONFIG``: many replicas in one batch on the GPU (or the CPU) with a
torch model (md/batched.py, through torch-sim), with a run summary beside the output."""

from __future__ import annotations

from pathlib import Path

from ase import Atoms
from pydantic import Field

from seiflow.core.config import StrictModel
from seiflow.core.errors import SeiflowError
from seiflow.md.batched import BatchedMDSettings, TorchSimModelFactory, run_batched_md
from seiflow.potentials.base import check_species
from seiflow.potentials.registry import load_potential
from seiflow.structures.io import read_frames
from seiflow.workflows.summary import RunSummary

SUMMARY = "md-batched-summary.yml"


class BatchedMDConfig(StrictModel):
    """Every frame of every file in ``structures``, ``copies`` times each (the copies differ
    in their starting velocities), is one replica."""

    structures: list[Path] = Field(..., min_length=1, description="structure files")
    copies: int = Field(1, ge=1, description="replicas per structure")
    potential: Path = Field(..., description="model folder with a torch model (MACE, MTP)")
    md: BatchedMDSettings
    out_dir: Path


def replicas(cfg: BatchedMDConfig) -> list[Atoms]:
    frames = [a for path in cfg.structures for a in read_frames(path)]
    return [a.copy() for a in frames for _ in range(cfg.copies)]


def run_batched_md_config(cfg: BatchedMDConfig, progress: bool = True,
                          config_file: str | None = None) -> dict:
    model = load_potential(cfg.potential)
    if not isinstance(model, TorchSimModelFactory):
        raise SeiflowError(f"{cfg.potential} is a {model.backend} model; batched MD needs a "
                           "torch model (MACE, MTP)")
    structures = replicas(cfg)
    for atoms in structures:
        check_species(atoms, model.species, f"the model {cfg.potential}")
    inputs = {**cfg.model_dump(mode="json"), "config_file": config_file}
    with RunSummary(Path(cfg.out_dir) / SUMMARY, "seiflow md-batched", inputs) as summary:
        res = run_batched_md(structures, model, cfg.md, cfg.out_dir, progress=progress)
        info = {"replicas": len(structures), "atoms": sum(len(a) for a in structures),
                "steps_done": res.steps_done, "restarted_from": res.restarted_from,
                "device": res.device, "wall_s": round(res.wall_s, 3),
                "atom_steps_per_s": round(res.atom_steps_per_s, 1),
                "ns_per_day": round(res.ns_per_day, 4), "thermo": str(res.thermo)}
        if res.max_gamma is not None:
            info["max_gamma"] = max(res.max_gamma)
            info["max_gamma_per_replica"] = res.max_gamma
        summary.data.update(info)
        summary.add_output(thermo=res.thermo, trajectories=[str(p) for p in res.trajectories])
    return info
