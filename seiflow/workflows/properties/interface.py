"""Surface, interface and adhesion energies of a film/substrate stack (J/m²).

The stack is periodic along c with two interfaces per cell (seiflow's interface builder with
``vacuum: 0``), its atoms flagged by ``arrays["is_film"]``. Each part is cut out of the stack
and given vacuum to make the two slabs; the bulk references are the relaxed bulk phases per
atom. Positions are relaxed at fixed cell in the stack and the slabs (the film keeps the
substrate's in-plane cell, as in the stack). With ``relax: false`` everything is rigid: the bulk
references at the (library) lattices the stack was built from. See seiflow.analysis.interfaces
for the formulas.
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
from seiflow.core.progress import progress_bar
from seiflow.structures.geometry import make_supercell
from seiflow.workflows.properties.base import CalcFactory, PropertyFailed, relax, single_point
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


def _bulk_energy(bulk: Atoms, factory: CalcFactory, settings: InterfaceEnergySettings,
                 what: str) -> tuple[float, int]:
    cell = make_supercell(bulk, settings.bulk_min_width)
    if not settings.relax:  # rigid: the bulk at the lattice the stack was built from
        return float(single_point(cell, factory).get_potential_energy()) / len(cell), 0
    res = relax(cell, factory, cell=True, symmetry=True, fmax=settings.fmax,
                max_steps=settings.max_steps, what=what)
    return res.energy / len(cell), res.steps


def _energy(atoms: Atoms, factory: CalcFactory, settings: InterfaceEnergySettings,
            what: str) -> tuple[float, int]:
    if not settings.relax:
        return float(single_point(atoms, factory).get_potential_energy()), 0
    res = relax(atoms, factory, cell=False, symmetry=False, fmax=settings.fmax,
                max_steps=settings.max_steps, what=what)
    return res.energy, res.steps


def compute_interface_energy(stack: Atoms, film_bulk: Atoms, substrate_bulk: Atoms,
                             factory: CalcFactory, settings: InterfaceEnergySettings,
                             progress: bool = False) -> InterfaceEnergyResult:
    """Interface energy of ``stack`` (periodic, two interfaces, ``arrays["is_film"]``), the
    surface energies of its two parts and the work of adhesion, all in J/m²."""
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
    area = interface_area(stack)
    jobs = {
        "film bulk": lambda: _bulk_energy(film_bulk, factory, settings, "film bulk relaxation"),
        "substrate bulk": lambda: _bulk_energy(substrate_bulk, factory, settings,
                                               "substrate bulk relaxation"),
        "film slab": lambda: _energy(slab_with_vacuum(film, settings.vacuum), factory,
                                     settings, "film slab relaxation"),
        "substrate slab": lambda: _energy(slab_with_vacuum(sub, settings.vacuum), factory,
                                          settings, "substrate slab relaxation"),
        "stack": lambda: _energy(stack, factory, settings, "interface relaxation"),
    }
    energies, steps = {}, {}
    with progress_bar(progress) as bar:
        task = bar.add_task("interface energies", total=len(jobs))
        for key, job in jobs.items():
            energies[key], steps[key] = job()
            bar.advance(task)
    e_film, e_sub = energies["film bulk"], energies["substrate bulk"]
    result = InterfaceEnergies(
        sigma_film=surface_energy(energies["film slab"], len(film), e_film, area),
        sigma_substrate=surface_energy(energies["substrate slab"], len(sub), e_sub, area),
        gamma_interface=interface_energy(energies["stack"],
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
        relax_steps=steps,
    )


def _interface_bulks(spec) -> list[Atoms]:
    from seiflow.structures.library import get_phase

    return [get_phase(spec.film), get_phase(spec.substrate)]


class InterfaceEnergy(ValidationProperty):
    """Surface, interface and adhesion energies of a film/substrate stack (``interfaces:``
    targets, ``interface_settings:``); no figure."""

    name = "interface"
    targets = TargetKind("interfaces", key=lambda spec: "interface-" + spec.label,
                         structures=_interface_bulks)
    settings_field = "interface_settings"
    result = InterfaceEnergyResult

    @classmethod
    def compute(cls, target, ctx, start) -> InterfaceEnergyResult:
        from seiflow.structures.interfaces import build_interface
        from seiflow.structures.library import get_phase

        return compute_interface_energy(build_interface(target).atoms, get_phase(target.film),
                                        get_phase(target.substrate), ctx.factory,
                                        ctx.cfg.interface_settings)
