"""Batched molecular dynamics on a GPU (or the CPU) through torch-sim.

Many replicas (e.g. 100 cells of 144 atoms) or one large cell (1,440 atoms) advance together in
one torch-sim ``MDState``: torch-sim concatenates the systems, so one model call per step
evaluates all of them. Ensembles: NVE (velocity Verlet), NVT with a Nosé–Hoover chain per
replica (as in Li et al., Mater. Horiz. 2025: 0.5 fs, τ = 100 fs) and Langevin (BAOAB,
friction 1/τ). float32 by default; device "auto" is CUDA when torch sees a GPU, else the CPU.

Why the step loop is ours and not ``torch_sim.integrate``: ``integrate`` starts from fresh
momenta every call (no restart), offers no hook for checkpoints or our per-replica extxyz/CSV
output, and seeds Langevin noise from torch's global generator. We reuse torch-sim's state
(``MDState``), its models and its velocity-Verlet pieces (``momentum_step``, ``position_step``,
``velocity_verlet``), and write the thermostats here because torch-sim 0.3.0's
``nvt_nose_hoover`` keeps one chain for the whole batch and fails for more than one system.

Units are torch-sim's "metal" units, the same as ASE's: Å, eV, amu, time in Å·(amu/eV)^½
(1 fs = ``ase.units.fs`` ≈ 0.0982), temperature as kT in eV. The temperature of a replica is
2·E_kin / (3N k_B), as in ASE and torch-sim (no correction for the removed centre-of-mass
motion); the Nosé–Hoover chain uses the same 3N degrees of freedom.

Outputs in ``out_dir`` (md/output.py, the writer of every MD path): ``replica-NNN.extxyz``
(positions wrapped into the cell, momenta, cell, optionally the model's forces as
``mlip_forces``; ``info`` holds step, time_fs and epot_eV, as in ``seiflow md``) every
``traj_stride`` steps, ``thermo.csv`` (one row per replica and frame), ``checkpoint.extxyz``
with ``checkpoint-state.npz``; ``seiflow md-batched`` adds its run summary.
With a gradable seiflow model (an active set), every frame written is graded: ``info["gamma"]``
is its largest per-atom extrapolation grade, and the result and summary hold each replica's
largest γ (md/gamma.py's watch; batched MD records γ, it does not stop a replica).

Restart: calling ``run_batched_md`` again on a folder that holds a checkpoint of the same
settings (``steps`` and ``device`` may differ) continues from it: positions, momenta, cells,
the step counter, the Nosé–Hoover chain variables and the Langevin random-generator state all
carry over, so on one device an interrupted run continues exactly as an uninterrupted one
(the tests check this to 1e-10 Å). What does not carry over: frames and CSV rows written after
the checkpoint (dropped), wall time, and the Langevin random stream when the device type
changes between runs (a CPU generator state cannot seed a CUDA generator; the noise is then
reseeded from (seed, step), which continues the same ensemble but not the same trajectory).
"""

from __future__ import annotations

import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Literal, Protocol, runtime_checkable

import numpy as np
import torch
from ase import Atoms, units
from ase.calculators.singlepoint import SinglePointCalculator
from pydantic import Field
from torch_sim.integrators.md import MDState
from torch_sim.models.interface import ModelInterface

from seiflow.core.errors import SeiflowError
from seiflow.md.gamma import frame_grader
from seiflow.md.integrators import _NVE, _evaluate, _integrator, _kinetic
from seiflow.md.loop import drive
from seiflow.md.output import MDOutput, replica_names
from seiflow.md.settings import MDCommon
from seiflow.potentials.torch_neighbours import device_neighbor_list


class BatchedMDSettings(MDCommon):
    """Batched MD (torch-sim): the shared settings (md/settings.py) plus device and dtype.
    Ensembles: nve (velocity Verlet), nvt (a Nosé–Hoover chain of 3 links per replica),
    langevin (BAOAB with friction 1/tdamp_fs)."""

    NOT_KEYED: ClassVar[frozenset[str]] = frozenset({"steps", "device"})
    ENSEMBLES: ClassVar[tuple[str, ...]] = ("nve", "nvt", "langevin")
    RAMPS: ClassVar[bool] = False  # one target temperature (the batched integrators' kT)

    traj_forces: bool = Field(False, description="also write the model's forces (eV/Å) into "
                              "the frames, as the per-atom array mlip_forces")
    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="auto: cuda if torch sees a GPU, else cpu")
    dtype: Literal["float32", "float64"] = "float32"


@runtime_checkable
class TorchSimModelFactory(Protocol):
    """A seiflow model that can hand out a torch-sim model (e.g. seiflow's MACE backend)."""

    def torchsim_model(self, device: torch.device, dtype: torch.dtype,
                       neighbor_list_fn: Callable | None = None) -> ModelInterface: ...


@dataclass
class BatchedMDResult:
    atoms: list[Atoms]  # final structures with momenta, one per replica
    steps_done: int
    restarted_from: int  # step of the checkpoint a restart began at (0: fresh run)
    wall_s: float  # the stepping loop with its output, not the set-up
    atom_steps_per_s: float
    ns_per_day: float
    device: str
    trajectories: list[Path]
    thermo: Path
    max_gamma: list[float] | None = None  # per replica, over its frames (None: not graded)


# ---------------------------------------------------------------- device, model, neighbours

def resolve_device(name: str) -> torch.device:
    """The torch device for "auto" (cuda if available, else cpu), "cpu" or "cuda" (an error
    without a GPU)."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise SeiflowError("device 'cuda' asked for, but torch sees no GPU (torch "
                           f"{torch.__version__}); use device 'auto' or 'cpu'")
    return torch.device(name)


def device_name(device: torch.device) -> str:
    """'cuda: <GPU name>' or 'cpu: <CPU model>'."""
    if device.type == "cuda":
        return f"cuda: {torch.cuda.get_device_name(device)}"
    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")),
                       cpu)
    except OSError:
        pass
    return f"cpu: {cpu}"


def _torchsim_model(model, device: torch.device, dtype: torch.dtype,
                    settings: BatchedMDSettings) -> ModelInterface:
    if isinstance(model, ModelInterface):
        mdev = torch.device(model.device)
        if settings.device != "auto" and mdev.type != device.type:
            raise SeiflowError(f"the model lives on {mdev.type} but settings ask for "
                               f"device {settings.device!r}; build the model there or use "
                               "device 'auto'")
        if model.dtype != dtype:
            raise SeiflowError(f"the model computes in {model.dtype} but settings ask for "
                               f"dtype {settings.dtype!r}; make them agree")
        ts_model = model
    elif isinstance(model, TorchSimModelFactory):
        ts_model = model.torchsim_model(device, dtype, neighbor_list_fn=device_neighbor_list)
    else:
        raise SeiflowError(f"cannot run batched MD with a {type(model).__name__}: give a "
                           "torch-sim ModelInterface or a model with torchsim_model(device, "
                           "dtype)")
    if not ts_model.compute_forces:
        raise SeiflowError("the torch-sim model does not compute forces (compute_forces=False)")
    return ts_model


# ---------------------------------------------------------------- structures and state

def _check_structures(structures: Sequence[Atoms]) -> list[Atoms]:
    if isinstance(structures, Atoms):
        structures = [structures]
    structures = list(structures)
    if not structures:
        raise SeiflowError("batched MD needs at least one structure; the list is empty")
    for r, atoms in enumerate(structures):
        if not isinstance(atoms, Atoms):
            raise SeiflowError(f"replica {r} is a {type(atoms).__name__}, not an ASE Atoms")
        if len(atoms) == 0:
            raise SeiflowError(f"replica {r} has no atoms")
        if not atoms.pbc.all():
            raise SeiflowError(f"replica {r} is not periodic in all three directions (pbc="
                               f"{atoms.pbc.tolist()}): torch-sim takes one periodicity flag "
                               "for the whole batch, and batched MD needs bulk cells; run "
                               "molecules and slabs with seiflow.md.run_md")
        if abs(atoms.cell.volume) < 1e-6:
            raise SeiflowError(f"replica {r} has a degenerate cell (volume "
                               f"{atoms.cell.volume:.3g} Å³)")
    return structures


def _maxwell_boltzmann(structures: list[Atoms], temperature_K: float, seed: int) -> None:
    """Set seeded Maxwell–Boltzmann momenta on each replica (zero total momentum). Drawn on the
    CPU per replica, so the same seed gives the same start on any device and batch size."""
    for r, atoms in enumerate(structures):
        rng = np.random.default_rng([seed, r])
        m = atoms.get_masses()[:, None]
        p = rng.standard_normal((len(atoms), 3)) * np.sqrt(m * units.kB * temperature_K)
        if len(atoms) > 1:
            p -= m * p.sum(axis=0) / m.sum()
        atoms.set_momenta(p, apply_constraint=False)


def _state(structures: list[Atoms], device: torch.device, dtype: torch.dtype) -> MDState:
    """An MDState of all replicas (energy and forces still zero)."""
    def cat(arrays, dt=dtype):
        return torch.as_tensor(np.concatenate(arrays), dtype=dt, device=device)

    counts = torch.as_tensor([len(a) for a in structures], device=device)
    positions = cat([a.positions for a in structures])
    return MDState(
        positions=positions,
        momenta=cat([a.get_momenta() for a in structures]),
        energy=torch.zeros(len(structures), dtype=dtype, device=device),
        forces=torch.zeros_like(positions),
        masses=cat([a.get_masses() for a in structures]),
        cell=torch.as_tensor(np.stack([a.cell.array.T for a in structures]), dtype=dtype,
                             device=device),  # torch-sim keeps cell vectors as columns
        pbc=True,
        atomic_numbers=cat([a.numbers for a in structures], torch.int64),
        system_idx=torch.repeat_interleave(torch.arange(len(structures), device=device),
                                           counts),
    )


# ---------------------------------------------------------------- output and checkpoints

def _frames(state: MDState, structures: list[Atoms], step: int, dt_fs: float,
            forces: bool) -> list[Atoms]:
    """The current state as one Atoms per replica, for trajectories and the result."""
    pos = state.positions.detach().cpu().double().numpy()
    mom = state.momenta.detach().cpu().double().numpy()
    cell = state.cell.detach().cpu().double().numpy()
    energy = state.energy.detach().cpu().double().numpy()
    frc = state.forces.detach().cpu().double().numpy() if forces else None
    out, start = [], 0
    for r, ref in enumerate(structures):
        sl = slice(start, start + len(ref))
        start = sl.stop
        atoms = Atoms(ref.numbers, positions=pos[sl], cell=cell[r].T, pbc=True)
        if "masses" in ref.arrays:  # custom masses only; default ones are not written
            atoms.set_masses(ref.get_masses())
        atoms.set_momenta(mom[sl], apply_constraint=False)
        atoms.info.update({k: v for k, v in ref.info.items()
                           if isinstance(v, str | int | float | bool)})
        atoms.info.update(step=step, time_fs=round(step * dt_fs, 6),
                          source=f"seiflow batched MD replica {r} from: "
                                 f"{ref.info.get('source', 'input structure')}")
        atoms.calc = SinglePointCalculator(atoms, energy=float(energy[r]),
                                           forces=None if frc is None else frc[sl])
        out.append(atoms)
    return out


def _thermo_rows(state: MDState, integ: _NVE, n: int, step: int, dt_fs: float,
                 target_K: float | None) -> list[list]:
    ekin = _kinetic(state, n)
    temp = 2 * ekin / (integ.dof * units.kB)
    etot = state.energy + ekin
    conserved = etot + integ.extra_energy(state)
    cols = torch.stack([temp, state.energy, ekin, etot, conserved]).detach().cpu().double()
    volumes = torch.linalg.det(state.cell).abs().detach().cpu().double().tolist()
    return [[step, round(step * dt_fs, 6), r, *(f"{v:.10g}" for v in cols[:, r].tolist()),
             f"{volumes[r]:.8g}", "",  # no stress: no pressure
             "" if target_K is None else f"{target_K:.10g}"] for r in range(n)]


class TorchIntegrator:
    """The batched integrator (md/integrators.py) over all replicas of one torch-sim
    ``MDState``, as an integrator backend of the MD loop (md/loop.py)."""

    def __init__(self, md: MDState, integ: _NVE, structures: list[Atoms],
                 settings: BatchedMDSettings):
        self.md, self.integ, self.structures, self.settings = md, integ, structures, settings

    def run(self, n: int) -> None:
        for _ in range(n):
            self.md = self.integ.step(self.md)

    def finite(self) -> bool:
        return bool(torch.isfinite(self.md.positions).all()
                    and torch.isfinite(self.md.momenta).all())

    def frames(self, step: int) -> list[Atoms]:
        """Trajectory frames with the ASE backend's contents: the potential energy as
        ``info["epot_eV"]`` and no calculator (so a frame read back is never taken for a
        label); with ``traj_forces`` the model's forces as ``arrays["mlip_forces"]`` (eV/Å)."""
        frames = _frames(self.md, self.structures, step, self.settings.timestep_fs,
                         self.settings.traj_forces)
        for atoms in frames:
            atoms.info["epot_eV"] = atoms.calc.results["energy"]
            if self.settings.traj_forces:
                atoms.arrays["mlip_forces"] = atoms.calc.results["forces"]
            atoms.calc = None
        return frames

    def thermo_rows(self, step: int) -> list[list]:
        return _thermo_rows(self.md, self.integ, len(self.structures), step,
                            self.settings.timestep_fs, self.settings.target_K(step))

    def state(self) -> dict[str, np.ndarray]:
        def host(x: torch.Tensor) -> np.ndarray:
            return x.detach().cpu().double().numpy()

        return dict(positions=host(self.md.positions), momenta=host(self.md.momenta),
                    cell=host(self.md.cell.transpose(1, 2)), **self.integ.arrays())


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# ---------------------------------------------------------------- the run

def _start(structures: list[Atoms], settings: BatchedMDSettings, output: MDOutput
           ) -> tuple[int, dict[str, np.ndarray] | None]:
    """Put the checkpoint's state (or fresh velocities) on ``structures``; return the step and
    the integrator's saved variables (None: start it afresh)."""
    ckpt = output.resume(settings.key(), structures)
    if ckpt is not None:
        return ckpt.step, ckpt.restore(structures)
    if settings.init_velocities:
        _maxwell_boltzmann(structures, settings.temperature_K, settings.seed)
    output.fresh()
    return 0, None


def run_batched_md(structures: Sequence[Atoms], model, settings: BatchedMDSettings,
                   out_dir: str | Path, progress: bool = True) -> BatchedMDResult:
    """Run (or resume) MD of all ``structures`` as one batch; see the module docstring."""
    structures = [a.copy() for a in _check_structures(structures)]
    n = len(structures)
    device, dtype = resolve_device(settings.device), getattr(torch, settings.dtype)
    ts_model = _torchsim_model(model, device, dtype, settings)
    output = MDOutput(out_dir, replica_names(n), frame_grader(model))
    start, variables = _start(structures, settings, output)
    state = _evaluate(_state(structures, device, dtype), ts_model)
    integ = _integrator(settings, ts_model, state, n)
    if variables is not None:
        integ.load(variables, start)
    backend = TorchIntegrator(state, integ, structures, settings)
    _sync(device)
    t0 = time.perf_counter()
    step = drive(backend, output, settings, start, progress=progress,
                 what=f"{settings.ensemble.upper()} ×{n} on {device.type}")
    _sync(device)
    wall = time.perf_counter() - t0
    done, dt_fs = step - start, settings.timestep_fs
    result = BatchedMDResult(
        atoms=_frames(backend.md, structures, step, dt_fs, forces=True),
        steps_done=step, restarted_from=start, wall_s=wall,
        atom_steps_per_s=state.n_atoms * done / wall if wall > 0 else 0.0,
        ns_per_day=done * dt_fs * 1e-6 * 86400 / wall if wall > 0 else 0.0,
        device=device_name(device), trajectories=output.trajectories, thermo=output.thermo,
        max_gamma=output.max_gammas())
    return result
