"""Reactive MD of the Li/Li3InCl6 interface with the MTP that `seiflow learn
examples/li-li3incl6.yaml` trained (Golov & Carrasco's production step, at the scale this
machine allows), its cost, and the reaction analysis of its trajectory.

The start is the interface the potential learned on (Li(110) on Li3InCl6(001), 232 atoms,
11.1 × 17.0 × 27.0 Å, two interfaces along c), repeated in-plane by --repeat (9 5 1: 10,440
atoms, 100 × 85 × 27 Å). `seiflow md` runs it: NVT (Nosé–Hoover chain) at 300 K, 1 fs, the
compiled MTP loop on OMP_NUM_THREADS threads, γ graded every 20 steps (`seiflow md`'s default
since 2026-12-03; the 10,440-atom run of that day graded only its frames) and the run stopped
at γ > γ_break (10); a rerun resumes from the checkpoint. γ in the JSON is over every frame
of the trajectory, resumed calls included. Then `seiflow analyze reaction` (In clusters and
percolation, phase labels, reaction fronts, Li flux) on the trajectory.

Cost: atom-steps per second of wall time and ns/day (from md-summary.yml; for a run γ stopped,
from its steps and wall time in this call), extrapolated linearly in atoms and steps (the MTP
and its neighbour lists are O(N)) to the study's cell, 32,000 atoms (12,000 Li in the slab +
2,000 Li3InCl6 formula units), for 10 ns.

Run:  OMP_NUM_THREADS=2 .venv/bin/python benchmarks/li_li3incl6_md.py [--repeat 9 5 1] [--ps 100]
      [--learn runs/li-li3incl6 | benchmarks/results/li_li3incl6_protocol]
Writes runs/li-li3incl6-md-<atoms>/ (trajectory, thermo, γ, reaction/) and
benchmarks/results/li_li3incl6_md_<atoms>.json plus its reaction figures. From a learn run
folder it first keeps what the MD needs in benchmarks/results/li_li3incl6_protocol/ (the model
it runs, the interface, the learn summary, the labelled frames): a run folder is not committed,
and that record serves as --learn on any machine (and as --run of refit_learned_model.py).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import ase.io
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import describe  # noqa: E402
from refit_learned_model import KEPT_LABELS, keep_record, require_converged  # noqa: E402

from seiflow.core.errors import SeiflowError  # noqa: E402
from seiflow.md.gamma import gamma_trace  # noqa: E402
from seiflow.md.thermo import THERMO, read_thermo  # noqa: E402
from seiflow.md.runner import MDSettings  # noqa: E402
from seiflow.workflows.reaction import analyze_reaction  # noqa: E402
from seiflow.workflows.run import Run  # noqa: E402
from seiflow.workflows.md import MD_SUMMARY, MDConfig, run_md_config  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
LEARN = ROOT / "runs/li-li3incl6"
INTERFACE = "structures/interface/li-bcc-110_li3incl6-001.extxyz"
RESULTS = Path(__file__).resolve().parent / "results"
KEPT = RESULTS / "li_li3incl6_protocol"  # the protocol's record, kept from the learn run
STUDY_ATOMS, STUDY_NS = 32_000, 10.0


def protocol(learn: Path, refit: Path | None = None) -> tuple[Path, Path]:
    """(model, interface) of a converged learn run or of its kept record: the last
    iteration's model (or ``refit``, that model fitted on), its fit converged too (no
    production MD from a loop or a fit that stopped at a limit)."""
    summary = yaml.safe_load((learn / "learn-summary.yml").read_text())
    if summary.get("status_learning") != "converged":
        raise SystemExit(f"{learn}: the learning loop has not converged "
                         f"({summary.get('status_learning')}); no production MD from it")
    if (learn / KEPT_LABELS).exists():
        model, interface = refit or learn / "model", learn / "interface.extxyz"
    else:
        model, interface = refit or Run(learn).final_model(), learn / INTERFACE
    require_converged(model, learn, "--model")
    return model, interface


def keep(learn: Path, model: Path, interface: Path, kept: Path = KEPT) -> None:
    """Copy what the production MD needs from a learn run folder into ``kept``."""
    keep_record(learn, model, kept)
    shutil.copy(interface, kept / "interface.extxyz")


def _gamma_of_frames(trajectory: Path, select: float) -> dict:
    """γ over every written frame of the trajectory, resumed calls included (the results'
    counts are per frame; md-summary.yml counts every graded step)."""
    trace = gamma_trace(trajectory)
    if trace is None:
        return {"max_gamma": None}
    g = trace[1]
    return {"max_gamma": float(g.max()), "frames_gamma_above_select": int((g > select).sum()),
            "frames_graded": len(g)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--learn", type=Path, default=LEARN, help="the seiflow learn run folder")
    ap.add_argument("--model", type=Path, default=None,
                    help="the learn run's final model refitted to convergence "
                         "(benchmarks/refit_learned_model.py); default: the run's own")
    ap.add_argument("--repeat", type=int, nargs=3, default=(1, 1, 1))
    ap.add_argument("--ps", type=float, default=100.0, help="simulated time, ps")
    ap.add_argument("--timestep", type=float, default=1.0, help="fs")
    ap.add_argument("--frame-fs", type=float, default=500.0, help="fs between frames")
    ap.add_argument("--temperature", type=float, default=300.0, help="K")
    ap.add_argument("--out", type=Path, default=None,
                    help="run folder (default runs/li-li3incl6-md-<atoms>)")
    ap.add_argument("--results", type=Path, default=RESULTS, help="where the JSON and figures go")
    args = ap.parse_args()
    model, interface = protocol(args.learn, args.model)
    if not (args.learn / KEPT_LABELS).exists():
        keep(args.learn, model, interface)
    start = ase.io.read(interface).repeat(args.repeat)
    n = len(start)
    out = args.out or ROOT / f"runs/li-li3incl6-md-{n}"
    out.mkdir(parents=True, exist_ok=True)
    if not (out / "start.extxyz").exists():
        ase.io.write(out / "start.extxyz", start)
    steps = round(args.ps * 1000 / args.timestep)
    stride = round(args.frame_fs / args.timestep)
    cfg = MDConfig(structure=out / "start.extxyz", potential=model, out_dir=out / "md",
                   gamma_select=2.0, gamma_break=10.0,
                   md=MDSettings(ensemble="nvt", temperature_K=args.temperature,
                                 timestep_fs=args.timestep, steps=steps, tdamp_fs=100.0,
                                 traj_stride=stride, checkpoint_every=stride, seed=0))
    thermo = out / "md" / THERMO
    first = int(read_thermo(thermo)["step"][-1]) if thermo.exists() else 0  # a resumed run
    t0 = time.perf_counter()
    stopped = None
    try:
        run_md_config(cfg, progress=True)
    except SeiflowError as exc:  # γ > γ_break or unstable: the analysis reads the frames so far
        stopped = str(exc)
    wall = time.perf_counter() - t0
    summary = yaml.safe_load((out / "md" / MD_SUMMARY).read_text())
    done, ns_day = summary.get("steps_done"), summary.get("ns_per_day")
    if done is None:  # stopped: the rate over this call's steps and wall time
        done = summary.get("stopped_by_gamma_at_step") or int(read_thermo(thermo)["step"][-1])
        ns_day = (done - first) * args.timestep * 1e-6 * 86400 / wall
    rate = n * ns_day * 1e6 / args.timestep / 86400 if ns_day else None  # atom-steps / s
    reaction = analyze_reaction(out / "md" / "trajectory.extxyz", out / "reaction",
                                frame_dt_fs=args.frame_fs)
    name = f"li_li3incl6_md_{n}"
    md_figures = [out / "md" / f for f in ("gamma.png", "thermo.png") if (out / "md" / f).exists()]
    for fig in [*reaction["figures"], *md_figures]:
        shutil.copy(fig, args.results / f"{name}_{Path(fig).name}")
    lab, clu = reaction["labels"], reaction["clusters"]
    doc = {
        "benchmark": "reactive MD of the Li/Li3InCl6 interface with the protocol's MTP",
        "model": str(model), "atoms": n, "repeat": list(args.repeat),
        "cell_A": [round(x, 2) for x in start.cell.lengths()],
        "md": cfg.md.model_dump(mode="json"), "steps_done": done, "stopped": stopped,
        "simulated_ps": done * args.timestep / 1000 if done else None,
        **_gamma_of_frames(out / "md" / "trajectory.extxyz", cfg.gamma_select),
        "mean_kinetic_temperature_K": summary.get("mean_kinetic_temperature_K"),
        "wall_s_this_call": round(wall, 1), "ns_per_day": ns_day, "atom_steps_per_s": rate,
        "extrapolated_study_cell_days": (STUDY_ATOMS * STUDY_NS * 1e6 / args.timestep / rate
                                         / 86400 if rate else None),
        "extrapolation": f"{STUDY_ATOMS} atoms x {STUDY_NS:g} ns at {args.timestep:g} fs, "
                         "linear in atoms and steps, same threads",
        "reaction": {
            "times_ps": [reaction["times_ps"][0], reaction["times_ps"][-1]],
            "label_names": lab["names"],
            "label_fractions_first_last": [lab["fractions"][0], lab["fractions"][-1]],
            "in_clusters_min2_first_last": [clu["n_clusters_min2"][0],
                                            clu["n_clusters_min2"][-1]],
            "largest_in_cluster_first_last": [clu["largest"][0], clu["largest"][-1]],
            "largest_percolates_abc_last": clu["largest_percolates_abc"][-1],
            "front_advance_A_last": {k: reaction["fronts"][k]["advance_A"][-1] for k in "-+"},
            "front_speed_A_ps": {k: reaction["fronts"][k]["speed_A_ps"] for k in "-+"},
            "li_net_crossings_last": (reaction["flux"] or {}).get("cumulative_net", [None])[-1],
            "notes": reaction["notes"]},
        "machine": describe(),
    }
    (args.results / f"{name}.json").write_text(json.dumps(doc, indent=1))
    print(json.dumps({k: v for k, v in doc.items() if k not in ("machine", "reaction")},
                     indent=1))


if __name__ == "__main__":
    main()
