"""The diffusion property of `seiflow validate` and the γ carried into rows.

Synthetic data: a non-diffusive MSD (ballistic or caged) makes the D row "not ok" with the
reason and leaves Ea without a value, a random walk of known D passes; a barrier or D row whose
potential met γ > γ_select is flagged; the largest γ is taken along the whole calculation, not
at its end. End to end: EMT as both "reference" and "MLIP" on a tiny hot cell with the same
settings gives the same D(T) and Ea."""

import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import yaml
from ase.build import bulk
from ase.calculators.calculator import Calculator, all_changes
from ase.calculators.emt import EMT
from ase.io import write
from ase.optimize import BFGS

from seiflow.core.config import parse_config
from seiflow.core.errors import SeiflowError
from seiflow.workflows.properties.diffusion import (
    Diffusion,
    DiffusionSettings,
    DiffusionValidation,
    compute_diffusion,
    fit_arrhenius,
    point_from_positions,
)
from seiflow.workflows.properties.neb import Barrier
from seiflow.workflows.properties.spec import Context
from seiflow.workflows.validate import DiffusionTarget, ValidateConfig, graded_calculator

DOCS = Path(__file__).resolve().parents[2] / "docs" / "validation.md"
DT_FS = 10.0
N_ATOMS = 60
SETTINGS = DiffusionSettings(temperatures_K=[800, 1000], n_blocks=5)
CFG = SimpleNamespace(gamma_select=2.0)


def _walk(D_A2_ps: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    sigma = np.sqrt(2 * D_A2_ps * 1e-3 * DT_FS)
    return np.cumsum(rng.normal(0.0, sigma, (1500, N_ATOMS, 3)), axis=0)


def _ballistic(seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).normal(0.0, 0.01, (N_ATOMS, 3))
    return np.arange(1500)[:, None, None] * DT_FS * v[None]


def _caged(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.uniform(0, 10, (N_ATOMS, 3))[None] + rng.normal(0, 0.2, (1500, N_ATOMS, 3))


def _point(positions: np.ndarray, T: float):
    return point_from_positions(positions, np.arange(len(positions)) * DT_FS,
                                np.ones(N_ATOMS, bool), np.ones(N_ATOMS), T, SETTINGS)


def _validation(points, gamma=None) -> DiffusionValidation:
    for p in points:
        p.max_gamma = gamma
    ea, sigma, d0, reason = fit_arrhenius(points)
    return DiffusionValidation("X", "Li", N_ATOMS, points, ea, sigma, d0, reason)


def _outcomes(pot: DiffusionValidation, ref: DiffusionValidation) -> dict:
    return {"potential": {"status": "ok", "result": pot.to_dict()},
            "reference": {"status": "ok", "result": ref.to_dict()}}


def _rows(pot, ref):
    rows = Diffusion.rows("diffusion-x-Li", _outcomes(pot, ref), CFG)
    return {r.quantity: r for r in rows}


def test_random_walks_of_known_D_pass_with_sigma_and_Ea():
    D = {800: 0.2, 1000: 0.5}  # Å²/ps
    pot = _validation([_point(_walk(D[t], t), t) for t in D])
    ref = _validation([_point(_walk(D[t], t + 1), t) for t in D])
    rows = _rows(pot, ref)
    for t, d in D.items():
        row = rows[f"D({t} K)"]
        assert row.status == "ok" and row.unit == "cm²/s"
        assert row.value == pytest.approx(d * 1e-4, rel=0.12)
        assert row.reference == pytest.approx(d * 1e-4, rel=0.12)
        assert 0 < row.value_sigma < 0.3 * row.value and row.reference_sigma > 0
        assert row.deviation_pct is not None  # D in cm²/s still gets a relative deviation
    # ln(0.5/0.2) = Ea/kB (1/800 - 1/1000)
    ea = np.log(2.5) * 8.617333e-5 / (1 / 800 - 1 / 1000)
    assert rows["Ea"].status == "ok" and rows["Ea"].unit == "eV"
    assert rows["Ea"].reference == pytest.approx(ea, rel=0.2)
    assert rows["Ea"].max_gamma is None and rows["Ea"].flag == ""


@pytest.mark.parametrize("motion", [_ballistic, _caged])
def test_a_non_diffusive_msd_is_not_ok_and_says_why(motion):
    ref = _validation([_point(_walk(0.3, 5), 800), _point(_walk(0.6, 6), 1000)])
    pot = _validation([_point(motion(7), 800), _point(_walk(0.6, 8), 1000)])
    rows = _rows(pot, ref)
    bad = rows["D(800 K)"]
    assert bad.status != "ok" and bad.value is None and bad.reference is not None
    assert bad.status.startswith("not diffusive") and bad.status.endswith("(potential)")
    assert rows["D(1000 K)"].status == "ok"
    assert rows["Ea"].status != "ok" and rows["Ea"].value is None
    assert "no Ea (potential): 1 diffusive temperature(s) of 2" in rows["Ea"].status


def test_D_and_Ea_rows_are_flagged_above_gamma_select():
    points = [_point(_walk(0.3, 9), 800), _point(_walk(0.6, 10), 1000)]
    ref = _validation([_point(_walk(0.3, 11), 800), _point(_walk(0.6, 12), 1000)])
    rows = _rows(_validation(points, gamma=4.5), ref)
    for row in rows.values():
        assert row.max_gamma == 4.5 and "γ 4.5 > γ_select 2" in row.flag
        assert row.status == "ok"  # the calculation ran; the flag says not to trust it
    rows = _rows(_validation(points, gamma=1.5), ref)
    assert all(r.max_gamma == 1.5 and r.flag == "" for r in rows.values())


def _neb_outcome(barrier: float, **gamma) -> dict:
    return {"status": "ok", **gamma, "scalars": {"barrier (forward)": (barrier, "eV"),
                                                 "barrier (backward)": (barrier, "eV")}}


def test_barrier_row_flagged_when_gamma_exceeds_gamma_select():
    ref = _neb_outcome(0.30)
    rows = Barrier.rows("neb-x-vacancy", {"potential": _neb_outcome(
        0.25, max_gamma=1.2, max_gamma_run=3.7), "reference": ref}, CFG)
    assert [r.flag for r in rows] == ["γ 3.7 > γ_select 2: extrapolating"] * 2
    assert all(r.max_gamma == 3.7 for r in rows)
    d = rows[0].to_dict()
    assert d["max_gamma"] == 3.7 and d["flag"].startswith("γ 3.7")
    rows = Barrier.rows("neb-x-vacancy", {"potential": _neb_outcome(
        0.25, max_gamma=1.2, max_gamma_run=1.9), "reference": ref}, CFG)
    assert all(r.flag == "" and r.max_gamma == 1.9 for r in rows)
    # a result file from before max_gamma_run: the largest γ of its final structures
    rows = Barrier.rows("neb-x-vacancy", {"potential": _neb_outcome(0.25, max_gamma=2.5),
                                          "reference": ref}, CFG)
    assert rows[0].max_gamma == 2.5 and rows[0].flag


class _FakeGraded(Calculator):
    """EMT with a fake grade γ = 1 + 10·(largest displacement from the start, Å)."""

    implemented_properties = ["energy", "forces", "gamma"]

    def __init__(self, start: np.ndarray):
        super().__init__()
        self.start, self.emt = start, EMT()

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        self.emt.calculate(atoms, ["energy", "forces"], system_changes)
        self.results = dict(self.emt.results)
        shift = np.linalg.norm(atoms.positions - self.start, axis=1).max()
        self.results["gamma"] = 1.0 + 10.0 * shift


def test_largest_gamma_is_taken_along_the_calculation_not_at_its_end():
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True)
    ideal = atoms.positions.copy()
    atoms.positions[0] += (0.12, 0.0, 0.0)  # the relaxation comes back towards the start
    seen = []
    potential = SimpleNamespace(calculator=lambda grade=True: _FakeGraded(ideal))
    atoms.calc = graded_calculator(potential, seen.append)
    BFGS(atoms, logfile=None).run(fmax=0.01, steps=50)
    assert len(seen) > 3 and max(seen) > atoms.calc.results["gamma"] + 0.3
    assert max(seen) == pytest.approx(1 + 10 * 0.12, rel=0.2)


def _emt_run(tmp_path: Path, method: str, target, settings) -> DiffusionValidation:
    ctx = Context(SimpleNamespace(diffusion_settings=settings), lambda atoms: EMT(), method,
                  tmp_path)
    return compute_diffusion(target.cell(), target, ctx, settings)


def test_emt_as_reference_and_mlip_gives_the_same_D(tmp_path):
    atoms = bulk("Cu", "fcc", a=3.61, cubic=True).repeat((2, 2, 1))
    del atoms[[0]]  # 15 atoms, a vacancy, rattled: melts at once when this hot
    atoms.rattle(0.3, seed=1)
    write(tmp_path / "cu.extxyz", atoms)
    target = DiffusionTarget(file=tmp_path / "cu.extxyz", species="Cu", min_width=3.0)
    settings = DiffusionSettings(temperatures_K=[3500, 4500], timestep_fs=4.0,
                                 equilibration_steps=30, steps=200, traj_stride=1, n_blocks=3,
                                 tdamp_fs=50.0, slope_tol=0.15)
    ref = _emt_run(tmp_path, "reference", target, settings)
    pot = _emt_run(tmp_path, "potential", target, settings)
    rows = {r.quantity: r for r in Diffusion.rows("diffusion-cu-Cu", _outcomes(pot, ref),
                                                    SimpleNamespace(gamma_select=2.0))}
    for t in (3500, 4500):
        row = rows[f"D({t} K)"]
        assert row.status == "ok", row.status
        assert 1e-5 < row.reference < 1e-3  # liquid metal: ~1e-4 cm²/s
        assert row.value == pytest.approx(row.reference, rel=1e-6)  # same settings, same run
        assert row.value_sigma == pytest.approx(row.reference_sigma, rel=1e-6)
    assert rows["Ea"].status == "ok" and rows["Ea"].value == pytest.approx(rows["Ea"].reference)
    assert 0 < rows["Ea"].reference < 2.0
    for point in ref.points:
        assert point.mean_T_K == pytest.approx(point.T_K, rel=0.1)
        assert abs(point.loglog_slope - 1) <= settings.max_slope_deviation
    # the MD of each method sits in its own folder (a rerun resumes it)
    assert len(list(tmp_path.glob("diffusion-cu-Cu/md.*/*/*K/trajectory.extxyz"))) == 4


def test_the_documented_example_config_validates():
    blocks = re.findall(r"```yaml\n(.*?)```", DOCS.read_text(), flags=re.S)
    example = [b for b in blocks if "diffusion:" in b]
    assert example, "docs/validation.md has no diffusion example"
    cfg = parse_config(yaml.safe_load(example[0]), ValidateConfig, where="docs example")
    assert cfg.diffusion and len(cfg.diffusion_settings.temperatures_K) >= 2
    assert cfg.gamma_select == 2.0


def test_a_cell_without_the_tracer_fails_before_any_md(tmp_path):
    write(tmp_path / "cu.extxyz", bulk("Cu", "fcc", a=3.61, cubic=True))
    target = DiffusionTarget(file=tmp_path / "cu.extxyz", species="Li", min_width=3.0)
    with pytest.raises(SeiflowError, match="no 'Li' atoms"):
        _emt_run(tmp_path, "reference", target, SETTINGS)
    assert not list(tmp_path.glob("diffusion-*"))
