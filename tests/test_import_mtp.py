"""`seiflow import-mtp`: an MLIP-3-trained .almtp (its binary #MVS selection block included)
loads and reproduces MLIP-3's own energies; bad inputs are one line and exit code 2; a model
without an active set says so wherever γ is expected. No MLIP binary needed: the .almtp and
mlp's energies in tests/data were made once by MLIP-3 (benchmarks/mlip_crosscheck.py)."""

import json
import logging
import shutil
from pathlib import Path

import ase.io
import pytest

from seiflow.cli.app import run
from seiflow.md.gamma import frame_grader
from seiflow.potentials.graded import NO_ACTIVE_SET, graded_calculator, warn_if_ungraded
from seiflow.potentials.mtp.model import ACTIVE_FILE, MTPModel
from tests.potentials.conftest import emt_frames

DATA = Path(__file__).parent / "data"
ALMTP = DATA / "mlip3_cual_level6.almtp"
REFERENCE = json.loads((DATA / "mlip3_cual_level6_efs.json").read_text())


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    out = tmp_path_factory.mktemp("imp") / "model"
    assert run(["import-mtp", str(ALMTP), "--species", "Al", "Cu", "--out", str(out)]) == 0
    return out


def test_mlip3_almtp_reproduces_mlp_energies(imported):
    model = MTPModel.load(imported)
    assert model.species == ("Al", "Cu") and model.level == 6
    assert model.active_set is not None  # rebuilt from the configurations MLIP selected
    record = json.loads((imported / "model.json").read_text())
    assert record["active_set_source"] == "rebuilt" and "#MVS" in record["mvs_note"]
    frames = emt_frames(3, seed=3)  # the structures mlp calculate_efs evaluated
    for atoms, energy in zip(frames, REFERENCE["energies_eV"]):
        atoms.calc = model.calculator(grade=False)
        # mlp prints energies with 12 decimals: agreement to that precision
        assert abs(atoms.get_potential_energy() - energy) / len(atoms) < 1e-11
        assert model.grade(atoms).max() < 1.0 + 1e-6  # its own training frames interpolate


def test_species_comma_form_and_stripped_block(tmp_path):
    text = ALMTP.read_bytes().split(b"#MVS")[0]
    plain = tmp_path / "plain.mtp"
    plain.write_bytes(text)
    out = tmp_path / "m"
    assert run(["import-mtp", str(plain), "--species", "Al,Cu", "--out", str(out)]) == 0
    assert MTPModel.load(out).active_set is None


@pytest.mark.parametrize("content,species,needle", [
    (None, ["Li"], "species_count = 2"),
    (None, ["Al", "Xx"], "not an element"),
    (b"garbage\x00\x01 not an mtp", ["Al", "Cu"], "MTP"),
    (b"MTP\nversion = 1.1.0\nspecies_count = 2\n", ["Al", "Cu"], ".mtp"),
    (b"", ["Al", "Cu"], "empty"),
])
def test_bad_input_is_one_line_exit_2(tmp_path, capsys, content, species, needle):
    path = ALMTP
    if content is not None:
        path = tmp_path / "bad.mtp"
        path.write_bytes(content)
    code = run(["import-mtp", str(path), "--species", *species, "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith("error:") and needle in err, err


def test_truncated_selection_block_is_one_line(tmp_path, capsys):
    raw = ALMTP.read_bytes()
    cut = tmp_path / "cut.almtp"
    cut.write_bytes(raw[:raw.index(b"#MVS") + 300])
    code = run(["import-mtp", str(cut), "--species", "Al", "Cu", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "#MVS" in err, err


def test_als_without_state_is_refused(tmp_path, capsys):
    plain = tmp_path / "plain.mtp"
    plain.write_bytes(ALMTP.read_bytes().split(b"#MVS")[0])
    code = run(["import-mtp", str(plain), "--als", str(plain), "--species", "Al", "Cu",
                "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2 and "no #MVS_v1.1" in err


def test_model_without_active_set_says_so(imported, tmp_path, capsys, caplog):
    bare = tmp_path / "bare"
    shutil.copytree(imported, bare)
    (bare / ACTIVE_FILE).unlink()
    model = MTPModel.load(bare)
    frame = tmp_path / "f.extxyz"
    atoms = emt_frames(1, seed=3)[0]
    atoms.calc = None
    ase.io.write(frame, atoms)
    code = run(["grade", str(bare), str(frame)])  # seiflow grade
    err = capsys.readouterr().err
    assert code == 2 and NO_ACTIVE_SET in err and err.count("\n") == 1
    with pytest.raises(Exception, match="no active set: no extrapolation grade"):
        graded_calculator(model)  # seiflow learn's exploration
    with caplog.at_level(logging.WARNING):
        assert frame_grader(model) is None  # seiflow md-batched
        assert warn_if_ungraded(model, "this MD")  # seiflow md
    # the CLI's log handler (rich, on stderr) or pytest's, whichever the run above left
    said = capsys.readouterr().err + caplog.text
    assert said.count("this model has no active set") == 2, said
    assert not warn_if_ungraded(MTPModel.load(imported), "this MD")
