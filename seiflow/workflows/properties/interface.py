"""Surface, interface and adhesion energies of a film/substrate stack (J/m²).

The stack is periodic along c with two interfaces per cell (seiflow's interface builder with
``vacuum: 0``), its atoms flagged by ``arrays["is_film"]``. Each part is cut out of the stack
and given vacuum to make the two slabs; the bulk references are the relaxed bulk phases per
atom. Positions are relaxed at fixed cell in the stack and the slabs (the film keeps the
substrate's in-plane cell, as in the stack). With ``relax: false`` everything is rigid: the bulk
references at the (library) lattices the stack was built from. The five calculations (two
bulks, two slabs, the stack) are independent steps (``calcs.py``): the reference's side of
``seiflow validate`` sends them to the execution engine at once and keeps each as it finishes.
See seiflow.analysis.interfaces for the formulas.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from ase import Atoms
from pydantic import Field

from seiflow.analysis.interfaces import (
    InterfaceEnergies,
    bulk_units,
    interface_area,
    interface_energy,
    surface_energy,
)
from seiflow.core.config import StrictModel
from seiflow.structures.geometry import make_supercell
from seiflow.workflows.properties.base import CalcFactory, PropertyFailed
from seiflow.workflows.properties.calcs import Calc, Runner, Steps, drive, serial
from seiflow.workflows.properties.spec import TargetKind, ValidationProperty


class InterfaceEnergySettings(StrictModel):
    vacuum: float = Field(12.0, gt=0, description="vacuum added over each slab, Å")
    relax: bool = Field(True, description="relax the bulk references (cell and positions) and "
                        "the positions of stack and slabs (cell fixed); false: all rigid, at "
                        "the lattices the stack was built from")
    fmax: float = Field(0.05, gt=0, description="force convergence, eV/Å")
    max_steps: int = Field(300, ge=1)
    bulk_min_width: float = Field(
        8.0, gt=0, description="bulk references are relaxed in supercells at least this wide, Å"
    )


@dataclass
class InterfaceEnergyResult:
    name: str
    formula: str
    area_A2: float
    strain: float  # film's largest principal strain, fraction
    sigma_film_J_m2: float
    sigma_substrate_J_m2: float
    gamma_J_m2: float
    work_of_adhesion_J_m2: float
    bulk_energy_film_eV_atom: float
    bulk_energy_substrate_eV_atom: float
    relax_steps: dict[str, int]

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> InterfaceEnergyResult:
        return cls(**d)

    def scalars(self) -> dict[str, tuple[float, str]]:
        return {
            "interface energy": (self.gamma_J_m2, "J/m²"),
            "work of adhesion": (self.work_of_adhesion_J_m2, "J/m²"),
            "surface energy (film)": (self.sigma_film_J_m2, "J/m²"),
            "surface energy (substrate)": (self.sigma_substrate_J_m2, "J/m²"),
        }


def slab_with_vacuum(part: Atoms, vacuum: float) -> Atoms:
    """``part`` of a c-periodic stack as a slab: made contiguous along c across the periodic
    boundary, centred in a cell whose c is stretched so that ``vacuum`` Å separates the slab
    from its image."""
    out = part.copy()
    frac = out.get_scaled_positions(wrap=True)[:, 2]
    order = np.sort(frac)
    gaps = np.diff(np.append(order, order[0] + 1.0))
    start = order[(np.argmax(gaps) + 1) % len(order)]  # the slab begins after the widest gap
    frac = (frac - start) % 1.0
    c = out.cell[2]
    normal = np.cross(out.cell[0], out.cell[1])
    normal /= np.linalg.norm(normal)
    thickness = float(np.ptp(frac) * abs(c @ normal))
    scaled = out.get_scaled_positions(wrap=True)
    scaled[:, 2] = frac
    out.set_scaled_positions(scaled)
    new_c = c / abs(c @ normal) * (thickness + vacuum)
    pos = out.positions.copy()
    out.set_cell([out.cell[0], out.cell[1], new_c], scale_atoms=False)
    out.positions = pos + new_c * (vacuum / 2) / (thickness + vacuum)
    out.pbc = True
    return out


# the five calculations, in the order they run one after another
PARTS = ("film bulk", "substrate bulk", "film slab", "substrate slab", "stack")


def _calc(part: str, atoms: Atoms, settings: InterfaceEnergySettings) -> Calc:
    """A bulk reference relaxes cell and positions (space group kept); slabs and the stack relax
    positions at fixed cell; with ``relax: false`` each is one single point."""
    what = "interface relaxation" if part == "stack" else f"{part} relaxation"
    if not settings.relax:  # rigid: the bulk at the lattice the stack was built from
        return Calc("point", atoms, what, {"stress": False})
    bulk = part.endswith("bulk")
    return Calc("relax", atoms, what, {"cell": bulk, "symmetry": bulk, "fmax": settings.fmax,
                                       "max_steps": settings.max_steps})


def interface_steps(stack: Atoms, film_bulk: Atoms, substrate_bulk: Atoms,
                    settings: InterfaceEnergySettings) -> Steps:
    """The five independent calculations (``calcs.py`` steps: one stage), then the energies."""
    if "is_film" not in stack.arrays:
        raise PropertyFailed("the interface structure has no is_film flags (build it with "
                             "seiflow's interface builder)")
    is_film = stack.arrays["is_film"].astype(bool)
    film, sub = stack[is_film], stack[~is_film]
    for part, bulk, what in ((film, film_bulk, "film"), (sub, substrate_bulk, "substrate")):
        try:
            bulk_units(part, bulk, what)
        except ValueError as exc:
            raise PropertyFailed(str(exc)) from exc
    cells = dict(zip(PARTS, (make_supercell(film_bulk, settings.bulk_min_width),
                             make_supercell(substrate_bulk, settings.bulk_min_width),
                             slab_with_vacuum(film, settings.vacuum),
                             slab_with_vacuum(sub, settings.vacuum), stack)))
    done = yield [_calc(part, atoms, settings) for part, atoms in cells.items()]
    out = dict(zip(PARTS, done))
    e_film, e_sub = (out[k].energy / len(cells[k]) for k in ("film bulk", "substrate bulk"))
    area = interface_area(stack)
    result = InterfaceEnergies(
        sigma_film=surface_energy(out["film slab"].energy, len(film), e_film, area),
        sigma_substrate=surface_energy(out["substrate slab"].energy, len(sub), e_sub, area),
        gamma_interface=interface_energy(out["stack"].energy,
                                         [(len(film), e_film), (len(sub), e_sub)], area),
    )
    return InterfaceEnergyResult(
        name=str(stack.info.get("name", stack.get_chemical_formula())),
        formula=stack.get_chemical_formula(),
        area_A2=area,
        strain=float(stack.info.get("strain", 0.0)),
        sigma_film_J_m2=result.sigma_film,
        sigma_substrate_J_m2=result.sigma_substrate,
        gamma_J_m2=result.gamma_interface,
        work_of_adhesion_J_m2=result.work_of_adhesion,
        bulk_energy_film_eV_atom=e_film,
        bulk_energy_substrate_eV_atom=e_sub,
        relax_steps={k: r.steps for k, r in out.items()},
    )


def compute_interface_energy(stack: Atoms, film_bulk: Atoms, substrate_bulk: Atoms,
                             factory: CalcFactory, settings: InterfaceEnergySettings,
                             progress: bool = False, runner: Runner | None = None
                             ) -> InterfaceEnergyResult:
    """Interface energy of ``stack`` (periodic, two interfaces, ``arrays["is_film"]``), the
    surface energies of its two parts and the work of adhesion, all in J/m²; the calculations
    by ``runner`` (default: one after another here)."""
    return drive(interface_steps(stack, film_bulk, substrate_bulk, settings),
                 runner or serial(factory, progress, "interface energies"))


def _interface_bulks(spec) -> list[Atoms]:
    from seiflow.structures.library import get_phase

    return [get_phase(spec.film), get_phase(spec.substrate)]


class InterfaceEnergy(ValidationProperty):
    """Surface, interface and adhesion energies of a film/substrate stack (``interfaces:``
    targets, ``interface_settings:``); no figure."""

    name = "interface"
    targets = TargetKind("interfaces", key=lambda spec: "interface-" + spec.label,
                         structures=_interface_bulks, fans_out=True)
    settings_field = "interface_settings"
    result = InterfaceEnergyResult

    @classmethod
    def steps(cls, target, ctx, start) -> Steps:
        from seiflow.structures.interfaces import build_interface
        from seiflow.structures.library import get_phase

        return interface_steps(build_interface(target).atoms, get_phase(target.film),
                               get_phase(target.substrate), ctx.cfg.interface_settings)
