"""GFN1-xTB does not bind Li metal: a structure with Li metal in it gets one warning per
process; ionic Li (LiF, Li2CO3) and molecules get none."""

import logging

import pytest
from ase import Atoms
from ase.build import bulk, fcc111

from seiflow.reference import XTBSettings
from seiflow.reference.xtb import has_li_metal, warn_li_metal_once
from seiflow.structures.library import get_phase


def test_li_metal_is_recognised():
    assert has_li_metal(bulk("Li", "bcc", 3.51))
    assert has_li_metal(fcc111("Li", (2, 2, 3), a=4.4, vacuum=6.0))  # a slab
    assert not has_li_metal(bulk("LiF", "rocksalt", 4.03))
    assert not has_li_metal(get_phase("li2co3-c2c"))
    assert not has_li_metal(Atoms("LiF", positions=[[0, 0, 0], [1.6, 0, 0]]))  # a molecule


def test_a_li_cluster_inside_an_ionic_cell_is_li_metal():
    cell = get_phase("lif").repeat((3, 3, 3))
    assert not has_li_metal(cell)
    centre = cell.cell.sum(axis=0) / 2
    del cell[[i for i, p in enumerate(cell.positions) if ((p - centre) ** 2).sum() < 3.5**2]]
    cluster = bulk("Li", "bcc", 3.51, cubic=True)
    cluster.positions += centre - cluster.positions.mean(axis=0)
    cell += cluster
    assert has_li_metal(cell)


def test_warns_once_per_process(caplog):
    warn_li_metal_once.cache_clear()
    xtb = XTBSettings(allow_thin=True)
    with caplog.at_level(logging.WARNING, logger="seiflow.reference.xtb"):
        xtb.calculator(bulk("LiF", "rocksalt", 4.03))
        assert "Li metal" not in caplog.text
        xtb.calculator(bulk("Li", "bcc", 3.51))
        xtb.calculator(bulk("Li", "bcc", 3.60))
    assert caplog.text.count("does not bind Li metal") == 1


@pytest.mark.parametrize("method, warned", [("GFN1-xTB", 1), ("GFN2-xTB", 0)])
def test_the_warning_names_gfn1_only(caplog, method, warned):
    warn_li_metal_once.cache_clear()
    with caplog.at_level(logging.WARNING, logger="seiflow.reference.xtb"):
        XTBSettings(method=method, allow_thin=True).calculator(bulk("Li", "bcc", 3.51))
    assert caplog.text.count("does not bind Li metal") == warned
