"""The SevenNet backend: SevenNet-0 fine-tuned through sevenn's Trainer on 8-atom Li cells.

Labels come from the other shipped checkpoint (SevenNet-0 of 22 May 2024): a real, consistent
reference (energy, forces, stress) that differs from the 11 Jul 2024 start by ~13 meV/atom and
~0.02 eV/Å. The network runs in float32 (energies reproducible to ~1e-6 relative), so finite
differences use steps of 2e-3 Å / 1e-3 strain and tolerances of ~1e-3 eV/Å and 1e-4 eV/Å³,
far below the values checked.
"""

import random

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import bulk
from ase.calculators.singlepoint import SinglePointCalculator
from pydantic import ValidationError
from typer.testing import CliRunner

from seiflow.cli.app import app
from seiflow.core.errors import SeiflowError
from seiflow.data.labels import Label
from seiflow.data.store import LabelStore, Origin
from seiflow.potentials.base import Gradable, ModelError, Potential, implements
from seiflow.potentials.registry import CommitteeSettings, load_potential, require_gradable
from seiflow.potentials.sevennet.fit import (SevenNetFitError, evaluate, loss_functions,
                                             to_graphs)
from seiflow.potentials.sevennet.model import _SKELETONS, WEIGHTS_FILE, SevenNetModel
from seiflow.potentials.sevennet.settings import SevenNetSettings
from seiflow.reference.sevennet import shared_calculator
from seiflow.testing.potential import (check_forces_fd, check_no_mutation, check_save_load,
                                       check_stress_fd)

# small steps, one frame per step: the loss falls in every epoch (lr 1e-3 fits faster but
# the first Adam steps of a pretrained network can raise it before it falls)
FAST = dict(epochs=2, batch_size=1, lr=1e-4, valid_fraction=0, device="cpu")


def li_frames(n: int, seed: int, teacher) -> list[Atoms]:
    """Strained (sheared) and rattled 8-atom bcc Li cells labelled by ``teacher``."""
    rng = np.random.default_rng(seed)
    out = []
    for k in range(n):
        atoms = bulk("Li", "bcc", 3.44, cubic=True).repeat((2, 2, 1))
        eps = rng.uniform(-0.03, 0.03, (3, 3))
        atoms.set_cell(atoms.cell @ (np.eye(3) + (eps + eps.T) / 2), scale_atoms=True)
        atoms.rattle(0.08, seed=int(rng.integers(1 << 30)))
        work = atoms.copy()
        work.calc = teacher
        res = {"energy": work.get_potential_energy(), "forces": work.get_forces(),
               "stress": work.get_stress()}
        atoms.calc = SinglePointCalculator(atoms, **res)
        atoms.info.update(source=f"li cell {k}", group="rattled")
        out.append(atoms)
    return out


def _global_states():
    return (random.getstate(), np.random.get_state()[1].copy(),
            torch.random.get_rng_state().clone())


def _same_states(a, b) -> bool:
    return a[0] == b[0] and np.array_equal(a[1], b[1]) and torch.equal(a[2], b[2])


@pytest.fixture(scope="module")
def foundation():
    """SevenNet-0 built anew (sevenn draws initial weights from torch's global generator
    before the stored ones replace them), and whether the global generators were left as
    they were."""
    _SKELETONS.clear()
    before = _global_states()
    model = SevenNetModel.foundation("sevennet-0", device="cpu")
    return model, _same_states(before, _global_states())


@pytest.fixture(scope="module")
def frames():
    return li_frames(4, 1, shared_calculator("7net-0_22May2024", "cpu"))


@pytest.fixture(scope="module")
def tuned(frames):
    return SevenNetSettings(**FAST).fit(frames, progress=False)


def test_own_labels_have_zero_loss_stress_convention(foundation):
    """SevenNet-0's own labels give a zero loss: energy, forces and every stress component
    (sheared cells: off-diagonal stresses of ~1e-3 eV/Å³) enter sevenn in its convention."""
    start = foundation[0]
    own = li_frames(2, 3, start.calculator())
    assert np.abs(own[0].calc.results["stress"][3:]).max() > 3e-4
    res = evaluate(start.net, to_graphs(own, start.cutoff), loss_functions(SevenNetSettings()),
                   "cpu")
    assert res["loss"] < 1e-10 and res["rmse_f_eV_per_A"] < 1e-5, res


def test_fine_tuning_lowers_the_loss_on_its_training_frames(foundation, frames, tuned):
    h = tuned.record["training"]
    assert h["best_epoch"] == 1 and h["valid_loss"][1] < 0.92 * h["start_valid_loss"], h
    losses = loss_functions(SevenNetSettings())
    before = evaluate(foundation[0].net, to_graphs(frames, 5.0), losses, "cpu")
    after = evaluate(tuned.net, to_graphs(frames, 5.0), losses, "cpu")
    assert after["loss"] < 0.75 * before["loss"], (before, after)  # energy offset + training
    assert after["rmse_e_meV_per_atom"] < 0.3 * before["rmse_e_meV_per_atom"], (before, after)
    assert after["rmse_f_eV_per_A"] < 0.92 * before["rmse_f_eV_per_A"], (before, after)
    assert abs(h["energy_shift_eV_per_atom"]["Li"]) > 1e-3  # the two references differ


def test_saved_model_loads_back_and_predicts_identically(frames, tuned, tmp_path):
    check_save_load(tuned, frames[0], tmp_path / "m", load_potential)
    again = load_potential(tmp_path / "m")
    assert isinstance(again, SevenNetModel) and again.record["training"]["epoch"] == [0, 1]
    stored = torch.load(tmp_path / "m" / WEIGHTS_FILE, weights_only=False)  # sevenn's layout
    assert set(stored) == {"model_state_dict", "config"}
    assert stored["config"]["shift"] == tuned.config["shift"]  # the refitted Li offset


def test_forces_and_stress_are_derivatives_of_the_energy(tuned):
    atoms = bulk("Li", "bcc", 3.44, cubic=True)  # 2 atoms: 12 + 12 energies to difference
    atoms.set_cell(atoms.cell @ [[1.02, 0.03, 0], [0.03, 0.99, 0.01], [0, 0.01, 1.0]],
                   scale_atoms=True)
    atoms.rattle(0.2, seed=4)
    work = atoms.copy()
    work.calc = tuned.calculator()
    assert np.abs(work.get_forces()).max() > 0.1 and np.abs(work.get_stress()).max() > 2e-3
    assert check_forces_fd(tuned, atoms, eps=2e-3, atol=2e-3) < 2e-3
    assert check_stress_fd(tuned, atoms, eps=1e-3, atol=1e-4) < 1e-4


def test_contract_and_not_gradable(frames, tuned):
    check_no_mutation(tuned, frames[2])
    assert isinstance(tuned, Potential) and not implements(SevenNetModel, Gradable)
    assert tuned.grade(frames[2]) is None
    with pytest.raises(ValueError, match="'sevennet' has no extrapolation grade"):
        require_gradable(SevenNetSettings())
    require_gradable(CommitteeSettings(member={"backend": "sevennet"}))  # a committee can


def test_committee_of_fine_tuned_sevennets_grades(frames, tmp_path):
    """A committee of two SevenNet fine-tunes (seeds 0 and 1: other frame orders) is
    Gradable: γ from the spread of their forces, and it saves and loads like any model."""
    member = {"backend": "sevennet", **FAST, "epochs": 1}
    committee = CommitteeSettings(member=member, size=2, subsample=1.0).fit(frames[:2],
                                                                           progress=False)
    gammas = committee.grade(frames[3])
    assert gammas.shape == (8,) and np.all(gammas > 0)
    committee.save(tmp_path / "c")
    again = load_potential(tmp_path / "c")
    assert all(isinstance(m, SevenNetModel) for m in again.members)
    assert np.allclose(again.grade(frames[3]), gammas, rtol=1e-6)


def test_reproducible_and_global_generators_untouched(foundation, frames, tuned):
    """Building the network and fitting leave Python's, NumPy's and torch's global
    generators as they were; the same fit again gives the same weights."""
    assert foundation[1], "building SevenNet-0 changed a global random generator"
    before = _global_states()
    again = SevenNetSettings(**FAST).fit(frames, progress=False)
    assert _same_states(before, _global_states()), "fitting changed a global generator"
    a, b = tuned.net.state_dict(), again.net.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_bad_input_is_one_clear_line(frames, tuned, tmp_path):
    with pytest.raises(ValidationError, match="neither a shipped SevenNet"):
        SevenNetSettings(foundation="sevennet-9")
    po = frames[0].copy()
    po.numbers[0] = 84  # polonium: SevenNet-0 has no embedding for it
    po.calc = SinglePointCalculator(po, **frames[0].calc.results)
    with pytest.raises(ModelError, match="contains Po, which SevenNet") as err:
        SevenNetSettings(**FAST).fit([po, frames[1]], progress=False)
    assert "\n" not in str(err.value)
    with pytest.raises(ModelError, match="contains Po"):
        tuned.calculator().get_potential_energy(po)
    with pytest.raises(SevenNetFitError, match="at least 2 labelled"):
        SevenNetSettings(**FAST).fit(frames[:1], progress=False)
    flat = Atoms("Li2", positions=[[0, 0, 0], [0, 0, 3.0]])
    with pytest.raises(ModelError, match="needs a 3D cell"):
        tuned.calculator().get_potential_energy(flat)
    tuned.save(tmp_path / "m")
    (tmp_path / "m" / WEIGHTS_FILE).unlink()
    with pytest.raises(ModelError, match="is missing: the SevenNet weights"):
        load_potential(tmp_path / "m")


def test_seiflow_train_backend_sevennet(frames, tmp_path):
    """`seiflow train --backend sevennet --foundation sevennet-0` on a small store writes a
    model folder that load_potential reads; a missing store is one line."""
    store = LabelStore(tmp_path / "labels.db")
    for atoms in frames + li_frames(1, 7, shared_calculator("7net-0_22May2024", "cpu")):
        store.add(atoms, Label.from_atoms(atoms), "sevennet", "h", Origin(group="rattled"))
    run = CliRunner().invoke(app, ["train", "--db", str(tmp_path / "labels.db"), "--out",
                                   str(tmp_path / "model"), "--backend", "sevennet",
                                   "--foundation", "sevennet-0", "--epochs", "1", "--device",
                                   "cpu", "--no-progress"])
    assert run.exit_code == 0, run.output
    model = load_potential(tmp_path / "model")
    assert isinstance(model, SevenNetModel)
    assert model.record["settings"]["foundation"] == "sevennet-0"
    assert model.record["training"]["train_structures"] >= 3
    assert (tmp_path / "model" / "errors.json").is_file() and "RMSE" in run.output
    missing = CliRunner().invoke(app, ["train", "--db", str(tmp_path / "none.db"), "--out",
                                       str(tmp_path / "m2"), "--backend", "sevennet"])
    assert isinstance(missing.exception, SeiflowError), missing.output
    assert "none.db" in str(missing.exception) and "\n" not in str(missing.exception).strip()
