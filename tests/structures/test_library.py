import numpy as np
import pytest
from ase.neighborlist import neighbor_list

from seiflow.core.errors import UnknownNameError
from seiflow.core.units import density_g_cm3
from seiflow.structures.geometry import bond_graph, check_no_overlap
from seiflow.structures.library import (
    get_molecule,
    get_phase,
    list_molecules,
    list_phases,
    phase_info,
    spacegroup_of,
)

# Expected space groups, from the issue / crystallographic literature (not from the data file).
EXPECTED_SG = {
    "li2co3-c2c": 15,  # C2/c
    "li2co3-hp": 193,  # P6_3/mcm
    "li-bcc": 229,  # Im-3m
    "li-fcc": 225,  # Fm-3m
    "lipf6": 148,
    "lif": 225,  # Fm-3m (rocksalt)
    "li2o": 225,  # Fm-3m (antifluorite)
    "li3incl6": 12,  # C2/m
    "in-bct": 139,  # I4/mmm (A6, body-centred tetragonal In)
    "licl": 225,  # Fm-3m (rocksalt)
}
# Handbook densities (CRC Handbook of Chemistry and Physics), independent of phases.yaml.
HANDBOOK_DENSITY = {"li2co3-c2c": 2.11, "li-bcc": 0.534, "lif": 2.64, "li2o": 2.013,
                    "in-bct": 7.31, "licl": 2.07}
CRYSTALS = sorted(EXPECTED_SG)


def test_library_lists_every_required_phase():
    assert set(EXPECTED_SG) | {"li2edc-cell"} == set(list_phases())
    assert {"co3", "pf6", "edc", "li2edc"} <= set(list_molecules())


@pytest.mark.parametrize("name", CRYSTALS)
def test_space_group_density_and_source(name):
    atoms = get_phase(name)
    _, number = spacegroup_of(atoms, symprec=1e-3)
    assert number == EXPECTED_SG[name]
    info = phase_info(name)
    if info.provenance == "model":  # no published structure: nothing to compare with
        assert info.density is None
    else:
        assert density_g_cm3(atoms) == pytest.approx(info.density, rel=0.03)
    if name in HANDBOOK_DENSITY:
        assert density_g_cm3(atoms) == pytest.approx(HANDBOOK_DENSITY[name], rel=0.03)
    assert len(atoms.info["source"]) > 20
    check_no_overlap(atoms, threshold=1.0)


@pytest.mark.parametrize("name", CRYSTALS)
def test_composition_is_whole_formula_units(name):
    from ase.formula import Formula

    atoms = get_phase(name)
    unit = Formula(phase_info(name).formula).count()
    counts = Formula(atoms.get_chemical_formula()).count()
    z = counts[next(iter(unit))] / unit[next(iter(unit))]
    assert z == int(z) and all(counts[k] == z * v for k, v in unit.items())


def _nearest(atoms, a, b, cutoff=4.0):
    i, j, d = neighbor_list("ijd", atoms, cutoff)
    sym = np.array(atoms.get_chemical_symbols())
    mask = (sym[i] == a) & (sym[j] == b)
    return d[mask]


@pytest.mark.parametrize("name,pair,lo,hi", [
    ("li2co3-c2c", ("C", "O"), 1.25, 1.32),
    ("li2co3-c2c", ("Li", "O"), 1.85, 2.10),
    ("li2co3-hp", ("C", "O"), 1.25, 1.32),
    ("lipf6", ("P", "F"), 1.55, 1.65),
    ("lif", ("Li", "F"), 1.95, 2.05),
    ("li2o", ("Li", "O"), 1.95, 2.05),
    ("li3incl6", ("In", "Cl"), 2.45, 2.65),
    ("li-bcc", ("Li", "Li"), 2.95, 3.10),
    ("in-bct", ("In", "In"), 3.20, 3.30),  # 4 neighbours at a = 3.25 Å, 8 at 3.38 Å
    ("licl", ("Li", "Cl"), 2.50, 2.62),  # a / 2 = 2.565 Å
])
def test_first_neighbour_distances_are_chemical(name, pair, lo, hi):
    d = _nearest(get_phase(name), *pair)
    assert lo <= d.min() <= hi


def test_carbonates_are_trigonal_in_li2co3():
    atoms = get_phase("li2co3-c2c")
    i, j = neighbor_list("ij", atoms, 1.4)
    sym = np.array(atoms.get_chemical_symbols())
    for c in np.flatnonzero(sym == "C"):
        assert (sym[j[i == c]] == "O").sum() == 3


def test_unknown_phase_suggests():
    with pytest.raises(UnknownNameError) as e:
        get_phase("li2co3")
    assert "li2co3-c2c" in str(e.value)


@pytest.mark.parametrize("name,formula,charge", [
    ("co3", "CO3", -2), ("pf6", "F6P", -1), ("edc", "C4H4O6", -2), ("li2edc", "C4H4Li2O6", 0),
])
def test_molecules_are_connected_with_charge(name, formula, charge):
    import networkx as nx

    mol = get_molecule(name)
    assert mol.get_chemical_formula() == formula
    assert mol.info["charge"] == charge and mol.info["source"]
    heavy = [k for k, s in enumerate(mol.get_chemical_symbols()) if s != "Li"]
    assert nx.is_connected(bond_graph(mol, heavy))


def test_li2edc_cell_is_periodic_single_molecule():
    atoms = get_phase("li2edc-cell")
    assert atoms.pbc.all() and atoms.get_chemical_formula() == "C4H4Li2O6"
    i, j, d, shift = neighbor_list("ijdS", atoms, 3.0)
    assert not np.any(shift.any(axis=1)), "the molecule touches its periodic images"


def test_reaction_products_of_li_li3incl6():
    """In metal and LiCl, the products of Li + Li3InCl6 (Golov & Carrasco): tetragonal In
    (c/a = 1.52, 4 + 8 neighbours, two shells) and rocksalt LiCl (6 Cl around each Li)."""
    from seiflow.structures.library import resolve_phase

    assert resolve_phase("in") == "in-bct"
    indium = get_phase("in-bct")
    a, _, c = indium.cell.lengths()
    assert c / a == pytest.approx(1.521, abs=0.005)
    i, d = neighbor_list("id", indium, 3.5)
    assert np.bincount(i).tolist() == [12, 12]
    assert np.sort(np.unique(np.round(d, 2))).tolist() == [3.25, 3.38]
    licl = get_phase("licl")
    sym = np.array(licl.get_chemical_symbols())
    i, j = neighbor_list("ij", licl, 3.0)
    for k in np.flatnonzero(sym == "Li"):
        assert (sym[j[i == k]] == "Cl").sum() == 6
