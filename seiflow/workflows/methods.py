"""What a property is computed with: a trained potential (a model folder, or a `seiflow learn`
run folder: its final model) or a reference labeler by name. Both become a calculator factory
(``properties.base.CalcFactory``: a fresh ASE calculator per structure), so every property
code runs the same way with either.

``seiflow validate`` uses both (the potential and its reference, side by side); the
single-property commands (`seiflow eos`, `phonons`, ...) use one, given as a ``MethodSpec``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ase import Atoms
from pydantic import Field, field_validator, model_validator

from seiflow.core.config import StrictModel
from seiflow.core.fingerprint import file_fingerprint
from seiflow.potentials.base import check_species, read_model_json
from seiflow.potentials.mtp.fit import LIMITS
from seiflow.potentials.registry import load_potential
from seiflow.reference import LabelerSettings
from seiflow.workflows.properties.spec import digest
from seiflow.workflows.run import Run


def model_digest(model: Path) -> str:
    """Hash of every file of a model folder: results of another model are never reused."""
    files = sorted(p for p in Path(model).rglob("*") if p.is_file())
    return digest(*(f"{p.relative_to(model)}:{file_fingerprint(p)}"
                     for p in files))


def model_label(model: Path) -> str:
    """The backend (and MTP level) of a model folder, e.g. ``MTP level 16``."""
    meta = read_model_json(model)
    level = f" level {meta['level']}" if "level" in meta else ""
    return f"{meta['backend'].upper()}{level}"


def fit_state(model: Path) -> dict:
    """How a model folder's fit ended: ``stop`` (the reason, None if unrecorded) and
    ``converged`` (True / False where the backend records it, else None); a committee is
    converged only if every member (a sub-folder named in ``members``) is."""
    meta = read_model_json(model)
    if isinstance(meta.get("members"), list):
        states = [fit_state(Path(model) / name) for name in meta["members"]]
    else:
        training = meta.get("training") or {}
        converged = training.get("converged")
        if converged is None and training.get("stop") in LIMITS:  # saved before it was kept
            converged = False
        states = [{"stop": training.get("stop"), "converged": converged}]
    flags = [s["converged"] for s in states]
    return {"stop": "; ".join(sorted({str(s["stop"]) for s in states if s["stop"]})) or None,
            "converged": None if None in flags else all(flags)}


def fit_sentence(state: dict) -> str:
    """One sentence on ``fit_state`` for reports; loud when the fit did not converge."""
    if state["converged"] is False:
        return (f"THE MODEL'S FIT DID NOT CONVERGE (stopped: {state['stop']}): its properties "
                "are those of an unfinished fit; refit to convergence before quoting them.")
    if state["converged"]:
        return f"The model's fit converged ({state['stop']})."
    return f"The model's fit stopped: {state['stop'] or 'not recorded'}."


def labeler_label(labeler) -> str:
    return getattr(labeler, "method", None) or labeler.name


def labeler_identity(labeler) -> str:
    return f"{labeler.name}:{labeler.settings_hash()}"


def graded_calculator(potential, seen: Callable[[float], None]):
    """The potential's calculator, telling ``seen`` the grade γ (the largest per-atom
    extrapolation grade; a committee's force spread where that is its grade) of every
    evaluation. The one place that knows how a backend reports γ (``results["gamma"]``)."""
    calc = potential.calculator(grade=True)
    calculate = calc.calculate

    def graded(*args, **kwargs):
        calculate(*args, **kwargs)
        if "gamma" in calc.results:
            seen(float(calc.results["gamma"]))

    calc.calculate = graded
    return calc


class GradedFactory:
    """Calculators of the potential, grading every structure: ``max_gamma()`` is the largest
    extrapolation grade among the final states of everything computed since the last call,
    ``take_run_gamma()`` the largest met at any step (MD, optimizer, NEB band) since its last
    call."""

    def __init__(self, model: Path, identity: str):
        self.potential = load_potential(model)
        self.identity = identity
        self._calcs: list = []
        self._run_gamma: float | None = None

    def _seen(self, gamma: float) -> None:
        self._run_gamma = gamma if self._run_gamma is None else max(self._run_gamma, gamma)

    def __call__(self, atoms: Atoms):
        calc = graded_calculator(self.potential, self._seen)
        self._calcs.append(calc)
        return calc

    def max_gamma(self) -> float | None:
        values = [c.results["gamma"] for c in self._calcs if "gamma" in c.results]
        self._calcs.clear()
        return float(max(values)) if values else None

    def take_run_gamma(self) -> float | None:
        gamma, self._run_gamma = self._run_gamma, None
        return gamma


class ReferenceFactory:
    """Calculators of the reference labeler (its ``check`` first: a cell it cannot treat is
    refused with its reason)."""

    def __init__(self, labeler, identity: str):
        self.labeler = labeler
        self.identity = identity

    def __call__(self, atoms: Atoms):
        self.labeler.check(atoms)
        return self.labeler.calculator(atoms)


class MethodSpec(StrictModel):
    """One method: a ``model`` folder or a ``labeler`` (its settings, ``name`` first)."""

    model: Path | None = Field(None, description="potential folder (seiflow train / learn), "
                               "or a `seiflow learn` run folder: its final model")
    labeler: LabelerSettings | None = Field(None, description="reference labeler settings")

    @field_validator("model")
    @classmethod
    def _final_model_of_a_run(cls, v: Path | None) -> Path | None:
        return Run(v).final_model() if v is not None and Run.is_run(v) else v

    @model_validator(mode="after")
    def _one(self):
        if (self.model is None) == (self.labeler is None):
            raise ValueError("give exactly one of a model folder or a labeler")
        return self

    def factory(self) -> GradedFactory | ReferenceFactory:
        if self.model is not None:
            return GradedFactory(self.model, model_digest(self.model))
        return ReferenceFactory(self.labeler, labeler_identity(self.labeler))

    @property
    def label(self) -> str:
        return model_label(self.model) if self.model is not None else \
            labeler_label(self.labeler)

    def check(self, atoms: Atoms) -> None:
        """Refuse a structure the method cannot treat: an element the model was not trained
        on, or what the labeler's own check refuses (EMT's elements, thin cells for xTB)."""
        if self.model is not None:
            species = tuple(read_model_json(self.model)["species"])
            check_species(atoms, species, f"the model {self.model}")
        else:
            self.labeler.check(atoms)
