"""The learn loop's reference-MD stages: the initial set drawn from NVT MD with the reference
itself (``initial_md:``; seiflow/active/reference_md.py runs one trajectory), and, after the
last iteration, g(r) of each reference trajectory against MD of the final model from the same
cell at the same temperature, velocities and length (Golov & Carrasco's validation, their Fig. 1).

Layout in the run folder: ``initial-md/<structure>-<T>K/`` (trajectory.extxyz, thermo.csv,
checkpoints, result.json), ``initial-md.records.jsonl``; ``evaluation/mlip-md/<trajectory>/``
(the final model's MD), ``evaluation/rdf-reference-vs-mlip.json`` and
``evaluation/rdf-<trajectory>.png`` (report/compare.py's overlay).
"""

from __future__ import annotations

import logging
from pathlib import Path

import ase.io
import numpy as np
from ase import Atoms
from ase.data import atomic_numbers

from seiflow.active.reference_md import (InitialMDSettings, ReferenceMDTask, read_result,
                                         reference_md, settle_splits)
from seiflow.analysis.rdf import rdf
from seiflow.core.atomic import write_json
from seiflow.core.errors import SeiflowError
from seiflow.data.store import LabelStore
from seiflow.execution import RecordLog
from seiflow.md.runner import run_md
from seiflow.potentials.registry import load_potential
from seiflow.report.compare import rdf_compare_figure
from seiflow.report.figures import save_figure
from seiflow.structures.geometry import perpendicular_widths

log = logging.getLogger(__name__)

FOLDER, RECORDS = "initial-md", "initial-md.records.jsonl"
RDF_JSON, RDF_BIN_A = "rdf-reference-vs-mlip.json", 0.05


def reference_md_tasks(s: InitialMDSettings, starts: list[tuple[str, Path]], labeler,
                       store_url: str, root: Path) -> list[ReferenceMDTask]:
    """One trajectory per starting structure and temperature, velocities seeded seed + k;
    with ``test_steps`` a held-out one beside each (``<name>-<T>K-test``, seed + 1000 + k)."""
    names = {name for name, _ in starts}
    unknown = sorted(set(s.temperatures_for) - names)
    if unknown:
        raise SeiflowError(f"initial_md.temperatures_for names {', '.join(unknown)}, not a "
                           f"starting structure (built: {', '.join(sorted(names))})")
    tasks = []
    for name, path in starts:
        for temp in s.temperatures(name):
            k, label = len(tasks), f"{name}-{temp:g}K"
            tasks.append(ReferenceMDTask(label, Path(path), name, labeler,
                                         s.md(temp, s.seed + k), s.test_after_step(),
                                         store_url, Path(root) / FOLDER / label))
            if s.test_steps:
                tasks.append(ReferenceMDTask(f"{label}-test", Path(path), name, labeler,
                                             s.md(temp, s.seed + 1000 + k, s.test_steps), 0,
                                             store_url, Path(root) / FOLDER / f"{label}-test"))
    return tasks


def run_reference_md(s: InitialMDSettings, tasks: list[ReferenceMDTask], engine,
                     store: LabelStore, root: Path) -> dict:
    """Run (or resume) every trajectory; what they gave, for the run summary: frames kept
    for training and held out, and the reference's seconds per MD step on each cell."""
    cost = {}  # atom-steps: the longest trajectory starts first, so workers end together
    for task in tasks:  # a structure the labeler cannot treat: one line before any MD
        atoms = ase.io.read(task.structure)
        try:
            task.labeler.check(atoms)
        except SeiflowError as exc:
            raise SeiflowError(f"initial_md, {task.structure_name}: {exc}") from None
        cost[task.name] = len(atoms) * task.md.steps
    ordered = sorted(tasks, key=lambda t: -cost[t.name])  # seeds are the tasks' own
    engine.map(reference_md, ordered, [t.name for t in ordered],
               records=RecordLog(Path(root) / RECORDS))
    results = [read_result(t.out_dir) for t in tasks]
    missing = [t.name for t, r in zip(tasks, results) if r is None]
    if missing:
        raise SeiflowError(f"reference MD failed for {', '.join(missing)}; see "
                           f"{Path(root) / RECORDS}")
    settle_splits(store, {t.name: t.test_after_step for t in tasks})
    return {"trajectories": len(results),
            "frames_train": sum(r.frames_train for r in results),
            "frames_test": sum(r.frames_test for r in results),
            "teacher_s_per_step": {r.name: r.s_per_step for r in results},
            "natoms": {r.name: r.natoms for r in results}}


def _pairs(atoms: Atoms) -> list[tuple[str, str]]:
    species = sorted(set(atoms.get_chemical_symbols()), key=lambda e: atomic_numbers[e])
    return [(a, b) for i, a in enumerate(species) for b in species[i:]]


def _window(frames: list[Atoms], first_step: int) -> list[Atoms]:
    return [f for f in frames if int(f.info.get("step", 0)) > first_step]


def _mlip_frames(task: ReferenceMDTask, model_dir: Path, out: Path) -> list[Atoms]:
    """The final model's MD from the task's cell with the task's settings (resumed if its
    folder has a checkpoint)."""
    model = load_potential(model_dir)
    run_md(ase.io.read(task.structure), model.calculator(), task.md, out, progress=False)
    return ase.io.read(out / "trajectory.extxyz", index=":")


def _compare(task: ReferenceMDTask, s: InitialMDSettings, model_dir: Path,
             evaluation: Path) -> dict:
    """g(r) of every species pair in the compared window (the held-out stretch of a training
    trajectory, else its second half) of the reference and the model's MD; plot and record."""
    first = task.test_after_step if 0 < task.test_after_step < task.md.steps \
        else task.md.steps // 2
    ref = _window(ase.io.read(task.out_dir / "trajectory.extxyz", index=":"), first)
    record = {"trajectory": task.name, "temperature_K": task.md.temperature_K,
              "window_fs": [first * task.md.timestep_fs, task.md.steps * task.md.timestep_fs]}
    try:
        mlip = _window(_mlip_frames(task, model_dir, evaluation / "mlip-md" / task.name), first)
    except SeiflowError as exc:  # an unstable model: recorded, not fatal
        return {**record, "failure": str(exc)}
    if not ref or not mlip:
        return {**record, "failure": "no frames in the compared window"}
    r_max = min(s.rdf_r_max_A, 0.5 * float(perpendicular_widths(ref[0].cell).min()))
    nbins = max(2, int(round(r_max / RDF_BIN_A)))
    pairs, curves = {}, {"reference MD": [], "final model MD": []}
    for pair in _pairs(ref[0]):
        g_ref, g_mlip = (rdf(frames, pair, r_max, nbins) for frames in (ref, mlip))
        curves["reference MD"].append(g_ref)
        curves["final model MD"].append(g_mlip)
        pairs[f"{pair[0]}-{pair[1]}"] = {"g_reference": np.round(g_ref.g, 5).tolist(),
                      "g_mlip": np.round(g_mlip.g, 5).tolist(),
                      "rms_difference": round(float(np.sqrt(np.mean((g_ref.g - g_mlip.g) ** 2))),
                                              5)}
    png = save_figure(rdf_compare_figure(curves, title=f"{task.name}: reference MD vs final "
                                         f"model MD ({len(ref)} / {len(mlip)} frames)"),
                      evaluation / f"rdf-{task.name}.png")
    return {**record, "frames_reference": len(ref), "frames_mlip": len(mlip),
            "r_A": np.round(g_ref.r, 4).tolist(), "pairs": pairs, "plot": png.name}


def compare_rdfs(s: InitialMDSettings, tasks: list[ReferenceMDTask], model_dir: Path,
                 evaluation: Path) -> list[dict]:
    """``rdf-reference-vs-mlip.json`` and one overlay plot per reference trajectory (the
    held-out ones where there are)."""
    held_out = [t for t in tasks if t.test_after_step == 0]
    records = [_compare(t, s, model_dir, evaluation) for t in held_out or tasks]
    write_json(evaluation / RDF_JSON, {"units": {"r_A": "Å", "window_fs": "fs",
                                                 "g": "dimensionless"},
                                       "trajectories": records})
    for rec in records:
        if "failure" in rec:
            log.warning("g(r) comparison of %s: %s", rec["trajectory"], rec["failure"])
    return records


def rdf_markdown(records: list[dict]) -> str:
    """The report.md section: a table of the rms g(r) differences and the plots."""
    lines = ["\n## Reference MD vs final-model MD: g(r)\n",
             "| trajectory | pair | rms difference of g(r) |", "|---|---|---|"]
    for rec in records:
        for pair, p in rec.get("pairs", {}).items():
            lines.append(f"| {rec['trajectory']} | {pair} | {p['rms_difference']:.3f} |")
        if "failure" in rec:
            lines.append(f"| {rec['trajectory']} | — | {rec['failure']} |")
    lines += [""] + [f"![{r['trajectory']}](evaluation/{r['plot']})" for r in records
                     if "plot" in r]
    return "\n".join(lines) + "\n"


__all__ = ["compare_rdfs", "rdf_markdown", "reference_md_tasks", "run_reference_md"]
