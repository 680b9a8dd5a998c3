"""The single calculations a crystal property is made of: plan → calculations → assemble.

A property (lattice/EOS, elastic constants, phonons, and the crystal relaxation they start
from) is a generator of *steps* (``Steps``): it first *plans* its independent calculations —
each a ``Calc``: one structure, relaxed (``kind="relax"``, keyword arguments of
``base.relax``) or computed once (``kind="point"``) — yields the list, receives what a
*runner* made of it (a ``Relaxed`` per calculation, in order), may plan a second stage from that
(the EOS volumes of the relaxed cell), and returns the *assembled* result; ``drive`` runs the
steps with one runner. The runner decides where calculations run:

- ``serial(factory)`` runs them one after another in this process (the potential's side of
  ``seiflow validate``, and the single-property commands), stopping at the first failure;
- ``seiflow.workflows.fanout.EngineRunner`` sends each to the execution engine as its own task
  and keeps every finished one on disk, keyed by ``calc_key`` (the reference's side of
  ``seiflow validate``: many expensive calculations at once, and a killed run redoes none).

Either way a calculation is the same ``Calc.run``, so the numbers do not depend on the runner.
``outcome_to_dict`` / ``outcome_from_dict`` carry a result through JSON without losing a bit.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator

from seiflow.core.fingerprint import Fingerprint, canonical_json
from seiflow.core.progress import progress_bar
from seiflow.workflows.properties.base import (
    CalcFactory,
    Relaxed,
    check_sane,
    relax,
    single_point,
)


@dataclass(frozen=True)
class Calc:
    """One independent calculation. ``kind``: "relax" (``base.relax`` with ``options``) or
    "point" (one single point; ``options``: ``stress`` to compute it, ``check`` to refuse an
    exploded structure first). ``what`` names it in messages and records."""

    kind: str
    atoms: Atoms
    what: str
    options: dict[str, Any] = field(default_factory=dict)

    def run(self, factory: CalcFactory) -> Relaxed:
        """The calculation with ``factory``; a failure raises PropertyFailed."""
        if self.kind == "relax":
            return relax(self.atoms, factory, what=self.what, **self.options)
        if self.kind != "point":
            raise ValueError(f"unknown calculation kind {self.kind!r}")
        if self.options.get("check"):
            check_sane(self.atoms, what=self.what)
        out = single_point(self.atoms, factory, stress=self.options.get("stress", True))
        forces = out.get_forces()
        return Relaxed(out, float(out.get_potential_energy()), 0,
                       float(np.linalg.norm(forces, axis=1).max()) if len(out) else 0.0, 0.0)


class CalculationCrashed(RuntimeError):
    """A calculation's engine task raised something other than a physics failure (after the
    engine's retries); nothing was kept, so a rerun tries it again."""


Runner = Callable[[list[Calc]], list[Relaxed]]
Steps = Generator[list[Calc], list[Relaxed], Any]  # yields calculations, returns the result


def drive(steps: Steps, runner: Runner):
    """The result of ``steps``, each stage's calculations computed by ``runner``."""
    try:
        calcs = next(steps)
        while True:
            calcs = steps.send(runner(calcs))
    except StopIteration as stop:
        return stop.value


def serial(factory: CalcFactory, progress: bool = False, label: str = "calculations") -> Runner:
    """A runner computing the calculations in order in this process (the first failure
    raises, so nothing after it is computed)."""

    def run(calcs: list[Calc]) -> list[Relaxed]:
        out = []
        with progress_bar(progress) as bar:
            task = bar.add_task(label, total=len(calcs))
            for calc in calcs:
                out.append(calc.run(factory))
                bar.advance(task)
        return out

    return run


def structure_hash(atoms: Atoms) -> str:
    """Fingerprint of what a calculation sees of a structure: numbers, positions, cell, pbc,
    constraints (the exact float64 bits)."""
    constraints = canonical_json([repr(c) for c in atoms.constraints])
    return Fingerprint(np.asarray(atoms.numbers, dtype=np.int64),
                       np.asarray(atoms.positions, dtype=np.float64),
                       np.asarray(atoms.cell.array, dtype=np.float64),
                       np.asarray(atoms.pbc, dtype=np.int8), constraints).hex()


def calc_key(calc: Calc, method_id: str) -> str:
    """The calculation's cache key: (method settings hash, structure hash, kind and options)."""
    kind = canonical_json({"kind": calc.kind, "options": calc.options})
    return Fingerprint(method_id, "\n", structure_hash(calc.atoms), "\n", kind).hex()


def _floats(a) -> list:
    return np.asarray(a, dtype=float).tolist()  # Python floats: JSON keeps every bit


def outcome_to_dict(res: Relaxed) -> dict:
    """A calculation's result as JSON-ready data (``outcome_from_dict`` reads it back)."""
    atoms = res.atoms
    data = {"status": "ok", "cell_A": _floats(atoms.cell.array),
            "positions_A": _floats(atoms.positions), "energy_eV": res.energy,
            "forces_eV_A": _floats(atoms.get_forces()), "steps": res.steps,
            "fmax_eV_A": res.fmax, "max_stress_GPa": res.max_stress}
    if "stress" in atoms.calc.results:
        data["stress_eV_A3"] = _floats(atoms.calc.results["stress"])
    return data


def outcome_from_dict(calc: Calc, data: dict) -> Relaxed:
    """The ``Relaxed`` of ``calc`` from ``outcome_to_dict``'s data: the calculation's own
    structure (numbers, info, constraints) with the computed cell, positions and results."""
    out = calc.atoms.copy()
    out.calc = None
    out.set_cell(np.array(data["cell_A"]), scale_atoms=False)
    out.positions = np.array(data["positions_A"])
    results = {"energy": data["energy_eV"], "forces": np.array(data["forces_eV_A"])}
    if "stress_eV_A3" in data:
        results["stress"] = np.array(data["stress_eV_A3"])
    out.calc = SinglePointCalculator(out, **results)
    return Relaxed(out, data["energy_eV"], int(data["steps"]), data["fmax_eV_A"],
                   data["max_stress_GPa"])
