"""Which teacher for the SEI phases: SevenNet-0, CHGNet and GFN1-xTB (tblite) against experiment
and PBE on lattice constants, two Li migration barriers, and the cost of one label.

1. cost (--cost): one label (E, F, stress) of the 96-atom 1×2×2 Li2CO3 cell, all teachers in one
   run, wall and CPU seconds (xTB: one call, Γ only in a 7.6 Å thin cell: timing only).
2. lattice, ML teachers: the conventional cell relaxed (FixSymmetry + FrechetCellFilter + FIRE)
   from the library phase: bcc Li, rocksalt LiF, antifluorite Li2O, C2/c Li2CO3.
3. barriers, ML teachers: CI-NEB (seiflow's compute_neb: 3 images, FIRE, fmax 0.05) at each
   teacher's relaxed lattice, end points from seiflow.structures.migration: Li interstitial
   knock-off in 2×2×2 LiF (65 atoms) and a Li vacancy hop in 1×2×2 Li2CO3 (95 atoms, the
   reference paper's cell); sized for a shared 2-core machine.
4. GFN1-xTB lattices of the cubic phases in cells ≥ 12 Å wide (Γ only): P(a) = 0 by the secant
   method (no free coordinates); skipped where a call is too slow for the budget. No xTB NEB.

Each step writes its JSON at once; a step past the wall-clock budget is a row saying so. Run
`--cost --teachers`, then parts (`--teachers sevennet --part sevennet`, ...), then `--merge`.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.units import GPa

sys.path.insert(0, str(Path(__file__).parent))
from machine import describe  # noqa: E402
from teacher_literature import BARRIERS, LATTICE  # noqa: E402

from seiflow.reference import CHGNetLabeler, XTBSettings  # noqa: E402
from seiflow.reference.sevennet import SevenNetLabeler  # noqa: E402
from seiflow.structures.library import get_phase  # noqa: E402

OUT = Path(__file__).parent / "results" / "teacher_table.json"
PHASES = ("li-bcc", "lif", "li2o", "li2co3-c2c")
NEB_CASES = {  # name: (phase, repeat, builder); cells sized for this shared 2-core machine
    "lif_interstitial_knockoff": ("lif", (2, 2, 2), "interstitial_knockoff"),
    "li2co3_vacancy_hop": ("li2co3-c2c", (1, 2, 2), "vacancy_hop"),
}
XTB_REPEAT = {"li-bcc": (4, 4, 4), "lif": (3, 3, 3), "li2o": (3, 3, 3)}  # ≥ 12 Å wide


def save(result: dict) -> None:
    result["machine"]["load_average_end"] = list(os.getloadavg())
    tmp = OUT.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(result, indent=1))
    tmp.replace(OUT)


def cost_per_label(labelers: dict, repeats: int = 3) -> dict:
    """Seconds per label of the same 96-atom Li2CO3 cell (after one warm-up call for the
    networks; xTB: one call)."""
    atoms = get_phase("li2co3-c2c").repeat((1, 2, 2))
    atoms.rattle(0.02, seed=0)
    out = {"cell": "li2co3-c2c 1x2x2", "n_atoms": len(atoms)}
    for name, lab in labelers.items():
        n = 1 if name == "xtb" else repeats
        if name != "xtb":
            lab.label(atoms)  # load the network, first-call set-up
        times, cpu = [], []
        for _ in range(n):
            c0 = time.process_time()
            label = lab.label(atoms)
            cpu.append(time.process_time() - c0)
            assert label.ok, f"{name}: {label.failure}"
            times.append(label.wall_time)
        out[name] = {"s_per_label": float(np.median(times)), "calls": n,
                     "cpu_s_per_label": float(np.median(cpu)),
                     "load_average": list(os.getloadavg())}
    for key in ("s_per_label", "cpu_s_per_label"):
        fastest = min(out[n][key] for n in labelers)
        for name in labelers:
            out[name][f"{key}_ratio_to_fastest"] = out[name][key] / fastest
    return out


def relax_cell(atoms: Atoms, labeler, fmax: float = 0.01, steps: int = 1000) -> tuple:
    """Positions and cell relaxed under the space group (FixSymmetry + FrechetCellFilter +
    FIRE); returns (atoms, steps, final pressure GPa)."""
    from ase.constraints import FixSymmetry
    from ase.filters import FrechetCellFilter
    from ase.optimize import FIRE

    work = atoms.copy()
    work.calc = labeler.calculator(work)
    work.set_constraint(FixSymmetry(work, symprec=1e-3))
    opt = FIRE(FrechetCellFilter(work), logfile=None)
    converged = opt.run(fmax=fmax, steps=steps)
    if not converged:
        raise RuntimeError(f"not converged in {steps} FIRE steps")
    pressure = -float(np.trace(work.get_stress(voigt=False))) / 3 / GPa
    work.set_constraint()
    return work, int(opt.nsteps), pressure


def cell_numbers(atoms: Atoms) -> dict:
    """Conventional-cell a, b, c (Å), β (°) and volume per formula unit (Å³)."""
    from ase.formula import Formula

    a, b, c, _, beta, _ = atoms.cell.cellpar()
    n_fu = Formula(atoms.get_chemical_formula()).reduce()[1]
    return {"a": a, "b": b, "c": c, "beta": beta, "volume_per_fu": atoms.get_volume() / n_fu}


def lattice_ml(labeler, phase: str) -> tuple[dict, Atoms]:
    t0 = time.perf_counter()
    relaxed, steps, pressure = relax_cell(get_phase(phase), labeler)
    row = {**cell_numbers(relaxed), "steps": steps, "final_pressure_GPa": pressure,
           "method": "FixSymmetry + FrechetCellFilter + FIRE, fmax 0.01 (filter forces)",
           "wall_s": time.perf_counter() - t0}
    return row, relaxed


def pressure_root(atoms: Atoms, labeler, a0: float, p0: float, a1: float,
                  tol_gpa: float = 0.05, max_calls: int = 8) -> dict:
    """Cubic cell scaled until P(a) = 0 (secant on a from (a0, p0) and a1; the cubic phases
    have no free coordinates to relax)."""
    def pressure(a: float) -> float:
        work = atoms.copy()
        work.set_cell(atoms.cell * (a / a_ref), scale_atoms=True)
        label = labeler.label(work)
        if not label.ok:
            raise RuntimeError(label.failure)
        calls.append((a, -float(np.mean(label.stress[:3])) / GPa, label.wall_time))
        return calls[-1][1]

    a_ref = atoms.cell.cellpar()[0] / XTB_REPEAT[atoms.info["phase"]][0]
    calls: list = []
    p1 = pressure(a1)
    while abs(p1) > tol_gpa and len(calls) < max_calls:
        a0, a1, p0 = a1, a1 - p1 * (a1 - a0) / (p1 - p0), p1
        p1 = pressure(a1)
    return {**root_summary(calls, tol_gpa), "calls": [list(c) for c in calls],
            "s_per_call": float(np.mean([c[2] for c in calls])),
            "method": "P(a) = 0 by the secant method, supercell "
                      + "x".join(map(str, XTB_REPEAT[atoms.info["phase"]]))}


def root_summary(calls: list, tol_gpa: float = 0.05) -> dict:
    """The zero-pressure a, or (no zero found) None with the a of the smallest |P|."""
    a, p = min(((c[0], c[1]) for c in calls), key=lambda c: abs(c[1]))
    if abs(p) <= tol_gpa:
        return {"a": a, "final_pressure_GPa": p, "converged": True}
    lo, hi = min(c[0] for c in calls), max(c[0] for c in calls)
    sign = "positive" if all(c[1] > 0 for c in calls) else "of both signs"
    return {"a": None, "converged": False, "closest_a": a, "closest_pressure_GPa": p,
            "note": f"no zero of P(a) found: P is {sign} at every a tried ({lo:.2f}-{hi:.2f} "
                    f"Å); smallest |P| = {abs(p):.2f} GPa at a = {a:.2f} Å"}


def lattice_xtb(labeler, phase: str, budget_s: float) -> dict:
    atoms = get_phase(phase)
    big = atoms.repeat(XTB_REPEAT[phase])
    big.info["phase"] = phase
    t0 = time.perf_counter()
    first = labeler.label(big)
    per_call = time.perf_counter() - t0
    est = 5 * per_call
    if est > budget_s:
        return {"skipped": f"one xTB call on {len(big)} atoms takes {per_call:.0f} s here; "
                           f"~5 calls ({est / 60:.0f} min) exceed the remaining budget "
                           f"({budget_s / 60:.0f} min)", "s_per_call": per_call}
    a_exp = atoms.cell.cellpar()[0]
    p_exp = -float(np.mean(first.stress[:3])) / GPa
    row = pressure_root(big, labeler, a_exp, p_exp, a_exp * (1.03 if p_exp > 0 else 0.99))
    row["pressure_at_experimental_a_GPa"] = p_exp
    row["n_atoms"] = len(big)
    return row


def barrier(labeler, relaxed: Atoms, case: str) -> dict:
    from seiflow.structures import migration
    from seiflow.workflows.properties.neb import NEBSettings, compute_neb

    phase, repeat, builder = NEB_CASES[case]
    bulk = relaxed.repeat(repeat)
    initial, final = getattr(migration, builder)(bulk, "Li")
    settings = NEBSettings(n_images=3, fmax=0.05, max_steps=300, optimizer="fire",
                           endpoint_fmax=0.05, endpoint_max_steps=300)
    res = compute_neb(initial, final, labeler.calculator, settings)
    d = res.to_dict()
    keep = ("barrier_forward_eV", "barrier_backward_eV", "reaction_energy_eV", "n_force_calls",
            "n_steps", "fmax_eV_A", "climbing_fmax_eV_A", "wall_s")
    return {**{k: d[k] for k in keep if k in d}, "n_atoms": len(initial),
            "cell": "x".join(map(str, repeat)) + f" of the relaxed {phase} conventional cell",
            "images": settings.n_images}


def summarise(result: dict) -> dict:
    """Deviations (%) of each teacher's lattice from experiment and PBE; barriers side by side."""
    rows = {}
    for phase in PHASES:
        lit = LATTICE[phase]
        pbe = lit.get("pbe") or result.get("pbe_here", {}).get(phase)
        for name, r in result["lattice"].get(phase, {}).items():
            if r.get("a") is None:
                continue
            row = rows.setdefault(phase, {}).setdefault(name, {})
            for key in ("a", "b", "c", "beta"):
                if key in r and key in lit["experiment"]:
                    row[f"{key}_vs_exp_pct"] = 100 * (r[key] / lit["experiment"][key] - 1)
                if key in r and pbe and key in pbe:
                    row[f"{key}_vs_pbe_pct"] = 100 * (r[key] / pbe[key] - 1)
    return rows


def mlearn_pbe_li() -> dict | None:
    """bcc Li zero-pressure a from the mlearn PBE data (benchmarks/validate_mlearn_li.py)."""
    path = OUT.parent / "validate_mlearn_li.json"
    if not path.exists():
        return None
    a = json.loads(path.read_text())["pbe"]["a0_zero_pressure_A"]
    return {"a": a, "source": "zero-pressure a of the mlearn PBE data (Zuo et al., J. Phys. "
            "Chem. A 124, 731 (2020)) from benchmarks/results/validate_mlearn_li.json"}


def _alarm(signum, frame):
    raise TimeoutError("wall-clock budget of this benchmark run spent")


def with_deadline(fn, deadline: float, what: str) -> dict:
    """``fn()`` stopped at ``deadline`` (epoch s); a stop or failure is a row, not an abort."""
    left = int(deadline - time.time())
    if left < 120:
        return {"not_run": f"{what}: no time left in this run's budget"}
    signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(left)
    t0 = time.perf_counter()
    try:
        return fn()
    except Exception as exc:  # noqa: BLE001 - recorded, the table goes on
        kind = "not_finished" if "budget" in str(exc) else "failed"
        return {kind: f"{type(exc).__name__}: {exc}"[:300],
                "wall_s": time.perf_counter() - t0, "load_average": list(os.getloadavg())}
    finally:
        signal.alarm(0)


def relaxed_from(row: dict) -> Atoms | None:
    s = row.get("structure")
    return None if s is None else Atoms(numbers=s["numbers"], positions=s["positions"],
                                        cell=s["cell"], pbc=True)


def run_ml(result: dict, name: str, labeler, deadline: float) -> None:
    relaxed = {}
    for phase in PHASES:
        old = result["lattice"].get(phase, {}).get(name, {})
        relaxed[phase] = relaxed_from(old)
        if relaxed[phase] is None:
            def step(phase=phase):
                row, relaxed[phase] = lattice_ml(labeler, phase)
                row["structure"] = {"numbers": relaxed[phase].numbers.tolist(),
                                    "positions": relaxed[phase].positions.tolist(),
                                    "cell": relaxed[phase].cell.array.tolist()}
                return row
            result["lattice"].setdefault(phase, {})[name] = with_deadline(step, deadline, phase)
            result["summary"] = summarise(result)
            save(result)
    for case, (phase, _, _) in NEB_CASES.items():
        if relaxed.get(phase) is None or "barrier_forward_eV" in result["barriers"].get(
                case, {}).get(name, {}):
            continue
        row = with_deadline(lambda: barrier(labeler, relaxed[phase], case), deadline, case)
        result["barriers"].setdefault(case, {})[name] = row
        save(result)


def run_xtb(result: dict, xtb, deadline: float) -> None:
    for phase in ("li-bcc", "lif", "li2o"):
        if "calls" in result["lattice"].get(phase, {}).get("xtb", {}):
            continue
        row = with_deadline(lambda phase=phase: lattice_xtb(xtb, phase, deadline - time.time()),
                            deadline, f"xTB {phase}")
        result["lattice"].setdefault(phase, {})["xtb"] = row
        result["summary"] = summarise(result)
        save(result)


def xtb_notes(result: dict) -> None:
    """xTB rows that are cited or explained, not run: the Li2CO3 cell and the NEBs."""
    result["lattice"].setdefault("li2co3-c2c", {})["xtb"] = recorded_xtb_li2co3()
    per_call = result["cost"]["xtb"]["s_per_label"]
    lif_call = result["lattice"].get("lif", {}).get("xtb", {}).get("s_per_call", float("nan"))
    calls = [r["n_force_calls"] for rows in result["barriers"].values() for r in rows.values()
             if "n_force_calls" in r] or [0]
    for case in NEB_CASES:
        result["barriers"].setdefault(case, {})["xtb"] = {
            "not_run": f"xTB is Γ-only, so the NEB cell must be >= 12 Å wide (>= 200 atoms); "
                       f"one call took {per_call:.0f} s on 96 atoms and {lif_call:.0f} s on the "
                       f"216-atom LiF cell here, and the teachers' bands needed {min(calls)}-"
                       f"{max(calls)} calls: "
                       f"hours per barrier on this shared 2-core machine"}
    result["barriers"]["li2co3_vacancy_hop"]["xtb"]["recorded"] = recorded_xtb_vacancy()


def missing_barrier_notes(result: dict) -> None:
    """Say why an ML teacher's NEB has no row: its cost from the measured CPU s per label."""
    for case, (phase, repeat, _) in NEB_CASES.items():
        n = len(get_phase(phase)) * int(np.prod(repeat))
        for name in ("sevennet", "chgnet"):
            rows = result["barriers"].setdefault(case, {})
            if "barrier_forward_eV" in rows.get(name, {}):
                continue
            cpu = result["cost"][name]["cpu_s_per_label"] * n / result["cost"]["n_atoms"]
            rows[name] = {**rows.get(name, {}), "not_run_reason": (
                f"~{n} atoms x ~250 calls (3 images, end points) x {cpu:.1f} CPU s = "
                f"~{250 * cpu / 60:.0f} CPU min; this benchmark's processes got ~10 % of a "
                f"core each on the shared 2-core host (load ~9), so it did not fit the session")}


def _validate_rows() -> list:
    path = OUT.parent / "validate_li2co3" / "results.json"
    return json.loads(path.read_text())["rows"] if path.exists() else []


def recorded_xtb_li2co3() -> dict:
    """GFN1-xTB Li2CO3 cell as measured by benchmarks/validate_li2co3.py (96-atom cell,
    7.6 Å thin, allow_thin): cited from its results file, not rerun (~20 s a call here)."""
    rows = {r["quantity"]: r["reference"] for r in _validate_rows()
            if r["target"] == "li2co3-c2c" and r["prop"] == "lattice"}
    if not rows:
        return {"failed": "no recorded xTB Li2CO3 lattice"}
    return {"a": rows["a"], "b": rows["b"], "c": rows["c"], "beta": rows["β"],
            "recorded_from": "benchmarks/results/validate_li2co3/results.json (1x2x2 cell, "
                             "7.6 Å thin: Γ-only xTB sees images; BFGS cell relaxation)"}


def recorded_xtb_vacancy() -> dict | None:
    for r in _validate_rows():
        if r["prop"] == "neb" and "vacancy" in r["target"] and "forward" in r["quantity"]:
            return {"barrier_eV": r["reference"], "recorded_from": "benchmarks/results/"
                    "validate_li2co3/results.json (1x2x2, 1 climbing image, fmax 0.1)"}
    return None


def part_path(part: str | None) -> Path:
    return OUT.with_name("teacher_table.json" if part is None else f"teacher_table_{part}.json")


def merge() -> None:
    """teacher_table.json from its cost step and the per-teacher parts."""
    result = json.loads(OUT.read_text())
    for path in sorted(OUT.parent.glob("teacher_table_*.json")):
        part = json.loads(path.read_text())
        for key in ("lattice", "barriers", "pbe_here"):
            for item, rows in part.get(key, {}).items():
                target = result.setdefault(key, {}).setdefault(item, {})
                done = ("a", "barrier_forward_eV", "calls")  # a row with a result wins
                target.update({n: r for n, r in rows.items() if n not in target or any(
                    k in r for k in done) or not any(k in target[n] for k in done)})
        result["machine"].setdefault("parts", {})[path.name] = part["machine"]
    for phase, rows in result["lattice"].items():  # rows written before root_summary existed
        if "calls" in rows.get("xtb", {}):
            rows["xtb"].update(root_summary(rows["xtb"]["calls"]))
    if "xtb" in result["lattice"].get("li-bcc", {}):
        xtb_notes(result)
    missing_barrier_notes(result)
    result["summary"] = summarise(result)
    save(result)


def _fmt_lattice(row: dict | None, keys=("a",)) -> str:
    if not row:
        return "–"
    if row.get("a") is None:
        if "closest_a" in row:
            return (f"no minimum (P > 0 up to {max(c[0] for c in row['calls']):.2f} Å; "
                    f"+{row['closest_pressure_GPa']:.2f} GPa at {row['closest_a']:.2f})")
        return next((f"not run ({k})" for k in ("not_run", "not_finished", "failed", "skipped")
                     if k in row), "–")
    text = ", ".join(f"{row[k]:.3f}" if k != "beta" else f"{row[k]:.1f}°" for k in keys)
    return text + (" ¹" if "recorded_from" in row else "")


def _fmt_barrier(row: dict | None) -> str:
    if not row:
        return "–"
    if "barrier_forward_eV" in row:
        return f"{row['barrier_forward_eV']:.3f}"
    if "not_run_reason" in row:
        return "not run (cost, see JSON)"
    if "recorded" in row and row["recorded"]:
        return f"not run (thin-cell value {row['recorded']['barrier_eV']:.2f} ¹)"
    return "not run" if "not_run" in row else ("not finished" if "not_finished" in row
                                                 else "failed")


def markdown(result: dict) -> str:
    """The teacher table as Markdown (docs/reference.md)."""
    names = ("sevennet", "chgnet", "xtb")
    lines = ["| quantity | experiment | PBE | SevenNet-0 | CHGNet 0.3.0 | GFN1-xTB |",
             "|---|---|---|---|---|---|"]
    for phase in PHASES:
        lit = LATTICE[phase]
        keys = ("a", "b", "c", "beta") if phase == "li2co3-c2c" else ("a",)
        pbe = lit.get("pbe") or result.get("pbe_here", {}).get(phase)
        exp = ", ".join(f"{lit['experiment'][k]}" for k in keys)
        pbe_txt = ", ".join(f"{pbe[k]}" for k in keys) if pbe else "–"
        rows = result["lattice"].get(phase, {})
        cells = [_fmt_lattice(rows.get(n), keys) for n in names]
        lines.append(f"| {phase} {'a, b, c (Å), β' if len(keys) > 1 else 'a (Å)'} | {exp} | "
                     f"{pbe_txt} | " + " | ".join(cells) + " |")
    for case, lit in BARRIERS.items():
        ref = lit["pbe_approx_eV"]
        ref = f"~{ref}" if not isinstance(ref, list) else f"~{ref[0]}–{ref[1]}"
        cells = [_fmt_barrier(result["barriers"].get(case, {}).get(n)) for n in names]
        lines.append(f"| {case.replace('_', ' ')} (eV) | – | {ref} | " + " | ".join(cells) + " |")
    cost = result.get("cost", {})
    if cost:
        cells = [f"{cost[n]['cpu_s_per_label']:.2f} CPU s ({cost[n]['s_per_label']:.1f} s wall)"
                 for n in names]
        lines.append(f"| one label, {cost['n_atoms']}-atom Li2CO3 | | | " + " | ".join(cells)
                     + " |")
    return "\n".join(lines)


def main() -> None:
    global OUT, PHASES
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--teachers", nargs="*", default=["sevennet", "chgnet", "xtb"],
                        choices=["sevennet", "chgnet", "xtb"])
    parser.add_argument("--cost", action="store_true", help="run the cost step (all teachers)")
    parser.add_argument("--part", help="write teacher_table_PART.json (merge them with --merge)")
    parser.add_argument("--merge", action="store_true")
    parser.add_argument("--minutes", type=float, default=80.0, help="wall-clock budget")
    parser.add_argument("--xtb-minutes", type=float, default=15.0,
                        help="wall time allowed for the xTB lattice steps")
    parser.add_argument("--resume", action="store_true", help="keep finished rows of the part")
    parser.add_argument("--start-from", help="resume from this part's rows instead")
    parser.add_argument("--cases", nargs="*", default=list(NEB_CASES), choices=list(NEB_CASES))
    parser.add_argument("--phases", nargs="*", default=list(PHASES), choices=list(PHASES))
    args = parser.parse_args()
    if args.merge:
        merge()
        return print(markdown(json.loads(OUT.read_text())))
    OUT = part_path(args.part)
    result = {"benchmark": "teacher table: SevenNet-0, CHGNet, GFN1-xTB vs experiment and PBE",
              "machine": {**describe(), "load_average_start": list(os.getloadavg())},
              "literature": {"lattice": LATTICE, "barriers": BARRIERS,
                             "li-bcc_pbe_mlearn": mlearn_pbe_li()},
              "lattice": {}, "barriers": {}, "pbe_here": {}}
    source = part_path(args.start_from) if args.start_from else OUT
    if (args.resume or args.start_from) and source.exists():
        result = {**json.loads(source.read_text()), "machine": result["machine"]}
    for case in set(NEB_CASES) - set(args.cases):
        del NEB_CASES[case]
    PHASES = tuple(args.phases)
    labelers = {"sevennet": SevenNetLabeler(), "chgnet": CHGNetLabeler(),
                "xtb": XTBSettings(allow_thin=True)}
    if args.cost:
        result["cost"] = cost_per_label(labelers)
        save(result)
    deadline = time.time() + 60 * args.minutes
    for name in args.teachers:
        if name == "xtb":
            run_xtb(result, labelers["xtb"], min(deadline, time.time() + 60 * args.xtb_minutes))
        else:
            run_ml(result, name, labelers[name], deadline)
    result["summary"] = summarise(result)
    save(result)


if __name__ == "__main__":
    main()
