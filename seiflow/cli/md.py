"""`seiflow md CONFIG`: molecular dynamics with a trained potential or a built-in calculator."""

from __future__ import annotations

from pathlib import Path

import typer

from seiflow.cli.console import out_console
from seiflow.cli.inputs import check_structure_files, read_checked_frames
from seiflow.cli.runs import RunLock
from seiflow.core.config import load_config
from seiflow.workflows.run import RunFolder
from seiflow.workflows.md import MD_SUMMARY, MDConfig, run_md_config


def md(
    config: Path = typer.Argument(..., help="YAML/TOML MD config"),
    out_dir: Path | None = typer.Option(None, "--out-dir", help="override out_dir"),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
) -> None:
    """Run MD (NVE, NVT, NPT or Langevin); rerun the same command to resume a killed run."""
    cfg = load_config(config, MDConfig)
    if out_dir is not None:
        cfg.out_dir = out_dir
    check_structure_files([cfg.structure])
    folder = RunFolder(cfg.out_dir)
    with folder.lock("seiflow md"):
        folder.claim_structure(cfg.structure)
        info = run_md_config(cfg, progress=progress, config_file=str(config))
    resumed = f", resumed from step {info['restarted_from']}" if info["restarted_from"] else ""
    t_kin = info["mean_kinetic_temperature_K"]
    end = cfg.md.temperature_end_K
    temperature = (f"{info['temperature_K']:.1f} K" if end is None
                   else f"{cfg.md.temperature_K:g} → {end:g} K (ramp)")
    out_console().print(
        f"{info['ensemble'].upper()} MD: {info['steps_done']} steps{resumed}, "
        f"{info['ns_per_day']:.3g} ns/day; T = {temperature}"
        + (f" (mean kinetic {t_kin:.1f} K)" if t_kin is not None else "")
        + f"; trajectory {info['trajectory']}; summary {cfg.out_dir / MD_SUMMARY}",
        highlight=False)


def md_batched(
    config: Path = typer.Argument(..., help="YAML/TOML batched-MD config"),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
) -> None:
    """Run many replicas at once with a torch model (MACE, MTP) on the GPU, or the CPU; rerun to
    resume."""
    from seiflow.workflows.batched_md import SUMMARY, BatchedMDConfig, run_batched_md_config

    cfg = load_config(config, BatchedMDConfig)
    for path in cfg.structures:
        read_checked_frames(path)
    with RunLock(cfg.out_dir, "seiflow md-batched"):
        info = run_batched_md_config(cfg, progress=progress, config_file=str(config))
    resumed = f", resumed from step {info['restarted_from']}" if info["restarted_from"] else ""
    out_console().print(
        f"{info['replicas']} replicas ({info['atoms']} atoms) on {info['device']}: "
        f"{info['steps_done']} steps{resumed}, {info['atom_steps_per_s']:.4g} atom-steps/s, "
        f"{info['ns_per_day']:.3g} ns/day; thermo {info['thermo']}; summary "
        f"{cfg.out_dir / SUMMARY}", highlight=False)
