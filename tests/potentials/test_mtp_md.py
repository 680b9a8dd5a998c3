"""NVE energy conservation with a trained MTP (the potential seiflow fits, not an analytic one),
with the grade observed at every step."""

import ase.io
import numpy as np

from seiflow.md import MDSettings, run_md


def test_nve_with_trained_mtp_conserves_energy(emt_mtp, emt_train, tmp_path):
    atoms = emt_train[0].copy()
    atoms.calc = None
    calc = emt_mtp.calculator()
    gammas = []
    s = MDSettings(ensemble="nve", temperature_K=300, timestep_fs=1.0, steps=600,
                   traj_stride=5, checkpoint_every=300, seed=3)
    res = run_md(atoms, calc, s, tmp_path,
                 observers=[(lambda a, step: gammas.append(a.calc.results["gamma"]), 1)],
                 progress=False)
    frames = ase.io.read(res.trajectory, index=":")
    etot = np.array([f.info["epot_eV"] + f.get_kinetic_energy() for f in frames])
    t_ps = np.array([f.info["time_fs"] for f in frames]) / 1000
    n = len(atoms)
    assert np.ptp(etot) / n < 5e-4  # eV/atom over 0.6 ps
    assert abs(np.polyfit(t_ps, etot, 1)[0]) / n < 5e-4  # drift, eV/atom/ps
    assert np.ptp([f.get_kinetic_energy() for f in frames]) > 0.05  # the atoms moved
    assert len(gammas) == 601 and max(gammas) < 10  # graded every step; stays in its domain


def test_nve_with_the_kernel_is_motep_engines_trajectory(emt_mtp, emt_train, tmp_path):
    """The compiled kernel and motep's engine (the cross-check) drive the same NVE trajectory:
    positions and total energy agree to round-off growth over 300 steps."""
    atoms = emt_train[0].copy()
    atoms.calc = None
    s = MDSettings(ensemble="nve", temperature_K=300, timestep_fs=1.0, steps=300,
                   traj_stride=10, checkpoint_every=300, seed=5)
    runs = {}
    for engine in ("kernel", "motep"):
        res = run_md(atoms, emt_mtp.calculator(grade=False, engine=engine), s,
                     tmp_path / engine, progress=False)
        runs[engine] = ase.io.read(res.trajectory, index=":")
    kernel, motep = runs["kernel"], runs["motep"]
    assert len(kernel) == len(motep) == 31
    drift = [np.abs(a.positions - b.positions).max() for a, b in zip(kernel, motep)]
    assert max(drift) < 1e-8  # Å
    etot = [[f.info["epot_eV"] + f.get_kinetic_energy() for f in run] for run in (kernel, motep)]
    assert np.abs(np.subtract(*etot)).max() < 1e-9  # eV
    assert np.abs(kernel[-1].positions - kernel[0].positions).max() > 0.05  # the atoms moved
