"""seiflow's MTP fit against MLIP-3's ``mlp train`` at equal CPU time (issue 15 item 6).

Data: mlearn Li (public VASP PBE; Zuo et al., J. Phys. Chem. A 124, 731 (2020)): training.json
(241 structures) to fit, test.json (29) to test. Level 16, one core each, the same loss: MLIP-3's
defaults (energy 1, forces 0.01, stress 0.001, ``--weight_scaling=1``), which is seiflow's
``weighting: mlip`` with the same weights.

- MLIP-3: ``mlp train 16.almtp train.cfg --iteration_limit=N`` for each N of ``--mlp-iterations``
  (its own start: rescaling, 75 pre-training BFGS iterations, then N BFGS iterations, a final
  linear solve; it writes a model only at the end). CPU time from the kernel's accounting of the
  process (user + system). Every log line is stamped with the process's CPU time so far, so the
  phases (rescaling, pre-training, training) are timed. The trained ``.almtp`` is read by
  ``seiflow import-mtp`` (equal to MLIP-3's own energies to 1e-13: mlip_crosscheck.py) and tested
  with seiflow's error table.
- seiflow: ``fit_mtp`` (Levenberg–Marquardt, one process, random start) in segments; after each
  segment the model is tested and the next continues from it (``start=``, a warm restart: the
  damping is reset, the coefficients kept), in a child process; its CPU time
  (``time.process_time``).

The two run side by side, one per core, so they share the machine's state; run nothing else.

MLIP-3 is built outside the repository (its licence forbids redistribution; see
mlip_crosscheck.py's docstring).
Run:  OMP_NUM_THREADS=1 .venv/bin/python benchmarks/mlip3_train.py --mlip-dir /tmp/mlip3
Writes benchmarks/results/mlip3_train.json and mlip3_train.png.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "benchmarks"), str(ROOT)]
from machine import describe  # noqa: E402
from mtp_mlearn_li import DATA, load  # noqa: E402

from seiflow.data.formats import write_cfg  # noqa: E402
from seiflow.potentials.metrics import error_table, predict  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a running process, s (/proc/PID/stat fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def test_errors(model, test) -> dict:
    err = error_table(predict(model, test))["all"]
    return {"energy_meV_per_atom": err["energy"]["rmse"], "forces_eV_per_A": err["forces"]["rmse"],
            "stress_GPa": err["stress"]["rmse"]}


def mlp_train(mlip: Path, cfg: Path, iterations: int, work: Path, test) -> dict:
    """One ``mlp train`` run from MLIP-3's level-16 template; its log stamped with CPU time."""
    from seiflow.potentials.mtp.model import MTPModel
    from seiflow.workflows.mlip_import import import_mtp

    out = work / f"mlp-{iterations}.almtp"
    proc = subprocess.Popen([str(mlip / "bin" / "mlp"), "train",
                             str(mlip / "MTP_templates" / "16.almtp"), str(cfg),
                             f"--save_to={out}", f"--iteration_limit={iterations}", "--log=stdout"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    log, last_cpu = [], 0.0
    for line in proc.stdout:
        try:
            last_cpu = cpu_seconds(proc.pid)
        except (FileNotFoundError, ProcessLookupError):
            pass
        log.append((round(last_cpu, 2), line.rstrip()))
    proc.wait()
    if proc.returncode:
        raise RuntimeError(f"mlp train failed ({proc.returncode}): {log[-5:]}")

    def first(prefix: str) -> float | None:
        return next((t for t, s in log if s.startswith(prefix)), None)

    bfgs = [(t, float(s.split("f=")[1])) for t, s in log if s.startswith("BFGS iter")]
    pre_end = first("Pre-training ended") or float("inf")
    import_mtp(out, ["Li"], work / f"mlp-{iterations}")
    model = MTPModel.load(work / f"mlp-{iterations}")
    return {"iteration_limit": iterations, "cpu_s": last_cpu,
            "rescaling_done_cpu_s": first("Pre-training started"),
            "pretraining_done_cpu_s": first("Pre-training ended"),
            "bfgs_cpu_s": [t for t, _ in bfgs], "bfgs_loss": [f for _, f in bfgs],
            "pretraining_iterations": sum(t <= pre_end for t, _ in bfgs),
            "test": test_errors(model, test)}


def seiflow_segments(train, test, ends: list[float], out: Path) -> None:
    """LM fits ending at the wall times in ``ends`` (s), each continuing from the last; the
    results (one per segment) rewritten to ``out`` after each."""
    from seiflow.potentials.mtp.fit import fit_mtp

    results: list = []
    model, t_last, c0 = None, 0.0, time.process_time()
    curve_t, curve_loss = [], []
    for end in ends:
        w0 = time.perf_counter()
        model = fit_mtp(train, level=16, weights=(1.0, 0.01, 0.001), weighting="mlip",
                        optimizer="lm", max_iter=100_000, tol=0, max_time=end - t_last,
                        workers=1, seed=0, progress=False, start=model)
        t = model.record["training"]
        curve_t += [t_last + x for x in t["time_s"]]
        curve_loss += t["loss"]
        t_last += time.perf_counter() - w0
        results.append({"wall_s": round(t_last, 1), "cpu_s": round(time.process_time() - c0, 1),
                        "steps": len(t["loss"]), "stop": t["stop"],
                        "loss": t["loss"][-1], "test": test_errors(model, test),
                        "curve_wall_s": list(curve_t), "curve_loss": list(curve_loss)})
        out.write_text(json.dumps(results))
        print("seiflow", {k: v for k, v in results[-1].items() if not k.startswith("curve")},
              flush=True)


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 2, figsize=(10, 4), dpi=110)
    for k, key in enumerate(("energy_meV_per_atom", "forces_eV_per_A")):
        s = result["seiflow"]
        ax[k].plot([r["cpu_s"] for r in s], [r["test"][key] for r in s], "o-",
                   label="seiflow LM (weighting mlip)")
        m = result["mlip3"]
        ax[k].plot([r["cpu_s"] for r in m], [r["test"][key] for r in m], "s-",
                   label="MLIP-3 mlp train")
        for r in m:
            if r["pretraining_done_cpu_s"]:
                ax[k].axvline(r["pretraining_done_cpu_s"], c="grey", ls=":", lw=0.8)
        ax[k].set_xlabel("CPU time, one core (s)")
        ax[k].set_ylabel(f"test RMSE ({key.split('_', 1)[1].replace('_per_', '/')})")
        ax[k].set_yscale("log")
        ax[k].legend(fontsize=7)
    fig.suptitle("mlearn Li, MTP level 16, same loss; dotted: end of MLIP-3's pre-training",
                 fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mlip-dir", default=os.environ.get("SEIFLOW_MLIP_DIR", "/tmp/mlip3"))
    ap.add_argument("--mlp-iterations", type=int, nargs="+", default=[25, 100])
    ap.add_argument("--segments", type=float, nargs="+",
                    default=[300, 600, 900, 1200, 1500, 1800, 2400],
                    help="wall times (s) at which seiflow's fit is tested")
    args = ap.parse_args()
    mlip = Path(args.mlip_dir)
    if not (mlip / "bin" / "mlp").exists():
        print(f"no MLIP-3 build at {mlip} (see mlip_crosscheck.py's docstring): skipped")
        return 0
    train, test = load(DATA, "training"), load(DATA, "test")
    theirs: list = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        cfg = write_cfg(train, work / "train.cfg", ["Li"])
        fit = multiprocessing.get_context("fork").Process(
            target=seiflow_segments, args=(train, test, args.segments, work / "seiflow.json"))
        fit.start()  # the fit holds one core (OMP_NUM_THREADS=1), mlp the other
        for n in args.mlp_iterations:
            theirs.append(mlp_train(mlip, cfg, n, work, test))
            print("mlip3", {k: v for k, v in theirs[-1].items() if not k.startswith("bfgs")},
                  flush=True)
        fit.join()
        ours = json.loads((work / "seiflow.json").read_text())
    result = {"machine": describe(), "data": "mlearn Li (241 train / 29 test structures)",
              "level": 16, "loss": "MLIP-3 default: weights 1 / 0.01 / 0.001, weight_scaling 1",
              "seiflow": ours, "mlip3": theirs}
    (RESULTS / "mlip3_train.json").write_text(json.dumps(result, indent=1))
    plot(result, RESULTS / "mlip3_train.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
