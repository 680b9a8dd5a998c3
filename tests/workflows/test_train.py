"""workflows/train.py: fit options, checks of the training data, per-frame errors, the
reference a model was trained on (no fit here: fast)."""

import json

import numpy as np
import pytest
from ase.calculators.emt import EMT
from ase.calculators.singlepoint import SinglePointCalculator

from seiflow.core.config import parse_config
from seiflow.core.errors import SeiflowError
from seiflow.data.labels import Label
from seiflow.data.store import LabelStore, Origin
from seiflow.potentials.mace.settings import MACESettings
from seiflow.potentials.metrics import FRAME_COLUMNS, predict_frames
from seiflow.potentials.registry import MTPSettings
from seiflow.workflows.train import (TrainConfig, apply_fit_options, check_finite_labels,
                                     check_stress_labels, check_test_species, evaluate,
                                     preset_settings, reference_frames, stress_weight, worst)
from tests.potentials.conftest import emt_frames


class EMTPotential:
    """EMT as a Potential: the labels' own method, so every error is exactly zero."""

    backend = "emt"
    species = ("Al", "Cu")

    def calculator(self, grade=True):
        return EMT()

    def grade(self, atoms):
        return None


def _relabel(atoms, **changes):
    res = {**atoms.calc.results, **changes}
    out = atoms.copy()
    out.info.update(atoms.info)
    out.calc = SinglePointCalculator(out, **res)
    return out


def test_presets_and_options_map_onto_each_backend():
    assert preset_settings("mtp", "small") == {"level": 8}
    assert preset_settings("mtp", "paper") == {"level": 16}
    assert preset_settings("mace", "paper") == {}
    small = preset_settings("mace", "small")
    assert small["hidden_irreps"] == MACESettings.small().hidden_irreps and "weights" not in small
    with pytest.raises(SeiflowError, match="--preset is for mtp and mace"):
        preset_settings("chgnet", "small")

    member = {"backend": "mace", "epochs": 3}
    apply_fit_options(member, preset="small", device="cpu", weights=(10, 20, 0))
    cfg = parse_config({"db": "x.db", "potential": member}, TrainConfig)
    assert cfg.potential.epochs == 3  # explicit keys win over the preset
    assert cfg.potential.hidden_irreps == MACESettings.small().hidden_irreps
    assert cfg.potential.device == "cpu"
    assert cfg.potential.weights.model_dump() == {"energy": 10, "forces": 20, "stress": 0}
    assert cfg.potential.stage_two_weights.model_dump() == {"energy": 1000, "forces": 100,
                                                            "stress": 0}
    assert stress_weight(cfg.potential) == 0

    mtp = {"backend": "mtp"}
    apply_fit_options(mtp, preset="small", device="auto", weights=(1, 0.1, 0.01))
    assert mtp == {"backend": "mtp", "level": 8,
                   "weights": {"energy": 1.0, "forces": 0.1, "stress": 0.01}}
    with pytest.raises(SeiflowError, match="an MTP fits on CPU"):
        apply_fit_options({"backend": "mtp"}, device="cuda")
    chgnet = {"backend": "chgnet"}
    apply_fit_options(chgnet, device="cuda", weights=(1, 1, 0))
    assert chgnet["device"] == "cuda" and chgnet["weights"]["stress"] == 0.0


def test_finite_label_check_names_the_rows():
    frames = emt_frames(3, seed=1)
    for k, atoms in enumerate(frames):
        atoms.info["id"] = k + 1
    check_finite_labels(frames, "s.db")
    forces = frames[1].calc.results["forces"].copy()
    forces[0, 0] = np.inf
    stress = frames[2].calc.results["stress"].copy()
    stress[2] = np.nan
    bad = [frames[0], _relabel(frames[1], forces=forces), _relabel(frames[2], stress=stress)]
    with pytest.raises(SeiflowError, match=r"rows 2 \(forces\), 3 \(stress\)"):
        check_finite_labels(bad, "s.db")
    no_energy = frames[0].copy()
    no_energy.info["id"] = 9
    no_energy.calc = SinglePointCalculator(no_energy, forces=np.zeros((len(no_energy), 3)))
    with pytest.raises(SeiflowError, match=r"rows 9 \(energy\)"):
        check_finite_labels([no_energy], "s.db")


def test_test_species_and_stress_checks():
    train, test = emt_frames(2, seed=1), emt_frames(2, seed=2)
    test[1].info["id"] = 42
    test[1].numbers[0] = 28  # Ni
    check_test_species(train, test[:1], "s.db")
    with pytest.raises(SeiflowError, match=r"contain Ni, which no training frame has \(rows 42\)"):
        check_test_species(train, test, "s.db")

    no_stress = [_relabel(a) for a in train]
    for a in no_stress:
        del a.calc.results["stress"]
    with pytest.raises(SeiflowError, match=r"set --weights E F 0"):
        check_stress_labels(no_stress, MTPSettings(), "s.db")
    check_stress_labels(no_stress[:1] + train[1:], MTPSettings(), "s.db")  # some have stress
    check_stress_labels(no_stress, MTPSettings(weights={"stress": 0}), "s.db")
    molecules = [a.copy() for a in no_stress]
    for a in molecules:
        a.pbc = False
        a.calc = SinglePointCalculator(a, energy=1.0, forces=np.zeros((len(a), 3)))
    check_stress_labels(molecules, MTPSettings(), "s.db")  # no periodic cell: no stress term


def test_per_frame_errors_rows_files_and_worst(tmp_path):
    frames = emt_frames(4, seed=3)
    for k, atoms in enumerate(frames):
        atoms.info.update(id=k + 1, split="test")
    shifted = _relabel(frames[2], energy=frames[2].calc.results["energy"] + 0.032 * 2)
    frames[2] = shifted  # 32 atoms: 2 meV/atom
    parity, rows = predict_frames(EMTPotential(), frames, grade=True)
    assert [r["id"] for r in rows] == [1, 2, 3, 4]
    assert rows[2]["energy_error_meV_per_atom"] == pytest.approx(2.0)
    assert max(r["max_force_error_eV_per_A"] for r in rows) < 1e-10
    assert max(r["stress_rmse_GPa"] for r in rows) < 1e-8
    assert all(r["max_gamma"] is None and r["natoms"] == 32 for r in rows)
    assert [r["id"] for r in worst(rows, "energy_error_meV_per_atom", 2)][0] == 3
    assert len(parity["forces"].ref) == 4 * 32 * 3

    errors, rows = evaluate(EMTPotential(), {"test": frames}, tmp_path / "ev")
    assert errors["test"]["all"]["energy"]["max"] == pytest.approx(2.0)
    stored = json.loads((tmp_path / "ev" / "per-frame.json").read_text())
    assert stored == rows and len(stored) == 4
    header = (tmp_path / "ev" / "per-frame.csv").read_text().splitlines()[0]
    assert header.split(",") == list(FRAME_COLUMNS)


def test_reference_frames_keep_the_models_reference(tmp_path, caplog):
    store = LabelStore(tmp_path / "s.db")
    for k, atoms in enumerate(emt_frames(4, seed=5)):
        store.add(atoms, Label.from_atoms(atoms), "emt" if k < 3 else "xtb",
                  "h1" if k < 3 else "h2", Origin(group="rattled"))
    ref = {"reference": {"labeler": "emt", "settings_hash": "h1"}}
    assert len(reference_frames(store, ref, "model")) == 3
    other = {"reference": {"labeler": "gpaw", "settings_hash": "h9"}}
    with pytest.raises(SeiflowError, match="trained on gpaw labels .*emt h1, xtb h2.*"
                       "--any-reference"):
        reference_frames(store, other, "model")
    assert len(reference_frames(store, other, "model", any_reference=True)) == 4
    with caplog.at_level("WARNING"):
        assert len(reference_frames(store, {}, "model")) == 4
    assert "records no reference" in caplog.text
