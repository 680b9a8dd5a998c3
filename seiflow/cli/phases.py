"""`seiflow phases`: the phase library and molecular building blocks."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from seiflow.core.units import density_g_cm3
from seiflow.structures.library import (
    LI2EDC_CELL,
    get_molecule,
    get_phase,
    list_molecules,
    list_phases,
    molecule_info,
    phase_info,
)


def phases(
    molecules: bool = typer.Option(False, "--molecules", help="list molecular building blocks"),
) -> None:
    """List the library phases (space group from spglib, density in g/cm³, literature source)."""
    console = Console(soft_wrap=False, width=200)
    if molecules:
        t = Table("key", "formula", "charge (e)", "atoms", "source", title="molecular blocks")
        for key in list_molecules():
            m = molecule_info(key)
            t.add_row(key, m.formula, f"{m.charge:+d}", str(len(get_molecule(key))), m.source)
        console.print(t)
        return
    t = Table("key", "formula", "space group", "atoms", "density (g/cm³)", "cited",
              "provenance", "source", title="phase library (details: seiflow/structures/data)")
    for key in list_phases():
        atoms = get_phase(key)
        density = None if key == LI2EDC_CELL else phase_info(key).density
        cited = "-" if density is None else f"{density:.3f}"
        t.add_row(key, atoms.get_chemical_formula(mode="hill"), atoms.info["spacegroup"],
                  str(len(atoms)), f"{density_g_cm3(atoms):.3f}", cited,
                  atoms.info["provenance"], atoms.info["source"])
    console.print(t)
