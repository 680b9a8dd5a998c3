"""`seiflow label` and `seiflow data` as a user runs them."""

import subprocess
import sys
from pathlib import Path

import ase.io
import numpy as np
import pytest
from ase.build import bulk, molecule

MLEARN = Path(__file__).resolve().parents[3] / "shared/data/mlearn-Li/training.json"


def run(*args):
    return subprocess.run([sys.executable, "-m", "seiflow", *args], capture_output=True,
                          text=True, timeout=600)


def test_label_molecules_then_stats(tmp_path):
    path = tmp_path / "mols.extxyz"
    ase.io.write(path, [molecule(n) for n in ("H2O", "CH4", "CO2")])
    db = tmp_path / "labels.db"
    out = run("label", str(path), "--db", str(db), "--group", "mols", "--no-progress")
    assert out.returncode == 0, out.stderr
    assert "3 labelled" in out.stdout
    again = run("label", str(path), "--db", str(db), "--no-progress")
    assert "3 already" in " ".join(again.stdout.split())
    stats = run("data", "stats", str(db), "--png", str(tmp_path / "h.png"))
    assert stats.returncode == 0, stats.stderr
    assert "mols" in stats.stdout and "eV/atom" in stats.stdout and (tmp_path / "h.png").exists()
    assert (tmp_path / "labels.db-label-summary.yml").exists()


@pytest.mark.parametrize("args,needle", [
    (["--labeler", "gpw"], "did you mean 'gpaw'"),
    (["--labeler", "xtb"], "thin"),
])
def test_label_bad_input_is_one_line(tmp_path, args, needle):
    from ase.build import bulk

    path = tmp_path / "lif.extxyz"
    ase.io.write(path, bulk("LiF", "rocksalt", a=4.03))
    out = run("label", str(path), "--db", str(tmp_path / "x.db"), *args)
    assert out.returncode == 2 and needle in " ".join(out.stderr.split())
    assert "Traceback" not in out.stderr


def test_label_rejects_non_structure_and_missing_binary(tmp_path):
    junk = tmp_path / "notes.txt"
    junk.write_text("this is not a structure\n")
    out = run("label", str(junk), "--db", str(tmp_path / "x.db"))
    assert out.returncode == 2 and "notes.txt" in out.stderr and "Traceback" not in out.stderr
    settings = tmp_path / "cp2k.yaml"
    settings.write_text("command: cp2k_shell_missing\n")
    mol = tmp_path / "h2o.xyz"
    ase.io.write(mol, molecule("H2O"))
    out = run("label", str(mol), "--labeler", "cp2k", "--settings", str(settings),
              "--db", str(tmp_path / "y.db"))
    assert out.returncode == 2 and "cp2k_shell_missing" in out.stderr
    assert not (tmp_path / "y.db").exists() or "0 rows" in " ".join(run(
        "data", "stats", str(tmp_path / "y.db")).stdout.split())  # long tmp paths wrap


@pytest.mark.skipif(not MLEARN.exists(), reason="shared mlearn data not present")
def test_import_mlearn_split_and_export(tmp_path):
    db = tmp_path / "li.db"
    out = run("data", "import", str(MLEARN), "--db", str(db))
    assert out.returncode == 0 and "imported 241" in out.stdout, out.stderr
    again = run("data", "import", str(MLEARN), "--db", str(db)).stdout
    assert "241 already there" in " ".join(again.split())
    out = run("data", "split", str(db), "--test-fraction", "0.1", "--seed", "1")
    assert out.returncode == 0 and "train" in out.stdout
    for fmt, target in (("cfg", "train.cfg"), ("deepmd", "deepmd"), ("extxyz", "all.extxyz")):
        extra = ["--split", "train"] if fmt == "cfg" else []
        out = run("data", "export", str(db), str(tmp_path / target), "--format", fmt, *extra)
        assert out.returncode == 0, out.stderr
        assert (tmp_path / target).exists()
    from seiflow.data.formats import read_cfg

    train = read_cfg(tmp_path / "train.cfg", ["Li"])
    assert 200 < len(train) < 241


# ---------------------------------------------------------------------------------------------
# seiflow data import: every format, the official split, honest warnings, the validation gate
# ---------------------------------------------------------------------------------------------


def invoke(*args):
    """The CLI in-process (typer's CliRunner); a SeiflowError comes back as result.exception."""
    from typer.testing import CliRunner

    from seiflow.cli.app import app

    return CliRunner().invoke(app, [str(a) for a in args])


def xyz_frame(symbols, positions, lattice, energy, extra=""):
    """One extended-XYZ frame written by hand (Å, eV; zero forces)."""
    head = (f'Lattice="{" ".join(str(x) for x in np.ravel(lattice))}" '
            f'Properties=species:S:1:pos:R:3:forces:R:3 energy={energy} pbc="T T T" {extra}')
    rows = [f"{s} {x} {y} {z} 0 0 0" for s, (x, y, z) in zip(symbols, positions)]
    return "\n".join([str(len(symbols)), head, *rows]) + "\n"


def lif_frame(shift=0.0, energy=-38.0, extra=""):
    atoms = bulk("LiF", "rocksalt", a=4.03, cubic=True)
    atoms.positions[0] += shift
    return xyz_frame(atoms.get_chemical_symbols(), atoms.positions, atoms.cell.array, energy,
                     extra)


def emt_cu(n=4):
    """Compressed, sheared fcc Cu with EMT energy, forces and stress (eV, eV/Å, eV/Å³)."""
    from ase.calculators.emt import EMT

    from seiflow.workflows.properties.base import single_point

    frames = []
    for k in range(n):
        atoms = bulk("Cu", "fcc", a=3.50, cubic=True).repeat(2)
        atoms.set_cell(atoms.cell.array @ [[1, 0.01 * (k + 1), 0], [0, 1, 0], [0, 0, 1]],
                       scale_atoms=True)
        atoms.rattle(0.05, seed=k)
        frames.append(single_point(atoms, lambda _: EMT()))
    return frames


def virial_text(frames, dipole_in=2, no_virial=(3,)):
    """extxyz with virial = -V·σ (eV) by hand; ``dipole`` on the first frames."""
    text = ""
    for k, atoms in enumerate(frames):
        xx, yy, zz, yz, xz, xy = atoms.get_stress()
        virial = -atoms.get_volume() * np.array([[xx, xy, xz], [xy, yy, yz], [xz, yz, zz]])
        values = " ".join(f"{v:.14e}" for v in virial.ravel())
        extra = "" if k in no_virial else f'virial="{values}"'
        extra += ' dipole="0.1 0.2 0.3"' if k < dipole_in else ""
        head = xyz_frame(atoms.get_chemical_symbols(), atoms.positions, atoms.cell.array,
                         f"{atoms.get_potential_energy():.14e}", extra)
        lines = head.splitlines()[:2] + [
            f"Cu {' '.join(f'{x:.14e}' for x in p)} {' '.join(f'{f:.14e}' for f in F)}"
            for p, F in zip(atoms.positions, atoms.get_forces())]
        text += "\n".join(lines) + "\n"
    return text


def test_import_extxyz_virial_warns_and_keeps_the_emt_stress(tmp_path):
    from seiflow.data.store import LabelStore

    frames = emt_cu()
    path = tmp_path / "cu.extxyz"
    path.write_text(virial_text(frames))
    out = invoke("data", "import", path, "--db", tmp_path / "cu.db")
    assert out.exit_code == 0, out.output
    assert "imported 4 frames" in out.stdout
    warning = " ".join(out.stderr.split())
    assert f"warning: {path}: 2 frames have a 'dipole' the store does not keep" in warning
    assert "stress missing in 1 of 4 periodic frames" in warning
    stored = sorted(LabelStore(tmp_path / "cu.db").frames(), key=lambda a: a.info["id"])
    for atoms, original in zip(stored[:3], frames):
        assert np.allclose(atoms.get_stress(), original.get_stress(), rtol=1e-9, atol=1e-12)
        assert -atoms.get_stress()[:3].mean() > 0  # compressed: positive pressure
    assert "stress" not in stored[3].calc.results


def test_import_deepmd_directory_and_npz_by_detection(tmp_path):
    from seiflow.data.formats import write_deepmd
    from seiflow.data.store import LabelStore

    frames = emt_cu()
    write_deepmd(frames, tmp_path / "dp", ["Cu"])
    out = invoke("data", "import", tmp_path / "dp", "--db", tmp_path / "dp.db")
    assert out.exit_code == 0, out.output
    assert "imported 4 frames" in out.stdout and "warning" not in out.stderr
    again = invoke("data", "import", tmp_path / "dp", "--db", tmp_path / "dp.db")
    assert "(4 already there)" in again.stdout
    np.savez(tmp_path / "cu.npz", pos=[a.positions for a in frames],
             cell=[a.cell.array for a in frames], atomic_numbers=frames[0].numbers,
             total_energy=[a.get_potential_energy() for a in frames],
             forces=[a.get_forces() for a in frames],
             stress=[a.get_stress(voigt=False) for a in frames], pbc=True,
             dipole=np.ones((4, 3)))
    out = invoke("data", "import", tmp_path / "cu.npz", "--db", tmp_path / "npz.db")
    assert out.exit_code == 0, out.output
    assert "4 frames have a 'dipole'" in " ".join(out.stderr.split())
    for db in ("dp.db", "npz.db"):
        stored = sorted(LabelStore(tmp_path / db).frames(), key=lambda a: a.info["id"])
        assert [a.info["group"] for a in stored] == ["Cu32" if db == "dp.db" else "cu"] * 4
        for atoms, original in zip(stored, frames):
            assert atoms.get_potential_energy() == pytest.approx(original.get_potential_energy())
            assert np.allclose(atoms.get_stress(), original.get_stress(), rtol=1e-9)


@pytest.mark.parametrize("bad,needle", [
    (lif_frame(energy="nan"), "energy is not finite"),
    (lif_frame().replace("\nLi ", "\nX ", 1), "atom 0 is not a chemical element ('X'"),
    (lif_frame(shift=[1.9, 0, 0]), "Å apart"),
    (lif_frame().replace('Lattice="4.03 0.0 0.0 0.0 4.03 0.0 0.0 0.0 4.03"',
                         'Lattice="4.03 0.0 0.0 0.0 4.03 0.0 0.0 0.0 0.0"'), "cell vector is zero"),
])
def test_import_refuses_a_bad_frame_and_leaves_the_store_as_it_was(tmp_path, bad, needle):
    from seiflow.core.errors import StructureError
    from seiflow.data.store import LabelStore

    (tmp_path / "first.extxyz").write_text(lif_frame(energy=-37.0))
    db = tmp_path / "x.db"
    assert invoke("data", "import", tmp_path / "first.extxyz", "--db", db).exit_code == 0
    (tmp_path / "good.extxyz").write_text(lif_frame(energy=-38.0) + lif_frame(0.1, -38.1))
    (tmp_path / "bad.extxyz").write_text(lif_frame(0.05, -38.2) + bad)
    out = invoke("data", "import", tmp_path / "good.extxyz", tmp_path / "bad.extxyz", "--db", db)
    assert isinstance(out.exception, StructureError), out.output
    message = str(out.exception)
    assert message.startswith(f"{tmp_path / 'bad.extxyz'}:frame 1: ") and needle in message
    assert LabelStore(db).count() == 1  # the good file was not written either


def test_import_bad_frame_exits_2_with_one_line(tmp_path):
    (tmp_path / "bad.extxyz").write_text(lif_frame() + lif_frame(energy="nan"))
    out = run("data", "import", str(tmp_path / "bad.extxyz"), "--db", str(tmp_path / "x.db"))
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert " ".join(out.stderr.split()) == (
        f"error: {tmp_path / 'bad.extxyz'}:frame 1: energy is not finite (nan)")
    assert not (tmp_path / "x.db").exists()


def test_import_options_are_checked(tmp_path):
    (tmp_path / "a.extxyz").write_text(lif_frame())
    out = invoke("data", "import", tmp_path / "a.extxyz", "--db", tmp_path / "x.db",
                 "--split", "val")
    assert "--split must be train or test" in str(out.exception)
    out = invoke("data", "import", tmp_path / "a.extxyz", "--db", tmp_path / "x.db",
                 "--format", "xyz")
    assert "unknown import format 'xyz'" in str(out.exception) and "deepmd" in str(out.exception)
    assert not (tmp_path / "x.db").exists()


@pytest.mark.skipif(not MLEARN.exists(), reason="shared mlearn data not present")
def test_import_keeps_the_official_test_set(tmp_path):
    from seiflow.data.store import LabelStore
    from seiflow.workflows.train import SplitSettings, load_split

    db = tmp_path / "li.db"
    out = invoke("data", "import", MLEARN, "--db", db, "--reference", "mlearn-pbe",
                 "--split", "train")
    assert out.exit_code == 0 and "241 marked train" in out.stdout, out.output
    assert "241 frames have a 'description'" in " ".join(out.stderr.split())
    out = invoke("data", "import", MLEARN.with_name("test.json"), "--db", db,
                 "--reference", "mlearn-pbe", "--split", "test")
    assert out.exit_code == 0 and "imported 29 frames" in out.stdout, out.output
    store = LabelStore(db)
    train, test = load_split(store, SplitSettings(test_fraction=0.5, seed=3))
    assert (len(train), len(test)) == (241, 29)  # the marks win over any new split
    assert {a.info["builder"] for a in test} == {"import test.json"}
    again = invoke("data", "import", MLEARN, "--db", db, "--reference", "mlearn-pbe",
                   "--split", "test")
    assert "241 already there" in again.stdout and store.count(split="test") == 29
