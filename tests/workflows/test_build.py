import ase.io
import pytest
import yaml

from seiflow.core.config import parse_config
from seiflow.core.errors import ConfigError
from seiflow.workflows.build import BuildConfig, run_build

CONFIG = {
    "formats": ["extxyz", "cif", "poscar"],
    "snapshots": True,
    "calculator": {"name": "emt"},
    "phases": [{"name": "lif", "min_width": 8.0}],
    "amorphous": [{"name": "cu", "composition": {"Cu": 16}, "count": 2, "seed": 1,
                   "compress": {"pressure_kbar": 50, "max_steps": 30}}],
    "defects": [{"phase": "li2o", "kind": "vacancy", "min_width": 8.0}],
}


def test_build_writes_files_summary_and_resumes(tmp_path):
    cfg = parse_config(CONFIG, BuildConfig)
    report = run_build(cfg, out_dir=tmp_path, progress=False)
    assert not report.failures and len(report.built) == 4 and not report.reused
    for rec in report.built:
        assert rec["source"]
        for f in rec["files"]:
            assert (tmp_path / f).exists() or __import__("pathlib").Path(f).exists()
        atoms = ase.io.read(tmp_path / rec["kind"] / f"{rec['name']}.extxyz")
        assert atoms.info["source"] == rec["source"]
    lif = ase.io.read(tmp_path / "phase" / "lif.POSCAR")
    assert lif.get_chemical_formula() == "Li32F32" or len(lif) == 64
    summary = yaml.safe_load((tmp_path / "build-summary.yml").read_text())
    assert summary["status"] == "ok" and len(summary["outputs"]) == 4
    assert summary["versions"]["ase"] and summary["wall_time_s"] >= 0
    assert summary["inputs"]["config"]["calculator"]["name"] == "emt"
    cu = next(r for r in report.built if r["name"] == "cu-000")
    assert cu["density_final"] > cu["density_initial"]

    # second run: everything already built is reused, nothing recomputed
    again = run_build(cfg, out_dir=tmp_path, progress=False)
    assert sorted(again.reused) == sorted(r["name"] for r in report.built)

    # a changed setting rebuilds only what it affects
    changed = parse_config({**CONFIG, "phases": [{"name": "lif", "min_width": 9.0}]}, BuildConfig)
    third = run_build(changed, out_dir=tmp_path, progress=False)
    assert "lif" not in third.reused and "cu-000" in third.reused


def test_failures_are_recorded_and_others_go_on(tmp_path):
    cfg = parse_config({
        "snapshots": False,
        "phases": [{"name": "li-bcc"}],
        "amorphous": [{"name": "tight", "composition": {"Li2CO3": 30}, "expansion": 1.0,
                       "min_distance_ratio": 1.2, "max_attempts": 2000}],
    }, BuildConfig)
    report = run_build(cfg, out_dir=tmp_path, progress=False)
    assert [r["name"] for r in report.built] == ["li-bcc"]
    assert report.failures[0]["name"] == "tight-000" and "could not place" in \
        report.failures[0]["error"]
    summary = yaml.safe_load((tmp_path / "build-summary.yml").read_text())
    assert summary["status"] == "completed with failures"


def test_config_validation():
    with pytest.raises(ConfigError, match="nothing to build"):
        parse_config({}, BuildConfig)
    with pytest.raises(ConfigError, match="did you mean 'amorphous'"):
        parse_config({"amorphus": []}, BuildConfig)
    with pytest.raises(ConfigError, match="li2co3-c2c"):
        parse_config({"phases": [{"name": "li2co3-c2"}]}, BuildConfig)
    with pytest.raises(ConfigError, match="calculator"):
        parse_config({"phases": [{"name": "lif"}], "calculator": {"name": "vasp"}}, BuildConfig)
