"""The MACE backend: physics contracts, training, feature grade, fine-tuning, save/load, errors."""

import json

import numpy as np
import pytest
import torch

from seiflow.potentials.active import select_add
from seiflow.potentials.base import ModelError
from seiflow.potentials.mace.model import MACE_FILE
from seiflow.potentials.mace.settings import MACESettings
from seiflow.potentials.metrics import error_table, predict
from seiflow.potentials.registry import load_potential
from seiflow.testing.potential import (check_forces_fd, check_grade, check_invariance,
                                       check_no_mutation, check_nve_drift, check_save_load,
                                       check_stress_fd)
from tests.potentials.conftest import emt_frames

pytestmark = pytest.mark.slow


def test_forces_and_stress_are_energy_derivatives(emt_mace):
    atoms = emt_frames(1, seed=5)[0][:8]  # a sheared, rattled 8-atom cell
    atoms.set_cell(atoms.cell / 2, scale_atoms=False)
    atoms.wrap()
    check_forces_fd(emt_mace, atoms, atol=1e-6)
    check_stress_fd(emt_mace, atoms, atol=1e-8)


def test_invariances(emt_mace, emt_test):
    check_invariance(emt_mace, emt_test[1])


def test_a_frame_weight_is_mace_config_weight(emt_train):
    from seiflow.data.labels import Label
    from seiflow.potentials.mace.model import configuration

    atoms = emt_train[0].copy()
    assert configuration(atoms, Label.from_atoms(emt_train[0])).weight == 1.0
    atoms.info["fit_weight"] = 3.0
    assert configuration(atoms, Label.from_atoms(emt_train[0])).weight == 3.0


def test_save_load_identical(emt_mace, emt_test, tmp_path):
    check_save_load(emt_mace, emt_test[2], tmp_path / "model", load_potential)
    meta = json.loads((tmp_path / "model" / "model.json").read_text())
    assert meta["backend"] == "mace" and meta["species"] == ["Al", "Cu"]
    # the file is mace-torch's own format: its calculator reads it
    from mace.calculators import MACECalculator

    atoms = emt_test[2].copy()
    atoms.calc = MACECalculator(model_paths=str(tmp_path / "model" / MACE_FILE), device="cpu",
                                default_dtype="float64")
    work = emt_test[2].copy()
    work.calc = emt_mace.calculator()
    assert atoms.get_potential_energy() == pytest.approx(work.get_potential_energy(), abs=1e-8)


def test_training_learns_emt(emt_mace, emt_test):
    """A tiny MACE on 16 EMT frames: test errors well below the spread of the data."""
    errors = error_table(predict(emt_mace, emt_test))["all"]
    spread = np.std([f for a in emt_test for f in a.get_forces().ravel()])
    assert errors["forces"]["rmse"] < 0.3 * spread
    hist = emt_mace.record["training"]
    assert hist["valid_loss"][-1] < 0.2 * hist["valid_loss"][0]
    assert set(hist["stage"]) == {1, 2}  # stage two ran
    assert emt_mace.record["parameters"] > 1000


def test_feature_grade_interpolation_vs_extrapolation(emt_mace, emt_train):
    inside = max(emt_mace.grade(a).max() for a in emt_train[:16])  # its training frames
    assert inside <= 1.0 + 1e-6  # every training neighbourhood lies in the active set's span
    squeezed = emt_train[0].copy()
    squeezed.set_cell(squeezed.cell * 0.8, scale_atoms=True)
    assert emt_mace.grade(squeezed).max() > 5
    work = squeezed.copy()
    work.calc = emt_mace.calculator(grade=True)
    work.get_potential_energy()
    assert work.calc.results["gamma"] == pytest.approx(emt_mace.grade(squeezed).max())


def test_maxvol_selection_prefers_new_neighbourhoods(emt_mace, emt_train):
    squeezed = emt_train[0].copy()
    squeezed.set_cell(squeezed.cell * 0.8, scale_atoms=True)
    blocks = [emt_mace.rows(emt_train[1]), emt_mace.rows(squeezed)]
    assert select_add(emt_mace.active_set, blocks[:1]) == []  # a training frame adds nothing
    assert select_add(emt_mace.active_set, blocks)[0] == 1  # the squeezed frame comes first


def test_fine_tuning_a_checkpoint(emt_mace, tmp_path):
    """The foundation: the session's model saved as a mace file. The new reference: EMT with
    other atomic energies (as another code would give) on hotter structures. Fine-tuning fits
    the E0s by least squares, then trains every weight: errors fall below the foundation's."""
    emt_mace.save(tmp_path / "foundation")
    shift = {"Cu": -3.0, "Al": -1.5}

    def relabel(frames):
        for a in frames:
            r = a.calc.results
            r["energy"] += sum(shift[s] for s in a.get_chemical_symbols())
        return frames

    train, test = relabel(emt_frames(10, seed=21, rattle=0.14)), \
        relabel(emt_frames(6, seed=22, rattle=0.14))
    s = MACESettings.small(dtype="float64", device="cpu", epochs=12,
                           foundation=tmp_path / "foundation" / MACE_FILE, lr=0.005)
    tuned = s.fit(train, progress=False)
    before = error_table(predict(emt_mace, test))["all"]
    after = error_table(predict(tuned, test))["all"]
    assert before["energy"]["rmse"] > 1000  # meV/atom: the other E0s
    assert after["energy"]["rmse"] < 0.1 * before["energy"]["rmse"]
    assert after["forces"]["rmse"] < before["forces"]["rmse"]
    assert tuned.record["origin"].startswith("fine-tuned")
    # every frame is Cu24Al8, so only 24 ΔE0(Cu) + 8 ΔE0(Al) is determined: it must be the
    # shift put in, -84 eV, up to the foundation's own error
    e0_old = emt_mace.module.atomic_energies_fn.atomic_energies.ravel()
    e0_new = tuned.record["e0_refit_eV"]
    total = 24 * (e0_new["Cu"] - float(e0_old[1])) + 8 * (e0_new["Al"] - float(e0_old[0]))
    assert total == pytest.approx(-84.0, abs=32 * 0.05)


def test_continue_training_keeps_species_and_resumes_checkpoint(emt_train, tmp_path):
    s = MACESettings.small(dtype="float64", device="cpu", epochs=4, stage_two_start=None)
    ckpt = tmp_path / "fit.pt"
    first = s.fit(emt_train[:6], progress=False, checkpoint=ckpt)
    assert not ckpt.exists()  # removed once the fit is complete
    # a checkpoint left by a killed fit of the same data is resumed
    s8 = s.model_copy(update={"epochs": 8})
    from seiflow.potentials.mace import fit as mace_fit

    calls = []
    orig = mace_fit._save_checkpoint

    def killing_save(path, *args):
        orig(path, *args)
        calls.append(args[-1])
        if args[-1] == 3:
            raise KeyboardInterrupt

    mace_fit._save_checkpoint = killing_save
    try:
        with pytest.raises(KeyboardInterrupt):
            s8.fit(emt_train[:6], progress=False, checkpoint=ckpt)
    finally:
        mace_fit._save_checkpoint = orig
    resumed = s8.fit(emt_train[:6], progress=False, checkpoint=ckpt)
    assert resumed.record["training"]["epoch"] == list(range(8))
    uninterrupted = s8.fit(emt_train[:6], progress=False)
    assert resumed.record["training"]["valid_loss"] == pytest.approx(
        uninterrupted.record["training"]["valid_loss"], rel=1e-6)
    again = s.fit(emt_train[:6], progress=False, start=first)
    assert again.record["origin"] == "continued" and again.species == first.species


def test_bad_input(emt_mace, emt_train, tmp_path):
    from ase.build import bulk

    with pytest.raises(ModelError, match="Ni"):
        emt_mace.calculator().get_potential_energy(bulk("Ni", "fcc", 3.5))
    with_ni = emt_frames(3, seed=9)
    with_ni[0].numbers[0] = 28  # its label stays attached: the species check comes first
    with pytest.raises(ModelError, match="Ni"):
        MACESettings.small(device="cpu", epochs=1).fit(with_ni, progress=False, start=emt_mace)
    emt_mace.save(tmp_path / "m")
    (tmp_path / "m" / MACE_FILE).write_bytes(b"not a model")
    with pytest.raises(ModelError, match="not a readable MACE model file"):
        load_potential(tmp_path / "m")
    with pytest.raises(ValueError, match="irreps"):
        MACESettings(hidden_irreps="128 channels")
    with pytest.raises(ValueError, match="never downloads"):
        MACESettings(foundation=tmp_path / "mace-mpa-0.model")


def test_float32_default_and_torchsim_model(emt_mace):
    assert MACESettings().dtype == "float32"
    ts_model = emt_mace.torchsim_model(torch.device("cpu"), torch.float32)
    assert next(ts_model.parameters()).dtype == torch.float32
    assert emt_mace.dtype == torch.float64  # the model itself is untouched


def test_batched_md_matches_ase_md(emt_mace, emt_test, tmp_path):
    """The same NVE run through torch-sim (md/batched.py, two replicas at once) and through
    ASE's velocity Verlet (md/runner.py) with this model: the same trajectory."""
    from ase.md.velocitydistribution import thermalize_momenta

    from seiflow.md.batched import BatchedMDSettings, run_batched_md
    from seiflow.md.runner import MDSettings, run_md

    starts = [a.copy() for a in emt_test[:2]]
    for k, atoms in enumerate(starts):
        thermalize_momenta(atoms, 300, rng=np.random.default_rng(k))
    settings = BatchedMDSettings(ensemble="nve", timestep_fs=1.0, steps=20, traj_stride=10,
                                 checkpoint_every=20, init_velocities=False, device="cpu",
                                 dtype="float64")
    batched = run_batched_md(starts, emt_mace, settings, tmp_path / "batched", progress=False)
    for k, atoms in enumerate(starts):
        single = run_md(atoms.copy(), emt_mace.calculator(grade=False),
                        MDSettings(ensemble="nve", timestep_fs=1.0, steps=20, traj_stride=10,
                                   checkpoint_every=20, init_velocities=False),
                        tmp_path / f"ase-{k}", progress=False)
        moved = single.atoms.positions - atoms.positions
        assert np.abs(moved).max() > 0.01  # the atoms did move
        delta = batched.atoms[k].positions - single.atoms.positions
        delta -= np.round(delta @ np.linalg.inv(atoms.cell)) @ atoms.cell  # torch-sim wraps
        assert np.abs(delta).max() < 1e-6


def test_contract_no_mutation_grade_and_nve(emt_mace, emt_test):
    atoms = emt_test[3]
    check_no_mutation(emt_mace, atoms)
    check_grade(emt_mace, atoms)
    check_nve_drift(emt_mace, atoms, steps=30, max_drift=5e-4)


def test_batched_md_grades_every_frame(emt_mace, emt_test, tmp_path):
    """Batched MD grades each replica's frames (every traj_stride steps) with the model's own
    grade: info["gamma"] in the frames, the largest per replica in the result."""
    import ase.io

    from seiflow.md.batched import BatchedMDSettings, run_batched_md

    settings = BatchedMDSettings(ensemble="nvt", steps=6, traj_stride=3, checkpoint_every=6,
                                 device="cpu", dtype="float64")
    res = run_batched_md([a.copy() for a in emt_test[:2]], emt_mace, settings, tmp_path,
                         progress=False)
    for path, top in zip(res.trajectories, res.max_gamma, strict=True):
        frames = ase.io.read(path, index=":")
        assert [f.info["step"] for f in frames] == [0, 3, 6]
        for frame in frames:
            # the frame as read back (extxyz keeps ~8 digits of the positions)
            assert frame.info["gamma"] == pytest.approx(emt_mace.grade(frame).max(), rel=1e-6)
        assert top == max(f.info["gamma"] for f in frames)


def test_plateau_state_reports_stop_and_convergence():
    from seiflow.potentials.mace.fit import plateau_state

    s = MACESettings.small(epochs=30, plateau_epochs=5, plateau_tol=0.01)
    stages = [1] * 20 + [2] * 10
    flat = {"stage": stages, "valid_loss": [10.0] * 20 + [2.0, 1.5] + [1.0] * 8}
    assert plateau_state(flat, s)[1] is True  # nothing gained over the last 5 epochs
    falling = {"stage": stages, "valid_loss": [10.0] * 20 + [2.0 - 0.1 * k for k in range(10)]}
    stop, converged = plateau_state(falling, s)
    assert converged is False and "fell" in stop  # 1.5 -> 1.1: still falling
    short = {"stage": [1] * 26 + [2] * 4, "valid_loss": [1.0] * 30}
    assert plateau_state(short, s)[1] is False  # a last stage too short to judge
    budget = dict(flat, stopped="time budget 10 s reached at epoch 29")
    assert plateau_state(budget, s) == ("time budget 10 s reached at epoch 29", False)


def test_a_fit_never_returns_a_model_worse_than_its_start(emt_mace, emt_train, emt_test):
    # a learning rate that wrecks the weights in one epoch: the start is kept, unchanged
    wreck = MACESettings.small(dtype="float64", device="cpu", epochs=1, lr=50.0,
                               stage_two_start=None, ema_decay=None, clip_grad=None)
    kept = wreck.fit(emt_train[:16], progress=False, start=emt_mace)
    assert kept.record["training"]["start_kept"] is True
    atoms = emt_test[0].copy()
    atoms.calc = emt_mace.calculator()
    e_start = atoms.get_potential_energy()
    atoms.calc = kept.calculator()
    assert atoms.get_potential_energy() == pytest.approx(e_start, abs=1e-10)
    # a new fit records why it stopped and whether it converged, which fit_state reads
    assert emt_mace.record["training"]["stop"].startswith("all 16 epochs")
    assert isinstance(emt_mace.record["training"]["converged"], bool)


def test_fit_state_reads_a_saved_mace_record(emt_mace, tmp_path):
    from seiflow.workflows.methods import fit_state

    emt_mace.save(tmp_path / "model")
    state = fit_state(tmp_path / "model")
    assert state == {"stop": emt_mace.record["training"]["stop"],
                     "converged": emt_mace.record["training"]["converged"]}
