"""`seiflow singlepoint | geomopt | eos | elastic | phonons | neb` on fcc Cu with ASE's EMT as
the labeler (and a tiny MTP as the model): exit 0, the files written, and the numbers equal to
what `seiflow validate`'s own tasks give for the same structure and settings (one
implementation); bad input is one line and exit 2."""

import contextlib
import io
import json

import numpy as np
import pytest
import yaml
from ase import Atoms
from ase.build import bulk
from ase.io import read, write

from seiflow.cli.app import run
from seiflow.core.units import GPA
from seiflow.potentials.mtp.fit import fit_mtp
from seiflow.reference.emt import EMTSettings
from seiflow.workflows.calculate import StructureSpec
from seiflow.workflows.methods import GradedFactory, ReferenceFactory, model_digest
from seiflow.workflows.properties.base import single_point
from seiflow.workflows.properties.neb import neb_endpoints
from seiflow.workflows.validate import NEBTarget, PhaseTarget, Task, ValidateConfig, run_task
from tests.potentials.conftest import emt_frames

# the settings both sides use: small and fast
EOS, STRAINS, SUPERCELL, MESH, NEB_IMAGES = 5, (-0.01, 0.01), 6.0, 10, 3


def seiflow(*argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = run([str(a) for a in argv])
    return code, out.getvalue(), err.getvalue()


def one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


@pytest.fixture
def work(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SEIFLOW_LOG_DIR", str(tmp_path / "logs"))
    write(tmp_path / "cu.extxyz", bulk("Cu", "fcc", a=3.6, cubic=True))
    return tmp_path


@pytest.fixture(scope="module")
def validated(tmp_path_factory):
    """What `seiflow validate` computes with its reference method (EMT) for cu.extxyz: its
    tasks run directly (the potential's side is not needed)."""
    folder = tmp_path_factory.mktemp("validate")
    write(folder / "cu.extxyz", bulk("Cu", "fcc", a=3.6, cubic=True))
    cfg = ValidateConfig(
        model=folder / "unused-model", reference=EMTSettings(), out_dir=folder / "val",
        phases=[PhaseTarget(file=folder / "cu.extxyz", min_width=3.0)],
        neb=[NEBTarget(file=folder / "cu.extxyz", mechanism="vacancy", species="Cu",
                       min_width=7.0)],
        lattice={"eos_points": EOS}, elastic={"magnitudes": STRAINS},
        phonons={"min_width": SUPERCELL, "mesh": MESH}, neb_settings={"n_images": NEB_IMAGES})
    for kind in ("phases", "neb"):
        assert run_task(Task(kind, 0, "reference", cfg))
    results = {}
    for path in (folder / "val").glob("*/*.reference.json"):
        data = json.loads(path.read_text())
        assert data["status"] == "ok", data
        results[path.name.split(".")[0]] = data["result"]
    results["relaxed"] = read(folder / "val" / "cu" / "relaxed.reference.extxyz")
    return results


def _result(folder, command):
    data = json.loads((folder / f"{command}.json").read_text())
    assert data["command"] == command and data["method"] == "emt"
    summary = yaml.safe_load((folder / f"{command}-summary.yml").read_text())
    assert summary["status"] == "ok" and summary["inputs"]["method"]["labeler"]["name"] == "emt"
    assert {o["file"] for o in summary["outputs"]} >= {f"{command}.json"}
    return data["result"], summary


def test_singlepoint_and_geomopt_match_the_suites_relaxation(work, validated):
    code, out, err = seiflow("singlepoint", "cu.extxyz", "--labeler", "emt", "--out", "sp")
    assert code == 0, err
    res, _ = _result(work / "sp", "singlepoint")
    direct = single_point(read(work / "cu.extxyz"), ReferenceFactory(EMTSettings(), "emt"))
    assert res["energy_eV"] == direct.get_potential_energy()
    assert np.allclose(res["stress_GPa"], direct.get_stress() / GPA, rtol=1e-12)
    assert "pressure" in out and "GPa" in out

    code, out, err = seiflow("geomopt", "cu.extxyz", "-l", "emt", "--cell", "--symmetry",
                             "--out", "go")
    assert code == 0, err
    res, summary = _result(work / "go", "geomopt")
    assert summary["inputs"]["settings"]["geomopt"]["cell"] is True
    relaxed = read(work / "go" / "relaxed.extxyz")
    assert np.allclose(relaxed.cell.array, validated["relaxed"].cell.array, atol=1e-10)
    assert res["a_A"] == pytest.approx(validated["lattice"]["a_A"], abs=1e-10)
    assert len(res["trajectory"]["energy_eV"]) == res["steps"] + 1
    assert (work / "go" / "geomopt.png").stat().st_size > 1000


def test_eos_elastic_phonons_equal_validate(work, validated):
    common = ["cu.extxyz", "-l", "emt", "--min-width", "3", "--no-progress"]
    assert seiflow("eos", *common, "--points", EOS, "--out", "eos")[0] == 0
    res, _ = _result(work / "eos", "eos")
    for key in ("a_A", "volume_per_atom_A3", "v0_per_atom_A3", "b0_GPa", "b0_prime"):
        assert res[key] == pytest.approx(validated["lattice"][key], rel=1e-9, abs=1e-12), key

    strains = ",".join(str(x) for x in STRAINS)
    code, out, err = seiflow("elastic", *common, "--strains", strains, "--out", "el")
    assert code == 0, err
    res, _ = _result(work / "el", "elastic")
    assert np.allclose(res["C_GPa"], validated["elastic"]["C_GPa"], rtol=1e-9, atol=1e-9)
    assert "C44" in out and "B_VRH" in out
    assert {p.name for p in (work / "el").glob("*.png")} == {"elastic.png", "stress-strain.png"}

    code, out, err = seiflow("phonons", *common, "--supercell-width", SUPERCELL, "--mesh", MESH,
                             "--out", "ph")
    assert code == 0, err
    res, _ = _result(work / "ph", "phonons")
    ref = validated["phonons"]
    assert res["max_frequency_THz"] == pytest.approx(ref["max_frequency_THz"], rel=1e-9)
    assert np.allclose(res["dos_states_per_THz"], ref["dos_states_per_THz"], atol=1e-9)
    assert (work / "ph" / "phonons.png").stat().st_size > 1000


def test_neb_by_mechanism_and_by_end_point_files_equal_validate(work, validated):
    code, out, err = seiflow("neb", "cu.extxyz", "--mechanism", "vacancy", "--species", "Cu",
                             "--min-width", "7", "-l", "emt", "--images", NEB_IMAGES,
                             "--no-progress", "--out", "neb")
    assert code == 0, err
    res, _ = _result(work / "neb", "neb")
    barrier = validated["neb"]["barrier_forward_eV"]
    assert res["barrier_forward_eV"] == pytest.approx(barrier, rel=1e-9)
    assert 0.3 < barrier < 1.5 and "barrier (forward)" in out
    assert len(read(work / "neb" / "neb-band.extxyz", ":")) == NEB_IMAGES + 2

    initial, final = neb_endpoints(NEBTarget(file=work / "cu.extxyz", mechanism="vacancy",
                                             species="Cu", min_width=7.0))
    write(work / "a.extxyz", initial)
    write(work / "b.extxyz", final)
    code, _, err = seiflow("neb", "a.extxyz", "b.extxyz", "-l", "emt", "--images", NEB_IMAGES,
                           "--no-progress", "--out", "neb2")
    assert code == 0, err
    res, _ = _result(work / "neb2", "neb")
    assert res["barrier_forward_eV"] == pytest.approx(barrier, rel=1e-6)
    assert (work / "neb2" / "neb.png").stat().st_size > 1000


class _Killed(BaseException):  # as kill -9: nothing catches it
    pass


def test_a_killed_reference_neb_resumes_from_its_kept_calculations(work, monkeypatch):
    from ase.calculators.emt import EMT

    calls, kill_at = {"n": 0}, {"n": None}
    emt_calculate = EMT.calculate

    def counted(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == kill_at["n"]:
            raise _Killed
        return emt_calculate(self, *args, **kwargs)

    monkeypatch.setattr(EMT, "calculate", counted)
    argv = ("neb", "cu.extxyz", "--mechanism", "vacancy", "--species", "Cu", "--min-width", "7",
            "-l", "emt", "--images", NEB_IMAGES, "--no-progress")
    code, _, err = seiflow(*argv, "--out", "whole")
    assert code == 0, err
    whole, total = _result(work / "whole", "neb")[0], calls["n"]
    assert len(list((work / "whole" / "calcs").glob("*.json"))) > 2  # end points + band steps

    calls["n"], kill_at["n"] = 0, total // 2
    with pytest.raises(_Killed):
        seiflow(*argv, "--out", "killed")
    calls["n"], kill_at["n"] = 0, None
    code, _, err = seiflow(*argv, "--out", "killed")
    assert code == 0, err
    assert calls["n"] < total - total // 3  # only what the killed run had not kept
    resumed = _result(work / "killed", "neb")[0]
    assert resumed["barrier_forward_eV"] == pytest.approx(whole["barrier_forward_eV"], abs=1e-12)
    assert resumed["energies_eV"] == pytest.approx(whole["energies_eV"], abs=1e-12)


def test_neb_through_a_deeper_minimum_fails_and_writes_its_band(work):
    from tests.workflows.test_properties_neb import adatom_across_a_vacancy

    for name, atoms in zip(("a", "b"), adatom_across_a_vacancy(), strict=True):
        write(work / f"{name}.extxyz", atoms)
    code, _, err = seiflow("neb", "a.extxyz", "b.extxyz", "-l", "emt", "--images", 3,
                           "--no-progress", "--out", "hole")
    line = one_error_line(err)
    assert code != 0 and "intermediate minimum: image 2" in line and "neb-band.extxyz" in line
    band = read(work / "hole" / "neb-band.extxyz", ":")
    assert len(band) == 5
    assert band[2].get_potential_energy() < band[0].get_potential_energy() - 0.2
    summary = yaml.safe_load((work / "hole" / "neb-summary.yml").read_text())
    assert summary["status"] == "failed"
    assert "neb-band.extxyz" in str(summary["outputs"])


def test_a_model_folder_and_its_species(work):
    model = fit_mtp(emt_frames(6, seed=1), level=6, cutoff=5.0, max_iter=3, seed=0,
                    progress=False).save(work / "model")
    code, out, err = seiflow("singlepoint", "cu.extxyz", "--model", model, "--out", "sp")
    assert code == 0, err
    data = json.loads((work / "sp" / "singlepoint.json").read_text())
    assert data["method"].startswith("MTP") and data["max_gamma"] >= 0
    direct = single_point(read(work / "cu.extxyz"), GradedFactory(model, model_digest(model)))
    assert data["result"]["energy_eV"] == pytest.approx(direct.get_potential_energy(), 1e-12)
    assert "max γ" in out
    assert "DID NOT CONVERGE (stopped: iteration limit)" in out  # 3 steps: said, not hidden

    code, _, err = seiflow("singlepoint", "--phase", "lif", "--model", model)
    assert code == 2 and "Li" in one_error_line(err) and "not trained" in err


@pytest.mark.parametrize("argv, needle", [
    (["singlepoint", "cu.extxyz", "-l", "nosuch"], "nosuch"),
    (["singlepoint", "cu.extxyz", "--model", "nowhere"], "not a seiflow model folder"),
    (["singlepoint", "cu.extxyz"], "--labeler"),
    (["singlepoint", "cu.extxyz", "-l", "emt", "-m", "nowhere"], "not both"),
    (["eos", "cu.extxyz", "--phase", "lif", "-l", "emt"], "exactly one"),
    (["eos", "--phase", "lif", "-l", "emt"], "EMT"),
    (["eos", "missing.extxyz", "-l", "emt"], "missing.extxyz"),
    (["eos", "garbage.xyz", "-l", "emt"], "garbage.xyz"),
    (["singlepoint", "overlap.extxyz", "-l", "emt"], "overlap.extxyz"),
    (["eos", "cu.extxyz", "-l", "emt", "--points", "2"], "eos_points"),
    (["elastic", "cu.extxyz", "-l", "emt", "--strains", "a,b"], "--strains"),
    (["geomopt", "rattled.extxyz", "-l", "emt", "--max-steps", "1"], "did not converge"),
    (["neb", "cu.extxyz", "-l", "emt"], "two end-point files"),
    (["neb", "cu.extxyz", "--mechanism", "hop", "-l", "emt"], "mechanism"),
])
def test_bad_input_is_one_line_and_exit_2(work, argv, needle):
    (work / "garbage.xyz").write_text("this is not\na structure\n")
    write(work / "overlap.extxyz", Atoms("Cu2", positions=[[0, 0, 0], [0.1, 0, 0]],
                                         cell=[8, 8, 8], pbc=True))
    rattled = bulk("Cu", "fcc", a=3.6, cubic=True).repeat(2)
    rattled.rattle(0.1, seed=1)
    write(work / "rattled.extxyz", rattled)
    code, _, err = seiflow(*argv)
    assert code == 2 and needle in one_error_line(err), err
    assert not (work / "logs").exists()  # seiflow's own errors: no traceback to keep
    if argv[0] == "geomopt":
        summary = yaml.safe_load((work / "runs/geomopt/rattled/geomopt-summary.yml").read_text())
        assert summary["status"] == "failed" and "converge" in summary["error"]


def test_structure_spec_loads_as_validate_does(work):
    spec = StructureSpec(file=work / "cu.extxyz", min_width=7.0)
    target = PhaseTarget(file=work / "cu.extxyz", min_width=7.0)
    assert spec.atoms() == target.cell() and spec.name == target.name == "cu"
