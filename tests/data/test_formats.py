"""Tests of seiflow.data.formats: mlearn JSON, MLIP cfg, DeePMD-kit npy and extxyz conventions."""

from __future__ import annotations

import itertools
import json
import os
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.stress import voigt_6_to_full_3x3_stress
from ase.units import GPa

from seiflow.core.errors import StructureError
from seiflow.data.labels import Label
from seiflow.data.formats import (
    read_cfg,
    read_extxyz,
    read_mlearn_json,
    write_cfg,
    write_deepmd,
    write_extxyz,
)

MLEARN = Path(os.environ.get("SEIFLOW_MLEARN_LI", "/work/shared/data/mlearn-Li"))
needs_mlearn = pytest.mark.skipif(
    not (MLEARN / "training.json").is_file(), reason=f"mlearn Li data not at {MLEARN}"
)
VOIGT_OF_PAIR = {(1, 2): 3, (0, 2): 4, (0, 1): 5}  # ASE Voigt index of each shear component


def labelled(atoms: Atoms, seed: int, stress: bool = True) -> Atoms:
    """``atoms`` rattled, with random energy (eV), forces (eV/Å) and stress (eV/Å³)."""
    rng = np.random.default_rng(seed)
    atoms = atoms.copy()
    atoms.positions += rng.normal(0.0, 0.05, atoms.positions.shape)
    sigma = rng.normal(0.0, 0.01, 6) if stress else None
    forces = rng.normal(0.0, 1.0, (len(atoms), 3))
    Label(rng.normal(-3.0 * len(atoms), 1.0), forces, sigma).attach(atoms, copy=False)
    atoms.info["source"] = f"test frame {seed}"
    atoms.info["group"] = "unit-test"
    return atoms


def lif(seed: int, stress: bool = True, shuffle: bool = False) -> Atoms:
    """Labelled 8-atom rock-salt LiF, optionally with its atoms in random order."""
    atoms = bulk("LiF", "rocksalt", a=4.03, cubic=True)
    if shuffle:
        atoms = atoms[np.random.default_rng(seed + 100).permutation(len(atoms))]
    atoms.cell[1, 0] = 0.2  # a triclinic cell exercises the shear components
    return labelled(atoms, seed, stress)


# ---------------------------------------------------------------------------------------------
# mlearn JSON
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mlearn_training() -> list[Atoms]:
    return read_mlearn_json(MLEARN / "training.json")


def green_strain(cell1: np.ndarray, cell2: np.ndarray) -> np.ndarray:
    """Green-Lagrange strain taking cell1 to cell2 (rows = cell vectors)."""
    f = np.linalg.solve(cell1, cell2).T  # v2 = F v1 for every lattice vector
    return 0.5 * (f.T @ f - np.eye(3))


def energy_stress_pairs(frames: list[Atoms], sign: float = 1.0) -> list[tuple[float, float]]:
    """(predicted, actual) ΔE in eV for pairs of frames related by a small normal strain.

    Predicted ΔE = V_avg σ_avg : Δε with the ASE stress (σ = (1/V) ∂E/∂ε), times ``sign``.
    """
    pairs = []
    for a, b in itertools.combinations(frames, 2):
        eps = green_strain(a.cell.array, b.cell.array)
        shear = np.abs(eps - np.diag(np.diag(eps))).max()
        if len(a) != len(b) or np.abs(eps).max() > 0.0125 or shear > 1e-4:
            continue
        volume = 0.5 * (a.get_volume() + b.get_volume())
        sigma = 0.5 * (a.get_stress(voigt=False) + b.get_stress(voigt=False))
        predicted = sign * volume * float(np.sum(sigma * eps))
        pairs.append((predicted, b.get_potential_energy() - a.get_potential_energy()))
    return pairs


def agrees(pred: float, actual: float) -> bool:
    """Within 15 % of the actual change, plus 0.03 meV for the energies' own noise."""
    return abs(pred - actual) <= 0.15 * abs(actual) + 3e-5


@needs_mlearn
def test_mlearn_counts_groups_and_labels(mlearn_training):
    groups = [a.info["group"] for a in mlearn_training]
    assert len(mlearn_training) == 241
    assert {g: groups.count(g) for g in set(groups)} == {
        "AIMD-NVT": 172, "Vacancy": 36, "Elastic": 22, "Surface": 11
    }
    test = read_mlearn_json(MLEARN / "test.json")
    assert len(test) == 29
    assert test[0].info["source"] == (
        "mlearn-Li test.json (Zuo et al., J. Phys. Chem. A 124, 731 (2020))"
    )
    raw = json.loads((MLEARN / "training.json").read_text())
    for atoms, entry in zip(mlearn_training[::40], raw[::40]):
        assert atoms.info["description"] == entry["description"]
        assert "training.json" in atoms.info["source"]
        assert atoms.get_chemical_symbols() == ["Li"] * entry["num_atoms"]
        assert atoms.pbc.all() and type(atoms) is Atoms
        assert atoms.get_potential_energy() == pytest.approx(entry["outputs"]["energy"], abs=1e-12)
        assert np.allclose(atoms.get_forces(), entry["outputs"]["forces"], atol=1e-12)
        # pressure (compressive positive, GPa) is the mean of VASP's kbar diagonal / 10
        pressure = -atoms.get_stress()[:3].mean() / GPa
        assert pressure == pytest.approx(np.mean(entry["outputs"]["virial_stress"][:3]) / 10)


@needs_mlearn
def test_mlearn_stress_is_the_strain_derivative_of_the_energy(mlearn_training):
    """dE = V σ:dε on the Elastic group's normal strains: fails if the stress sign is flipped."""
    elastic = [a for a in mlearn_training if a.info["group"] == "Elastic"]
    pairs = energy_stress_pairs(elastic)
    assert len(pairs) >= 30
    bad = [(p, a) for p, a in pairs if not agrees(p, a)]
    assert not bad, f"{len(bad)}/{len(pairs)} pairs disagree, e.g. {bad[:3]}"
    # the check is sensitive: the opposite sign convention fails on most pairs
    flipped = energy_stress_pairs(elastic, sign=-1.0)
    assert sum(agrees(p, a) for p, a in flipped) < len(flipped) / 2


@needs_mlearn
def test_mlearn_shear_stress_sits_in_the_sheared_component(mlearn_training):
    """A pure ε_ij shear of cubic Li gives a shear stress only in ij: fails if the order is wrong.

    (Only the component is checked, not the shear sign: in this data set the ±0.005 and ±0.01
    shear frames have opposite shear-stress signs, so their shear stresses cannot both match the
    energies, whose curvature is the same for both.)
    """
    elastic = [a for a in mlearn_training if a.info["group"] == "Elastic"]
    ground = next(a for a in elastic if a.info["description"] == "Ground state crystal")
    checked = 0
    for atoms in elastic:
        eps = green_strain(ground.cell.array, atoms.cell.array)
        shears = {pair: abs(eps[pair]) for pair in VOIGT_OF_PAIR}
        pair = max(shears, key=shears.get)
        if shears[pair] < 1e-3:
            continue
        shear_stress = np.abs(atoms.get_stress()[3:])
        assert np.argmax(shear_stress) + 3 == VOIGT_OF_PAIR[pair], atoms.info["description"]
        assert np.sort(shear_stress)[1] < 1e-3 * shear_stress.max()
        checked += 1
    assert checked == 10  # modes 4-6 of the training set


def test_mlearn_errors_name_the_file(tmp_path):
    with pytest.raises(StructureError, match="not found"):
        read_mlearn_json(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"structure": {}, "group": "x"}]))
    with pytest.raises(StructureError, match=r"bad\.json: entry 0"):
        read_mlearn_json(bad)


# ---------------------------------------------------------------------------------------------
# MLIP cfg
# ---------------------------------------------------------------------------------------------


def assert_same_labelled(a: Atoms, b: Atoms, atol: float = 1e-8) -> None:
    assert a.get_chemical_symbols() == b.get_chemical_symbols()
    assert np.allclose(a.cell.array, b.cell.array, atol=atol)
    assert np.allclose(a.positions, b.positions, atol=atol)
    la, lb = Label.from_atoms(a), Label.from_atoms(b)
    assert la.energy == pytest.approx(lb.energy, abs=atol)
    assert np.allclose(la.forces, lb.forces, atol=atol)
    if la.stress is None:
        assert lb.stress is None
    else:
        assert np.allclose(la.stress, lb.stress, atol=atol)


def test_cfg_round_trip(tmp_path):
    frames = [lif(0), lif(1, shuffle=True), lif(2, stress=False)]
    frames.append(labelled(bulk("Li", "bcc", a=3.43, cubic=True), 3))
    path = write_cfg(frames, tmp_path / "train.cfg", ["Li", "F"])
    text = path.read_text()
    assert text.count("BEGIN_CFG") == 4 and text.count("PlusStress") == 3
    back = read_cfg(path, ["Li", "F"])
    assert len(back) == 4
    for a, b in zip(frames, back):
        assert_same_labelled(a, b)
        assert b.info["source"] == a.info["source"] and b.info["group"] == "unit-test"
    # types are indices into type_map: the same file read with another map gives other elements
    swapped = read_cfg(path, ["F", "Li"])
    assert swapped[0].get_chemical_symbols().count("F") == 4


def test_cfg_plus_stress_is_minus_volume_times_stress(tmp_path):
    atoms = lif(5)
    write_cfg([atoms], tmp_path / "one.cfg", ["Li", "F"])
    lines = (tmp_path / "one.cfg").read_text().splitlines()
    header = next(i for i, ln in enumerate(lines) if ln.split()[:1] == ["PlusStress:"])
    assert lines[header].split()[1:] == ["xx", "yy", "zz", "yz", "xz", "xy"]
    plus = np.array(lines[header + 1].split(), dtype=float)
    assert np.allclose(plus, -atoms.get_stress() * atoms.get_volume(), atol=1e-9)


HAND_CFG = """BEGIN_CFG
 Size
    2
 Supercell
    4.0 0.0 0.0
    0.0 5.0 0.0
    0.0 0.0 2.0
 AtomData:  id type       cartes_x      cartes_y      cartes_z           fx          fy          fz
             1    0       0.000000      0.000000      0.000000     0.100000   -0.200000    0.300000
             2    1       2.000000      2.500000      1.000000    -0.100000    0.200000   -0.300000
 Energy
      -7.5
 PlusStress:  xx          yy          zz          yz          xz          xy
         4.0         8.0         0.0         1.0         2.0         3.0
 Feature   EFS_by\tVASP
END_CFG

BEGIN_CFG
 Size
    1
 Supercell
    3.0 0.0 0.0
    0.0 3.0 0.0
    0.0 0.0 3.0
 AtomData:  id type direct_x direct_y direct_z
             1    1   0.5 0.5 0.5
END_CFG
"""


def test_cfg_hand_written_stress_sign(tmp_path):
    path = tmp_path / "hand.cfg"
    path.write_text(HAND_CFG)
    first, second = read_cfg(path, ["Li", "F"])
    assert first.get_chemical_symbols() == ["Li", "F"] and first.get_volume() == pytest.approx(40)
    assert first.get_potential_energy() == -7.5
    assert np.allclose(first.get_forces()[1], [-0.1, 0.2, -0.3])
    # ASE stress = -PlusStress / V, Voigt order xx yy zz yz xz xy
    assert np.allclose(first.get_stress(), [-0.1, -0.2, 0.0, -0.025, -0.05, -0.075])
    full = first.get_stress(voigt=False)
    assert full[0, 1] == pytest.approx(-0.075) and full[1, 2] == pytest.approx(-0.025)
    assert first.info["EFS_by"] == "VASP" and first.info["source"] == "file hand.cfg"
    # positive PlusStress diagonal = compressed cell = positive pressure
    assert -first.get_stress()[:3].sum() / 3 > 0
    # an unlabelled frame in fractional coordinates
    assert second.get_chemical_symbols() == ["F"] and np.allclose(second.positions, [[1.5] * 3])
    assert second.calc is None


def test_cfg_errors(tmp_path):
    with pytest.raises(StructureError, match="element.*Cl.*not in type_map"):
        write_cfg([bulk("NaCl", "rocksalt", a=5.6)], tmp_path / "x.cfg", ["Na"])
    molecule = Atoms("H2", positions=[[0, 0, 0], [0, 0, 0.74]])
    with pytest.raises(StructureError, match="periodic"):
        write_cfg([molecule], tmp_path / "x.cfg", ["H"])
    path = tmp_path / "hand.cfg"
    path.write_text(HAND_CFG)
    with pytest.raises(StructureError, match=r"hand\.cfg.*type 1 out of range"):
        read_cfg(path, ["Li"])
    garbage = tmp_path / "garbage.cfg"
    garbage.write_text("BEGIN_CFG\n Size\n   two\nEND_CFG\n")
    with pytest.raises(StructureError, match=r"garbage\.cfg: configuration 1: cannot parse"):
        read_cfg(garbage, ["Li"])
    garbage.write_text("hello world\n")
    with pytest.raises(StructureError, match="outside BEGIN_CFG"):
        read_cfg(garbage, ["Li"])


# ---------------------------------------------------------------------------------------------
# DeePMD-kit npy
# ---------------------------------------------------------------------------------------------


def test_deepmd_systems(tmp_path):
    lifs = [lif(k, shuffle=True) for k in range(3)]
    lis = [labelled(bulk("Li", "bcc", a=3.43, cubic=True), 10 + k) for k in range(2)]
    lis.append(labelled(bulk("Li", "bcc", a=3.43, cubic=True), 12, stress=False))
    systems = write_deepmd(lifs[:2] + lis + lifs[2:], tmp_path / "dp", ["Li", "F", "C"])
    assert [s.name for s in systems] == ["Li4F4", "Li2"]
    lif_dir, li_dir = systems
    assert (lif_dir / "type.raw").read_text().split() == ["0"] * 4 + ["1"] * 4
    assert (lif_dir / "type_map.raw").read_text().split() == ["Li", "F", "C"]
    sets = lif_dir / "set.000"
    arrays = {k: np.load(sets / f"{k}.npy") for k in ("box", "coord", "energy", "force", "virial")}
    assert arrays["box"].shape == (3, 9) and arrays["energy"].shape == (3,)
    assert arrays["coord"].shape == (3, 24) and arrays["force"].shape == (3, 24)
    assert arrays["virial"].shape == (3, 9)
    for k, atoms in enumerate(lifs):
        assert arrays["energy"][k] == atoms.get_potential_energy()
        assert np.allclose(arrays["box"][k].reshape(3, 3), atoms.cell.array)
        virial = -voigt_6_to_full_3x3_stress(atoms.get_stress()) * atoms.get_volume()
        assert np.allclose(arrays["virial"][k].reshape(3, 3), virial)
        # atoms sorted by type with positions and forces moved together
        order = np.argsort(atoms.numbers != 3, kind="stable")
        assert np.allclose(arrays["coord"][k].reshape(-1, 3), atoms.positions[order])
        assert np.allclose(arrays["force"][k].reshape(-1, 3), atoms.get_forces()[order])
    # one Li frame lacks a stress: no virial for that system
    assert not (li_dir / "set.000" / "virial.npy").exists()
    assert np.load(li_dir / "set.000" / "energy.npy").shape == (3,)


def test_deepmd_errors(tmp_path):
    unlabelled = bulk("Li", "bcc", a=3.43)
    with pytest.raises(StructureError, match="frame 0.*energy and forces"):
        write_deepmd([unlabelled], tmp_path, ["Li"])
    with pytest.raises(StructureError, match="Cl"):
        write_deepmd([labelled(bulk("NaCl", "rocksalt", a=5.6), 0)], tmp_path, ["Na"])


# ---------------------------------------------------------------------------------------------
# extxyz
# ---------------------------------------------------------------------------------------------


def test_extxyz_round_trip(tmp_path):
    frames = [lif(0), lif(1, stress=False)]
    path = write_extxyz(frames, tmp_path / "frames.extxyz")
    back = read_extxyz(path)
    for a, b in zip(frames, back):
        assert_same_labelled(a, b)
        assert b.info["source"] == a.info["source"] and b.info["group"] == "unit-test"


def test_extxyz_garbage_and_missing(tmp_path):
    garbage = tmp_path / "notes.xyz"
    garbage.write_text("hello world\nthis is not a structure\n1 2 3\n")
    with pytest.raises(StructureError, match=r"notes\.xyz: not an extended XYZ file"):
        read_extxyz(garbage)
    with pytest.raises(StructureError, match="not found"):
        read_extxyz(tmp_path / "missing.xyz")
