"""The CHGNet backend: physics contracts of the pretrained model (float32), stress sign and units
in prediction and in training, fine-tuning toward another reference (EMT), save/load, bad input.

CHGNet runs in float32 (hard-coded in chgnet), so energies carry ~1e-7 relative noise: finite
differences use a larger step than the float64 backends (forces: eps 2e-3 Å, noise ~ 1e-6 eV /
4e-3 Å ≈ 3e-4 eV/Å, truncation ~ eps²·F''' of the same order; stress: eps 1e-3) and tolerances
of ~1e-3 eV/Å and 1e-4 eV/Å³, 100-1000 times below the values checked.
"""

import json

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.calculators.singlepoint import SinglePointCalculator

from seiflow.potentials.base import ModelError
from seiflow.potentials.chgnet import (WEIGHTS_FILE, CHGNetFitError, CHGNetModel,
                                       CHGNetSettings, chgnet_stress_input)
from seiflow.potentials.registry import load_potential
from seiflow.potentials.base import Gradable, Potential
from seiflow.testing.potential import (check_forces_fd, check_invariance, check_no_mutation,
                                       check_nve_drift, check_save_load, check_stress_fd)


@pytest.fixture(scope="module")
def pretrained():
    return CHGNetModel.pretrained(device="cpu")


def _li2o():
    atoms = bulk("Li2O", "fluorite", 4.6)  # 3-atom primitive cell
    atoms.rattle(0.05, seed=2)
    return atoms


def _efs(model, atoms):
    work = atoms.copy()
    work.calc = model.calculator()
    return work.get_potential_energy(), work.get_forces(), work.get_stress()


def _labelled(atoms, calc, shift_per_atom=0.0):
    """``atoms`` carrying ``calc``'s energy (+ a constant per atom), forces and stress."""
    work = atoms.copy()
    work.calc = calc
    res = {"energy": work.get_potential_energy() + shift_per_atom * len(work),
           "forces": work.get_forces(), "stress": work.get_stress()}
    work.calc = SinglePointCalculator(work, **res)
    return work


def test_forces_and_stress_are_energy_derivatives(pretrained):
    atoms = _li2o()
    dev = check_forces_fd(pretrained, atoms, eps=2e-3, atol=2e-3)
    work = atoms.copy()
    work.calc = pretrained.calculator()
    assert np.abs(work.get_forces()).max() > 100 * dev  # the check can fail: forces are not ~0
    lif = bulk("LiF", "rocksalt", 3.95)
    lif.rattle(0.05, seed=1)
    check_stress_fd(pretrained, lif, eps=1e-3, atol=1e-4)  # |σ| ≈ 0.07 eV/Å³ (11 GPa)


def test_compressed_lif_has_positive_pressure(pretrained):
    """ASE convention: a compressed cell pushes outwards, σ < 0, pressure -tr(σ)/3 > 0; and
    the reverse when stretched (PBE a ≈ 4.07 Å; CHGNet's minimum lies near it)."""
    for a, sign in ((3.85, 1.0), (4.30, -1.0)):
        _, _, stress = _efs(pretrained, bulk("LiF", "rocksalt", a))
        pressure = -stress[:3].mean() / 1e-3 * 0.1602  # GPa (1 meV/Å³ = 0.1602 GPa)
        assert sign * pressure > 1.0, f"a = {a} Å: pressure {pressure:.2f} GPa"


def test_invariances(pretrained):
    # float32 tolerances (|σ| ≈ 0.02 eV/Å³ here)
    check_invariance(pretrained, _li2o(), atol_e=1e-5, atol_f=2e-4, atol_s=1e-5)


def test_save_load_identical(pretrained, tmp_path):
    check_save_load(pretrained, _li2o(), tmp_path / "model", load_potential)
    meta = json.loads((tmp_path / "model" / "model.json").read_text())
    assert meta["backend"] == "chgnet" and len(meta["species"]) == 94
    assert meta["species"][0] == "H" and meta["species"][-1] == "Pu"
    assert pretrained.grade(_li2o()) is None
    assert "gamma" not in pretrained.calculator(grade=True).implemented_properties


def test_missing_or_corrupt_weights(pretrained, tmp_path):
    folder = pretrained.save(tmp_path / "model")
    (folder / WEIGHTS_FILE).write_bytes(b"not a torch file")
    with pytest.raises(ModelError, match=WEIGHTS_FILE):
        load_potential(folder)
    (folder / WEIGHTS_FILE).unlink()
    with pytest.raises(ModelError, match="missing"):
        load_potential(folder)


def test_element_outside_chgnet_is_a_model_error(pretrained):
    atoms = bulk("Cu", "fcc", 3.6)
    atoms.numbers[0] = 95  # Am: beyond CHGNet's Z 1-94
    atoms.calc = pretrained.calculator()
    with pytest.raises(ModelError, match="Am"):
        atoms.get_potential_energy()
    flat = Atoms("LiF", positions=[[0, 0, 0], [1.6, 0, 0]])  # no cell
    flat.calc = pretrained.calculator()
    with pytest.raises(ModelError, match="3D cell"):
        flat.get_potential_energy()


def test_stress_conversion_into_chgnet_training():
    """chgnet's StructureData multiplies its stress input (VASP: kBar, compressive positive)
    by -0.1; an ASE stress must come out as itself in GPa."""
    sigma = np.array([0.01, -0.02, 0.03, 0.004, -0.005, 0.006])  # eV/Å³, Voigt
    full = chgnet_stress_input(sigma) * -0.1  # what chgnet trains on, GPa
    gpa = sigma / 6.241509074460763e-3  # 1 GPa = 6.2415e-3 eV/Å³
    assert np.allclose(np.diag(full), gpa[:3])
    assert np.allclose([full[1, 2], full[0, 2], full[0, 1]], gpa[3:])
    assert np.allclose(full, full.T)


def _teacher_frames(pretrained, shift=0.0):
    frames = []
    for k, (atoms, seed) in enumerate([(bulk("LiF", "rocksalt", 3.95), 1),
                                       (bulk("Li2O", "fluorite", 4.55), 2),
                                       (bulk("LiF", "rocksalt", 4.15), 3)]):
        atoms.rattle(0.06, seed=seed)
        frame = _labelled(atoms, pretrained.calculator(), shift)
        frame.info["source"] = f"teacher {k}"
        frames.append(frame)
    return frames


def test_own_labels_have_zero_training_error(pretrained):
    """CHGNet's labels (+0.3 eV/atom) through seiflow's conversion into chgnet's Trainer:
    the AtomRef refit takes the shift, and the training MAEs of energy, forces and stress are
    float32 noise — a wrong stress sign or unit would show as GPa."""
    frames = _teacher_frames(pretrained, shift=0.3)
    settings = CHGNetSettings(epochs=1, learning_rate=1e-12, batch_size=3, device="cpu",
                              validation_fraction=0.0)
    model = settings.fit(frames, progress=False)
    mae = model.record["training"]["mae"]["train"]
    stresses = [abs(f.get_stress()).max() / 6.2415e-3 for f in frames]
    assert min(stresses) > 1.0  # GPa: the frames are under real stress
    assert model.record["training"]["targets"] == "efs"
    assert mae["e"][0] < 1e-4  # eV/atom
    assert mae["f"][0] < 1e-4  # eV/Å
    assert mae["s"][0] < 1e-3  # GPa
    shift = model.record["training"]["atomref_shift_eV"]
    assert abs((shift["Li"] + shift["F"]) / 2 - 0.3) < 1e-5  # LiF
    assert abs((2 * shift["Li"] + shift["O"]) / 3 - 0.3) < 1e-5  # Li2O


def _emt_frames(n, seed):
    """Rattled, strained 4-atom fcc Cu3Al cells labelled by EMT: a reference CHGNet was not
    trained on (energy zero ~4 eV/atom away, different forces)."""
    rng = np.random.default_rng(seed)
    out = []
    for k in range(n):
        atoms = bulk("Cu", "fcc", 3.65, cubic=True)
        atoms.numbers[rng.integers(len(atoms))] = 13
        eps = rng.uniform(-0.02, 0.02, (3, 3))
        atoms.set_cell(atoms.cell @ (np.eye(3) + (eps + eps.T) / 2), scale_atoms=True)
        atoms.rattle(0.08, seed=int(rng.integers(1 << 30)))
        frame = _labelled(atoms, EMT())
        frame.info["source"] = f"emt {seed}-{k}"
        out.append(frame)
    return out


def _errors(model, frames):
    de, df, ds = [], [], []
    for frame in frames:
        e, f, s = _efs(model, frame)
        de.append(abs(e - frame.get_potential_energy()) / len(frame))
        df.append(np.abs(f - frame.get_forces()).mean())
        ds.append(np.abs(s - frame.get_stress()).mean())
    return np.mean(de), np.mean(df), np.mean(ds)


def test_fine_tuning_moves_toward_new_labels(pretrained, tmp_path):
    train, held_out = _emt_frames(6, seed=1), _emt_frames(3, seed=2)
    before = _errors(pretrained, held_out)
    settings = CHGNetSettings(epochs=5, learning_rate=1e-3, batch_size=2, device="cpu",
                              validation_fraction=0.2)
    model = settings.fit(train, progress=False)
    after = _errors(model, held_out)
    # measured: energy 4.3 eV/atom → 7 meV/atom, forces 0.125 → 0.020 eV/Å, stress 0.0085 →
    # 0.0040 eV/Å³ (mean absolute errors on the held-out frames)
    assert after[0] < 0.05 * before[0], (before, after)  # energy (AtomRef shift + network)
    assert after[1] < 0.5 * before[1], (before, after)  # forces
    assert after[2] < 0.8 * before[2], (before, after)  # stress
    training = model.record["training"]
    assert training["epochs_run"] == 5 and training["validation_structures"] == 1
    assert set(training["atomref_shift_eV"]) == {"Cu", "Al"}
    for split in ("train", "val"):
        assert len(training["mae"][split]["f"]) == 5
    assert training["mae"]["train"]["f"][-1] < 0.5 * training["mae"]["train"]["f"][0]
    assert training["mae"]["val"]["f"][-1] < 0.5 * training["mae"]["val"]["f"][0]
    assert _errors(pretrained, held_out) == before  # the pretrained model is untouched
    # freeze "all-but-readout": embeddings and early blocks unchanged, the readout moved
    tuned, ref = model.net.state_dict(), pretrained.net.state_dict()
    for name in ("atom_embedding.embedding.weight", "bond_embedding.weight",
                 "atom_conv_layers.2.mlp_out.layers.1.weight"):
        assert torch.equal(tuned[name], ref[name]), name
    for name in ("atom_conv_layers.3.mlp_out.layers.1.weight", "mlp.layers.0.weight"):
        assert not torch.equal(tuned[name], ref[name]), name
    # the fine-tuned model saves, reloads and predicts the same
    check_save_load(model, held_out[0], tmp_path / "tuned", load_potential)
    again = load_potential(tmp_path / "tuned")
    assert again.record["training"]["mae"] == training["mae"]


def test_fine_tuning_is_reproducible_and_warm_starts(pretrained):
    frames = _teacher_frames(pretrained, shift=0.1)
    settings = CHGNetSettings(epochs=2, learning_rate=2e-3, batch_size=1, device="cpu",
                              validation_fraction=0.34, freeze="embeddings")
    one = settings.fit(frames, progress=False)
    two = settings.fit(frames, progress=False)
    assert one.record["training"]["mae"] == two.record["training"]["mae"]
    assert _efs(one, frames[0])[0] == _efs(two, frames[0])[0]
    e_one = _efs(one, frames[1])[0]
    warm = settings.model_copy(update={"epochs": 1}).fit(frames, progress=False, start=one)
    assert warm.record["training"]["start"].endswith("fine-tuned")
    assert _efs(one, frames[1])[0] == e_one  # start is not modified


def test_bad_training_input(pretrained):
    unlabelled = bulk("LiF", "rocksalt", 4.0)
    with pytest.raises(CHGNetFitError, match="no energy"):
        CHGNetSettings(epochs=1, device="cpu").fit([unlabelled], progress=False)
    with pytest.raises(CHGNetFitError, match="no training"):
        CHGNetSettings(epochs=1, device="cpu").fit([], progress=False)
    with pytest.raises(ValueError, match="freeze"):
        CHGNetSettings(freeze="everything")


def test_time_budget_stops_after_an_epoch(pretrained):
    settings = CHGNetSettings(epochs=3, batch_size=3, device="cpu", validation_fraction=0.0,
                              max_time=1e-3)
    model = settings.fit(_teacher_frames(pretrained), progress=False)
    assert model.record["training"]["stop"] == "time limit"
    assert model.record["training"]["epochs_run"] == 1


def test_contract_no_mutation_nve_and_not_gradable(pretrained):
    atoms = _li2o().repeat((2, 1, 1))
    check_no_mutation(pretrained, atoms)
    check_nve_drift(pretrained, atoms, steps=20, timestep_fs=0.5, max_drift=2e-3)
    assert isinstance(pretrained, Potential) and not isinstance(pretrained, Gradable)
