"""Compression (squeeze at 50 kbar, then the shared zero-stress relax) and the minimum-width
rule of seiflow build, on EMT Cu where the physics does not matter."""

import pytest
import yaml
from ase.calculators.emt import EMT

from seiflow.core.config import parse_config
from seiflow.core.errors import StructureError
from seiflow.core.units import GPA
from seiflow.structures.amorphous import AmorphousSpec, CompressionSettings, pack_amorphous
from seiflow.structures.geometry import perpendicular_widths
from seiflow.workflows.build import BuildConfig, run_build, with_cutoff
from seiflow.workflows.compression import compress


@pytest.fixture(scope="module")
def cu12():
    return pack_amorphous(AmorphousSpec(composition={"Cu": 12}, expansion=1.8, seed=2))


def test_compression_ends_relaxed_at_zero_stress_and_says_so(cu12):
    s = CompressionSettings(pressure_kbar=50, max_steps=20, fmax=0.05, smax_GPa=0.1)
    res = compress(cu12, EMT(), s)
    assert res.converged and res.squeeze_steps == 20 and res.relax_steps > 0
    assert 3.0 < res.squeeze_pressure_GPa < 8.0  # squeezed towards the 5 GPa target
    assert abs(res.pressure_GPa) < 0.1 and res.max_stress_GPa < 0.1 and res.fmax_eV_A < 0.05
    assert res.density_squeezed > 1.5 * res.density_initial
    # the numbers are those of the returned structure, checked with a fresh calculator
    atoms = res.atoms.copy()
    atoms.calc = EMT()
    assert abs(-atoms.get_stress()[:3].mean() / GPA - res.pressure_GPa) < 1e-6
    assert abs(atoms.get_forces()).max() < 0.05
    info = res.atoms.info
    assert info["relax_converged"] is True and info["final_pressure_GPa"] == round(
        res.pressure_GPa, 4)
    assert info["relax_criteria"] == "forces < 0.05 eV/Å, |stress| < 0.1 GPa"
    assert res.atoms.get_chemical_formula() == "Cu12" and cu12.calc is None


def test_unconverged_relaxation_is_a_failed_structure(cu12):
    s = CompressionSettings(max_steps=1, relax_max_steps=1)
    with pytest.raises(StructureError, match=r"compression failed: zero-stress relaxation did "
                       r"not converge \(forces < 0.05 eV/Å, stress < 0.1 GPa\) in 1 steps "
                       r"\(after 1 squeeze steps at 50 kbar"):
        compress(cu12, EMT(), s)


def test_npt_stage_runs_between_squeeze_and_relax(cu12):
    res = compress(cu12, lambda atoms: EMT(), CompressionSettings(max_steps=20, npt_steps=10))
    assert res.atoms.info["npt_steps"] == 10 and abs(res.pressure_GPa) < 0.1


def test_build_records_a_failed_compression_with_its_reason(tmp_path):
    cfg = parse_config({
        "snapshots": False, "calculator": {"name": "emt"}, "formats": ["extxyz"],
        "amorphous": [{"name": "cu", "composition": {"Cu": 12}, "seed": 2,
                       "compress": {"max_steps": 1, "relax_max_steps": 1}}],
        "phases": [{"name": "li-bcc"}],
    }, BuildConfig)
    report = run_build(cfg, out_dir=tmp_path, progress=False)
    assert [r["name"] for r in report.built] == ["li-bcc"]
    summary = yaml.safe_load((tmp_path / "build-summary.yml").read_text())
    assert summary["status"] == "completed with failures"
    (fail,) = summary["failures"]
    assert fail["name"] == "cu-000" and "did not converge" in fail["error"]
    assert not (tmp_path / "amorphous" / "cu-000.extxyz").exists()


def test_every_cell_is_at_least_min_width_A_wide(tmp_path):
    """One config-wide min_width_A raises every structure's own width: a phase, a defect and a
    compressed amorphous cell (grown from 4 Cu atoms); the summary reports the widths."""
    cfg = parse_config({
        "snapshots": False, "calculator": {"name": "emt"}, "formats": ["extxyz"],
        "min_width_A": 6.0,
        "phases": [{"name": "lif"}],
        "defects": [{"phase": "li2o", "kind": "vacancy", "min_width": 5.0}],
        "amorphous": [{"name": "cu", "composition": {"Cu": 4}, "seed": 1,
                       "compress": {"max_steps": 60}}],
    }, BuildConfig)
    report = run_build(cfg, out_dir=tmp_path, progress=False)
    assert not report.failures
    summary = yaml.safe_load((tmp_path / "build-summary.yml").read_text())
    for rec in summary["outputs"]:
        assert rec["min_width_A"] == 6.0 and min(rec["widths_A"]) >= 6.0, rec
    cu = next(r for r in summary["outputs"] if r["name"] == "cu-000")
    assert cu["formula_unit_scale"] > 1 and cu["natoms"] == 4 * cu["formula_unit_scale"]
    assert cu["relax_converged"] is True and abs(cu["final_pressure_GPa"]) < 0.1
    assert "squeeze_pressure_GPa" in cu and cu["density_final"] > cu["density_initial"]


def test_the_width_a_workflow_asks_is_twice_the_cutoff():
    cfg = parse_config({"phases": [{"name": "lif"}]}, BuildConfig)
    assert cfg.min_width_A is None
    assert with_cutoff(cfg, 5.0).min_width_A == 10.0
    assert with_cutoff(cfg, None) is cfg
    own = cfg.model_copy(update={"min_width_A": 12.0})
    assert with_cutoff(own, 5.0).min_width_A == 12.0
    atoms = cfg.phases[0].model_copy(update={"min_width": 10.0}).atoms()
    assert perpendicular_widths(atoms.cell).min() >= 10.0


@pytest.mark.parametrize("a", [3.45, 3.61, 3.80])
def test_isotropic_scaling_to_zero_pressure(a):
    """EMT Cu from 4 % compressed, 0.6 % and 6 % expanded: the cell lands on EMT's a0 (3.590 Å,
    its own equation of state) in a few secant steps, positions scaled with it."""
    from ase.build import bulk

    from seiflow.workflows.compression import scaled_to_zero_pressure

    cu = bulk("Cu", "fcc", a=a, cubic=True)
    cu.positions[1] += 0.01  # positions follow the cell (fractional coordinates kept)
    out = scaled_to_zero_pressure(cu, EMT())
    assert out.cell.lengths()[0] == pytest.approx(3.590, abs=0.002)
    assert abs(out.info["zero_pressure_GPa"]) < 0.05
    assert out.info["zero_pressure_scale"] == pytest.approx(out.cell.lengths()[0] / a)
    assert out.get_scaled_positions() == pytest.approx(cu.get_scaled_positions())
    with pytest.raises(StructureError, match="no zero-pressure volume within 1 single"):
        scaled_to_zero_pressure(bulk("Cu", "fcc", a=3.45), EMT(), max_calls=1)
