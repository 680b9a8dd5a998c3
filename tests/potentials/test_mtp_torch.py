"""The MTP in PyTorch (seiflow.potentials.mtp.torch_model) through its torch-sim model: equal to
the compiled kernel at levels 2–16 with 1–3 species on small periodic cells (images of an atom
inside the cutoff included), a batch equal to its systems alone, forces and stress as
derivatives of the energy, invariance, and a few steps of batched MD."""

import numpy as np
import pytest
import torch
import torch_sim as ts
from ase import Atoms
from ase.build import bulk
from scipy.spatial.transform import Rotation

from seiflow.md.batched import BatchedMDSettings, run_batched_md
from seiflow.potentials.mtp.kernel import KernelEngine
from seiflow.potentials.mtp.levels import mtp_basis
from seiflow.potentials.mtp.model import MTPModel, new_mtp_data
from seiflow.potentials.mtp.torch_model import MTPTorchSimModel
from tests.potentials.derivatives import assert_derivatives

CPU = torch.device("cpu")
VOIGT = [0, 4, 8, 5, 2, 1]


def li_bcc() -> Atoms:
    atoms = bulk("Li", "bcc", 3.44, cubic=True).repeat(2)  # 16 atoms
    atoms.rattle(0.1, seed=1)
    return atoms


def lif() -> Atoms:
    atoms = bulk("LiF", "rocksalt", 4.03, cubic=True)  # 8 atoms
    atoms.rattle(0.1, seed=2)
    return atoms


def triclinic() -> Atoms:
    """Li, F and O in a skewed cell smaller than the cutoff."""
    cell = np.array([[4.2, 0.0, 0.0], [1.3, 3.9, 0.0], [-0.8, 1.1, 4.4]])
    frac = np.array([[0.0, 0.0, 0.0], [0.5, 0.1, 0.2], [0.2, 0.5, 0.6], [0.7, 0.6, 0.1],
                     [0.4, 0.9, 0.5], [0.9, 0.3, 0.7]])
    atoms = Atoms("LiFOLiFO", scaled_positions=frac, cell=cell, pbc=True)
    atoms.rattle(0.05, seed=3)
    return atoms


def random_model(level: int, species: tuple[str, ...], atoms: Atoms, seed: int = 0,
                 max_force: float | None = None) -> MTPModel:
    """Random coefficients, the moment coefficients scaled so that every basis function adds
    O(1) eV per atom of ``atoms`` (or, with ``max_force``, so its largest force is that)."""
    rng = np.random.default_rng(seed)
    data = new_mtp_data(mtp_basis(level), species, 4.5, 1.2, 6, rng)
    data.radial_coeffs = rng.normal(0.0, 0.3, data.radial_coeffs.shape)
    data.species_coeffs = rng.normal(size=data.species_coeffs.shape)
    rows = KernelEngine(data).calculate(atoms, rows=True)["basis"]
    data.moment_coeffs = rng.normal(size=rows.shape[1]) / (np.sqrt((rows**2).mean(0)) + 1e-300)
    if max_force is not None:
        forces = KernelEngine(data).calculate(atoms)["forces"]
        data.moment_coeffs *= max_force / np.abs(forces).max()
    return MTPModel(data=data, species=species, level=level)


def torch_results(model: MTPModel, structures: list[Atoms]) -> list[dict]:
    """Energy, energies, forces, Voigt stress of each structure from one batched call."""
    ts_model = model.torchsim_model(CPU, torch.float64)
    out = ts_model(ts.io.atoms_to_state(structures, CPU, torch.float64))
    res, start = [], 0
    for s, atoms in enumerate(structures):
        sl = slice(start, start + len(atoms))
        start = sl.stop
        res.append({"energy": float(out["energy"][s]), "energies": out["energies"][sl].numpy(),
                    "forces": out["forces"][sl].numpy(),
                    "stress": out["stress"][s].numpy().flat[VOIGT]})
    return res


def assert_same(got: dict, want: dict, rel: float) -> None:
    for key in ("energy", "energies", "forces", "stress"):
        scale = max(1.0, np.abs(want[key]).max())
        np.testing.assert_allclose(got[key], want[key], rtol=0, atol=rel * scale, err_msg=key)


CASES = {"Li bcc": (("Li",), li_bcc), "LiF": (("Li", "F"), lif),
         "LiFO triclinic": (("Li", "F", "O"), triclinic)}


@pytest.mark.parametrize("level", [2, 6, 10, 16])
@pytest.mark.parametrize("case", list(CASES))
def test_same_as_kernel(level, case):
    species, build = CASES[case]
    atoms = build()
    model = random_model(level, species, atoms, seed=level)
    want = KernelEngine(model.data).calculate(atoms)
    assert_same(torch_results(model, [atoms])[0], want, 1e-10)


def test_batch_equals_each_system_alone():
    structures = [li_bcc(), lif(), triclinic()]
    model = random_model(10, ("Li", "F", "O"), structures[2], seed=4)
    batch = torch_results(model, structures)
    for atoms, got in zip(structures, batch):
        assert_same(got, torch_results(model, [atoms])[0], 1e-12)
        assert_same(got, KernelEngine(model.data).calculate(atoms), 1e-10)
    lone = Atoms("O", cell=np.eye(3) * 10.0, pbc=True)  # no neighbour
    got = torch_results(model, [lone, structures[1]])[0]
    assert got["energy"] == model.data.species_coeffs[2]
    assert not got["forces"].any() and not got["stress"].any()
    with pytest.raises(ValueError, match="not species"):
        torch_results(model, [bulk("Cu", "fcc", 3.6)])


def test_float32_close_to_float64():
    atoms = lif().repeat((2, 1, 1))
    model = random_model(16, ("Li", "F"), atoms, seed=9)
    state = ts.io.atoms_to_state([atoms], CPU, torch.float32)
    got = model.torchsim_model(CPU, torch.float32)(state)
    assert all(v.dtype == torch.float32 for v in got.values())
    want = torch_results(model, [atoms])[0]
    assert float(got["energy"][0]) == pytest.approx(want["energy"], rel=1e-5, abs=1e-4)
    np.testing.assert_allclose(got["forces"].numpy(), want["forces"], rtol=0,
                               atol=1e-4 * np.abs(want["forces"]).max())


def test_forces_and_stress_are_derivatives():
    atoms = triclinic()
    model = random_model(12, ("Li", "F", "O"), atoms, seed=5)
    res = torch_results(model, [atoms])[0]
    assert_derivatives(lambda a: torch_results(model, [a])[0]["energy"], atoms,
                       res["forces"], res["stress"], [(0, 0), (3, 1), (5, 2)], [0, 3, 5])


def test_rotation_and_translation_invariance():
    atoms = lif()
    model = random_model(16, ("Li", "F"), atoms, seed=6)
    rot = Rotation.random(random_state=1).as_matrix()
    turned = atoms.copy()
    turned.set_cell(atoms.cell.array @ rot.T, scale_atoms=False)
    turned.positions = atoms.positions @ rot.T + [0.3, -1.1, 2.0]
    ref, got = torch_results(model, [atoms, turned])
    scale = max(1.0, np.abs(ref["energies"]).max())
    np.testing.assert_allclose(got["energies"], ref["energies"], rtol=0, atol=1e-11 * scale)
    np.testing.assert_allclose(got["forces"], ref["forces"] @ rot.T, rtol=0,
                               atol=1e-10 * max(1.0, np.abs(ref["forces"]).max()))


def test_torchsim_interface():
    """torch-sim's own conformance check (Si and Fe cells, single and batched)."""
    from torch_sim.models.interface import validate_model_outputs

    model = random_model(6, ("Si", "Fe"), bulk("Si", "diamond", 5.43), seed=10, max_force=1.0)
    for dtype in (torch.float64, torch.float32):
        validate_model_outputs(model.torchsim_model(CPU, dtype), CPU, dtype)


def test_batched_md_with_an_mtp(tmp_path):
    """``run_batched_md`` takes the MTPModel (its ``torchsim_model``): two replicas, a few NVE
    steps on the CPU; the final energies are the kernel's at the final positions."""
    replicas = [lif().repeat((2, 1, 1)), lif().repeat((1, 2, 1))]
    replicas[1].rattle(0.03, seed=7)
    model = random_model(10, ("Li", "F"), replicas[0], seed=8, max_force=0.5)
    assert isinstance(model.torchsim_model(CPU, torch.float64), MTPTorchSimModel)
    settings = BatchedMDSettings(ensemble="nve", temperature_K=300, timestep_fs=0.5, steps=6,
                                 traj_stride=3, checkpoint_every=6, dtype="float64",
                                 device="cpu", seed=1)
    res = run_batched_md(replicas, model, settings, tmp_path / "md", progress=False)
    assert res.steps_done == 6 and len(res.atoms) == 2
    for atoms, start in zip(res.atoms, replicas):
        energy = atoms.get_potential_energy()
        assert np.isfinite(energy) and np.isfinite(atoms.get_forces()).all()
        assert np.abs(atoms.positions - start.positions).max() > 1e-4  # the atoms moved
        want = KernelEngine(model.data).calculate(atoms)
        assert energy == pytest.approx(want["energy"], rel=1e-10, abs=1e-10)
        np.testing.assert_allclose(atoms.get_forces(), want["forces"], rtol=0, atol=1e-10)
