"""The property registry of `seiflow validate`: every registered property is wired to the
config, and a failure of the shared start of a target (the crystal relaxation) fails
every property of the target with the same reason, recorded for resume."""

import json

from ase.build import bulk
from ase.io import write

from seiflow.core.config import parse_config
from seiflow.workflows.properties.registry import PROPERTIES, properties_of, target_kinds
from seiflow.workflows.validate import Task, ValidateConfig, plan, result_path, run_task


def test_every_property_is_wired_to_the_config():
    fields = ValidateConfig.model_fields
    assert list(PROPERTIES) == ["lattice", "elastic", "phonons", "neb", "interface", "diffusion"]
    assert [k.field for k in target_kinds()] == ["phases", "neb", "interfaces", "diffusion"]
    for name, prop in PROPERTIES.items():
        assert prop.name == name
        assert prop.settings_field in fields and prop.targets.field in fields, name
        assert callable(prop.result.from_dict) and callable(prop.compute)


def _config(tmp_path, **extra) -> ValidateConfig:
    write(tmp_path / "cu.extxyz", bulk("Cu", "fcc", a=3.9, cubic=True))  # far from EMT's 3.59
    data = {"model": str(tmp_path / "no-model"), "reference": {"name": "emt"},
            "out_dir": str(tmp_path / "val"),
            "phases": [{"file": str(tmp_path / "cu.extxyz"), "min_width": 3.0}], **extra}
    return parse_config(data, ValidateConfig, where="test")


def test_plan_follows_the_registry_order(tmp_path):
    cfg = _config(tmp_path, neb=[{"file": str(tmp_path / "cu.extxyz"), "mechanism": "vacancy",
                                  "species": "Cu"}],
                  diffusion=[{"file": str(tmp_path / "cu.extxyz"), "species": "Cu"}])
    keys = [t.key for t in plan(cfg)]
    assert keys == ["cu.potential", "cu.reference", "neb-cu-vacancy.potential",
                    "neb-cu-vacancy.reference", "diffusion-cu-Cu.potential",
                    "diffusion-cu-Cu.reference"]
    kinds = {k.field: k for k in target_kinds()}
    assert [p.name for p in properties_of(kinds["phases"], cfg.phases[0])] == [
        "lattice", "elastic", "phonons"]
    assert [p.name for p in properties_of(kinds["diffusion"], cfg.diffusion[0])] == [
        "diffusion"]


def test_a_failed_relaxation_fails_every_property_of_the_target_alike(tmp_path):
    cfg = _config(tmp_path, lattice={"max_steps": 1})
    task = Task("phases", 0, "reference", cfg)
    assert run_task(task) == "cu.reference"
    outcomes = [json.loads(result_path(cfg.out_dir, "cu", p, "reference").read_text())
                for p in ("lattice", "elastic", "phonons")]
    assert {o["status"] for o in outcomes} == {"failed"}
    assert len({o["reason"] for o in outcomes}) == 1
    assert "did not converge" in outcomes[0]["reason"]
    assert not (cfg.out_dir / "cu" / "relaxed.reference.extxyz").exists()
    # a rerun finds every outcome current for these settings: nothing is recomputed
    stamps = [p.stat().st_mtime_ns for p in sorted(cfg.out_dir.glob("cu/*.json"))]
    run_task(task)
    assert [p.stat().st_mtime_ns for p in sorted(cfg.out_dir.glob("cu/*.json"))] == stamps
