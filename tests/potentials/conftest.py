"""A small two-species MTP fitted once per session to EMT labels (Cu/Al fcc, rattled and
strained): fast to fit, and EMT is an independent reference with analytic forces and stress."""

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.calculators.singlepoint import SinglePointCalculator

from seiflow.potentials.mtp.fit import fit_mtp


def emt_frames(n: int, seed: int, rattle: float = 0.08, strain: float = 0.03):
    rng = np.random.default_rng(seed)
    out = []
    for k in range(n):
        atoms = bulk("Cu", "fcc", 3.7, cubic=True).repeat(2)
        atoms.numbers[rng.choice(len(atoms), 8, replace=False)] = 13
        eps = rng.uniform(-strain, strain, (3, 3))
        atoms.set_cell(atoms.cell @ (np.eye(3) + (eps + eps.T) / 2), scale_atoms=True)
        atoms.rattle(rattle, seed=int(rng.integers(1 << 30)))
        atoms.calc = EMT()
        res = {"energy": atoms.get_potential_energy(), "forces": atoms.get_forces(),
               "stress": atoms.get_stress()}
        atoms.calc = SinglePointCalculator(atoms, **res)
        atoms.info["source"] = f"emt frame {k}"
        atoms.info["group"] = "rattled"
        out.append(atoms)
    return out


@pytest.fixture(scope="session")
def emt_train():
    return emt_frames(24, seed=1)


@pytest.fixture(scope="session")
def emt_test():
    return emt_frames(8, seed=2)


@pytest.fixture(scope="session")
def emt_mtp(emt_train):
    return fit_mtp(emt_train, level=8, cutoff=5.0, max_iter=25, seed=0, progress=False)


@pytest.fixture(scope="session")
def emt_mace(emt_train):
    """A tiny float64 MACE (about 7 k parameters) on 16 of the EMT frames."""
    from seiflow.potentials.mace.settings import MACESettings

    settings = MACESettings.small(dtype="float64", device="cpu", epochs=16, seed=0)
    return settings.fit(emt_train[:16], progress=False)
