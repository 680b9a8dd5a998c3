"""The `seiflow` command in a real subprocess, as a user runs it."""

import subprocess
import sys
import textwrap

import ase.io
import pytest
import yaml


def run(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "seiflow", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=600)


def test_phases_lists_library():
    out = run("phases")
    assert out.returncode == 0, out.stderr
    for key in ("li2co3-c2c", "li2co3-hp", "li-bcc", "li-fcc", "lipf6", "lif", "li2o",
                "li3incl6", "li2edc-cell", "C2/c (15)", "R-3 (148)"):
        assert key in out.stdout
    mols = run("phases", "--molecules")
    assert mols.returncode == 0 and "edc" in mols.stdout and "-2" in mols.stdout


CONFIG = """
out_dir: {out}
snapshots: true
calculator: {{name: emt}}
phases:
  - name: li2co3-c2c
amorphous:
  - name: cu
    composition: {{Cu: 12}}
    compress: {{max_steps: 20}}
  - name: sei
    composition: {{Li2EDC: 2, Li2CO3: 4, Li: 4}}
defects:
  - {{phase: li2co3-c2c, kind: interstitial, min_width: 9}}
  - {{phase: li2co3-c2c, kind: frenkel, min_width: 9}}
interfaces:
  - film: li-bcc
    film_miller: [1, 1, 1]
    substrate: li2co3-c2c
    substrate_miller: [0, 0, 1]
    max_strain: 0.04
    max_area: 120
"""


def test_build_each_kind_from_a_config(tmp_path):
    cfg = tmp_path / "build.yaml"
    cfg.write_text(CONFIG.format(out=tmp_path / "out"))
    out = run("build", str(cfg), "--no-progress")
    assert out.returncode == 0, out.stderr
    root = tmp_path / "out"
    expected = {
        "phase/li2co3-c2c": "C16Li32O48"[:0],
        "amorphous/cu-000": "",
        "amorphous/sei-000": "",
        "defect/li2co3-c2c-interstitial-Li": "",
        "defect/li2co3-c2c-frenkel-Li": "",
        "interface/li-bcc-111_li2co3-c2c-001": "",
    }
    for stem in expected:
        for suffix in (".extxyz", ".cif", ".POSCAR", ".png"):
            assert (root / f"{stem}{suffix}").exists(), stem + suffix
        atoms = ase.io.read(root / f"{stem}.extxyz")
        assert atoms.info["source"]
    sei = ase.io.read(root / "amorphous/sei-000.extxyz")
    assert sei.get_chemical_formula() == "C12H8Li16O24"
    iface = ase.io.read(root / "interface/li-bcc-111_li2co3-c2c-001.extxyz")
    assert iface.info["strain"] <= 0.04
    summary = yaml.safe_load((root / "build-summary.yml").read_text())
    assert summary["status"] == "ok" and len(summary["outputs"]) == 6


@pytest.mark.parametrize("text,needle", [
    ("phases:\n  - name: li2co3\n", "unknown phase 'li2co3'"),
    ("phases:\n  - {name: lif}\nformat: [cif]\n", "unknown key 'format'; did you mean 'formats'"),
    ("amorphous:\n  - composition: {Li2CO3: 1, Xq: 2}\n", "unknown species or element 'Xq'"),
    ("defects:\n  - {phase: lif, kind: vacancy, species: Lii}\n", "unknown element 'Lii'"),
])
def test_bad_config_is_one_line_without_traceback(tmp_path, text, needle):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(text)
    out = run("build", str(cfg), "--out", str(tmp_path / "o"))
    assert out.returncode == 2
    assert needle in out.stderr.replace("\n", " ")
    assert "Traceback" not in out.stderr


def test_unmatched_interface_is_a_clear_error(tmp_path):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(textwrap.dedent("""
        snapshots: false
        interfaces:
          - {film: li-bcc, film_miller: [1, 1, 1], substrate: li2co3-c2c,
             substrate_miller: [0, 0, 1], max_strain: 0.001, max_area: 30}
    """))
    out = run("build", str(cfg), "--out", str(tmp_path / "o"), "--no-progress")
    assert out.returncode == 1 and "no lattice match" in out.stdout.replace("\n", " ")
    assert "Traceback" not in out.stderr + out.stdout


def test_version():
    import seiflow

    for args in (("version",), ("--version",)):
        out = run(*args)
        assert out.returncode == 0 and out.stdout.strip() == seiflow.__version__


def test_load_potential_from_the_package():
    from seiflow.potentials import PotentialSettings, load_potential
    from seiflow.potentials.registry import load_potential as direct

    assert load_potential is direct and PotentialSettings is not None


def test_own_structure_file_and_overlap_error(tmp_path):
    from ase.build import bulk

    good = tmp_path / "nacl.cif"
    ase.io.write(good, bulk("NaCl", "rocksalt", a=5.64))
    bad = tmp_path / "bad.xyz"
    bad.write_text("2\nLattice=\"5 0 0 0 5 0 0 0 5\" Properties=species:S:1:pos:R:3 pbc=\"T T T\"\n"
                   "Li 0 0 0\nF 0.3 0 0\n")
    cfg = tmp_path / "own.yaml"
    cfg.write_text(f"snapshots: false\nphases:\n  - {{file: {good}, min_width: 10}}\n")
    out = run("build", str(cfg), "--out", str(tmp_path / "o"), "--no-progress")
    assert out.returncode == 0, out.stderr
    atoms = ase.io.read(tmp_path / "o/phase/nacl.extxyz")
    from seiflow.structures.geometry import perpendicular_widths

    assert perpendicular_widths(atoms.cell).min() >= 10 and len(atoms) == 2 * 4**3
    assert atoms.info["source"] == "file nacl.cif"

    # a config naming an unusable structure file is bad input: refused before any work
    cfg.write_text(f"snapshots: false\nphases:\n  - {{file: {bad}}}\n")
    out = run("build", str(cfg), "--out", str(tmp_path / "o2"), "--no-progress")
    assert out.returncode == 2 and not (tmp_path / "o2").exists()
    text = " ".join(out.stderr.split())
    assert "bad.xyz" in text and "0.300 Å apart" in text and "Traceback" not in text
    assert len(out.stderr.strip().splitlines()) == 1
