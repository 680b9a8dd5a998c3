"""A committee of potentials: the force disagreement of its members as the extrapolation grade.

n members of one backend are fitted with different seeds, each on its own random subset of the
training frames (query by committee; Seung et al. 1992; for interatomic potentials e.g. DP-GEN,
Zhang et al., Comput. Phys. Commun. 253, 107206 (2020), and Schran et al., J. Chem. Phys. 153,
104105 (2020)). Predictions are the members' mean. For atom i,
σ_i = sqrt(mean_k |F_i^k − F̄_i|²) (eV/Å) is the spread of the members' forces, and the grade
is γ_i = σ_i / σ_ref with a force scale σ_ref (default 0.05 eV/Å): γ_select = 2 and
γ_break = 10 then mean 0.1 and 0.5 eV/Å of disagreement, DP-GEN's usual trust levels.
``force_scale_eV_per_A: null`` calibrates σ_ref instead to the largest σ_i on the training
frames (γ ≤ 1 there, like the MaxVol grade); with poorly converged members that scale is large
and the loop stops too early, so the absolute scale is the default. ``force_std`` (eV/Å) is
reported beside γ, and the training-set spread is recorded in ``model.json``.

Selection: MaxVol needs one row space, so ``rows``/``active_set`` are those of the first
member (MTP basis values, MACE readout features); where the members have none, the candidates
with the largest grades are taken.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes
from pydantic import Field

from seiflow.core.atomic import atomic_write, temporary_path
from seiflow.core.config import StrictModel
from seiflow.core.fingerprint import Fingerprint, canonical_json
from seiflow.core.progress import progress_bar
from seiflow.data.labels import Label
from seiflow.potentials.base import (MODEL_FILE, Gradable, ModelError, Potential, implements,
                                     read_model_json, write_model_json)
from seiflow.potentials.backends import load_potential
from seiflow.potentials.graded import GradedCalculator
from seiflow.potentials.mace.settings import MACESettings
from seiflow.potentials.mtp.settings import MTPSettings


# What a member may be until registry.py rebuilds CommitteeSettings with the settings of
# every registered backend (``member_settings``): a new backend needs no line here.
MemberSettings = Annotated[MTPSettings | MACESettings, Field(discriminator="backend")]


def member_settings(union) -> None:
    """Let committee members be any backend of ``union`` (called by registry.py)."""
    CommitteeSettings.model_fields["member"].annotation = union
    CommitteeSettings.model_rebuild(force=True)


class CommitteeSettings(StrictModel):
    """``size`` members of ``member``'s backend, member k with seed ``seed + k`` on a random
    ``subsample`` of the training frames."""

    backend: Literal["committee"] = "committee"
    member: MemberSettings  # every registered backend but this one (registry.py rebuilds it)
    size: int = Field(4, ge=2, le=16)
    subsample: float = Field(0.9, gt=0, le=1, description="fraction of the training frames "
                             "each member sees (1: all; then only the seeds differ)")
    force_scale_eV_per_A: float | None = Field(
        0.05, gt=0, description="σ_ref of the grade γ = σ_F/σ_ref, eV/Å; null: the largest "
        "spread on the training frames")
    seed: int = 0

    def describe(self) -> str:
        return f"committee of {self.size} × {self.member.describe()}"

    def fit(self, train: Sequence[Atoms], progress: bool = True,
            start: Potential | None = None, checkpoint: Path | None = None,
            engine=None) -> CommitteeModel:
        """Fit every member (continuing from ``start``'s members when given), then measure
        their spread on ``train``. Each member's fit is one task (``fit_member``), sent to
        ``engine`` (any ``seiflow.execution`` Engine; None: one after another here) and saved
        to ``<checkpoint>-members/member-KK`` as soon as it finishes, so a killed committee
        fit redoes only the members that had not finished; member k checkpoints its own fit
        to ``<checkpoint>-k``. Without ``checkpoint`` the members go to a temporary folder."""
        if start is not None and not isinstance(start, CommitteeModel):
            raise ModelError(f"a committee continues from a committee, not a {start.backend} "
                             "model")
        with contextlib.ExitStack() as stack:
            root = Path(f"{checkpoint}-members") if checkpoint is not None else \
                Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="committee-")))
            jobs = self.member_jobs(train, start, root, checkpoint)
            run_members([j for j in jobs if not j.done()], engine, progress)
            committee = CommitteeModel(members=[load_potential(j.folder) for j in jobs])
        spread = committee.training_spread(train)
        committee.force_scale = self.force_scale_eV_per_A or spread["max_eV_per_A"]
        committee.record = {"settings": self.model_dump(mode="json"),
                            "training_force_spread": spread}
        shutil.rmtree(root, ignore_errors=True)  # the fit is complete
        return committee

    def member_jobs(self, train: Sequence[Atoms], start: CommitteeModel | None, root: Path,
                    checkpoint: Path | None) -> list[MemberJob]:
        """Member k's fit: seed ``member.seed + k``, its own random subset of ``train`` (drawn
        in order from ``seed``), ``start``'s member k to continue from."""
        rng = np.random.default_rng(self.seed)
        n_sub = max(2, int(round(self.subsample * len(train))))
        jobs = []
        for k in range(self.size):
            idx = np.sort(rng.choice(len(train), min(n_sub, len(train)), replace=False))
            begin = start.members[k] if start is not None and k < len(start.members) else None
            jobs.append(MemberJob(
                k, self.member.model_copy(update={"seed": self.member.seed + k}),
                [train[i] for i in idx], begin, root / f"member-{k:02d}",
                None if checkpoint is None else Path(f"{checkpoint}-{k}")))
        return jobs


KEY_FILE = "fit-key"  # in a member's folder: what it was fitted from (MemberJob.key)


@dataclass
class MemberJob:
    """One member's fit, as an engine task: its settings, frames, starting model, the folder
    its fitted model is saved to and its own fit checkpoint."""

    index: int
    settings: Any  # the member backend's settings (seed already member k's)
    frames: list[Atoms]
    start: Potential | None
    folder: Path
    checkpoint: Path | None = None
    key: str = ""

    def __post_init__(self):
        if not self.key:
            self.key = member_key(self.settings, self.frames, self.start)

    def done(self) -> bool:
        """Whether the folder holds this very fit (same settings, frames and start)."""
        path = self.folder / KEY_FILE
        return path.exists() and path.read_text() == self.key and \
            (self.folder / MODEL_FILE).exists()


def member_key(settings, frames: Sequence[Atoms], start: Potential | None) -> str:
    """Fingerprint of a member's fit: its settings, its frames with their labels and the
    saved files of the model it starts from (whatever the engine or progress display)."""
    h = Fingerprint(canonical_json(settings.model_dump(mode="json")))
    for atoms in frames:
        label = Label.from_atoms(atoms)
        h.update(atoms.positions, atoms.cell.array, atoms.numbers, repr(label.energy))
        for tag, value in (("forces", label.forces), ("stress", label.stress)):
            if value is not None:
                h.update(tag, value)
    if start is not None:
        with tempfile.TemporaryDirectory(prefix="committee-start-") as tmp:
            start.save(tmp)
            for path in sorted(Path(tmp).rglob("*")):
                if path.is_file():
                    h.update(path.relative_to(tmp).as_posix(), path.read_bytes())
    return h.hex()


def fit_member(job: MemberJob) -> str:
    """Fit one member and save it to ``job.folder`` with its key, whole or not at all (runs as
    an engine task, on a worker with Parsl); returns the folder."""
    model = job.settings.fit(job.frames, progress=False, start=job.start,
                             checkpoint=job.checkpoint)
    tmp = temporary_path(job.folder)
    shutil.rmtree(tmp, ignore_errors=True)
    model.save(tmp)
    atomic_write(tmp / KEY_FILE, job.key)
    shutil.rmtree(job.folder, ignore_errors=True)  # a member of another fit
    os.replace(tmp, job.folder)
    return str(job.folder)


def run_members(jobs: list[MemberJob], engine, progress: bool) -> None:
    """Fit ``jobs``: on ``engine`` (each a task keyed ``member-KK``), else here in order. A
    member that failed on the engine raises ModelError with the engine's error line."""
    if engine is None:
        with progress_bar(progress) as bar:
            task = bar.add_task("committee", total=len(jobs))
            for job in jobs:
                fit_member(job)
                bar.update(task, advance=1)
        return
    records = engine.map(fit_member, jobs, [f"member-{j.index:02d}" for j in jobs])
    failed = [r for r in records if r.status == "error"]
    if failed:
        raise ModelError(f"committee {failed[0].key} failed: {failed[0].error} "
                         f"({len(failed)} of {len(jobs)} members failed; a rerun fits only "
                         "those)")


@dataclass
class CommitteeModel:
    """Members' mean prediction; grade γ_i = σ_i / σ_ref from the spread of their forces."""

    backend: ClassVar[str] = "committee"
    members: list[Potential]
    force_scale: float = 0.05  # σ_ref, eV/Å
    record: dict = field(default_factory=dict)

    def __post_init__(self):
        if len(self.members) < 2:
            raise ModelError("a committee needs at least 2 members")

    @property
    def species(self) -> tuple[str, ...]:
        common = set(self.members[0].species)
        for m in self.members[1:]:
            common &= set(m.species)
        return tuple(s for s in self.members[0].species if s in common)

    @property
    def cutoff(self) -> float:
        return max(m.cutoff for m in self.members)

    @property
    def active_set(self):
        first = self.members[0]
        return first.active_set if implements(first, Gradable) else None

    def rows(self, atoms: Atoms) -> np.ndarray:
        return self.members[0].rows(atoms)

    def member_calculators(self) -> list[Calculator]:
        return [m.calculator(grade=False) for m in self.members]

    def predictions(self, atoms: Atoms, calcs: list[Calculator] | None = None) -> list[dict]:
        """Every member's energy, forces and (periodic cells) stress; ``calcs``: the members'
        calculators to reuse (an MTP calculator keeps its engine between calls)."""
        out = []
        for calc in calcs or self.member_calculators():
            work = atoms.copy()
            work.calc = calc
            res = {"energy": work.get_potential_energy(), "forces": work.get_forces()}
            if work.cell.rank == 3 and work.pbc.all():
                res["stress"] = work.get_stress()
            out.append(res)
        return out

    def force_std(self, atoms: Atoms, preds: list[dict] | None = None) -> np.ndarray:
        """σ_i (eV/Å) of every atom."""
        forces = np.stack([p["forces"] for p in (preds or self.predictions(atoms))])
        return np.sqrt(np.mean(np.sum((forces - forces.mean(0)) ** 2, axis=2), axis=0))

    def training_spread(self, frames: Sequence[Atoms]) -> dict:
        """How much the members disagree on ``frames`` (their training set), eV/Å: the
        median and largest per-frame maximum of σ_i."""
        calcs = self.member_calculators()
        worst = np.array([self.force_std(a, self.predictions(a, calcs)).max() for a in frames])
        if worst.max() <= 0:
            raise ModelError("the committee members agree exactly on their training data: "
                             "they are not independent (give different seeds or subsets)")
        return {"median_frame_max_eV_per_A": float(np.median(worst)),
                "max_eV_per_A": float(worst.max())}

    def grade(self, atoms: Atoms) -> np.ndarray:
        return self.force_std(atoms) / self.force_scale

    def grade_from(self, results: dict) -> np.ndarray:
        """γ_i = σ_i/σ_ref from the ``force_std`` a CommitteeCalculator computed."""
        return results["force_std"] / self.force_scale

    def calculator(self, grade: bool = True) -> Calculator:
        calc = CommitteeCalculator(self)
        return GradedCalculator(self, calc) if grade else calc

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        names = []
        for k, member in enumerate(self.members):
            name = f"member-{k:02d}"
            member.save(path / name)
            names.append(name)
        meta = {"backend": self.backend, "species": list(self.species), "members": names,
                "force_scale_eV_per_A": self.force_scale, **self.record}
        write_model_json(path, meta)
        return path

    @classmethod
    def load(cls, path: str | Path) -> CommitteeModel:
        path = Path(path)
        meta = read_model_json(path)
        if not isinstance(meta.get("members"), list) or "force_scale_eV_per_A" not in meta:
            raise ModelError(f"{path / MODEL_FILE} is corrupt: it lacks 'members' or "
                             "'force_scale_eV_per_A'")
        members = [load_potential(path / name) for name in meta["members"]]
        record = {k: v for k, v in meta.items()
                  if k not in ("backend", "species", "members", "force_scale_eV_per_A")}
        return cls(members=members, force_scale=float(meta["force_scale_eV_per_A"]), record=record)


class CommitteeCalculator(Calculator):
    """Mean energy (eV), forces (eV/Å), stress (eV/Å³); ``force_std`` (eV/Å per atom) and
    ``energy_std`` (eV), from which ``CommitteeModel.grade_from`` grades."""

    implemented_properties = ["energy", "free_energy", "forces", "stress", "force_std",
                              "energy_std"]

    def __init__(self, model: CommitteeModel):
        super().__init__()
        self.model = model
        self.calcs = model.member_calculators()  # made once, reused at every MD step

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        preds = self.model.predictions(self.atoms, self.calcs)
        energies = np.array([p["energy"] for p in preds])
        std = self.model.force_std(self.atoms, preds)
        self.results = {"energy": float(energies.mean()), "free_energy": float(energies.mean()),
                        "forces": np.mean([p["forces"] for p in preds], axis=0),
                        "force_std": std, "energy_std": float(energies.std())}
        if "stress" in preds[0]:
            self.results["stress"] = np.mean([p["stress"] for p in preds], axis=0)
