"""Harmonic phonons by finite displacements through phonopy's API.

Data in, data out, like phonopy's own API: ``phonon_setup`` hands out the displaced supercells
(ASE ``Atoms``), the caller computes their forces with any calculator, and ``phonon_result``
takes the forces back and returns band structure, density of states, Γ-point frequencies and an
imaginary-mode report. Nothing here runs a calculator.

Units: positions and displacements in Å, forces in eV/Å, masses in amu, frequencies in THz
(phonopy's default conversion for eV/Å/amu), reciprocal-space distances in 1/Å *without* the
factor 2π (so the slope dν/d|q| of an acoustic branch in THz·Å is the sound velocity in
units of 100 m/s).

Conventions
-----------
- q-points are fractional coordinates of the reciprocal lattice of phonopy's primitive cell
  (``primitive_matrix="auto"``: spglib finds the primitive cell of the given unit cell).
- The band path is seekpath's standard path (Hinuma et al., Comp. Mat. Sci. 128, 140 (2017))
  expressed in the basis of *that* primitive cell (``seekpath.get_path_orig_cell``), so it is
  right even when phonopy's primitive cell is not seekpath's standardised one. Points are
  spaced evenly in |q| across the whole path.
- Force constants are symmetrised (phonopy ``symmetrize_force_constants``: translational
  invariance and index permutation), so acoustic frequencies at Γ are zero up to round-off.
- Residual forces of the undisplaced supercell may be given; they are subtracted from every
  displaced supercell's forces (removes the error of an imperfectly relaxed structure to first
  order).
- Imaginary frequencies are negative numbers (phonopy's convention). A mode counts as imaginary
  when its frequency is below ``threshold_THz`` (e.g. −0.1 THz), except the three acoustic
  branches at q-points within ``gamma_fraction`` of the shortest reciprocal vector from Γ
  (finite-difference noise there is common and harmless; a genuine long-wavelength
  instability is a failed Born criterion and shows up in the elastic constants).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
from ase import Atoms

from seiflow.core.errors import SeiflowError

N_ACOUSTIC = 3


class PhononError(SeiflowError):
    """Phonon data that cannot be used (wrong number or shape of force sets...)."""


def to_phonopy_atoms(atoms: Atoms):
    """ASE ``Atoms`` → ``phonopy.structure.atoms.PhonopyAtoms`` (cell Å, masses amu kept)."""
    from phonopy.structure.atoms import PhonopyAtoms

    return PhonopyAtoms(symbols=atoms.get_chemical_symbols(), cell=atoms.cell.array.copy(),
                        scaled_positions=atoms.get_scaled_positions(wrap=False),
                        masses=atoms.get_masses())


def to_ase_atoms(patoms) -> Atoms:
    """``PhonopyAtoms`` → periodic ASE ``Atoms`` (masses kept)."""
    return Atoms(symbols=list(patoms.symbols), cell=np.array(patoms.cell),
                 scaled_positions=np.array(patoms.scaled_positions),
                 masses=np.array(patoms.masses), pbc=True)


@dataclass
class PhononSetup:
    """A phonopy object with its displacements generated, the perfect supercell and the
    displaced supercells (ASE ``Atoms``, the order phonopy expects their forces in)."""

    phonopy: object  # phonopy.Phonopy
    supercell: Atoms
    displaced: list[Atoms]
    supercell_matrix: np.ndarray  # (3, 3) integers, supercell = matrix × unit cell vectors
    displacement_A: float


def phonon_setup(unitcell: Atoms, supercell_matrix, displacement_A: float = 0.01,
                 symprec: float = 1e-5) -> PhononSetup:
    """Generate the symmetry-reduced finite displacements of ``unitcell`` in the supercell
    ``supercell_matrix`` (3 integers for a diagonal one, or a 3×3 integer matrix) with
    displacement ``displacement_A`` (Å). ``symprec`` (Å) is spglib's tolerance."""
    from phonopy import Phonopy

    if not unitcell.pbc.all():
        raise PhononError("phonons need a cell periodic in all three directions")
    if displacement_A <= 0:
        raise PhononError(f"displacement must be positive (Å), got {displacement_A}")
    matrix = np.asarray(supercell_matrix, dtype=int)
    if matrix.shape == (3,):
        matrix = np.diag(matrix)
    if matrix.shape != (3, 3) or round(abs(np.linalg.det(matrix))) < 1:
        raise PhononError(f"supercell matrix must be 3 integers or a non-singular 3×3 integer "
                          f"matrix, got {supercell_matrix!r}")
    with warnings.catch_warnings():
        # 'auto' is chosen on purpose; phonopy 4 warns that its default changed since v3
        warnings.filterwarnings("ignore", message="primitive_matrix defaulted to 'auto'")
        ph = Phonopy(to_phonopy_atoms(unitcell), supercell_matrix=matrix,
                     primitive_matrix="auto", symprec=symprec)
    ph.generate_displacements(distance=displacement_A)
    displaced = [to_ase_atoms(s) for s in ph.supercells_with_displacements]
    return PhononSetup(ph, to_ase_atoms(ph.supercell), displaced, matrix, float(displacement_A))


def pretty_label(name: str) -> str:
    """seekpath point name → plot label: 'GAMMA' → 'Γ', 'X_1' → 'X₁'."""
    if name == "GAMMA":
        return "Γ"
    sub = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")
    base, _, index = name.partition("_")
    return base + index.translate(sub)


def band_path(primitive_cell, positions, numbers, npoints: int = 51
              ) -> tuple[list[np.ndarray], list[tuple[str, str]]]:
    """seekpath's standard path in the reciprocal basis of the given (primitive) cell.

    Returns the q-points of each segment (fractional, arrays (n_k, 3), end points included;
    the longest segment has ``npoints`` points, others proportionally fewer, at least 2) and
    each segment's (start, end) labels ('Γ', 'X', ...).
    """
    import seekpath

    cell = np.asarray(primitive_cell, dtype=float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # EdgeCase/Supercell warnings: the path is still valid
        path = seekpath.get_path_orig_cell((cell, np.asarray(positions), list(numbers)))
    coords = {k: np.asarray(v, dtype=float) for k, v in path["point_coords"].items()}
    rec = np.linalg.inv(cell).T  # rows: reciprocal vectors without 2π (1/Å)
    lengths = [np.linalg.norm((coords[b] - coords[a]) @ rec) for a, b in path["path"]]
    longest = max(lengths)
    segments, labels = [], []
    for (a, b), length in zip(path["path"], lengths):
        n = max(2, int(round((npoints - 1) * length / longest)) + 1)
        t = np.linspace(0.0, 1.0, n)[:, None]
        segments.append(coords[a] + t * (coords[b] - coords[a]))
        labels.append((pretty_label(a), pretty_label(b)))
    return segments, labels


@dataclass
class ImaginaryModes:
    """Imaginary modes on the band path and the mesh (see the module docstring for what counts).

    ``lowest_THz``: the lowest counted frequency (0 when nothing is imaginary);
    ``n_qpoints``: distinct sampled q-points (path + mesh, equal modulo a reciprocal lattice
    vector counted once) with at least one imaginary mode;
    ``n_branches``: the most imaginary branches at any one sampled q-point;
    ``mesh_fraction``: fraction of all mesh modes (weighted to the full grid) that are imaginary;
    ``qpoints`` / ``frequencies_THz``: the worst q-points (fractional) and their lowest
    counted frequency, up to 10, most negative first.
    """

    threshold_THz: float
    lowest_THz: float
    n_qpoints: int
    n_branches: int
    mesh_fraction: float
    qpoints: list[list[float]] = field(default_factory=list)
    frequencies_THz: list[float] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"threshold_THz": self.threshold_THz, "lowest_THz": self.lowest_THz,
                "n_qpoints": self.n_qpoints, "n_branches": self.n_branches,
                "mesh_fraction": self.mesh_fraction, "qpoints": self.qpoints,
                "frequencies_THz": self.frequencies_THz}

    @classmethod
    def from_dict(cls, d: dict) -> ImaginaryModes:
        return cls(float(d["threshold_THz"]), float(d["lowest_THz"]), int(d["n_qpoints"]),
                   int(d["n_branches"]), float(d["mesh_fraction"]),
                   [list(map(float, q)) for q in d["qpoints"]],
                   [float(f) for f in d["frequencies_THz"]])


def _near_gamma(qpoints: np.ndarray, cell: np.ndarray, gamma_fraction: float) -> np.ndarray:
    """Boolean mask: q (fractional) within ``gamma_fraction`` × shortest |b| of a lattice point."""
    rec = np.linalg.inv(cell).T
    shifts = np.array([[i, j, k] for i in (-1, 0, 1) for j in (-1, 0, 1) for k in (-1, 0, 1)])
    q = np.asarray(qpoints, dtype=float)
    frac = q - np.round(q)
    dist = np.linalg.norm((frac[:, None, :] + shifts[None]) @ rec, axis=-1).min(axis=1)
    return dist < gamma_fraction * np.linalg.norm(rec, axis=1).min()


def imaginary_modes(qpoints: np.ndarray, frequencies: np.ndarray, cell: np.ndarray,
                    threshold_THz: float = -0.1, gamma_fraction: float = 0.1,
                    weights: np.ndarray | None = None, n_mesh: int = 0) -> ImaginaryModes:
    """Classify modes as imaginary. ``qpoints`` (n, 3) fractional, ``frequencies`` (n, bands)
    THz sorted ascending at each q, ``cell`` the primitive cell (Å) they refer to. The last
    ``n_mesh`` rows are mesh points with ``weights`` (n_mesh,) used for ``mesh_fraction``."""
    f = np.asarray(frequencies, dtype=float)
    counted = np.ones_like(f, dtype=bool)
    counted[_near_gamma(qpoints, cell, gamma_fraction), :N_ACOUSTIC] = False
    bad = counted & (f < threshold_THz)
    per_q = bad.sum(axis=1)
    lowest_q = np.where(counted, f, np.inf).min(axis=1)
    # the same q-point (modulo a reciprocal lattice vector) is sampled more than once: on
    # both ends of adjacent path segments and on the mesh; count and list it once
    keys = [tuple(k) for k in np.round(np.asarray(qpoints, dtype=float) % 1.0, 6) % 1.0]
    order, seen = [], set()
    for i in np.argsort(lowest_q, kind="stable"):
        if per_q[i] > 0 and keys[i] not in seen:
            seen.add(keys[i])
            order.append(int(i))
    if n_mesh and weights is not None:
        w = np.asarray(weights, dtype=float)
        mesh_bad = per_q[len(f) - n_mesh:]
        fraction = float((w * mesh_bad).sum() / (w.sum() * f.shape[1]))
    else:
        fraction = 0.0
    return ImaginaryModes(
        threshold_THz=float(threshold_THz),
        lowest_THz=float(min(0.0, f[bad].min())) if bad.any() else 0.0,
        n_qpoints=len(order), n_branches=int(per_q.max(initial=0)), mesh_fraction=fraction,
        qpoints=[[round(float(x), 10) + 0.0 for x in qpoints[i]] for i in order[:10]],
        frequencies_THz=[float(lowest_q[i]) for i in order[:10]])


@dataclass
class PhononResult:
    """Phonon band structure, DOS, Γ frequencies and imaginary modes (THz, 1/Å without 2π).

    Band structure: one entry per path segment: ``labels`` (start, end), ``qpoints``
    (fractional, (n_k, 3)), ``distances_invA`` (cumulative |q| along the whole path, (n_k,);
    a jump between disconnected segments adds no length) and ``frequencies_THz`` ((n_k,
    bands)). DOS: ``dos_frequencies_THz`` and ``dos_states_per_THz`` (per primitive cell,
    integrates to 3 × atoms of the primitive cell) on the ``mesh``.
    """

    formula: str
    n_atoms_primitive: int
    primitive_cell_A: np.ndarray
    supercell_matrix: np.ndarray
    displacement_A: float
    n_displacements: int
    labels: list[tuple[str, str]]
    qpoints: list[np.ndarray]
    distances_invA: list[np.ndarray]
    frequencies_THz: list[np.ndarray]
    dos_frequencies_THz: np.ndarray
    dos_states_per_THz: np.ndarray
    mesh: list[int]
    gamma_frequencies_THz: np.ndarray
    imaginary: ImaginaryModes
    min_frequency_THz: float  # lowest frequency on path + mesh, acoustic near Γ included
    max_frequency_THz: float

    @property
    def gamma_optical_THz(self) -> np.ndarray:
        """Γ-point frequencies without the three acoustic ones (empty for one atom per cell)."""
        return np.sort(self.gamma_frequencies_THz)[N_ACOUSTIC:]

    def scalars(self) -> dict[str, tuple[float, str]]:
        """Comparison-table rows: name → (value, unit)."""
        out = {"max frequency": (self.max_frequency_THz, "THz"),
               "min frequency": (self.min_frequency_THz, "THz")}
        if self.gamma_optical_THz.size:
            out["Γ optical min"] = (float(self.gamma_optical_THz.min()), "THz")
            out["Γ optical max"] = (float(self.gamma_optical_THz.max()), "THz")
        out["imaginary branches"] = (float(self.imaginary.n_branches), "")
        out["imaginary q-points"] = (float(self.imaginary.n_qpoints), "")
        return out

    def to_dict(self) -> dict:
        """JSON-serialisable form (lists, units in the key names); ``from_dict`` reads it."""
        return {
            "formula": self.formula, "n_atoms_primitive": self.n_atoms_primitive,
            "primitive_cell_A": np.asarray(self.primitive_cell_A).tolist(),
            "supercell_matrix": np.asarray(self.supercell_matrix).tolist(),
            "displacement_A": self.displacement_A, "n_displacements": self.n_displacements,
            "band": [{"labels": list(lab), "qpoints": np.asarray(q).tolist(),
                      "distances_invA": np.asarray(d).tolist(),
                      "frequencies_THz": np.asarray(f).tolist()}
                     for lab, q, d, f in zip(self.labels, self.qpoints, self.distances_invA,
                                             self.frequencies_THz)],
            "dos_frequencies_THz": np.asarray(self.dos_frequencies_THz).tolist(),
            "dos_states_per_THz": np.asarray(self.dos_states_per_THz).tolist(),
            "mesh": list(self.mesh),
            "gamma_frequencies_THz": np.asarray(self.gamma_frequencies_THz).tolist(),
            "imaginary": self.imaginary.to_dict(),
            "min_frequency_THz": self.min_frequency_THz,
            "max_frequency_THz": self.max_frequency_THz,
        }

    @classmethod
    def from_dict(cls, d: dict) -> PhononResult:
        band = d["band"]
        return cls(
            formula=d["formula"], n_atoms_primitive=int(d["n_atoms_primitive"]),
            primitive_cell_A=np.asarray(d["primitive_cell_A"], dtype=float),
            supercell_matrix=np.asarray(d["supercell_matrix"], dtype=int),
            displacement_A=float(d["displacement_A"]), n_displacements=int(d["n_displacements"]),
            labels=[tuple(b["labels"]) for b in band],
            qpoints=[np.asarray(b["qpoints"], dtype=float) for b in band],
            distances_invA=[np.asarray(b["distances_invA"], dtype=float) for b in band],
            frequencies_THz=[np.asarray(b["frequencies_THz"], dtype=float) for b in band],
            dos_frequencies_THz=np.asarray(d["dos_frequencies_THz"], dtype=float),
            dos_states_per_THz=np.asarray(d["dos_states_per_THz"], dtype=float),
            mesh=[int(x) for x in d["mesh"]],
            gamma_frequencies_THz=np.asarray(d["gamma_frequencies_THz"], dtype=float),
            imaginary=ImaginaryModes.from_dict(d["imaginary"]),
            min_frequency_THz=float(d["min_frequency_THz"]),
            max_frequency_THz=float(d["max_frequency_THz"]))


def _cumulative_distances(segments: list[np.ndarray], cell: np.ndarray) -> list[np.ndarray]:
    rec = np.linalg.inv(cell).T
    out, start = [], 0.0
    for q in segments:
        steps = np.linalg.norm(np.diff(q, axis=0) @ rec, axis=1)
        d = start + np.concatenate([[0.0], np.cumsum(steps)])
        out.append(d)
        start = float(d[-1])
    return out


def phonon_result(setup: PhononSetup, forces, residual_forces=None, mesh=30.0,
                  band_npoints: int = 51, threshold_THz: float = -0.1,
                  gamma_fraction: float = 0.1) -> PhononResult:
    """Force constants from the displaced supercells' ``forces`` (list of (n_atoms, 3) eV/Å,
    in the order of ``setup.displaced``) and everything derived from them.

    ``residual_forces``: forces (eV/Å) of the undisplaced supercell, subtracted from every
    set when given. ``mesh``: q mesh for the DOS and the imaginary-mode scan: three integers
    or a length in Å (phonopy: n_i ≈ length × |b_i|). ``band_npoints``: q-points on the longest
    path segment. ``threshold_THz`` (≤ 0) and ``gamma_fraction``: see the module docstring.
    """
    ph = setup.phonopy
    n_sc = len(setup.supercell)
    sets = [np.asarray(f, dtype=float) for f in forces]
    if len(sets) != len(setup.displaced):
        raise PhononError(f"{len(sets)} force sets for {len(setup.displaced)} displaced "
                          "supercells")
    if any(f.shape != (n_sc, 3) or not np.isfinite(f).all() for f in sets):
        raise PhononError(f"every force set must be finite with shape ({n_sc}, 3)")
    if threshold_THz > 0:
        raise PhononError(f"imaginary threshold must be <= 0 THz, got {threshold_THz}")
    if residual_forces is not None:
        r = np.asarray(residual_forces, dtype=float)
        if r.shape != (n_sc, 3):
            raise PhononError(f"residual forces must have shape ({n_sc}, 3), got {r.shape}")
        sets = [f - r for f in sets]
    ph.forces = np.array(sets)
    ph.produce_force_constants(show_drift=False)
    ph.symmetrize_force_constants(show_drift=False)

    prim = ph.primitive
    cell = np.array(prim.cell)
    segments, labels = band_path(cell, prim.scaled_positions, prim.numbers, band_npoints)
    band = ph.run_band_structure(segments)
    band_freqs = [np.asarray(f) for f in band.frequencies]

    ph.run_mesh(mesh, is_gamma_center=True)
    mesh_obj = ph.mesh
    mesh_q, mesh_w = np.asarray(mesh_obj.qpoints), np.asarray(mesh_obj.weights)
    mesh_f = np.asarray(mesh_obj.frequencies)
    dos = ph.run_total_dos()
    gamma = np.asarray(ph.run_qpoints([[0.0, 0.0, 0.0]]).frequencies[0])

    all_q = np.vstack(segments + [mesh_q])
    all_f = np.vstack(band_freqs + [mesh_f])
    report = imaginary_modes(all_q, all_f, cell, threshold_THz, gamma_fraction, mesh_w,
                             len(mesh_q))
    return PhononResult(
        formula=to_ase_atoms(prim).get_chemical_formula(), n_atoms_primitive=len(prim),
        primitive_cell_A=cell, supercell_matrix=setup.supercell_matrix,
        displacement_A=setup.displacement_A, n_displacements=len(sets), labels=labels,
        qpoints=segments, distances_invA=_cumulative_distances(segments, cell),
        frequencies_THz=band_freqs, dos_frequencies_THz=np.asarray(dos.frequency_points),
        dos_states_per_THz=np.asarray(dos.dos), mesh=[int(x) for x in mesh_obj.mesh_numbers],
        gamma_frequencies_THz=gamma, imaginary=report,
        min_frequency_THz=float(all_f.min()), max_frequency_THz=float(all_f.max()))
