"""The one γ path: GradedCalculator (any Gradable potential's calculator plus γ) and the
GammaWatch observer (select, break, restart, wrappers), on a toy potential whose grade is
known exactly: γ_i = |F_i| / (0.5 eV/Å) with EMT forces."""

from pathlib import Path

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT

from seiflow.md import FieldCalculator, GammaBreak, GammaWatch, MDSettings, run_md
from seiflow.potentials.base import Gradable, Potential
from seiflow.potentials.graded import GradedCalculator, graded_calculator, graded_of

SCALE = 0.5  # eV/Å


class ToyPotential:
    """EMT as a Gradable potential: γ_i = |F_i| / SCALE."""

    backend = "toy"
    species = ("Cu", "Al")
    cutoff = 5.0
    active_set = None

    def calculator(self, grade: bool = True):
        return GradedCalculator(self, EMT()) if grade else EMT()

    def grade_from(self, results: dict) -> np.ndarray:
        return np.linalg.norm(results["forces"], axis=1) / SCALE

    def grade(self, atoms) -> np.ndarray:
        work = atoms.copy()
        work.calc = EMT()
        return self.grade_from({"forces": work.get_forces()})

    def rows(self, atoms) -> np.ndarray:
        return np.zeros((len(atoms), 1))

    def save(self, path) -> Path:
        return Path(path)

    @classmethod
    def load(cls, path):
        return cls()


class Ungradable:
    backend = "plain"
    species = ("Cu",)
    cutoff = 5.0

    def calculator(self, grade: bool = True):
        return EMT()

    def save(self, path) -> Path:
        return Path(path)

    @classmethod
    def load(cls, path):
        return cls()


def _cell(seed=0, rattle=0.15):
    atoms = bulk("Cu", "fcc", 3.6, cubic=True).repeat(2)
    atoms.rattle(rattle, seed=seed)
    return atoms


def test_protocols_are_checked_by_capability():
    assert isinstance(ToyPotential(), Potential) and isinstance(ToyPotential(), Gradable)
    assert isinstance(Ungradable(), Potential) and not isinstance(Ungradable(), Gradable)
    with pytest.raises(Exception, match="no extrapolation grade"):
        graded_calculator(Ungradable())


def test_graded_calculator_adds_gamma_and_keeps_base_results():
    atoms = _cell()
    atoms.calc = graded_calculator(ToyPotential())
    ref = _cell()
    ref.calc = EMT()
    assert np.array_equal(atoms.get_forces(), ref.get_forces())
    assert atoms.get_potential_energy() == ref.get_potential_energy()
    gammas = atoms.calc.get_property("gammas", atoms)
    assert gammas.shape == (len(atoms),) and np.all(gammas >= 0)
    assert np.allclose(gammas, np.linalg.norm(ref.get_forces(), axis=1) / SCALE)
    assert atoms.calc.get_property("gamma", atoms) == gammas.max()
    atoms.positions[0, 0] += 0.3
    atoms.get_forces()
    assert atoms.calc.n_graded == 2 and atoms.calc.max_gamma >= atoms.calc.results["gamma"]
    assert graded_of(FieldCalculator(atoms.calc, (0, 0, 0.1))) is atoms.calc


def test_watch_selects_and_breaks(tmp_path):
    s = MDSettings(ensemble="nve", temperature_K=300, timestep_fs=1.0, steps=40, traj_stride=5,
                   checkpoint_every=20, seed=1)
    quiet = GammaWatch()
    run_md(_cell(), graded_calculator(ToyPotential()), s, tmp_path / "a",
           observers=[(quiet, 1)], progress=False)
    gammas = np.array(quiet.gammas)
    assert len(gammas) == 41 and quiet.max_gamma == gammas.max() and quiet.last_step == 40
    select = float(np.quantile(gammas, 0.5))
    brk = float(np.sort(gammas)[-3])  # the third largest: some steps pass, then a break
    picked = []
    watch = GammaWatch(select, brk, lambda a, step, g, gs: picked.append((step, g, gs.copy())))
    with pytest.raises(GammaBreak):
        run_md(_cell(), graded_calculator(ToyPotential()), s, tmp_path / "b",
               observers=[(watch, 1)], progress=False)
    first_above = int(np.argmax(gammas > brk))
    assert watch.broken_at == first_above == watch.last_step
    # the starting structure (step 0, or a restart's checkpoint step) is never a candidate
    assert [p[0] for p in picked] == [k for k in range(1, first_above + 1) if gammas[k] > select]
    assert all(g == gs.max() for _, g, gs in picked) and watch.selected == len(picked)


def test_watch_reads_through_a_field_and_ignores_ungraded(tmp_path):
    s = MDSettings(ensemble="nve", temperature_K=300, timestep_fs=1.0, steps=10, traj_stride=5,
                   checkpoint_every=10, seed=1)
    watch = GammaWatch()
    calc = FieldCalculator(graded_calculator(ToyPotential()), (0.0, 0.0, 0.05), {"Cu": 1.0})
    run_md(_cell(), calc, s, tmp_path / "f", observers=[(watch, 5)], progress=False)
    assert len(watch.gammas) == 3 and watch.max_gamma > 0
    plain = GammaWatch(select=0.0, brk=0.0)
    run_md(_cell(), EMT(), s, tmp_path / "p", observers=[(plain, 1)], progress=False)
    assert plain.gammas == [] and plain.last_step == 10  # nothing to grade, nothing raised


def test_ase_frames_carry_gamma_without_grading_twice(tmp_path):
    """The ASE backend's frames carry info["gamma"] (as batched frames do), read from the
    graded calculation of that step: one grading per force evaluation (NVE: steps + 1), with
    a watch observing too, and through a field; frames of an ungraded run carry none."""
    import ase.io

    s = MDSettings(ensemble="nve", temperature_K=300, timestep_fs=1.0, steps=20, traj_stride=5,
                   checkpoint_every=10, seed=1)
    watch = GammaWatch()
    calc = graded_calculator(ToyPotential())
    res = run_md(_cell(), calc, s, tmp_path / "a", observers=[(watch, 1)], progress=False)
    frames = ase.io.read(res.trajectory, index=":")
    assert [f.info["step"] for f in frames] == [0, 5, 10, 15, 20]
    assert calc.n_graded == s.steps + 1
    assert [f.info["gamma"] for f in frames] == [watch.gammas[f.info["step"]] for f in frames]
    for frame in frames:
        assert frame.info["gamma"] == pytest.approx(ToyPotential().grade(frame).max(), rel=1e-6)
    field = FieldCalculator(graded_calculator(ToyPotential()), (0.0, 0.0, 0.05), {"Cu": 1.0})
    res = run_md(_cell(), field, s, tmp_path / "f", progress=False)
    assert field.base.n_graded == s.steps + 1
    assert all(f.info["gamma"] > 0 for f in ase.io.read(res.trajectory, index=":"))
    res = run_md(_cell(), EMT(), s, tmp_path / "p", progress=False)
    assert all("gamma" not in f.info for f in ase.io.read(res.trajectory, index=":"))


def test_restart_steps_are_recorded_not_selected():
    picked = []
    watch = GammaWatch(1.0, None, lambda a, step, g, gs: picked.append(step), skip_until=20)
    atoms = _cell()
    for step in (20, 21):
        watch.record(atoms, step, 5.0, np.array([5.0]))
    assert picked == [21] and watch.gammas == [5.0, 5.0] and watch.above(4.0) == 2
