"""g(r) and coordination numbers of known structures: fcc Cu, rock salt, an ideal gas."""

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from scipy.signal import find_peaks

from seiflow.analysis import first_minimum, rdf, rdf_peaks
from seiflow.core.errors import SeiflowError

A_CU = 3.61


def cu_supercell() -> Atoms:
    return bulk("Cu", "fcc", a=A_CU, cubic=True).repeat(3)  # 108 atoms, 10.83 Å wide


def test_fcc_shells_and_first_shell_cn():
    res = rdf([cu_supercell()], ("Cu", "Cu"), r_max=5.0, nbins=250)
    dr = res.edges[1] - res.edges[0]
    peaks, _ = find_peaks(res.g, height=1.0)
    assert abs(res.r[peaks[0]] - A_CU / np.sqrt(2)) <= dr / 2
    assert abs(res.r[peaks[1]] - A_CU) <= dr / 2
    r_min, cn = first_minimum(res)
    assert A_CU / np.sqrt(2) < r_min < A_CU
    assert cn == pytest.approx(12.0, abs=1e-9)
    assert res.cn_at(4.0) == pytest.approx(18.0)  # 12 + 6 second neighbours
    assert rdf_peaks(res)[:2] == pytest.approx([A_CU / np.sqrt(2), A_CU], abs=dr)


def test_first_minimum_robust_to_thermal_noise():
    rng = np.random.default_rng(1)
    frames = []
    for _ in range(4):
        atoms = cu_supercell()
        atoms.positions += rng.normal(0, 0.08, atoms.positions.shape)
        frames.append(atoms)
    res = rdf(frames, ("Cu", "Cu"), r_max=5.0, nbins=500)
    assert res.n_frames == 4
    r_min, cn = first_minimum(res)
    assert 2.9 < r_min < 3.3
    assert cn == pytest.approx(12.0, abs=0.05)


def test_cross_species_rock_salt():
    nacl = bulk("NaCl", "rocksalt", a=5.64, cubic=True).repeat(3)
    res = rdf([nacl], ("Na", "Cl"), r_max=5.0, nbins=250)
    assert rdf_peaks(res)[0] == pytest.approx(5.64 / 2, abs=0.02)
    assert first_minimum(res)[1] == pytest.approx(6.0)
    assert res.rho_b == pytest.approx(4 / 5.64**3)


def test_ideal_gas_in_triclinic_cell_is_flat():
    rng = np.random.default_rng(0)
    cell = np.array([[20.0, 0, 0], [4.0, 19.0, 0], [2.0, 3.0, 21.0]])
    n = 800
    gas = Atoms(f"Li{n}", scaled_positions=rng.random((n, 3)), cell=cell, pbc=True)
    res = rdf([gas], ("Li", "Li"), r_max=8.0, nbins=40)
    rho = n / gas.get_volume()
    assert res.g[10:].mean() == pytest.approx(1.0, abs=0.02)
    assert res.cn_at(8.0) == pytest.approx(4 / 3 * np.pi * 8.0**3 * rho, rel=0.02)


def test_r_max_beyond_half_cell_width_is_an_error():
    with pytest.raises(SeiflowError, match="exceeds half the smallest cell width"):
        rdf([cu_supercell()], ("Cu", "Cu"), r_max=6.0, nbins=100)
    with pytest.raises(SeiflowError, match="no 'O' atoms"):
        rdf([cu_supercell()], ("Cu", "O"), r_max=5.0, nbins=100)
