"""`seiflow import-mtp`: an MLIP-3-trained .almtp (its binary #MVS selection block included)
loads and reproduces MLIP-3's own energies and forces; bad inputs are one line and exit code 2;
a model without an active set says so wherever γ is expected. No MLIP binary needed.

tests/data/mlip3_lif_level6.almtp was made once by benchmarks/mlip3_test_data.py (MLIP-3 built
outside the repository): the four rattled, strained 16-atom LiF cells of ``lif_frames(4,
seed=1)`` below (seiflow's library LiF, no outside data), labelled by seiflow's SevenNet-0
labeler (`seiflow label -l sevennet`), written by `seiflow data export --format cfg` (type map
F, Li), then `mlp train MTP_templates/06.almtp train.cfg --iteration_limit=50 --al_mode=nbh`;
the file embeds those four configurations as MLIP's selection. mlip3_lif_level6_efs.json holds
MLIP-3's energies and forces of the same four frames (positions at full precision) from
MLMTPR::CalcEFS printed with %.17g (benchmarks/mlip_crosscheck.py's driver).
"""

import json
import logging
import shutil
from pathlib import Path

import ase.io
import numpy as np
import pytest

from seiflow.cli.app import run
from seiflow.md.gamma import frame_grader
from seiflow.potentials.graded import NO_ACTIVE_SET, graded_calculator, warn_if_ungraded
from seiflow.potentials.mtp.model import ACTIVE_FILE, MTPModel
from seiflow.structures.library import get_phase

DATA = Path(__file__).parent / "data"
ALMTP = DATA / "mlip3_lif_level6.almtp"
REFERENCE = DATA / "mlip3_lif_level6_efs.json"
SPECIES = ["F", "Li"]  # MLIP's types 0, 1: `seiflow data export --format cfg` sorts them


def lif_frames(n: int, seed: int, rattle: float = 0.1, strain: float = 0.03):
    """Rattled, strained 16-atom LiF cells (library rock salt, 2x1x1), unlabelled: the frames
    mlp was trained on (n=4, seed=1) and evaluated."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        atoms = get_phase("lif").repeat((2, 1, 1))
        eps = rng.uniform(-strain, strain, (3, 3))
        atoms.set_cell(atoms.cell @ (np.eye(3) + (eps + eps.T) / 2), scale_atoms=True)
        atoms.rattle(rattle, seed=int(rng.integers(1 << 30)))
        out.append(atoms)
    return out


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    out = tmp_path_factory.mktemp("imp") / "model"
    assert run(["import-mtp", str(ALMTP), "--species", *SPECIES, "--out", str(out)]) == 0
    return out


def test_mlip3_almtp_reproduces_mlp_energies(imported):
    model = MTPModel.load(imported)
    assert model.species == tuple(SPECIES) and model.level == 6
    assert model.active_set is not None  # rebuilt from the configurations MLIP selected
    record = json.loads((imported / "model.json").read_text())
    assert record["active_set_source"] == "rebuilt" and "#MVS" in record["mvs_note"]
    reference = json.loads(REFERENCE.read_text())
    frames = lif_frames(4, seed=1)  # mlp's training frames, which MLIP-3 evaluated
    assert len(frames) == len(reference["energies_eV"]) == len(reference["forces_eV_per_A"])
    for atoms, energy, forces in zip(frames, reference["energies_eV"],
                                     reference["forces_eV_per_A"]):
        atoms.calc = model.calculator(grade=False)
        # MLIP-3's CalcEFS at %.17g: agreement to rounding
        assert abs(atoms.get_potential_energy() - energy) / len(atoms) < 1e-11
        assert np.abs(atoms.get_forces() - np.array(forces)).max() < 1e-9
        assert model.grade(atoms).max() < 1.0 + 1e-6  # its own training frames interpolate


def test_species_comma_form_and_stripped_block(tmp_path):
    text = ALMTP.read_bytes().split(b"#MVS")[0]
    plain = tmp_path / "plain.mtp"
    plain.write_bytes(text)
    out = tmp_path / "m"
    assert run(["import-mtp", str(plain), "--species", ",".join(SPECIES), "--out", str(out)]) == 0
    assert MTPModel.load(out).active_set is None


@pytest.mark.parametrize("content,species,needle", [
    (None, ["Li"], "species_count = 2"),
    (None, ["F", "Xx"], "not an element"),
    (b"garbage\x00\x01 not an mtp", SPECIES, "MTP"),
    (b"MTP\nversion = 1.1.0\nspecies_count = 2\n", SPECIES, ".mtp"),
    (b"", SPECIES, "empty"),
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
    code = run(["import-mtp", str(cut), "--species", *SPECIES, "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "#MVS" in err, err


def test_als_without_state_is_refused(tmp_path, capsys):
    plain = tmp_path / "plain.mtp"
    plain.write_bytes(ALMTP.read_bytes().split(b"#MVS")[0])
    code = run(["import-mtp", str(plain), "--als", str(plain), "--species", *SPECIES,
                "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2 and "no selection state" in err and err.count("\n") == 1, err


def test_model_without_active_set_says_so(imported, tmp_path, capsys, caplog):
    bare = tmp_path / "bare"
    shutil.copytree(imported, bare)
    (bare / ACTIVE_FILE).unlink()
    model = MTPModel.load(bare)
    frame = tmp_path / "f.extxyz"
    atoms = lif_frames(1, seed=1)[0]
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
