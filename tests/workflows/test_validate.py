"""The validation suite end to end through the CLI, with ASE's EMT as the reference: an MTP
fitted here to EMT labels of fcc Cu, validated against EMT (lattice + EOS, elastic constants,
phonons, a vacancy-hop NEB that is given too few steps and must be reported as failed). Checks
that the table pairs the two methods, that the MTP reproduces EMT, that a failing calculation
is a row marked failed (never dropped), that a rerun resumes, and that bad input fails before
anything runs."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from ase.build import bulk
from ase.io import write

from seiflow.potentials.mtp.fit import LIMITS, fit_mtp
from seiflow.workflows.methods import fit_sentence, fit_state
from seiflow.reference.emt import EMTSettings


def _seiflow(*args, cwd):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "seiflow", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=900)


def cu_frames():
    labeler = EMTSettings()
    rng = np.random.default_rng(0)
    frames = []
    for k in range(30):
        atoms = bulk("Cu", "fcc", a=3.59, cubic=True).repeat(2)
        if k % 3 == 0:
            del atoms[int(rng.integers(len(atoms)))]  # vacancies: the NEB path
        eps = rng.uniform(-0.03, 0.03, (3, 3))
        atoms.set_cell(atoms.cell @ (np.eye(3) + (eps + eps.T) / 2), scale_atoms=True)
        atoms.rattle(0.01 + 0.1 * k / 30, seed=k)
        frames.append(labeler.label(atoms).attach(atoms))
    return frames


@pytest.fixture(scope="module")
def cu_model(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cu-model")
    fit_mtp(cu_frames(), level=8, cutoff=5.0, max_iter=60, seed=0, progress=False).save(
        folder / "model")
    return folder / "model"


def test_validate_cu_against_emt(cu_model, tmp_path):
    write(tmp_path / "cu.extxyz", bulk("Cu", "fcc", a=3.6, cubic=True))
    (tmp_path / "suite.yaml").write_text(
        "phases: [{file: cu.extxyz, min_width: 7.0}]\n"
        "neb: [{file: cu.extxyz, mechanism: vacancy, species: Cu, min_width: 7.0}]\n"
        "neb_settings: {n_images: 3, fmax: 0.05, max_steps: 2}\n"  # cannot converge: must fail
        "phonons: {min_width: 7.0}\n")
    args = ["validate", str(cu_model), "--config", "suite.yaml", "--reference", "emt",
            "--out", "val", "--no-progress"]
    r = _seiflow(*args, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    out = tmp_path / "val"
    summary = json.loads((out / "results.json").read_text())
    assert summary["reference"] == "emt" and summary["potential"].startswith("MTP")
    rows = {(row["prop"], row["quantity"]): row for row in summary["rows"]}
    a = rows[("lattice", "a")]
    assert a["status"] == "ok" and a["unit"] == "Å" and a["target"] == "cu"
    assert a["reference"] == pytest.approx(3.5898, abs=1e-3)  # EMT Cu (of the 2x2x2 cell)
    assert abs(a["deviation_pct"]) < 1.0  # the MTP was fitted to EMT
    assert a["agreement"] == "within"  # the default lattice tolerance is 2 %
    for c in ("C11", "C12", "C44"):
        row = rows[("elastic", c)]
        assert row["status"] == "ok" and row["unit"] == "GPa"
        assert abs(row["deviation_pct"]) < 25, row
    b_eos, b_vrh = rows[("lattice", "B0 (EOS)")], rows[("elastic", "B_VRH")]
    assert b_eos["reference"] == pytest.approx(b_vrh["reference"], rel=0.02)  # EMT with itself
    assert rows[("phonons", "max frequency")]["status"] == "ok"
    assert rows[("phonons", "max frequency")]["reference"] == pytest.approx(7.9, abs=0.8)
    assert rows[("lattice", "max γ (potential)")]["value"] < 10
    neb = [row for row in summary["rows"] if row["prop"] == "neb"]
    assert len(neb) == 1 and neb[0]["value"] is None and neb[0]["reference"] is None
    assert "failed (potential)" in neb[0]["status"] and "failed (reference)" in neb[0]["status"]
    assert "converge" in neb[0]["status"]
    table = (out / "table.md").read_text()
    assert "| cu | lattice | a |" in table and "failed (potential)" in table
    stop = json.loads((cu_model / "model.json").read_text())["training"]["stop"]
    assert summary["fit"] == {"stop": stop, "converged": stop not in LIMITS}
    assert fit_sentence(summary["fit"]) in table
    assert ("DID NOT CONVERGE" in r.stdout) is (stop in LIMITS)
    assert {"lattice-cu.png", "elastic-cu.png", "phonons-cu.png"} <= set(summary["figures"])
    for fig in summary["figures"]:
        assert (out / fig).stat().st_size > 1000

    # a rerun resumes: nothing is recomputed, the table is the same
    stamps = {p: p.stat().st_mtime_ns for p in out.glob("*/*.json")}
    r = _seiflow(*args, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert {p: p.stat().st_mtime_ns for p in out.glob("*/*.json")} == stamps
    assert json.loads((out / "results.json").read_text())["rows"] == summary["rows"]

    # another model in the same folder: its results are computed, the reference's are reused
    fit_mtp(cu_frames(), level=8, cutoff=5.0, max_iter=10, seed=1, progress=False).save(
        tmp_path / "other")
    r = _seiflow(*(["validate", str(tmp_path / "other")] + args[2:]), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    after = {p: p.stat().st_mtime_ns for p in out.glob("*/*.json")}
    changed = {p.name for p in after if after[p] != stamps[p]}
    assert changed == {"lattice.potential.json", "elastic.potential.json",
                       "phonons.potential.json", "neb.potential.json"}


def test_validate_refuses_a_phase_with_elements_the_model_lacks(cu_model, tmp_path):
    r = _seiflow("validate", str(cu_model), "--phases", "li2co3", "--out", "v", cwd=tmp_path)
    assert r.returncode == 2
    assert "Li" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "v").exists()


def test_validate_refuses_an_unknown_phase(cu_model, tmp_path):
    r = _seiflow("validate", str(cu_model), "--phases", "li2co4", "--out", "v", cwd=tmp_path)
    assert r.returncode == 2 and "li2co4" in r.stderr and "li2co3" in r.stderr


def test_fit_state_of_a_committee_needs_every_member_converged(tmp_path):
    def folder(path, meta):
        path.mkdir()
        (path / "model.json").write_text(json.dumps({"species": ["Cu"], **meta}))
        return path

    members = {"member-00": "relative decrease < 1e-06 for 3 steps", "member-01": "time limit"}
    for name, stop in members.items():
        folder(tmp_path / name, {"backend": "mtp", "training": {"stop": stop,
                                                                 "converged": stop not in LIMITS}})
    committee = folder(tmp_path / "committee", {"backend": "committee",
                                                "members": ["../member-00", "../member-01"]})
    state = fit_state(committee)
    assert state == {"stop": "; ".join(sorted(members.values())), "converged": False}
    assert "DID NOT CONVERGE" in fit_sentence(state)
    only = folder(tmp_path / "one", {"backend": "committee", "members": ["../member-00"]})
    assert fit_state(only)["converged"] is True
    assert fit_state(folder(tmp_path / "mace", {"backend": "mace", "training": {}})) == {
        "stop": None, "converged": None}
    older = folder(tmp_path / "older", {"backend": "mtp", "training": {"stop": "time limit"}})
    assert fit_state(older) == {"stop": "time limit", "converged": False}  # before the flag
