"""What the validation suite needs to know about a property: one class per property, registered
with one line in ``properties/registry.py``.

A property class names its result type (``to_dict`` / ``from_dict`` / ``scalars``), the config
fields that hold its targets and its settings, and says how to compute it with a calculator
factory (the potential's or the reference's; the suite runs it once with each), how the two
outcomes become table rows, and which figure overlays them. Targets of one kind (crystals, NEB
paths, interfaces, MD cells) share a ``TargetKind``: how a target is named, which structures
the model must know, and a start every property of the target shares (a crystal's relaxation).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from ase import Atoms

from seiflow.analysis.comparison import ComparisonRow, compare
from seiflow.core.config import StrictModel
from seiflow.core.fingerprint import fingerprint
from seiflow.workflows.properties.base import CalcFactory, Relaxed
from seiflow.workflows.properties.calcs import Calc, Runner, Steps, drive, serial


def digest(*parts: str) -> str:
    return fingerprint("\n".join(parts))


def settings_identity(method_id: str, *settings: StrictModel) -> str:
    """What a result depends on: the model or reference settings, and the settings used."""
    return digest(method_id, *(s.model_dump_json() for s in settings))


@dataclass
class Context:
    """What a calculation sees besides its target: the suite's config, the calculator factory
    of one method (``identity``: hash of the model or of the reference settings), the method
    ("potential" or "reference"), the run folder, and the runner of a property's single
    calculations (``calcs.py``; None: one after another with ``factory``, in this process)."""

    cfg: Any  # ValidateConfig (workflows.validate imports this module, not the reverse)
    factory: CalcFactory
    method: str
    out_dir: Path
    runner: Runner | None = None

    def run(self, calcs: list[Calc], label: str = "calculations") -> list[Relaxed]:
        """The results of ``calcs``, in order, from this context's runner."""
        return (self.runner or serial(self.factory, label=label))(calcs)


def _own_key(target) -> str:
    return target.key


def _own_cell(target) -> list[Atoms]:
    return [target.cell()]


@dataclass(frozen=True)
class TargetKind:
    """A kind of target: ``field`` is the config list holding them (``phases``, ``neb``...).

    ``key(target)`` names the target's folder and table rows; ``structures(target)`` are the
    structures whose elements the model must know; ``prepare(target, ctx)`` (optional) gives the
    start shared by every property of a target, computed at most once per target and method
    (a PropertyFailed there fails every property of the target with that reason).
    ``fans_out``: its properties (and ``prepare``) are made of single calculations run by
    ``Context.run`` (``calcs.py``), which the suite sends through the execution engine for the
    reference, one task each."""

    field: str
    key: Callable[[Any], str] = _own_key
    structures: Callable[[Any], list[Atoms]] = _own_cell
    prepare: Callable[[Any, Context], Any] | None = None
    fans_out: bool = False


class ValidationProperty:
    """Base of every property of the suite; subclasses set the class attributes and
    ``compute``. Methods are class methods: a property has no state of its own."""

    name: ClassVar[str]  # file stem <target>/<name>.<method>.json and the table's "property"
    targets: ClassVar[TargetKind]
    settings_field: ClassVar[str]  # the config field holding its settings
    result: ClassVar[type]  # with to_dict(), from_dict(d), scalars() -> {name: (value, unit)}

    @classmethod
    def settings(cls, cfg) -> StrictModel:
        return getattr(cfg, cls.settings_field)

    @classmethod
    def identity_settings(cls, cfg, target) -> tuple[StrictModel, ...]:
        """Everything a result depends on besides the method: a changed one recomputes it."""
        return (target, cls.settings(cfg))

    @classmethod
    def compute(cls, target, ctx: Context, start: Any):
        """The result for ``target`` with ``ctx.factory`` (``start``: the kind's ``prepare``);
        by default ``steps`` driven by the context's runner."""
        return drive(cls.steps(target, ctx, start), ctx.run)

    @classmethod
    def steps(cls, target, ctx: Context, start: Any) -> Steps:
        """A property made of single calculations (``calcs.py``) gives them as steps; the suite
        then runs the stages of a target's properties together. Otherwise: ``compute``."""
        raise NotImplementedError

    @classmethod
    def scalars(cls, result, outcome: dict) -> dict[str, tuple[float, str]]:
        """Table quantities of an "ok" outcome (``outcome``: its result file's content)."""
        return result.scalars()

    @classmethod
    def rows(cls, key: str, outcomes: dict[str, dict], cfg) -> list[ComparisonRow]:
        """Table rows from the outcomes of both methods (a failed side says so)."""
        return compare(key, cls.name, outcomes)

    @classmethod
    def figure(cls, data: dict[str, dict], path: Path) -> bool:
        """Write the overlay of ``data`` ({method label: result dict}) to ``path``; False when
        the property has no figure."""
        return False


def run_gamma(factory) -> float | None:
    """The largest grade γ the factory's calculators met since the last call (None for an
    ungraded factory, such as the reference's)."""
    take = getattr(factory, "take_run_gamma", None)
    return take() if take is not None else None


def outcome_gamma(outcome: dict | None) -> float | None:
    """The largest γ met along a potential's calculation, from its result file (files written
    before this was recorded give the largest among the final structures)."""
    if not outcome:
        return None
    gamma = outcome.get("max_gamma_run")
    return outcome.get("max_gamma") if gamma is None else gamma
