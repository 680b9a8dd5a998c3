import numpy as np
import pytest
from ase.data import covalent_radii
from ase.neighborlist import neighbor_list

from seiflow.core.errors import PackingError, UnknownNameError
from seiflow.core.units import density_g_cm3
from seiflow.structures.amorphous import (
    AmorphousSpec,
    CompressionSettings,
    build_amorphous,
    composition_atoms,
    pack_amorphous,
    width_scale,
)
from seiflow.structures.geometry import bond_graph, perpendicular_widths, same_bond_graph
from seiflow.structures.library import get_molecule

PAPER_MIX = {"Li2EDC": 8, "Li2CO3": 16, "Li": 64}  # the largest cell of Li et al. 2025


@pytest.fixture(scope="module")
def paper_mix():
    return pack_amorphous(AmorphousSpec(name="mix", composition=PAPER_MIX, seed=3))


def test_exact_composition(paper_mix):
    # 8 C4H4O6 + 16 CO3 + (16 + 32 + 64) Li
    assert paper_mix.get_chemical_formula() == "C48H32Li112O96"
    assert paper_mix.info["source"]


def test_intermolecular_distances_respect_covalent_threshold(paper_mix):
    i, j, d = neighbor_list("ijd", paper_mix, 5.0)
    mol = paper_mix.arrays["molecule_id"]
    inter = mol[i] != mol[j]
    z = paper_mix.numbers
    nonmetal = np.isin(z, [1, 6, 8])  # H, C, O here; Li is the metal
    ratio = np.where(nonmetal[i] & nonmetal[j], 1.6, 0.8)  # the defaults
    limit = ratio * (covalent_radii[z[i]] + covalent_radii[z[j]])
    assert inter.any()
    assert np.all(d[inter] >= limit[inter] - 1e-6)
    assert d.min() > 0.5


def test_molecules_are_intact(paper_mix):
    templates = {len(get_molecule(k)): bond_graph(get_molecule(k)) for k in ("co3", "edc")}
    mol = paper_mix.arrays["molecule_id"]
    seen = {4: 0, 14: 0}
    for m in np.unique(mol):
        idx = np.flatnonzero(mol == m)
        if len(idx) == 1:
            continue
        assert same_bond_graph(bond_graph(paper_mix, idx), templates[len(idx)])
        seen[len(idx)] += 1
    assert seen == {4: 16, 14: 8}
    # and no covalent bond between different molecules
    g = bond_graph(paper_mix, [k for k, s in enumerate(paper_mix.get_chemical_symbols())
                               if s != "Li"])
    assert all(mol[a] == mol[b] for a, b in g.edges)


def test_reproducible_from_seed():
    spec = AmorphousSpec(composition={"Li2CO3": 2, "Li": 2}, seed=7)
    a, b = pack_amorphous(spec, 0), pack_amorphous(spec, 0)
    c = pack_amorphous(spec, 1)
    assert np.allclose(a.positions, b.positions)
    assert not np.allclose(a.positions, c.positions)
    many = build_amorphous(spec.model_copy(update={"count": 3}))
    assert len(many) == 3 and np.allclose(many[0].positions, a.positions)


def test_low_density_start():
    spec = AmorphousSpec(composition={"Li2CO3": 4}, expansion=2.0)
    assert density_g_cm3(pack_amorphous(spec)) == pytest.approx(2.10 / 2.0, rel=0.02)


def test_impossible_packing_is_a_clear_error():
    spec = AmorphousSpec(composition={"Li2CO3": 30}, expansion=1.0, min_distance_ratio=1.2,
                         max_attempts=2000)
    with pytest.raises(PackingError, match="could not place"):
        pack_amorphous(spec)


def test_box_too_small_for_a_molecule():
    with pytest.raises(PackingError, match="largest block"):
        pack_amorphous(AmorphousSpec(composition={"Li2EDC": 1}, expansion=1.5))


def test_bad_composition():
    with pytest.raises(UnknownNameError, match="Li2CO3"):
        AmorphousSpec(composition={"Li2C03": 1})
    with pytest.raises(ValueError, match="empty"):
        AmorphousSpec(composition={})
    with pytest.raises(ValueError, match=">= 0"):
        AmorphousSpec(composition={"Li": -1})


def test_min_width_grows_the_composition_of_a_packing():
    """Without compression the packed cell is the final one: at least min_width_A wide."""
    spec = AmorphousSpec(composition={"Li2CO3": 1, "Li": 2}, seed=1, min_width_A=10.0)
    atoms = pack_amorphous(spec)
    n = atoms.info["formula_unit_scale"]
    assert n == width_scale(spec) > 1
    assert atoms.get_chemical_formula() == f"C{n}Li{4 * n}O{3 * n}"
    assert perpendicular_widths(atoms.cell).min() >= 10.0
    small = pack_amorphous(spec.model_copy(update={"min_width_A": None}))
    assert small.info["formula_unit_scale"] == 1 and len(small) == 8


def test_min_width_of_a_compressed_cell_is_aimed_at_the_compact_volume():
    """A cell to be compressed is grown so that its compact (species-density) cube is wide
    enough; the packing itself is larger by expansion**(1/3)."""
    loose = AmorphousSpec(composition={"Li2CO3": 1}, min_width_A=10.0)
    dense = loose.model_copy(update={"compress": CompressionSettings()})
    assert width_scale(dense) > width_scale(loose)
    atoms = pack_amorphous(dense)
    compact_edge = (atoms.get_volume() / dense.expansion) ** (1 / 3)
    assert compact_edge >= 10.0
    assert width_scale(dense.model_copy(update={"min_width_A": None})) == 1


def test_min_width_above_max_atoms_is_refused_in_one_line():
    spec = AmorphousSpec(composition={"Li2CO3": 1}, min_width_A=30.0, max_atoms=500)
    with pytest.raises(PackingError, match="30.0 Å wide needs .* above max_atoms 500") as err:
        pack_amorphous(spec)
    assert "\n" not in str(err.value)
    assert composition_atoms({"Li2EDC": 1, "Li": 3}) == 2 + 14 + 3
