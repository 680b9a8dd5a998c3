"""Batched MD through torch-sim (seiflow.md.batched): NVE energy conservation and its dt²
scaling, batch == single, canonical temperatures (Nosé–Hoover chain, Langevin), output files,
exact restart after a kill, device "auto", bad input, and a small real MACE model.

The pair model is a shifted-force Lennard-Jones built from torch-sim's pair functions. torch-sim
0.3.0's own LennardJonesModel and MorseModel cannot serve an NVE test: their forces are twice
-dE/dx (each pair of the full neighbour list is applied to both atoms), and their energy jumps
where a pair crosses the unshifted cutoff.
"""

import csv

import ase.io
import numpy as np
import pytest
import torch
from ase.build import bulk
from ase.md.velocitydistribution import Stationary, thermalize_momenta
from torch_sim.models.interface import ModelInterface
from torch_sim.models.lennard_jones import lennard_jones_pair, lennard_jones_pair_force

from seiflow.core.errors import SeiflowError
from seiflow.md.thermo import THERMO_COLUMNS
from seiflow.md.batched import (
    BatchedMDSettings,
    device_neighbor_list,
    resolve_device,
    run_batched_md,
)

SIGMA, EPSILON = 3.405, 0.0104  # argon, Å and eV


class ShiftedForceLJ(ModelInterface):
    """Lennard-Jones with energy and force shifted to zero at the cutoff (smooth for NVE)."""

    def __init__(self, cutoff: float = 8.5, dtype: torch.dtype = torch.float64):
        super().__init__()
        self._device, self._dtype = torch.device("cpu"), dtype
        self._compute_forces, self._compute_stress = True, False
        rc = torch.tensor(cutoff, dtype=dtype)
        self.rc = rc
        self.v_rc = lennard_jones_pair(rc, SIGMA, EPSILON)
        self.f_rc = lennard_jones_pair_force(rc, SIGMA, EPSILON)  # -dV/dr at rc
        self.calls = 0

    def forward(self, state, **_):
        self.calls += 1
        energies, forces = [], torch.zeros_like(state.positions)
        for s in range(state.cell.shape[0]):
            idx = torch.nonzero(state.system_idx == s).squeeze(1)
            pos, cell = state.positions[idx], state.cell[s].T  # row vectors
            (i, j), shifts = device_neighbor_list(pos, cell, True, self.rc)
            dr = pos[j] + shifts @ cell - pos[i]
            r = dr.norm(dim=1)
            v = lennard_jones_pair(r, SIGMA, EPSILON) - self.v_rc + (r - self.rc) * self.f_rc
            f = lennard_jones_pair_force(r, SIGMA, EPSILON) - self.f_rc
            energies.append(0.5 * v.sum())  # the full list holds each pair twice
            forces.index_add_(0, idx[i], -(f / r)[:, None] * dr)
        return {"energy": torch.stack(energies), "forces": forces}


class DiesAfter(ModelInterface):
    """A model that raises after ``n`` calls: a run killed in the middle."""

    def __init__(self, inner: ModelInterface, n: int):
        super().__init__()
        self.inner, self.n, self.calls = inner, n, 0
        self._device, self._dtype = inner.device, inner.dtype
        self._compute_forces, self._compute_stress = True, False

    def forward(self, state, **_):
        self.calls += 1
        if self.calls > self.n:
            raise KeyboardInterrupt("killed")
        return self.inner(state)


@pytest.fixture(scope="module")
def lj():
    return ShiftedForceLJ()


def argon(rattle: float = 0.0, seed: int = 0, a: float = 5.30):
    atoms = bulk("Ar", "fcc", a=a, cubic=True) * (2, 2, 2)  # 32 atoms
    if rattle:
        atoms.rattle(rattle, seed=seed)
    return atoms


def thermo(path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def column(rows, name, replica=0):
    return np.array([float(r[name]) for r in rows if int(r["replica"]) == replica])


def nve(dt_fs, steps, **kw):
    return BatchedMDSettings(ensemble="nve", temperature_K=40, timestep_fs=dt_fs, steps=steps,
                             traj_stride=kw.pop("traj_stride", 1), checkpoint_every=steps,
                             dtype="float64", seed=1, **kw)


def test_pair_model_forces_are_minus_energy_gradient(lj):
    """The test model first: forces = -dE/dx by central differences."""
    import torch_sim as ts

    atoms = argon(0.15, seed=4)
    state = ts.io.atoms_to_state([atoms], torch.device("cpu"), torch.float64)
    forces = lj(state)["forces"]
    h = 1e-5
    for atom, axis in [(0, 0), (7, 1), (19, 2)]:
        e = []
        for sign in (1, -1):
            moved = state.clone()
            moved.positions[atom, axis] += sign * h
            e.append(float(lj(moved)["energy"][0]))
        assert float(forces[atom, axis]) == pytest.approx(-(e[0] - e[1]) / (2 * h), rel=1e-6)


def test_nve_energy_fluctuation_is_second_order_in_dt(lj, tmp_path):
    """Velocity Verlet keeps E_tot within ~(ω dt)² of its start and does not drift; halving dt
    divides the fluctuation by ~4. Argon at ~20 K (after equipartition from 40 K), 1.2 ps."""
    amplitude = {}
    for dt in (8.0, 4.0):
        res = run_batched_md([argon()], lj, nve(dt, int(1200 / dt)), tmp_path / f"dt{dt}",
                             progress=False)
        rows = thermo(res.thermo)
        etot, t = column(rows, "Etot_eV"), column(rows, "time_fs")
        assert np.ptp(column(rows, "Epot_eV")) > 0.05  # the atoms really move (~2 meV/atom)
        assert np.allclose(column(rows, "conserved_eV"), etot)
        amplitude[dt] = np.ptp(etot) / 32
        drift = abs(np.polyfit(t, etot, 1)[0]) * 1000 / 32  # eV/atom/ps
        assert drift < 1e-6
    # kinetic energy is ~2.6 meV/atom; VV at 8 fs (ω dt ≈ 0.1) fluctuates by < 1 % of it
    assert amplitude[8.0] < 2e-5
    assert 3.0 < amplitude[8.0] / amplitude[4.0] < 5.5


def test_batch_equals_single(lj, tmp_path):
    """Three different replicas together follow the same trajectories as each run alone."""
    replicas = [argon(), argon(0.05, seed=1), argon(0.0, a=5.35)]
    for r, atoms in enumerate(replicas):
        thermalize_momenta(atoms, 40, rng=np.random.default_rng(r))
        Stationary(atoms)
    s = nve(8.0, 60, traj_stride=20, init_velocities=False)
    batch = run_batched_md(replicas, lj, s, tmp_path / "batch", progress=False)
    for r, atoms in enumerate(replicas):
        alone = run_batched_md([atoms], lj, s, tmp_path / f"alone{r}", progress=False)
        assert np.abs(alone.atoms[0].positions - batch.atoms[r].positions).max() < 1e-10
        assert np.abs(alone.atoms[0].get_momenta() - batch.atoms[r].get_momenta()).max() < 1e-10
        assert alone.atoms[0].get_potential_energy() == pytest.approx(
            batch.atoms[r].get_potential_energy(), abs=1e-10)
    # and they are different trajectories
    assert np.abs(batch.atoms[0].positions - batch.atoms[1].positions).max() > 0.01


@pytest.mark.parametrize("ensemble", ["nvt", "langevin"])
def test_thermostat_mean_temperature_is_the_target(lj, tmp_path, ensemble):
    """Three 32-atom replicas at 60 K for 6 ps (τ = 100 fs), statistics over the last 4 ps.
    The canonical kinetic temperature of one replica fluctuates by T·(2/3N)^½ = 8.7 K; its
    correlation time here is ~50 fs, so 4 ps × 3 replicas hold ~120 independent samples and
    the mean is within ±0.8 K (1σ) of 60 K (six seeds gave means within 58-61 K): a 3 K
    tolerance. The fluctuation itself must be canonical within 25 % (a velocity-rescaling
    thermostat would give ~0, a too-weak one the NVE value)."""
    T0 = 60.0
    s = BatchedMDSettings(ensemble=ensemble, temperature_K=T0, timestep_fs=8.0, steps=750,
                          tdamp_fs=100, traj_stride=5, checkpoint_every=750, dtype="float64",
                          seed=7)
    replicas = [argon(), argon(0.05, seed=2), argon()]
    res = run_batched_md(replicas, lj, s, tmp_path, progress=False)
    rows = thermo(res.thermo)
    temps = np.array([column(rows, "T_K", r)[50:] for r in range(3)])
    assert temps.mean() == pytest.approx(T0, abs=3.0)
    assert temps.std(axis=1).mean() == pytest.approx(T0 * np.sqrt(2 / (3 * 32)), rel=0.25)
    # the replicas are independent: replicas 0 and 2 start alike but get their own velocities
    assert np.abs(temps[0] - temps[2]).max() > 1.0
    # the extended energy (chain / bath heat) is conserved while E_tot is not
    conserved = column(rows, "conserved_eV")
    assert np.ptp(conserved) / 32 < 1e-4
    assert np.ptp(column(rows, "Etot_eV")) / 32 > 5 * np.ptp(conserved) / 32


def test_output_files(lj, tmp_path):
    s = nve(4.0, 20, traj_stride=5, traj_forces=True)
    res = run_batched_md([argon(), argon(0.03, seed=5)], lj, s, tmp_path, progress=False)
    assert [p.name for p in res.trajectories] == ["replica-000.extxyz", "replica-001.extxyz"]
    rows = thermo(res.thermo)
    assert tuple(rows[0]) == THERMO_COLUMNS
    assert [(int(r["step"]), int(r["replica"])) for r in rows] == [
        (step, rep) for step in (0, 5, 10, 15, 20) for rep in (0, 1)]
    for rep, path in enumerate(res.trajectories):
        frames = ase.io.read(path, index=":")
        assert [f.info["step"] for f in frames] == [0, 5, 10, 15, 20]
        assert frames[2].info["time_fs"] == pytest.approx(40.0)
        assert frames[-1].arrays["mlip_forces"].shape == (32, 3)
        assert frames[-1].calc is None  # MLIP predictions are never read back as labels
        assert "batched MD" in frames[0].info["source"]
        for f in frames:  # the frame's energy and temperature agree with the CSV row
            row = next(r for r in rows if int(r["step"]) == f.info["step"]
                       and int(r["replica"]) == rep)
            assert f.info["epot_eV"] == pytest.approx(float(row["Epot_eV"]), abs=1e-8)
            assert f.get_temperature() == pytest.approx(float(row["T_K"]), rel=1e-6)
    assert res.steps_done == 20 and res.atom_steps_per_s > 0 and res.ns_per_day > 0
    assert (tmp_path / "checkpoint.extxyz").exists()
    assert (tmp_path / "checkpoint-state.npz").exists()


@pytest.mark.parametrize("ensemble", ["nve", "nvt", "langevin"])
def test_restart_after_kill_continues_exactly(lj, tmp_path, ensemble):
    """Killed after step 20's checkpoint (frames up to 30 written), resumed to 60: the frames
    after the checkpoint are replaced, the counter is right, and every ensemble (chain state
    and noise generator carried over) ends where an uninterrupted run ends."""
    s = BatchedMDSettings(ensemble=ensemble, temperature_K=40, timestep_fs=8.0, steps=60,
                          traj_stride=10, checkpoint_every=20, dtype="float64", seed=3)
    replicas = [argon(), argon(0.05, seed=1)]
    with pytest.raises(KeyboardInterrupt):
        run_batched_md(replicas, DiesAfter(lj, 36), s, tmp_path / "run", progress=False)
    resumed = run_batched_md(replicas, lj, s, tmp_path / "run", progress=False)
    straight = run_batched_md(replicas, lj, s, tmp_path / "straight", progress=False)
    assert resumed.restarted_from == 20 and resumed.steps_done == 60
    steps = [f.info["step"] for f in ase.io.read(resumed.trajectories[1], index=":")]
    assert steps == [0, 10, 20, 30, 40, 50, 60]
    assert [int(r["step"]) for r in thermo(resumed.thermo)] == [x for x in steps for _ in "ab"]
    assert thermo(resumed.thermo) == thermo(straight.thermo)
    for a, b in zip(resumed.atoms, straight.atoms, strict=True):
        assert np.abs(a.positions - b.positions).max() < 1e-10
    # asking for more steps continues from the end
    longer = run_batched_md(replicas, lj, s.model_copy(update={"steps": 70}),
                            tmp_path / "run", progress=False)
    assert longer.restarted_from == 60 and longer.steps_done == 70


def test_checkpoint_without_its_state_and_an_old_checkpoint(lj, tmp_path, caplog):
    """The checkpoint format of every MD path (md/output.py): without its full-precision state
    file a restart continues from the extxyz (a warning; frames after it dropped, the steps
    right); a batched checkpoint.npz of an older seiflow is an error, never overwritten."""
    s = BatchedMDSettings(ensemble="nvt", temperature_K=40, timestep_fs=8.0, steps=40,
                          traj_stride=10, checkpoint_every=20, dtype="float64", seed=3)
    replicas = [argon(), argon(0.05, seed=1)]
    with pytest.raises(KeyboardInterrupt):
        run_batched_md(replicas, DiesAfter(lj, 26), s, tmp_path / "run", progress=False)
    saved = ase.io.read(tmp_path / "run" / "checkpoint.extxyz", index=":")
    assert [f.info["step"] for f in saved] == [20, 20] and len(saved[1]) == 32
    (tmp_path / "run" / "checkpoint-state.npz").unlink()
    with caplog.at_level("WARNING"):
        res = run_batched_md(replicas, lj, s, tmp_path / "run", progress=False)
    assert "not bit-identically" in caplog.text
    assert res.restarted_from == 20 and res.steps_done == 40
    steps = [f.info["step"] for f in ase.io.read(res.trajectories[0], index=":")]
    assert steps == [0, 10, 20, 30, 40]
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "checkpoint.npz").write_bytes(b"")
    with pytest.raises(SeiflowError, match="older seiflow"):
        run_batched_md(replicas, lj, s, tmp_path / "old", progress=False)


def test_settings_or_structures_changed_in_the_same_folder(lj, tmp_path):
    s = nve(4.0, 10, traj_stride=10)
    run_batched_md([argon()], lj, s, tmp_path, progress=False)
    with pytest.raises(SeiflowError, match="other settings"):
        run_batched_md([argon()], lj, s.model_copy(update={"timestep_fs": 2.0}), tmp_path,
                       progress=False)
    with pytest.raises(SeiflowError, match="other structures"):
        run_batched_md([argon(), argon()], lj, s, tmp_path, progress=False)


def test_device_auto_and_float32_default_run_on_cpu(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    assert resolve_device("auto") == torch.device("cpu")
    s = BatchedMDSettings(ensemble="nve", temperature_K=40, timestep_fs=8.0, steps=50,
                          traj_stride=5, checkpoint_every=50)
    assert s.device == "auto" and s.dtype == "float32"
    res = run_batched_md([argon()], ShiftedForceLJ(dtype=torch.float32), s, tmp_path,
                         progress=False)
    assert res.device.startswith("cpu: ")
    etot = column(thermo(res.thermo), "Etot_eV")
    assert np.ptp(etot) / 32 < 5e-5  # float32 still conserves energy at this scale
    with pytest.raises(SeiflowError, match="no GPU"):
        resolve_device("cuda")


def test_bad_input(lj, tmp_path):
    s = nve(4.0, 2, traj_stride=2)
    with pytest.raises(SeiflowError, match="empty"):
        run_batched_md([], lj, s, tmp_path, progress=False)
    slab = argon()
    slab.pbc = [True, True, False]
    with pytest.raises(SeiflowError, match="replica 1 is not periodic"):
        run_batched_md([argon(), slab], lj, s, tmp_path, progress=False)
    with pytest.raises(SeiflowError, match="not an ASE Atoms"):
        run_batched_md([argon(), "Ar"], lj, s, tmp_path, progress=False)
    with pytest.raises(SeiflowError, match="dtype"):
        run_batched_md([argon()], lj, s.model_copy(update={"dtype": "float32"}), tmp_path,
                       progress=False)
    with pytest.raises(SeiflowError, match="torchsim_model"):
        run_batched_md([argon()], object(), s, tmp_path, progress=False)
    with pytest.raises(ValueError, match="multiple of traj_stride"):
        BatchedMDSettings(steps=10, traj_stride=3, checkpoint_every=10)
    with pytest.raises(ValueError, match="ensemble"):
        BatchedMDSettings(steps=10, ensemble="npt")
    with pytest.raises(ValueError, match="extra"):
        BatchedMDSettings(steps=10, timestep=1.0)


def test_device_neighbor_list_matches_ase():
    """The on-device neighbour list finds the same pairs and distances as ASE's."""
    from ase.neighborlist import neighbor_list

    atoms = argon(0.2, seed=9)
    pos = torch.tensor(atoms.positions, dtype=torch.float32)
    cell = torch.tensor(atoms.cell.array, dtype=torch.float32)
    (i, j), shifts = device_neighbor_list(pos, cell, True, torch.tensor(6.0))
    assert shifts.dtype == torch.float32
    d = (pos[j] + shifts @ cell - pos[i]).norm(dim=1).numpy()
    ai, aj, ad = neighbor_list("ijd", atoms, 6.0)
    assert len(d) == len(ad)
    assert np.allclose(np.sort(d), np.sort(ad), atol=1e-4)


# ---------------------------------------------------------------- a real (tiny) MACE

def tiny_mace():
    from mace import modules  # first: it lets e3nn 0.4.4 load its constants under torch 2.13
    from e3nn import o3

    torch.manual_seed(0)
    block = modules.interaction_classes["RealAgnosticResidualInteractionBlock"]
    return modules.ScaleShiftMACE(
        r_max=4.0, num_bessel=6, num_polynomial_cutoff=5, max_ell=1,
        interaction_cls=block, interaction_cls_first=block, num_interactions=2,
        num_elements=2, hidden_irreps=o3.Irreps("8x0e+8x1o"), MLP_irreps=o3.Irreps("8x0e"),
        atomic_energies=np.array([-1.9, -4.9]), avg_num_neighbors=12.0,
        atomic_numbers=[3, 8], correlation=2, gate=torch.nn.functional.silu,
        atomic_inter_scale=0.5, atomic_inter_shift=0.0)


def test_mace_through_torchsim_conserves_energy_and_batches(tmp_path):
    """A 2-species ScaleShiftMACE (random weights) through torch-sim's MaceModel on the CPU:
    NVE conserves energy and two replicas batched follow their single-run trajectories."""
    from torch_sim.models.mace import MaceModel

    model = MaceModel(tiny_mace(), device=torch.device("cpu"), dtype=torch.float64,
                      compute_stress=False, neighbor_list_fn=device_neighbor_list)
    li2o = bulk("Li2O", "fluorite", a=4.62, cubic=True)  # 12 atoms
    replicas = [li2o.copy(), li2o.copy()]
    replicas[1].rattle(0.05, seed=2)
    for r, atoms in enumerate(replicas):
        thermalize_momenta(atoms, 300, rng=np.random.default_rng(r))
        Stationary(atoms)
    s = BatchedMDSettings(ensemble="nve", temperature_K=300, timestep_fs=0.5, steps=40,
                          traj_stride=2, checkpoint_every=40, dtype="float64",
                          init_velocities=False)
    batch = run_batched_md(replicas, model, s, tmp_path / "batch", progress=False)
    rows = thermo(batch.thermo)
    for r in range(2):
        etot, ekin = column(rows, "Etot_eV", r), column(rows, "Ekin_eV", r)
        assert np.ptp(ekin) > 20 * np.ptp(etot)  # energy flows, the total stays
        assert np.ptp(etot) / 12 < 1e-4
    alone = run_batched_md(replicas[1:], model, s, tmp_path / "alone", progress=False)
    assert np.abs(alone.atoms[0].positions - batch.atoms[1].positions).max() < 1e-9
    assert alone.atoms[0].get_potential_energy() == pytest.approx(
        batch.atoms[1].get_potential_energy(), abs=1e-9)
