"""`seiflow export-lammps`: the data file reads back (species order, cell, positions), in.lammps
has the paper's fix lines, the MLIP files round-trip through `seiflow import-mtp` exactly, and
the selection state (MLIP-3's #MVS block, MLIP-2's state file) gives back the model's active set.
No LAMMPS or MLIP binary needed (benchmarks/lammps_export_check.py runs them)."""

from pathlib import Path

import ase.io
import numpy as np
import pytest
from ase.build import bulk
from ase.data import atomic_numbers
from typer.testing import CliRunner

from seiflow.cli.app import app, run
from seiflow.potentials.mtp.fit import fit_mtp
from seiflow.data.formats import read_cfg, write_cfg
from seiflow.potentials.active import ActiveSet
from seiflow.potentials.mtp.mlip_io import (coeff_counts, mlip2_state, parse_mlip2_state,
                                            parse_mvs, split_mvs)
from seiflow.potentials.mtp.model import MTPModel
from tests.potentials.conftest import emt_frames


@pytest.fixture(scope="module")
def mtp_folder(tmp_path_factory):
    model = fit_mtp(emt_frames(6, seed=1), level=6, cutoff=5.0, max_iter=3, seed=0,
                    progress=False)
    assert model.active_set is not None
    return model.save(tmp_path_factory.mktemp("m") / "model")


@pytest.fixture(scope="module")
def structure(tmp_path_factory):
    atoms = emt_frames(1, seed=7)[0]
    atoms.calc = None
    path = tmp_path_factory.mktemp("s") / "cual.extxyz"
    ase.io.write(path, atoms)
    return path, atoms


def _export(model, path, out, *extra):
    return CliRunner().invoke(app, ["export-lammps", str(model), str(path), "--out", str(out),
                                    *extra])


def test_data_file_reads_back_in_species_order(mtp_folder, structure, tmp_path):
    path, atoms = structure
    r = _export(mtp_folder, path, tmp_path / "lmp")
    assert r.exit_code == 0, r.output
    species = MTPModel.load(mtp_folder).species  # ('Al', 'Cu'): type 1 = Al, 2 = Cu
    back = ase.io.read(tmp_path / "lmp" / "structure.data", format="lammps-data",
                       atom_style="atomic", units="metal",
                       Z_of_type={k + 1: atomic_numbers[s] for k, s in enumerate(species)})
    assert back.get_chemical_symbols() == atoms.get_chemical_symbols()
    assert np.allclose(back.cell.cellpar(), atoms.cell.cellpar(), atol=1e-8)
    # LAMMPS' cell is a rotation of the input one: compare distances, not raw positions
    assert np.allclose(back.get_all_distances(mic=True), atoms.get_all_distances(mic=True),
                       atol=1e-8)
    text = (tmp_path / "lmp" / "structure.data").read_text()
    assert "2 atom types" in text and "Masses" in text


def test_input_script_nvt_and_npt(mtp_folder, structure, tmp_path):
    path, _ = structure
    assert _export(mtp_folder, path, tmp_path / "nvt", "--temperature", "600",
                   "--steps", "200").exit_code == 0
    nvt = (tmp_path / "nvt" / "in.lammps").read_text()
    for line in ("units metal", "atom_style atomic", "read_data structure.data",
                 "timestep 0.0005", "fix md all nvt temp 600 600 0.1", "run 200",
                 "pair_coeff * *"):
        assert line in nvt, line
    assert ("pair_style mlip load_from=potential.almtp extrapolation_control=true "
            "extrapolation_control:threshold_save=2 extrapolation_control:threshold_break=10"
            ) in nvt
    r = _export(mtp_folder, path, tmp_path / "npt", "--ensemble", "npt", "--pressure-bar",
                "1000", "--temperature", "500")
    assert r.exit_code == 0, r.output
    npt = (tmp_path / "npt" / "in.lammps").read_text()
    assert "fix md all npt temp 500 500 0.1 iso 1000 1000 0.5" in npt
    assert "atom_modify" not in nvt  # only pair_style mace needs the atom map
    ini = (tmp_path / "npt" / "mlip.ini").read_text()
    assert "select:threshold 2\n" in ini and "select:threshold-break 10\n" in ini


def test_mlip_files_round_trip_exactly(mtp_folder, structure, tmp_path):
    path, atoms = structure
    assert _export(mtp_folder, path, tmp_path / "lmp").exit_code == 0
    model = MTPModel.load(mtp_folder)
    text, block = split_mvs((tmp_path / "lmp" / "potential.almtp").read_bytes())
    state = parse_mvs(block, sum(coeff_counts(model.data)), "test")
    assert state.weights["site_en_weight"] == 1.0 and state.cfg_text.strip() == ""
    for name, als in (("potential.mtp", None), ("potential.almtp", None),
                      ("potential.mtp", "state.als"), ("state.als", None)):
        out = tmp_path / f"imported-{name}-{als}"
        extra = ["--als", str(tmp_path / "lmp" / als)] if als else []
        r = CliRunner().invoke(app, ["import-mtp", str(tmp_path / "lmp" / name), "--species",
                                     *model.species, "--out", str(out), *extra])
        assert r.exit_code == 0, r.output
        back = MTPModel.load(out)
        for a in emt_frames(3, seed=9):
            a.calc = model.calculator(grade=False)
            e, f = a.get_potential_energy(), a.get_forces()
            a.calc = back.calculator(grade=False)
            assert abs(a.get_potential_energy() - e) <= 1e-12 * len(a)
            assert np.abs(a.get_forces() - f).max() <= 1e-12
            if back.active_set is not None:  # the active set comes back: the same γ
                assert np.allclose(back.grade(a), model.grade(a), rtol=1e-9, atol=1e-12)
        assert (back.active_set is None) == (name == "potential.mtp" and als is None)
        assert back.record["active_set_source"] in ("exact", "none")


def test_mlip2_state_is_mlip2s_layout(mtp_folder, structure, tmp_path):
    """state.als (MLIP-2's select:load-state) is MLIP-2's own layout, not the #MVS block MLIP-2
    cannot read: text, ^, neighbourhood weights, #, the same MaxVol matrices as the .almtp, one
    row-to-configuration line per coefficient pointing at a configuration that exists."""
    path, _ = structure
    assert _export(mtp_folder, path, tmp_path / "lmp").exit_code == 0
    model = MTPModel.load(mtp_folder)
    n = sum(coeff_counts(model.data))
    raw = (tmp_path / "lmp" / "state.als").read_bytes()
    assert b"#MVS" not in raw
    assert raw.startswith((tmp_path / "lmp" / "potential.mtp").read_bytes().rstrip(b"\n"))
    state = parse_mlip2_state(raw, n, "state.als")
    assert state.weights == {"site_en_weight": 1.0, "energy_weight": 0.0, "force_weight": 0.0,
                             "stress_weight": 0.0}
    _, block = split_mvs((tmp_path / "lmp" / "potential.almtp").read_bytes())
    assert np.array_equal(state.matrix, parse_mvs(block, n, "almtp").matrix)
    assert np.array_equal(state.links[:, 0], np.arange(n)) and not state.links[:, 1].any()
    assert state.cfg_text.count("BEGIN_CFG") == 1
    ini = (tmp_path / "lmp" / "mlip.ini").read_text()
    assert "select:load-state state.als" in ini and ini.startswith("mtp-filename potential.mtp")
    with pytest.raises(Exception, match="short"):
        parse_mlip2_state(raw[:len(raw) // 2], n, "cut")


def test_refuses_unknown_species_and_backends(mtp_folder, tmp_path, capsys):
    path = tmp_path / "nacl.extxyz"
    ase.io.write(path, bulk("NaCl", "rocksalt", 5.6))
    code = run(["export-lammps", str(mtp_folder), str(path), "--out", str(tmp_path / "x")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "Na" in err
    code = run(["export-lammps", str(tmp_path), str(path), "--out", str(tmp_path / "x")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "model.json" in err
    code = run(["export-lammps", str(mtp_folder), str(path), "--out", str(tmp_path / "x"),
                "--ensemble", "npH"])
    assert code == 2


def test_mace_export_writes_pair_lines(tmp_path):
    pytest.importorskip("mace")
    from seiflow.potentials.mace.settings import MACESettings

    frames = emt_frames(3, seed=1)
    settings = MACESettings.small(dtype="float64", device="cpu", epochs=1, seed=0)
    folder = settings.fit(frames, progress=False).save(tmp_path / "mace")
    path = tmp_path / "s.extxyz"
    ase.io.write(path, frames[0])
    r = _export(folder, path, tmp_path / "lmp")
    assert r.exit_code == 0, r.output
    text = (tmp_path / "lmp" / "in.lammps").read_text()
    assert "pair_style mace no_domain_decomposition" in text
    assert "pair_coeff * * mace-lammps.pt Al Cu" in text
    # pair_style mace looks ghost atoms up through the atom map (LAMMPS crashed without it)
    lines = text.splitlines()
    assert lines.index("atom_modify map yes  # pair_style mace looks atoms up by id") < \
        lines.index("read_data structure.data")
    assert (tmp_path / "lmp" / "mace-lammps.pt").stat().st_size > 0
    assert isinstance(Path(tmp_path / "lmp" / "export.json").read_text(), str)


def test_mlip2_written_state_is_rebuilt_from_its_configurations(mtp_folder, tmp_path):
    """A state MLIP-2 wrote (its MaxVol over all coefficients, here random: not seiflow's pinned
    form) gives an active set rebuilt from the configurations it carries."""
    model = MTPModel.load(mtp_folder)
    n = sum(coeff_counts(model.data))
    text = (model.save(tmp_path / "m") / "potential.mtp").read_bytes()
    raw = mlip2_state(text, model.data, model.active_set)
    start = raw.find(b"#", raw.find(b"^") + 33) + 1
    frames = emt_frames(2, seed=3)
    cfg = write_cfg(frames, tmp_path / "sel.cfg", list(model.species)).read_bytes()
    rows = raw[start + 2 * n * n * 8:].split(b"BEGIN_CFG")[0]
    mlip = np.random.default_rng(0).normal(size=(2, n, n)).astype("<f8").tobytes()
    (tmp_path / "mlip2.als").write_bytes(raw[:start] + mlip + rows + cfg)
    out = tmp_path / "imported"
    r = CliRunner().invoke(app, ["import-mtp", str(tmp_path / "mlip2.als"), "--species",
                                 *model.species, "--out", str(out)])
    assert r.exit_code == 0, r.output
    back = MTPModel.load(out)
    assert back.record["active_set_source"] == "rebuilt"
    rebuilt = ActiveSet.from_matrix(np.vstack([model.rows(a) for a in read_cfg(
        tmp_path / "sel.cfg", list(model.species))]))
    assert np.allclose(back.active_set.rows, rebuilt.rows)
