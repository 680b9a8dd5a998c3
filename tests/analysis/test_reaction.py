"""Reaction analysis of a reactive interface on synthetic configurations with known answers:
clusters and periodic percolation, step profiles, a front at a known speed, phase labels of
ideal crystals, plane crossings, and the `seiflow analyze reaction` command."""

import json
import subprocess
import sys

import ase.io
import numpy as np
import pytest
from ase import Atoms

from seiflow.analysis.clusters import find_clusters
from seiflow.analysis.msd import UnwrapError
from seiflow.analysis.phase_labels import LABELS, label_atoms, label_fractions
from seiflow.analysis.profiles import (
    flux_across_plane, follow_front, front_positions, profile_series,
)
from seiflow.analysis.reaction import reaction_series
from seiflow.core.errors import SeiflowError
from seiflow.structures.library import get_phase


def _in(positions, cell, pbc=True):
    return Atoms(f"In{len(positions)}", positions=positions, cell=cell, pbc=pbc)


def _blob(centre, n=2, a=3.0):
    """n x n x n simple-cubic block of spacing a around ``centre``."""
    g = np.arange(n) * a - (n - 1) * a / 2
    return np.array([[x, y, z] for x in g for y in g for z in g]) + centre


# ---------------------------------------------------------------------------------------------
# clusters and percolation


def test_infinite_chain_percolates_along_its_axis_only():
    n = 6  # 6 atoms 3 Å apart in a 18 Å cell: the last one bonds to the first one's image
    chain = _in([[10, 10, 3.0 * k] for k in range(n)], [20, 20, 3.0 * n])
    r = find_clusters(chain, ("In",), 3.6)
    assert r.sizes.tolist() == [n] and r.largest_fraction == 1.0
    assert r.percolates() == (False, False, True)
    assert r.dimensionality() == 1


def test_chain_that_wraps_but_ends_is_finite():
    # 9 atoms from z = 15 to 39, wrapped into a 30 Å cell: they straddle the boundary but the
    # gap from 9 to 15 Å (6 Å) is wider than the cutoff, so the chain is not infinite
    z = np.mod(15.0 + 3.0 * np.arange(9), 30.0)
    chain = _in([[10, 10, zz] for zz in z], [20, 20, 30])
    r = find_clusters(chain, ("In",), 3.6)
    assert r.sizes.tolist() == [9]
    assert r.percolates() == (False, False, False) and r.dimensionality() == 0


def test_compact_blob_and_size_distribution():
    pos = np.concatenate([_blob([8, 8, 8]), _blob([24, 24, 24], 1),
                          [[24, 8, 8], [27, 8, 8], [30, 8, 8]], [[8, 24, 30]]])
    atoms = _in(pos, [36, 36, 36])
    r = find_clusters(atoms, ("In",), 3.6)
    assert r.sizes.tolist() == [8, 3, 1, 1]
    assert r.size_distribution() == {1: 2, 3: 1, 8: 1}
    assert r.n_clusters(2) == 2 and r.largest == 8
    assert r.largest_fraction == pytest.approx(8 / 13)
    assert r.percolates() == (False, False, False)
    assert set(r.cluster_of[:8]) == {0}  # the blob's atoms are cluster 0 (the largest)


def test_network_sheet_and_self_image_bond():
    indium = get_phase("in-bct").repeat((3, 3, 2))
    r = find_clusters(indium, ("In",), 3.6)
    assert r.sizes.tolist() == [len(indium)]
    assert r.percolates() == (True, True, True) and r.dimensionality() == 3
    sheet = _in([[x, y, 10] for x in (0.0, 3.0) for y in (0.0, 3.0)], [6, 6, 20])
    assert find_clusters(sheet).percolates() == (True, True, False)
    assert find_clusters(sheet).dimensionality() == 2
    single = _in([[1, 1, 1]], [20, 20, 3.0])  # bonded to its own image along c
    assert find_clusters(single).percolates() == (False, False, True)


def test_clusters_ignore_other_species_and_non_periodic_axes():
    chain = _in([[10, 10, 3.0 * k] for k in range(6)], [20, 20, 18])
    mixed = chain + Atoms("Li", positions=[[10, 10, 1.5]], cell=chain.cell, pbc=True)
    r = find_clusters(mixed, ("In",), 3.6)
    assert r.n_selected == 6 and r.percolates() == (False, False, True)
    chain.pbc = [True, True, False]
    assert find_clusters(chain).percolates() == (False, False, False)
    assert find_clusters(mixed, ("Cl",)).largest == 0


def test_cluster_result_is_invariant_under_translation():
    rng = np.random.default_rng(3)
    pos = np.concatenate([_blob([5, 5, 5], 3), [[12, 12, 3.0 * k] for k in range(8)],
                          rng.random((10, 3)) * 24])
    atoms = _in(pos, [24, 24, 24])
    ref = find_clusters(atoms)
    assert ref.percolates(0) == (False, False, False)  # the blob (and random neighbours)
    assert ref.percolates(1) == (False, False, True)  # the chain of 8 x 3 Å in 24 Å
    for _ in range(5):
        moved = atoms.copy()
        moved.translate(rng.normal(0, 10, 3))
        for wrap in (False, True):
            if wrap:
                moved.wrap()
            r = find_clusters(moved)
            assert r.sizes.tolist() == ref.sizes.tolist()
            assert np.array_equal(r.cluster_of, ref.cluster_of)
            assert [r.percolates(k) for k in range(3)] == [ref.percolates(k) for k in range(3)]
            assert [w.tolist() for w in r.windings] == [w.tolist() for w in ref.windings]


# ---------------------------------------------------------------------------------------------
# profiles and fronts


def _layers(species_of_z, cell_z, a=2.0, nx=5):
    """Atoms on a square grid (spacing ``a``, nx x nx per layer) in layers at z = 0.5, 1.5, ...;
    ``species_of_z(z)`` names each layer's element."""
    pos, sym = [], []
    for z in np.arange(0.5, cell_z, 1.0):
        for x in range(nx):
            for y in range(nx):
                pos.append([x * a, y * a, z])
                sym.append(species_of_z(z))
    return Atoms(sym, positions=pos, cell=[nx * a, nx * a, cell_z], pbc=True)


def test_step_profile_composition_and_density():
    atoms = _layers(lambda z: "Li" if z < 10 else "Cl", 20.0)
    p = profile_series([atoms], [0.0], axis="z", bin_width=1.0)
    assert p.species == ("Cl", "Li") and p.edges_A.size == 21
    li, cl = p.of("Li")[0], p.of("Cl")[0]
    assert np.allclose(li[:10], 25 / 100.0) and np.allclose(li[10:], 0.0)  # atoms/Å³
    assert np.allclose(cl[10:], 0.25) and np.allclose(cl[:10], 0.0)
    assert np.allclose(p.of("Li", "composition")[0], np.r_[np.ones(10), np.zeros(10)])
    assert np.allclose(p.composition[0].sum(axis=0), 1.0)
    # the same along x of a rotated copy (axis given as an index)
    rotated = atoms.copy()  # the same atoms, the normal now the first cell vector
    rotated.set_cell(atoms.cell.array[[2, 0, 1]], scale_atoms=False)
    assert np.allclose(profile_series([rotated], [0.0], axis=0).of("Li"), p.of("Li"))


def test_empty_bins_have_no_composition_and_bad_axis_is_refused():
    atoms = _layers(lambda z: "Li", 5.0)
    atoms.set_cell([10, 10, 10], scale_atoms=False)
    p = profile_series([atoms], [0.0], bin_width=1.0)
    assert np.isnan(p.composition[0, 0, 6]) and p.number_density[0, 0, 6] == 0
    with pytest.raises(SeiflowError, match="axis"):
        profile_series([atoms], [0.0], axis="w")
    with pytest.raises(SeiflowError, match="times"):
        profile_series([atoms], [0.0, 1.0])


@pytest.mark.parametrize("smooth", [0.0, 2.0])
def test_front_moves_at_known_speed(smooth):
    # Cl (the "electrolyte") fills z in [10 + 2k, 30) of a 40 Å cell at t = 0.5 k ps: its lower
    # boundary advances 4 Å/ps into it; the upper one stays at 30 Å
    frames = [_layers(lambda z, k=k: "Cl" if 10 + 2 * k < z < 30 else "Li", 40.0)
              for k in range(6)]
    times = 0.5 * np.arange(6)
    p = profile_series(frames, times, bin_width=1.0)
    low = follow_front(p.of("Cl"), 40.0, times, direction=-1, smooth_A=smooth)
    high = follow_front(p.of("Cl"), 40.0, times, direction=+1, smooth_A=smooth)
    assert low.level == pytest.approx(0.125, rel=1e-3)  # half the bulk 0.25 atoms/Å³
    assert np.allclose(low.position_A, 10 + 2 * np.arange(6), atol=1e-3)
    assert np.allclose(low.advance_A, 2 * np.arange(6), atol=1e-9)
    assert low.speed_A_ps == pytest.approx(4.0)
    assert np.allclose(high.position_A, 30.0) and high.speed_A_ps == pytest.approx(0.0, abs=1e-9)


def test_front_of_a_layered_profile_needs_smoothing_and_skips_empty_bins():
    # a "crystal" of layers 2 Å apart in z in [10, 30) of a 40 Å cell, 0.5 Å bins: every other
    # bin inside is empty; the raw density is 0 in the start bin (between two layers), so its
    # walk does not start inside the phase and finds no front; the smoothed one crosses half
    # its bulk at the slab's edge (between the outer layer and half a spacing beyond)
    atoms = _layers(lambda z: ("Cl" if int(z) % 2 == 0 else "He") if 10 < z < 30 else "Li", 40.0)
    frames = [atoms[[s != "He" for s in atoms.get_chemical_symbols()]]]
    p = profile_series(frames, [0.0], bin_width=0.5)
    raw = follow_front(p.of("Cl"), 40.0, [0.0], direction=+1, start=20.25)
    smooth = follow_front(p.of("Cl"), 40.0, [0.0], direction=+1, start=20.25, smooth_A=2.0)
    assert np.isnan(raw.position_A[0])
    assert 28.5 < smooth.position_A[0] < 30.5
    # composition: NaN (empty) bins are skipped, so the Cl fraction stays 1 inside the slab
    comp = p.of("Cl", "composition")
    assert np.isnan(comp).any()
    skip = follow_front(comp, 40.0, [0.0], direction=+1, start=20.25)
    assert 28.5 < skip.position_A[0] < 30.5


def test_front_walk_wraps_and_interpolates():
    values = np.array([[1.0, 1.0, 0.5, 0.0, 0.0, 0.0, 0.0, 1.0]])  # 8 bins of 1 Å
    # from bin 0 upwards the profile crosses 0.75 halfway between centres 1.5 and 2.5
    assert front_positions(values, 8.0, 0.75, 0.2, +1)[0] == pytest.approx(2.0)
    # downwards it wraps through bin 7 (1.0, centre -0.5) to bin 6 (0.0, centre -1.5): the
    # level 0.75 is a quarter of the way, at -0.75 Å (not wrapped back into the cell)
    assert front_positions(values, 8.0, 0.75, 0.2, -1)[0] == pytest.approx(-0.75)
    assert np.isnan(front_positions(np.ones((1, 8)), 8.0, 0.5, 0.0, 1)[0])
    # a walk that starts outside the phase (consumed at the start) has no front, even where a
    # remnant of the phase lies further along the walk
    assert np.isnan(front_positions(values, 8.0, 0.75, 4.5, -1)[0])
    assert np.isnan(front_positions(values, 8.0, 0.75, 4.5, +1)[0])


# ---------------------------------------------------------------------------------------------
# phase labels


@pytest.mark.parametrize("phase,reps,label", [
    ("li-bcc", (3, 3, 3), "Li metal"), ("licl", (2, 2, 2), "LiCl"),
    ("in-bct", (3, 3, 2), "In metal"), ("li3incl6", (2, 1, 2), "Li3InCl6"),
])
def test_ideal_crystals_get_their_own_label(phase, reps, label):
    atoms = get_phase(phase).repeat(reps)
    assert label_fractions(label_atoms(atoms))[label] == 1.0
    atoms.rattle(0.05, seed=1)  # small thermal-like displacements change nothing
    assert label_fractions(label_atoms(atoms))[label] == 1.0


def test_label_fractions_of_a_two_phase_slab_and_unknown_elements():
    # rocksalt LiCl (2 x 2 x 2 cells, 10.26 Å) under bcc Li strained in-plane to a = 10.26 / 3 Å
    # (3 x 3 x 3 cells), 2 Å gaps: the (001) surface atoms keep their labels (4 Li neighbours
    # below a bcc surface atom, 5 neighbours of the other species at the rocksalt surface)
    licl = get_phase("licl").repeat((2, 2, 2))
    side = licl.cell[0, 0]
    a = side / 3
    li = Atoms(["Li"] * 54, cell=[side, side, side], pbc=True,
               positions=[[a * (i + h), a * (j + h), side + 2.0 + a * (k + h)]
                          for i in range(3) for j in range(3) for k in range(3)
                          for h in (0.0, 0.5)])
    both = licl + li
    both.set_cell([side, side, 2 * side + 4.0])
    f = label_fractions(label_atoms(both))
    assert f["Li metal"] == pytest.approx(54 / 118) and f["LiCl"] == pytest.approx(64 / 118)
    assert label_atoms(Atoms("Cu", cell=[5, 5, 5], pbc=True)).tolist() == [LABELS.index("other")]


# ---------------------------------------------------------------------------------------------
# flux


def _frames_from(zs, cell_z=10.0):
    """Li atoms at the given heights (one row per frame) plus one fixed Cl."""
    out = []
    for row in zs:
        pos = [[1.0 + 2 * k, 1.0, z] for k, z in enumerate(row)] + [[5, 5, 5]]
        out.append(Atoms(f"Li{len(row)}Cl", positions=pos, cell=[10, 10, cell_z], pbc=True))
    return out


def test_flux_counts_known_crossings_including_periodic_images():
    # plane at 5 Å: A goes up through it, B down and up again, C crosses the cell boundary
    # (9 -> 1, no crossing) and then the plane's image at 15 Å (unwrapped 13 -> 15.5)
    zs = [[4, 6, 9], [6, 4, 1], [6, 6, 3], [6, 6, 5.5]]
    f = flux_across_plane(_frames_from(zs), [0, 1, 2, 3], 5.0, "z", "Li")
    assert f.forward.tolist() == [1, 1, 1] and f.backward.tolist() == [1, 0, 0]
    assert f.cumulative.tolist() == [0, 0, 1, 2]
    assert f.rate_per_ps == pytest.approx(2 / 3)
    assert f.flux_per_A2_ps == pytest.approx(2 / 3 / 100.0)
    assert f.n_atoms == 3


def test_flux_refuses_jumps_that_cannot_be_unwrapped():
    with pytest.raises(UnwrapError, match="save frames more often"):
        flux_across_plane(_frames_from([[1.0], [5.0]]), [0, 1], 3.0)


# ---------------------------------------------------------------------------------------------
# the whole series and the command


def _interface_frames(n_frames=4, seed=0):
    """Li3InCl6 (2 cells along c) with a Li grid filling extra space along c; Li atoms rattle."""
    salt = get_phase("li3incl6").repeat((1, 1, 2))
    cell = salt.cell.array.copy()
    c_hat = cell[2] / np.linalg.norm(cell[2])
    extra = 12.0
    li_pos = [0.5 * i * cell[0] + 0.25 * j * cell[1] + (1.5 + 3.0 * k) * c_hat
              + cell[2] for i in range(2) for j in range(4) for k in range(4)]
    cell[2] = cell[2] + extra * c_hat
    atoms = salt + Atoms(f"Li{len(li_pos)}", positions=li_pos)
    atoms.set_cell(cell)
    atoms.pbc = True
    rng = np.random.default_rng(seed)
    frames = []
    for k in range(n_frames):
        a = atoms.copy()
        a.positions += rng.normal(0, 0.03, a.positions.shape)
        a.info["time_fs"] = 100.0 * k
        frames.append(a)
    return frames


def test_reaction_series_of_an_interface_like_cell():
    frames = _interface_frames()
    times = [f.info["time_fs"] / 1000 for f in frames]
    s = reaction_series(frames, times, axis="z", bin_width=1.0)
    fr = s.label_fractions
    assert fr.shape == (4, len(LABELS)) and np.allclose(fr.sum(axis=1), 1.0)
    assert fr[0, LABELS.index("Li3InCl6")] > 0.4 and fr[0, LABELS.index("Li metal")] > 0.3
    assert s.clusters.n_clusters.tolist() == [0] * 4  # In3+ ions are 6+ Å apart
    assert np.isfinite(s.fronts["-"].position_A).all()
    assert s.flux is not None
    d = json.loads(json.dumps(s.to_dict()))
    assert d["units"]["number_density"] == "atoms/Å³" and d["axis"] == "z"
    assert len(d["profiles"]["number_density_per_A3"]) == 4
    # a trajectory without the front's phase: no fronts (noted), the rest still measured
    li = [get_phase("li-bcc").repeat((3, 3, 3))] * 2
    s = reaction_series(li, [0.0, 1.0])
    assert np.isnan(s.fronts["-"].position_A).all() and s.flux is None
    assert any("no - front" in n for n in s.notes)
    assert s.label_fractions[:, LABELS.index("Li metal")].tolist() == [1.0, 1.0]
    json.dumps(s.to_dict(), allow_nan=False)


def _seiflow(*args, cwd):
    return subprocess.run([sys.executable, "-m", "seiflow", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=300)


def test_analyze_reaction_command(tmp_path):
    traj = tmp_path / "interface.extxyz"
    ase.io.write(traj, _interface_frames(), format="extxyz")
    r = _seiflow("analyze", "reaction", str(traj), "--axis", "z", "--out", "res", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    def no_nan(name):
        raise AssertionError(f"{name} in reaction.json")

    data = json.loads((tmp_path / "res" / "reaction.json").read_text(), parse_constant=no_nan)
    assert data["n_frames"] == 4 and data["times_ps"][-1] == pytest.approx(0.3)
    for name in ("reaction-profiles.png", "reaction-clusters.png", "reaction-phases.png",
                 "reaction-fronts.png"):
        assert (tmp_path / "res" / name).stat().st_size > 1000
    assert "Li3InCl6" in r.stdout
    for args, message in (((str(tmp_path / "missing.extxyz"),), "not found"),
                          ((str(traj), "--axis", "w"), "axis"),
                          ((str(traj), "--front", "Xx"), "front of")):
        bad = _seiflow("analyze", "reaction", *args, "--out", "bad", cwd=tmp_path)
        assert bad.returncode == 2, bad.stdout + bad.stderr
        assert message in bad.stderr and "Traceback" not in bad.stderr
        assert len(bad.stderr.strip().splitlines()) == 1
