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
    compress,
    pack_amorphous,
)
from seiflow.structures.geometry import bond_graph, same_bond_graph
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


def test_compression_with_any_calculator_emt():
    """Generic path (relaxation + MTK NPT) with ASE's EMT on a random Cu packing."""
    from ase.calculators.emt import EMT

    atoms = pack_amorphous(AmorphousSpec(composition={"Cu": 32}, expansion=1.8, seed=2))
    res = compress(atoms, EMT(), CompressionSettings(pressure_kbar=50, max_steps=200,
                                                     npt_steps=20))
    assert res.density_final > 1.4 * res.density_initial
    assert res.atoms.info["density_final"] == pytest.approx(res.density_final, abs=1e-3)
    assert res.atoms.get_chemical_formula() == "Cu32"


@pytest.mark.slow
def test_compression_with_xtb_raises_density_and_keeps_molecules():
    from seiflow.reference.xtb import XTBSettings

    spec = AmorphousSpec(composition={"Li2CO3": 2, "Li": 2}, seed=1, expansion=2.0)
    atoms = pack_amorphous(spec)
    res = compress(atoms, XTBSettings().calculator(), CompressionSettings(max_steps=25))
    assert res.density_final > 1.2 * res.density_initial
    assert np.isfinite(res.pressure_GPa)
    mol = res.atoms.arrays["molecule_id"]
    co3 = bond_graph(get_molecule("co3"))
    for m in np.unique(mol):
        idx = np.flatnonzero(mol == m)
        if len(idx) == 4:
            assert same_bond_graph(bond_graph(res.atoms, idx), co3)
