"""Tests of seiflow.data.formats: mlearn JSON, MLIP cfg, DeePMD-kit, NequIP npz and extxyz."""

from __future__ import annotations

import itertools
import json
import os
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk, molecule
from ase.calculators.emt import EMT
from ase.stress import voigt_6_to_full_3x3_stress
from ase.units import GPa

from seiflow.core.errors import StructureError
from seiflow.data.labels import Label
from seiflow.data.formats import (
    read_cfg,
    read_deepmd,
    read_extxyz,
    read_mlearn_json,
    read_nequip_npz,
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


# ---------------------------------------------------------------------------------------------
# labels from other codes: virial / stress conventions checked against EMT
# ---------------------------------------------------------------------------------------------


def emt_frames(n: int = 3) -> list[Atoms]:
    """Compressed (a = 3.50 Å < 3.61 Å), sheared, rattled fcc Cu with EMT labels attached."""
    frames = []
    for k in range(n):
        atoms = bulk("Cu", "fcc", a=3.50 + 0.02 * k, cubic=True).repeat(2)
        shear = np.array([[1.0, 0.02 * (k + 1), 0.0], [0.0, 1.0, 0.01], [-0.01 * k, 0.0, 1.0]])
        atoms.set_cell(atoms.cell.array @ shear, scale_atoms=True)
        atoms.rattle(0.05, seed=k)
        atoms.calc = EMT()
        label = Label(atoms.get_potential_energy(), atoms.get_forces(), atoms.get_stress())
        frames.append(label.attach(atoms))
    return frames


def hand_virial(atoms: Atoms) -> np.ndarray:
    """W = -V σ (eV) with σ the 3×3 of the ASE Voigt stress (xx yy zz yz xz xy), by hand."""
    xx, yy, zz, yz, xz, xy = atoms.get_stress()
    sigma = np.array([[xx, xy, xz], [xy, yy, yz], [xz, yz, zz]])
    return -atoms.get_volume() * sigma


def numbers(values) -> str:
    return " ".join(f"{x:.14e}" for x in np.ravel(values))


def hand_extxyz(frames: list[Atoms], keys: str = "energy", force_key: str = "forces",
                label: str = "virial") -> str:
    """Extended XYZ text written by hand with a ``virial`` (or Voigt ``stress``) comment key."""
    text = []
    for atoms in frames:
        value = hand_virial(atoms) if "virial" in label else atoms.get_stress()
        text.append(f"{len(atoms)}\n")
        text.append(f'Lattice="{numbers(atoms.cell.array)}" '
                    f"Properties=species:S:1:pos:R:3:{force_key}:R:3 "
                    f'{keys}={atoms.get_potential_energy():.14e} {label}="{numbers(value)}" '
                    'pbc="T T T" config_type=emt\n')
        for s, p, f in zip(atoms.get_chemical_symbols(), atoms.positions, atoms.get_forces()):
            text.append(f"{s} {numbers(p)} {numbers(f)}\n")
    return "".join(text)


def assert_emt_labels(back: list[Atoms], frames: list[Atoms]) -> None:
    assert len(back) == len(frames)
    for a, b in zip(frames, back):
        assert b.get_potential_energy() == pytest.approx(a.get_potential_energy(), abs=1e-10)
        assert np.allclose(b.get_forces(), a.get_forces(), atol=1e-10)
        assert np.allclose(b.get_stress(), a.get_stress(), rtol=1e-9, atol=1e-12)


def test_emt_frames_are_compressed_with_shear():
    """The fixture is what the sign checks need: positive pressure, non-zero shear stress."""
    for atoms in emt_frames():
        assert -atoms.get_stress()[:3].mean() / GPa > 5  # GPa, compressed
        assert np.abs(atoms.get_stress()[3:]).max() > 1e-3
        assert np.all(np.diag(hand_virial(atoms)) > 0)  # a compressed cell pushes outwards


def test_extxyz_virial_becomes_the_ase_stress(tmp_path):
    frames = emt_frames()
    path = tmp_path / "virial.extxyz"
    path.write_text(hand_extxyz(frames))
    import ase.io

    assert "stress" not in ase.io.read(path).calc.results  # ASE alone leaves virial in info
    back = read_extxyz(path)
    assert_emt_labels(back, frames)
    assert "virial" not in back[0].info and back[0].info["config_type"] == "emt"


def test_extxyz_voigt_stress_and_ref_keys(tmp_path):
    frames = emt_frames(2)
    voigt = tmp_path / "voigt.extxyz"
    voigt.write_text(hand_extxyz(frames, label="stress"))
    import ase.io

    with pytest.raises(ValueError, match="3x3"):
        ase.io.read(voigt)  # ASE alone refuses 6 stress values
    assert_emt_labels(read_extxyz(voigt), frames)
    ref = tmp_path / "ref.extxyz"  # MACE-style REF_* keys, with a plain energy that differs
    text = hand_extxyz(frames, keys="REF_energy", force_key="REF_forces", label="REF_virial")
    ref.write_text(text.replace("config_type=emt", "energy=-999.0"))
    back = read_extxyz(ref)
    assert_emt_labels(back, frames)
    assert back[0].info["energy"] == -999.0  # kept aside (and reported by the import)
    assert "REF_forces" not in back[0].arrays


def test_extxyz_stress_and_virial_must_agree(tmp_path):
    frames = emt_frames(2)
    text = hand_extxyz(frames).replace("config_type=emt", "")
    both = text.split("\n", 2)
    stress = f'stress="{numbers(frames[0].get_stress(voigt=False))}"'
    agree = tmp_path / "agree.extxyz"
    agree.write_text(f"{both[0]}\n{both[1]} {stress}\n{both[2]}")
    assert_emt_labels(read_extxyz(agree), frames)
    flipped = tmp_path / "flipped.extxyz"  # stress of the opposite sign: one of them is wrong
    minus = f'stress="{numbers(-frames[0].get_stress(voigt=False))}"'
    flipped.write_text(f"{both[0]}\n{both[1]} {minus}\n{both[2]}")
    with pytest.raises(StructureError, match=r"flipped\.extxyz:frame 0: stress and virial "
                                             "disagree"):
        read_extxyz(flipped)
    molecule_path = tmp_path / "mol.extxyz"
    molecule_path.write_text('1\nProperties=species:S:1:pos:R:3 energy=-1.0 '
                             'virial="1 0 0 0 1 0 0 0 1"\nH 0 0 0\n')
    with pytest.raises(StructureError, match=r"mol\.extxyz:frame 0: .*periodic"):
        read_extxyz(molecule_path)


# ---------------------------------------------------------------------------------------------
# DeePMD-kit reader
# ---------------------------------------------------------------------------------------------


def assert_same_sorted(original: Atoms, back: Atoms, types: list[str]) -> None:
    """``back`` is ``original`` with its atoms stably sorted by type (as DeePMD-kit stores)."""
    order = np.argsort([types.index(s) for s in original.get_chemical_symbols()], kind="stable")
    assert back.get_chemical_symbols() == [original.get_chemical_symbols()[i] for i in order]
    assert np.allclose(back.positions, original.positions[order], atol=1e-12)
    assert np.allclose(back.cell.array, original.cell.array, atol=1e-12)
    assert (back.pbc == original.pbc).all()
    la, lb = Label.from_atoms(original), Label.from_atoms(back)
    assert lb.energy == pytest.approx(la.energy, abs=1e-12)
    assert np.allclose(lb.forces, la.forces[order], atol=1e-12)
    assert (lb.stress is None) == (la.stress is None)
    if la.stress is not None:
        assert np.allclose(lb.stress, la.stress, rtol=1e-10, atol=1e-14)


def deepmd_set(tmp_path: Path) -> tuple[list[Atoms], list[Path]]:
    lifs = [lif(k, shuffle=True) for k in range(3)]
    mols = [labelled(molecule("H2O"), 20 + k, stress=False) for k in range(2)]
    for m in mols:
        m.pbc = False
    frames = lifs + mols
    return frames, write_deepmd(frames, tmp_path / "dp", ["Li", "F", "H", "O"])


def test_deepmd_write_then_read_round_trip(tmp_path):
    frames, systems = deepmd_set(tmp_path)
    back = read_deepmd(tmp_path / "dp")  # every system below the directory, sorted by name
    assert [s.name for s in sorted(systems)] == ["H2O1-nopbc", "Li4F4"]
    assert len(back) == 5
    for original, read in zip(frames[3:] + frames[:3], back):
        assert_same_sorted(original, read, ["Li", "F", "H", "O"])
    assert back[0].info["source"].startswith("DeePMD ") and not back[0].pbc.any()
    single = read_deepmd(systems[0])  # one system directory
    assert len(single) == 3


def test_deepmd_raw_variant_and_several_sets(tmp_path):
    frames, systems = deepmd_set(tmp_path)
    lif_dir = systems[0]
    raw = tmp_path / "raw"
    raw.mkdir()
    for name in ("type.raw", "type_map.raw"):
        (raw / name).write_text((lif_dir / name).read_text())
    for key in ("box", "coord", "energy", "force", "virial"):
        np.savetxt(raw / f"{key}.raw", np.load(lif_dir / "set.000" / f"{key}.npy"), fmt="%.16e")
    for original, read in zip(frames[:3], read_deepmd(raw)):
        assert_same_sorted(original, read, ["Li", "F", "H", "O"])
    split = tmp_path / "sets" / "lif"  # frames 0-1 in set.000, frame 2 in set.001
    for name in ("type.raw", "type_map.raw"):
        split.mkdir(parents=True, exist_ok=True)
        (split / name).write_text((lif_dir / name).read_text())
    for key in ("box", "coord", "energy", "force", "virial"):
        data = np.load(lif_dir / "set.000" / f"{key}.npy")
        for j, part in enumerate((data[:2], data[2:])):
            (split / f"set.00{j}").mkdir(exist_ok=True)
            np.save(split / f"set.00{j}" / f"{key}.npy", part)
    np.save(split / "set.000" / "fparam.npy", np.array([[1.0], [2.0]]))
    with pytest.raises(StructureError, match="fparam.npy is not in every set"):
        read_deepmd(split)
    np.save(split / "set.001" / "fparam.npy", np.array([[3.0]]))
    back = read_deepmd(split)
    for original, read in zip(frames[:3], back):
        assert_same_sorted(original, read, ["Li", "F", "H", "O"])
    assert [float(a.info["fparam"][0]) for a in back] == [1.0, 2.0, 3.0]  # kept, not lost


def test_deepmd_reader_virial_sign_against_emt(tmp_path):
    frames = emt_frames()
    system = tmp_path / "cu"
    (system / "set.000").mkdir(parents=True)
    (system / "type.raw").write_text("0\n" * 32)
    (system / "type_map.raw").write_text("Cu\n")
    arrays = {"box": [a.cell.array.ravel() for a in frames],
              "coord": [a.positions.ravel() for a in frames],
              "energy": [a.get_potential_energy() for a in frames],
              "force": [a.get_forces().ravel() for a in frames],
              "virial": [hand_virial(a).ravel() for a in frames]}
    for key, value in arrays.items():
        np.save(system / "set.000" / f"{key}.npy", np.array(value))
    assert_emt_labels(read_deepmd(system), frames)


def test_deepmd_reader_errors(tmp_path):
    _, systems = deepmd_set(tmp_path)
    lif_dir = systems[0]
    with pytest.raises(StructureError, match="no DeePMD-kit system"):
        read_deepmd(tmp_path / "nothing")
    (lif_dir / "type_map.raw").unlink()
    with pytest.raises(StructureError, match="no type_map.raw.*--type-map"):
        read_deepmd(lif_dir)
    assert read_deepmd(lif_dir, ["Li", "F"])[0].get_chemical_symbols()[:5] == ["Li"] * 4 + ["F"]
    with pytest.raises(StructureError, match=r"types \[0, 1\] do not fit type_map \['Li'\]"):
        read_deepmd(lif_dir, ["Li"])
    np.save(lif_dir / "set.000" / "force.npy", np.zeros((3, 21)))
    with pytest.raises(StructureError, match=r"force has shape \(3, 21\), expected \(3, 24\)"):
        read_deepmd(lif_dir, ["Li", "F"])


# ---------------------------------------------------------------------------------------------
# NequIP npz
# ---------------------------------------------------------------------------------------------


def nequip_arrays(frames: list[Atoms]) -> dict[str, np.ndarray]:
    return {"pos": np.array([a.positions for a in frames]),
            "cell": np.array([a.cell.array for a in frames]),
            "pbc": np.array([True, True, True]),
            "atomic_numbers": frames[0].numbers,
            "total_energy": np.array([[a.get_potential_energy()] for a in frames]),
            "forces": np.array([a.get_forces() for a in frames])}


def test_npz_virial_and_stress_against_emt(tmp_path):
    frames = emt_frames()
    data = nequip_arrays(frames)
    np.savez(tmp_path / "virial.npz", **data, virial=np.array([hand_virial(a) for a in frames]))
    back = read_nequip_npz(tmp_path / "virial.npz")
    assert_emt_labels(back, frames)
    assert back[0].pbc.all() and back[0].info["source"] == "file virial.npz"
    stress = np.array([a.get_stress(voigt=False) for a in frames])  # NequIP: (1/V) dE/dε
    np.savez(tmp_path / "stress.npz", **data, stress=stress)
    assert_emt_labels(read_nequip_npz(tmp_path / "stress.npz"), frames)
    np.savez(tmp_path / "both.npz", **data, stress=stress,
             virial=-np.array([hand_virial(a) for a in frames]))  # opposite sign: refused
    with pytest.raises(StructureError, match=r"both\.npz:frame 0: stress and virial disagree"):
        read_nequip_npz(tmp_path / "both.npz")


def test_npz_types_unknown_keys_and_errors(tmp_path):
    frames = [lif(k) for k in range(2)]
    data = nequip_arrays(frames)
    del data["atomic_numbers"]
    types = np.array([0 if s == "Li" else 1 for s in frames[0].get_chemical_symbols()])
    np.savez(tmp_path / "typed.npz", **data, atom_types=types, type_names=np.array(["Li", "F"]),
             dipole=np.ones((2, 3)), charges_ref=np.zeros((2, 8)), energy=np.zeros(2))
    back = read_nequip_npz(tmp_path / "typed.npz")
    for a, b in zip(frames, back):
        assert b.get_chemical_symbols() == a.get_chemical_symbols()
        assert b.get_potential_energy() == pytest.approx(a.get_potential_energy())
        assert b.calc.results.get("stress") is None
    # keys seiflow does not read stay on the frames, where the import names them
    assert np.allclose(back[1].info["dipole"], 1.0) and back[0].arrays["charges_ref"].shape == (8,)
    assert back[0].info["energy"] == 0.0  # 'energy' beside 'total_energy' is not used
    np.savez(tmp_path / "untyped.npz", **data, atom_types=types)
    with pytest.raises(StructureError, match="'atom_types' without 'type_names'.*--type-map"):
        read_nequip_npz(tmp_path / "untyped.npz")
    assert read_nequip_npz(tmp_path / "untyped.npz", ["Li", "F"])[0].get_chemical_symbols() == \
        frames[0].get_chemical_symbols()
    sgdml = {"R": data["pos"], "z": types + 3, "E": np.zeros(2), "F": data["forces"]}
    np.savez(tmp_path / "sgdml.npz", **sgdml)  # other names (and units): not guessed
    with pytest.raises(StructureError, match=r"no 'pos' key \(keys: E, F, R, z\)"):
        read_nequip_npz(tmp_path / "sgdml.npz")
    np.savez(tmp_path / "short.npz", **{**nequip_arrays(frames), "forces": np.zeros((2, 7, 3))})
    with pytest.raises(StructureError, match=r"'forces' has shape \(2, 7, 3\)"):
        read_nequip_npz(tmp_path / "short.npz")
