"""One graded calculator for every gradable backend.

``GradedCalculator(potential, base)`` runs the backend's own calculator ``base`` (which leaves
what the grade needs among its results: MTP basis rows, MACE readout features, a committee's
force spread) and adds the per-atom extrapolation grade ``gammas`` and its maximum ``gamma``
from ``potential.grade_from(base.results)``: grading costs no second evaluation. It also keeps
the largest γ it has computed (``max_gamma``) and how many structures it graded (``n_graded``)
until ``reset()``. The γ thresholds (select, break) are the MD observer's (md/gamma.py).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import numpy as np
from ase.calculators.calculator import Calculator, all_changes

from seiflow.potentials.base import Gradable, ModelError, Potential, geometry_changes

# by-products of a backend calculator that only the grade needs (large; not passed on)
GRADE_INPUTS = ("rows",)
# what every command that expects γ says about a model without an active set (an imported
# MLIP .mtp without its selection state, a folder whose active_set.npz was removed)
NO_ACTIVE_SET = "this model has no active set: no extrapolation grade γ"
ACTIVE_SET_BACKENDS = ("mtp", "mace")  # whose γ is the active set's


def lacks_active_set(potential) -> bool:
    """An MTP or MACE model with no active set to grade with (a committee grades by its
    spread, whatever its first member's active set)."""
    return getattr(potential, "backend", None) in ACTIVE_SET_BACKENDS and \
        getattr(potential, "active_set", None) is None


def warn_if_ungraded(potential, what: str) -> bool:
    """One warning line when ``potential`` should grade but has no active set; True then."""
    if not lacks_active_set(potential):
        return False
    logging.getLogger("seiflow").warning("%s (%s runs without γ)", NO_ACTIVE_SET, what)
    return True


class GradedCalculator(Calculator):
    """``base``'s results plus ``gammas`` (per atom) and ``gamma`` (their maximum)."""

    def __init__(self, potential: Gradable, base: Calculator):
        super().__init__()
        self.potential = potential
        self.base = base
        props = [p for p in base.implemented_properties if p not in ("gamma", "gammas")]
        self.implemented_properties = [*props, "gamma", "gammas"]
        self.reset()

    def reset(self) -> None:
        """Forget the largest γ seen so far."""
        self.max_gamma: float | None = None
        self.n_graded = 0

    def check_state(self, atoms, tol=1e-15):
        return geometry_changes(self.atoms, atoms)

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        props = [p for p in properties if p not in ("gamma", "gammas")] or ["energy"]
        self.base.calculate(self.atoms, props, system_changes)
        self._grade(dict(self.base.results))

    def adopt(self, atoms, res: dict) -> None:
        """Take ``res`` (the base calculator's engine dict for ``atoms``' current state, with the
        rows the grade needs) as the results of that state, graded."""
        self.base.adopt(atoms, res)
        self.atoms = atoms.copy()
        self._grade(dict(self.base.results))

    def _grade(self, results: dict) -> None:
        gammas = np.asarray(self.potential.grade_from(results))
        for key in GRADE_INPUTS:
            results.pop(key, None)
        gamma = float(gammas.max())
        results.update(gammas=gammas, gamma=gamma)
        self.results = results
        self.n_graded += 1
        self.max_gamma = gamma if self.max_gamma is None else max(self.max_gamma, gamma)


def wrapped_chain(calc: Calculator | None) -> Iterator[Calculator]:
    """``calc`` and the calculators it wraps through ``.base`` (e.g. an applied field around a
    GradedCalculator around an MTP), outermost first, at most 16 deep."""
    for _ in range(16):
        if calc is None:
            return
        yield calc
        calc = getattr(calc, "base", None)


def graded_of(calc: Calculator | None) -> GradedCalculator | None:
    """The GradedCalculator ``calc`` is or wraps (through ``.base``, e.g. an applied field)."""
    return next((c for c in wrapped_chain(calc) if isinstance(c, GradedCalculator)), None)


def graded_calculator(potential: Potential) -> GradedCalculator:
    """``potential``'s graded calculator; one error line for a potential that cannot grade."""
    calc = potential.calculator(grade=True)
    if not isinstance(calc, GradedCalculator):
        if lacks_active_set(potential):
            raise ModelError(f"{NO_ACTIVE_SET} ({potential.backend}): MD cannot be graded "
                             "with it")
        raise ModelError(f"this {potential.backend} model has no extrapolation grade (train a "
                         "committee of it to get one): MD cannot be graded with it")
    return calc
