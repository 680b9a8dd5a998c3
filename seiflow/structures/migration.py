"""End points of nudged-elastic-band (NEB) paths for the three Li transport mechanisms that
Li et al. (Mater. Horiz. 2025, Sec. 3.2.1 and Fig. 5) compute in monoclinic Li2CO3:

- ``vacancy_hop``: a neutral vacancy moves by one hop (a neighbouring ion jumps into it);
- ``interstitial_knockoff``: an interstitial ion takes the place of a lattice ion, which is
  pushed on into the next interstitial site (the "knock-off" or interstitialcy mechanism);
- ``frenkel_formation``: a lattice ion leaves its site for an interstitial site of the open
  channel, creating a neutral Frenkel pair.

Each builder returns ``(initial, final)`` with the same atoms in the same order (atom i of one is
atom i of the other), so a band can be interpolated between them directly. Moved atoms keep
continuous (unwrapped) coordinates: their final position is the start plus the minimum-image hop
vector, so even a straight line without the minimum-image convention follows the short path.

Interstitial sites: the centre of the largest empty sphere (``geometry.largest_void``) and its
images under the space-group operations of the bulk (spglib). In Li2CO3 C2/c these are 8 general
positions per conventional cell; they line up as zigzag chains along [010], the open channels of
the structure. The bulk must therefore be the perfect crystal (a defective or distorted cell has
fewer operations and so fewer equivalent sites).

A hop longer than half the smallest perpendicular cell width would run into its own periodic
image (and its minimum-image vector would be ambiguous): the builders refuse it.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import spglib
from ase import Atoms
from ase.geometry import find_mic
from pydantic import Field

from seiflow.core.config import MAX_WIDTH_A, StrictModel
from seiflow.core.errors import StructureError
from seiflow.structures.defects import make_interstitial, make_vacancy
from seiflow.structures.library import get_phase
from seiflow.structures.geometry import (check_no_overlap, largest_void, make_supercell,
                                         perpendicular_widths)

SAME_SITE = 0.2  # Å: two void centres closer than this are one site
MAX_LEG = 3.6  # Å: longest single hop a knock-off step may use (first Li-Li shell is 2.7-3.5 Å)


def vacancy_hop(bulk: Atoms, species: str = "Li", site: int | None = None,
                neighbour: int | None = None) -> tuple[Atoms, Atoms]:
    """A vacancy at ``site`` (initial) and at ``neighbour`` (final): the neighbour has moved into
    the vacant site. Both indices refer to ``bulk``; defaults: the first ``species`` atom and its
    nearest ``species`` neighbour (minimum image). ``info["moved"]`` holds the index of the hopping
    atom in the returned (one atom shorter) structures."""
    idx = _indices(bulk, species)
    site = int(idx[0]) if site is None else _member(site, idx, species, "site")
    others = idx[idx != site]
    if len(others) == 0:
        raise StructureError(f"only one {species} atom: there is no neighbour to hop")
    vectors, dists = find_mic(bulk.positions[site] - bulk.positions[others], bulk.cell, bulk.pbc)
    if neighbour is None:
        k = int(np.argmin(dists))
    else:
        neighbour = _member(neighbour, idx, species, "neighbour")
        if neighbour == site:
            raise StructureError("neighbour must differ from site")
        k = int(np.flatnonzero(others == neighbour)[0])
    hopper = int(others[k])
    hop = vectors[k]
    _check_hop(bulk, hop, f"vacancy hop of {species} atom {hopper}")
    initial = make_vacancy(bulk, species, site)
    moved = hopper - (hopper > site)
    final = initial.copy()
    final.positions[moved] = initial.positions[moved] + hop
    _finish(initial, final, bulk, "vacancy_hop", species, [moved], [float(np.linalg.norm(hop))])
    return initial, final


def interstitial_knockoff(bulk: Atoms, species: str = "Li") -> tuple[Atoms, Atoms]:
    """An extra ``species`` atom in the largest void (initial); in the final state it sits on the
    site of a lattice atom L, and L sits in another interstitial site (symmetry-equivalent to the
    first), so the two end points are equivalent and the reaction energy is zero by symmetry.

    Choice of L and of the next site: among lattice ``species`` atoms and equivalent voids with
    both legs (void → L, L → next void) at most ``MAX_LEG`` Å, and the next void on the far side
    of L (angle void–L–next void ≥ 90°, so L is pushed onwards, not sideways back), the pair with
    the shortest total two-leg path; ties (within 0.01 Å) go to the straighter push.
    The extra atom is the last atom; ``info["moved"]`` = [interstitial, L]."""
    idx = _indices(bulk, species)
    initial = make_interstitial(bulk, species)
    start = np.asarray(initial.info["defect_position"], dtype=float)
    voids = [v for v in equivalent_sites(bulk, start)
             if find_mic(v - start, bulk.cell, bulk.pbc)[1] > SAME_SITE]
    best = None
    for lattice in idx:
        leg1, d1 = find_mic(bulk.positions[lattice] - start, bulk.cell, bulk.pbc)
        if d1 > MAX_LEG:
            continue
        for v in voids:
            leg2, d2 = find_mic(v - bulk.positions[lattice], bulk.cell, bulk.pbc)
            if d2 > MAX_LEG or _angle(-leg1, leg2) < 90.0:
                continue
            key = (round(d1 + d2, 2), -_angle(-leg1, leg2))
            if best is None or key < best[0]:
                best = (key, int(lattice), leg1, leg2)
    if best is None:
        raise StructureError(f"no {species} atom within {MAX_LEG} Å of the void has a further "
                             f"equivalent void beyond it: no knock-off path in this cell")
    _, lattice, leg1, leg2 = best
    for leg, what in ((leg1, "interstitial"), (leg2, f"lattice {species} atom {lattice}")):
        _check_hop(bulk, leg, f"knock-off step of the {what}")
    extra = len(initial) - 1
    final = initial.copy()
    final.positions[extra] = start + leg1
    final.positions[lattice] = bulk.positions[lattice] + leg2
    _finish(initial, final, bulk, "interstitial_knockoff", species, [extra, lattice],
            [float(np.linalg.norm(leg1)), float(np.linalg.norm(leg2))])
    return initial, final


def frenkel_formation(bulk: Atoms, species: str = "Li", site: int | None = None,
                      min_separation: float = 3.0) -> tuple[Atoms, Atoms]:
    """The perfect crystal (initial) and a Frenkel pair (final): one ``species`` atom moved from
    its site into an interstitial site of the open channel (the largest void and its
    symmetry-equivalent sites). The hop is the shortest site → void distance that is at least
    ``min_separation`` Å (over all ``species`` atoms, or only atom ``site`` if given). The default
    3.0 Å skips the voids whose pair is not metastable with the default teacher. Checked in
    1x2x2 Li2CO3 (relaxed, cell fixed): with SevenNet-0 the 2.56 Å pair relaxes back into the
    perfect crystal, the 3.06 Å pair stays a pair (Li 3.00 Å from its site, 1.107 eV above the
    crystal; the reference paper's formation barrier is 1.19 eV); with GFN1-xTB the 2.0 Å pair
    relaxes back and the 2.56 Å one stays (benchmarks/results/li2co3_neb_sevennet).
    ``info["moved"]`` = [the atom]."""
    idx = _indices(bulk, species)
    if site is not None:
        idx = np.array([_member(site, idx, species, "site")])
    start, _ = largest_void(bulk)
    voids = equivalent_sites(bulk, start)
    best = None
    for atom in idx:
        vecs, dists = find_mic(voids - bulk.positions[atom], bulk.cell, bulk.pbc)
        dists = np.where(dists >= min_separation, dists, np.inf)
        k = int(np.argmin(dists))
        if np.isfinite(dists[k]) and (best is None or dists[k] < best[0] - 1e-6):
            best = (float(dists[k]), int(atom), vecs[k])
    if best is None:
        raise StructureError(f"no interstitial site is {min_separation} Å or more from a "
                             f"{species} site: use a larger supercell or a smaller separation")
    _, atom, hop = best
    _check_hop(bulk, hop, f"Frenkel hop of {species} atom {atom}")
    initial = bulk.copy()
    final = bulk.copy()
    final.positions[atom] = bulk.positions[atom] + hop
    _finish(initial, final, bulk, "frenkel_formation", species, [atom],
            [float(np.linalg.norm(hop))])
    return initial, final


def equivalent_sites(bulk: Atoms, point: np.ndarray, symprec: float = 1e-3) -> np.ndarray:
    """Cartesian positions (Å, inside the cell) of ``point`` and all its distinct images under the
    space-group operations of ``bulk`` (spglib), ``point`` first."""
    cell = (bulk.cell.array, bulk.get_scaled_positions(), bulk.numbers)
    ops = spglib.get_symmetry(cell, symprec=symprec)
    if ops is None:
        raise StructureError("spglib found no symmetry operations for the bulk cell")
    frac = np.linalg.solve(bulk.cell.array.T, np.asarray(point, dtype=float))
    images = (ops["rotations"] @ frac + ops["translations"]) % 1.0
    sites = [np.asarray(point, dtype=float)]
    for cart in images @ bulk.cell.array:
        if find_mic(np.array(sites) - cart, bulk.cell, bulk.pbc)[1].min() > SAME_SITE:
            sites.append(cart)
    return np.array(sites)


def _indices(bulk: Atoms, species: str) -> np.ndarray:
    if not bulk.pbc.all():
        raise StructureError("migration paths need a bulk cell periodic in all directions")
    idx = np.flatnonzero(np.array(bulk.get_chemical_symbols()) == species)
    if len(idx) == 0:
        raise StructureError(f"no {species} atoms in {bulk.get_chemical_formula()}")
    return idx


def _member(index: int, idx: np.ndarray, species: str, what: str) -> int:
    if int(index) not in idx:
        raise StructureError(f"{what} {index} is not a {species} atom")
    return int(index)


def _check_hop(bulk: Atoms, hop: np.ndarray, what: str) -> None:
    """Refuse a hop longer than half the smallest perpendicular width of the cell."""
    width = float(perpendicular_widths(bulk.cell).min())
    length = float(np.linalg.norm(hop))
    if length > 0.5 * width:
        raise StructureError(f"{what} is {length:.2f} Å, more than half the cell width "
                             f"({width:.2f} Å): it would meet its periodic image; use a "
                             f"larger supercell")


def _angle(a: np.ndarray, b: np.ndarray) -> float:
    """Angle between two vectors, degrees."""
    cos = np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b))
    return float(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))))


def _finish(initial: Atoms, final: Atoms, bulk: Atoms, mechanism: str, species: str,
            moved: list[int], hops: list[float]) -> None:
    """Check both end points for overlaps and label them."""
    for atoms, end in ((initial, "initial"), (final, "final")):
        check_no_overlap(atoms)
        for key in ("defect_position", "vacancy_position"):  # arrays: not JSON-friendly
            atoms.info.pop(key, None)
        atoms.info.update(
            mechanism=mechanism,
            endpoint=end,
            species=species,
            moved=list(moved),
            hop_distances_A=[round(h, 4) for h in hops],
            source=f"{mechanism} ({end}) of {species} in {bulk.get_chemical_formula()} "
                   f"({len(bulk)} atoms); bulk: {bulk.info.get('source', 'unknown')}",
        )


MECHANISMS = {"vacancy": vacancy_hop, "knockoff": interstitial_knockoff,
              "frenkel": frenkel_formation}


class PathSpec(StrictModel):
    """Images along a migration path (unrelaxed end points, IDPP band): starting structures
    that put the hop itself into a training set (the saddle is rarely visited by MD)."""

    phase: str = Field(..., description="library phase key, e.g. lif")
    mechanism: Literal["vacancy", "knockoff", "frenkel"]
    species: str = "Li"
    min_width: float | None = Field(None, gt=0, le=MAX_WIDTH_A,
                                    description="supercell width of the bulk, Å")
    images: int = Field(3, ge=1, le=15, description="intermediate images (end points not "
                        "counted)")

    @property
    def label(self) -> str:
        return f"{self.phase}-{self.mechanism}-{self.species}"

    def endpoints(self) -> tuple[Atoms, Atoms]:
        bulk = make_supercell(get_phase(self.phase), min_width=self.min_width)
        return MECHANISMS[self.mechanism](bulk, species=self.species)

    def image(self, i: int) -> Atoms:
        """Intermediate image ``i`` (1 .. images) of the IDPP band between the end points."""
        return path_images(*self.endpoints(), self.images)[i - 1]


def path_images(initial: Atoms, final: Atoms, n: int) -> list[Atoms]:
    """The ``n`` intermediate images of ASE's image-dependent pair potential (IDPP) band
    between two end points (minimum image), unrelaxed."""
    from ase.mep import NEB

    band = [initial.copy() for _ in range(n + 1)] + [final.copy()]
    NEB(band, method="improvedtangent").interpolate(method="idpp", mic=True,
                                                   apply_constraint=False)
    for i, image in enumerate(band[1:-1], start=1):
        check_no_overlap(image)
        image.info.update(initial.info, endpoint=f"image {i} of {n}",
                          source=f"image {i}/{n} of {initial.info.get('source', '')}")
    return band[1:-1]
