"""seiflow's MTP against MLIP-3 itself (issue 20 item 5, issue 21 "MLIP side-by-side").

(a) equality: seiflow-exported ``.mtp`` files (levels 10 and 16; one species, fitted briefly
    on mlearn Li; three species, Li2CO3 with random coefficients: equality needs no good fit)
    evaluated by MLIP-3 and by seiflow's compiled kernel on the same structures: max |ΔE| per
    atom and max |ΔF|; and the extrapolation grade of the exported ``.almtp`` (seiflow's active
    set as MLIP's #MVS state) by ``mlp calculate_grade`` against seiflow's γ.
(b) speed: MLIP-3's CalcEFS against seiflow's kernel (energy, forces, stress, neighbour lists
    rebuilt every call), on one core, the two called in turn per round; atom-evaluations/s.
(c) import: ``mlp train`` (a few iterations) on a ``.cfg`` written by ``seiflow data export
    --format cfg``; ``seiflow import-mtp`` of the trained ``.almtp``; energies against
    ``mlp calculate_efs``.

``mlp calculate_efs`` writes forces with 6 decimals, so exact numbers come from a 30-line
driver (written here, compiled against the MLIP build's object files) that calls MLMTPR's
CalcEFS and prints %.17g; it also times CalcEFS without file input/output.

MLIP-3's licence forbids redistribution: build it outside the repository, e.g.
  fetch https://github.com/RichardZJM/mlip3-extract (or gitlab.com/ashapeev/mlip-3) to /tmp/mlip3
  ./configure --no-mpi --compiler=gnu --blas=openblas --blas-root=/usr   (or --blas=embedded
  with a Fortran compiler); make mlp
Run:  OMP_NUM_THREADS=1 .venv/bin/python benchmarks/mlip_crosscheck.py --mlip-dir /tmp/mlip3
      (or SEIFLOW_MLIP_DIR=/tmp/mlip3). Without it the benchmark skips with a message.
Writes benchmarks/results/mlip_crosscheck.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import describe  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "mlip_crosscheck.json"
DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mlearn-Li"
DRIVER = r"""
#include "mtpr.h"
#include "configuration.h"
#include <chrono>
#include <cstdio>
#include <ctime>
#include <cstdlib>
int main(int argc, char** argv) {
    MLMTPR mtp(argv[1]);
    std::vector<Configuration> cfgs = LoadCfgs(argv[2]);
    FILE* out = fopen(argv[3], "w");
    int rounds = atoi(argv[4]);
    bool rebuild = argc < 6 || atoi(argv[5]) != 0;  // neighbour lists rebuilt every call
    for (auto& c : cfgs) {
        mtp.CalcEFS(c);
        fprintf(out, "E %.17g %d\n", c.energy, c.size());
        for (int i = 0; i < c.size(); i++)
            fprintf(out, "%.17g %.17g %.17g\n", c.force(i, 0), c.force(i, 1), c.force(i, 2));
    }
    long atoms = 0;
    std::clock_t c0 = std::clock();
    auto t0 = std::chrono::steady_clock::now();
    for (int r = 0; r < rounds; r++)
        for (auto& c : cfgs) {
#ifndef MLIP2
            if (rebuild) c.nbh_cutoff = 0.0;  // MLIP-2's CalcEFS rebuilds them every call
#endif
            mtp.CalcEFS(c); atoms += c.size(); }
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    double cpu = double(std::clock() - c0) / CLOCKS_PER_SEC;
    fprintf(out, "T %.9g %ld %.9g\n", s, atoms, cpu);
    fclose(out);
    return 0;
}
"""


def is_mlip2(mlip: Path) -> bool:
    """MLIP-2 (mas37/iljwme) keeps MLMTPR in dev_src/ and its serial objects in obj/ser."""
    return (mlip / "dev_src" / "mtpr.h").exists()


def build_driver(mlip: Path, work: Path) -> Path:
    """The EFS driver, linked against the MLIP build's objects (all but mlp's main); MLIP-3 or
    MLIP-2."""
    mlip2 = is_mlip2(mlip)
    objs = [str(p) for p in sorted((mlip / "obj" / ("ser" if mlip2 else "serial")).rglob("*.o"))
            if p.name not in ("mlp.cpp.o",)]
    config = (mlip / "make" / "config.mk").read_text() if (mlip / "make" / "config.mk").exists() \
        else ""
    libs = [w for line in config.splitlines() if line.startswith("LDFLAGS")
            for w in line.split("=", 1)[1].split()]
    embedded = mlip / "lib" / "lib_mlip_cblas.a"
    src, exe = work / "efs_driver.cpp", work / "efs_driver"
    src.write_text(DRIVER)
    dev = [f"-I{mlip / 'dev_src'}", "-DMLIP2", "-DMLIP_DEV"] if mlip2 else []
    cmd = ["g++", "-O3", "-std=c++11", f"-I{mlip / 'src'}", f"-I{mlip / 'src' / 'common'}",
           f"-I{mlip / 'blas' / 'cblas'}", *dev, str(src), *objs, "-o", str(exe),
           *[lib.replace("$(LIB_DIR)", str(mlip / "lib")) for lib in libs]]
    if embedded.exists() and str(embedded) not in " ".join(cmd):
        cmd.append(str(embedded))
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    return exe


def write_cfg_exact(frames, species, path: Path) -> Path:
    """A .cfg with every number at full precision (seiflow's writer rounds positions to
    1e-10 Å, which shows in a 1e-13 comparison)."""
    blocks = []
    for a in frames:
        types = [species.index(s) for s in a.get_chemical_symbols()]
        lines = ["BEGIN_CFG", " Size", f"    {len(a)}", " Supercell"]
        lines += ["    " + " ".join(f"{x:.17e}" for x in row) for row in a.cell.array]
        lines.append(" AtomData:  id type cartes_x cartes_y cartes_z")
        lines += [f"    {i + 1} {t} " + " ".join(f"{x:.17e}" for x in p)
                  for i, (t, p) in enumerate(zip(types, a.positions))]
        blocks.append("\n".join(lines + ["END_CFG", ""]))
    path.write_text("\n".join(blocks))
    return path


def _driver_lines(exe: Path, mtp: Path, cfg: Path, rounds: int, rebuild: bool = True
                  ) -> list[str]:
    out = cfg.with_suffix(".efs")
    subprocess.run([str(exe), str(mtp), str(cfg), str(out), str(rounds), str(int(rebuild))],
                   check=True, capture_output=True, text=True)
    return out.read_text().splitlines()


def driver_seconds(exe: Path, mtp: Path, cfg: Path, rounds: int, rebuild: bool = True
                   ) -> tuple[float, float, int]:
    """CPU and wall seconds of ``rounds`` timed CalcEFS passes over ``cfg``, and the atoms
    evaluated (file input/output not timed; neighbour lists rebuilt every call, or kept from
    the untimed first call)."""
    _, wall, atoms, cpu = _driver_lines(exe, mtp, cfg, rounds, rebuild)[-1].split()
    return float(cpu), float(wall), int(atoms)


def run_driver(exe: Path, mtp: Path, cfg: Path, rounds: int) -> tuple[list, float, int]:
    results, lines = [], _driver_lines(exe, mtp, cfg, rounds)
    k = 0
    while not lines[k].startswith("T"):
        _, e, n = lines[k].split()
        forces = np.array([[float(x) for x in ln.split()] for ln in lines[k + 1:k + 1 + int(n)]])
        results.append((float(e), forces))
        k += 1 + int(n)
    _, seconds, atoms, _ = lines[k].split()
    return results, float(seconds), int(atoms)


def seiflow_efs(model, frames, rounds: int) -> tuple[list, float, int]:
    """seiflow's kernel (one thread): exact results, then the timed rounds."""
    from seiflow.potentials.mtp.model import run_engine

    engine = run_engine(model.data, "kernel")
    engine.threads = 1
    results = [(r["energy"], r["forces"]) for r in (engine.calculate(a) for a in frames)]
    atoms, t0 = 0, time.perf_counter()
    for _ in range(rounds):
        for a in frames:
            engine.calculate(a)
            atoms += len(a)
    return results, time.perf_counter() - t0, atoms


def differences(ours: list, theirs: list, frames) -> dict:
    de = max(abs(e1 - e2) / len(a) for (e1, _), (e2, _), a in zip(ours, theirs, frames))
    df = max(float(np.abs(f1 - f2).max()) for (_, f1), (_, f2) in zip(ours, theirs))
    fmax = max(float(np.abs(f).max()) for _, f in theirs)
    return {"max_abs_dE_eV_per_atom": de, "max_abs_dF_eV_per_A": df, "max_abs_F_eV_per_A": fmax}


def mlp_grades(mlp: Path, almtp: Path, cfg: Path, work: Path) -> list[float]:
    out = work / "graded.cfg"
    subprocess.run([str(mlp), "calculate_grade", str(almtp), str(cfg), str(out)], check=True,
                   capture_output=True, text=True)
    return [float(line.split()[-1]) for line in out.read_text().splitlines()
            if "MV_grade" in line]


def compare(case: str, model, frames, mlip: Path, exe: Path, work: Path, rounds: int) -> dict:
    """(a) and (b) for one model: export, MLIP vs seiflow numbers, γ, speed in turn."""
    from seiflow.workflows.lammps import LammpsRun, export_lammps

    folder = work / case
    model.save(folder / "model")
    export_lammps(folder / "model", frames[0], folder / "lmp", LammpsRun())
    cfg = write_cfg_exact(frames, list(model.species), folder / "frames.cfg")
    theirs, _, _ = run_driver(exe, folder / "lmp" / "potential.mtp", cfg, 0)
    ours, _, _ = seiflow_efs(model, frames, 0)
    row = {"case": case, "level": model.level, "species": list(model.species),
           "frames": len(frames), "atoms_per_frame": sorted({len(a) for a in frames}),
           **differences(ours, theirs, frames)}
    if model.active_set is not None:
        g_mlp = mlp_grades(mlip / "bin" / "mlp", folder / "lmp" / "potential.almtp", cfg, folder)
        g_ours = [float(model.grade(a).max()) for a in frames]
        row["gamma_max_rel_diff_vs_mlp_calculate_grade"] = max(
            abs(a - b) / max(b, 1e-12) for a, b in zip(g_mlp, g_ours))
        row["gamma_range"] = [min(g_ours), max(g_ours)]
    speed = {"mlip3": [], "seiflow": []}
    for _ in range(3):  # in turn, so that a change of machine load hits both alike
        _, s, n = run_driver(exe, folder / "lmp" / "potential.mtp", cfg, rounds)
        speed["mlip3"].append(n / s)
        _, s, n = seiflow_efs(model, frames, rounds)
        speed["seiflow"].append(n / s)
    row["atom_evaluations_per_s"] = {k: float(np.median(v)) for k, v in speed.items()}
    row["seiflow_over_mlip3"] = float(np.median(np.array(speed["seiflow"])
                                                / np.array(speed["mlip3"])))
    return row


def li_models(levels: list[int], n_train: int, max_iter: int):
    """Levels fitted briefly (``max_iter`` LM steps) on mlearn Li; its test set to evaluate."""
    from seiflow.data.formats import read_mlearn_json
    from seiflow.potentials.mtp.fit import fit_mtp

    train = read_mlearn_json(DATA / "training.json")[:n_train]
    test = read_mlearn_json(DATA / "test.json")
    for level in levels:
        yield f"Li_level{level}", fit_mtp(train, level=level, cutoff=5.0, max_iter=max_iter,
                                           seed=0, progress=False), test


def li2co3_models(levels: list[int], n_frames: int):
    """Random-coefficient Li/C/O MTPs (equality needs no fit) with an active set over
    rattled Li2CO3 frames, and those frames."""
    from seiflow.potentials.active import ActiveSet
    from seiflow.potentials.mtp.levels import mtp_basis
    from seiflow.potentials.mtp.model import MTPModel, new_mtp_data
    from seiflow.structures.library import get_phase

    base = get_phase("li2co3-c2c").repeat((1, 2, 2))
    frames = []
    for k in range(n_frames):
        a = base.copy()
        a.rattle(0.05, seed=k)
        frames.append(a)
    for level in levels:
        rng = np.random.default_rng(level)
        data = new_mtp_data(mtp_basis(level), ("Li", "C", "O"), 5.0, 0.9, 8, rng)
        model = MTPModel(data=data, species=("Li", "C", "O"), level=level)
        model.active_set = ActiveSet.from_matrix(np.vstack([model.rows(a) for a in frames]))
        yield f"Li2CO3_level{level}", model, frames


def import_case(mlip: Path, exe: Path, work: Path, n_train: int, iterations: int) -> dict:
    """(c): mlp train on `seiflow data export --format cfg`, then `seiflow import-mtp`."""
    from seiflow.data.formats import read_mlearn_json
    from seiflow.data.labels import Label
    from seiflow.data.store import LabelStore, Origin
    from seiflow.potentials.mtp.model import MTPModel

    folder = work / "import"
    folder.mkdir()
    store = LabelStore(folder / "labels.db")
    for a in read_mlearn_json(DATA / "training.json")[:n_train]:
        store.add(a, Label.from_atoms(a), "mlearn-pbe", "mlearn", Origin(group="mlearn"))
    seiflow = [sys.executable, "-m", "seiflow"]
    subprocess.run([*seiflow, "data", "export", str(folder / "labels.db"),
                    str(folder / "train.cfg"), "--format", "cfg"], check=True,
                   capture_output=True, text=True)
    t0 = time.perf_counter()
    subprocess.run([str(mlip / "bin" / "mlp"), "train", str(mlip / "MTP_templates" / "10.almtp"),
                    str(folder / "train.cfg"), f"--save_to={folder / 'trained.almtp'}",
                    f"--iteration_limit={iterations}", "--al_mode=nbh", "--log=none"],
                   check=True, capture_output=True, text=True)
    train_s = time.perf_counter() - t0
    r = subprocess.run([*seiflow, "import-mtp", str(folder / "trained.almtp"), "--species", "Li",
                        "--out", str(folder / "model")], capture_output=True, text=True)
    if r.returncode:
        return {"case": "import", "error": r.stderr.strip()}
    model = MTPModel.load(folder / "model")
    test = read_mlearn_json(DATA / "test.json")
    cfg = write_cfg_exact(test, ["Li"], folder / "test.cfg")
    theirs, _, _ = run_driver(exe, folder / "trained.almtp", cfg, 0)
    ours, _, _ = seiflow_efs(model, test, 0)
    gammas = [float(model.grade(a).max()) for a in test]
    return {"case": "import of an MLIP-3-trained .almtp", "mlp_train_iterations": iterations,
            "mlp_train_s": round(train_s, 1), "training_frames": n_train, "level": model.level,
            "active_set": json.loads((folder / "model" / "model.json").read_text())
            .get("active_set_source"), "test_frames": len(test),
            **differences(ours, theirs, test), "gamma_range_on_test": [min(gammas), max(gammas)],
            "import_output": r.stdout.strip()}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--mlip-dir", default=os.environ.get("SEIFLOW_MLIP_DIR"),
                   help="MLIP-3 build folder (bin/mlp, obj/serial); env SEIFLOW_MLIP_DIR")
    p.add_argument("--levels", type=int, nargs="+", default=[10, 16])
    p.add_argument("--rounds", type=int, default=5, help="timed passes over the frames")
    p.add_argument("--out", default=str(RESULTS))
    args = p.parse_args()
    mlip = Path(args.mlip_dir) if args.mlip_dir else None
    if mlip is None or not (mlip / "bin" / "mlp").exists():
        print(f"skipped: no MLIP-3 build (bin/mlp) at {mlip or '--mlip-dir / SEIFLOW_MLIP_DIR'};"
              " see this script's docstring to build one outside the repository")
        return 0
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        exe = build_driver(mlip, work)
        for case, model, frames in [*li_models(args.levels, 30, 3),
                                    *li2co3_models(args.levels, 4)]:
            rows.append(compare(case, model, frames, mlip, exe, work, args.rounds))
            print(json.dumps(rows[-1]), flush=True)
        rows.append(import_case(mlip, exe, work, 40, 30))
        print(json.dumps(rows[-1]), flush=True)
    load = os.getloadavg()
    result = {"benchmark": "seiflow MTP kernel vs MLIP-3 (energies, forces, γ, speed, import)",
              "mlip": "MLIP-3 from github.com/RichardZJM/mlip3-extract @25dfa45, serial, "
                      "OpenBLAS, g++ -O3 (its default flags, as seiflow's kernel); built "
                      "outside the repository (its licence forbids redistribution)",
              "note": "one core each (seiflow kernel threads=1; MLIP serial build); the "
                      "machine is shared with other work, so speeds are indicative: the two "
                      "were called in turn and the ratio is the median of per-round ratios",
              "load_average_after": load, "machine": describe(), "rows": rows}
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
