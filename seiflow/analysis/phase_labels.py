"""Per-atom phase labels of a Li/In/Cl system from neighbour counts: Li metal, LiCl-like,
Li3InCl6-like, In metal, or other.

Data in, data out: an ASE ``Atoms`` frame (Å) in, an integer label per atom out.

Rules (cutoffs in :class:`LabelRules`, defaults in Å below; neighbours within the pair cutoff,
periodic images included)
-----------------------------------------------------------------------------------------------
1. **In**: with at least ``salt_min_cl`` (3) Cl neighbours it is oxidised In (In³⁺ in an
   InCl6-like octahedron) -> ``Li3InCl6``; with at most ``metal_max_cl`` (1) Cl and at least
   ``metal_min_neighbours`` (4) metal (In + Li) neighbours it is reduced -> ``In metal`` (In
   dissolved in Li, as in a Li–In alloy, counts here too); otherwise ``other``.
2. **Cl**: bonded to an In labelled ``Li3InCl6`` -> ``Li3InCl6``; else with at least
   ``salt_min_cl`` (3) Li neighbours -> ``LiCl``; otherwise ``other``.
3. **Li**: with at least ``salt_min_cl`` (3) Cl neighbours it is a salt cation: ``Li3InCl6``
   when at least half of those Cl are labelled ``Li3InCl6``, else ``LiCl``; with at most
   ``metal_max_cl`` (1) Cl and at least ``metal_min_neighbours`` (4) metal neighbours ->
   ``Li metal`` (Li in a Li–In alloy included); otherwise ``other``.
4. Every other element -> ``other``.

Default pair cutoffs: Li–Cl and In–Cl 3.1 Å (first shells 2.57 Å in LiCl, 2.5–2.65 Å in
Li3InCl6; second Li–Cl shell 4.4 Å), Li–Li 3.3 Å (bcc Li: 8 at 3.04 Å, 6 at 3.51 Å; Li–Li in the
chlorides >= 3.6 Å), Li–In 3.3 Å (Li–In alloys ~2.9–3.0 Å; 3.7 Å in Li3InCl6), In–In 3.6 Å
(In metal: 4 at 3.25 Å + 8 at 3.38 Å). On the ideal crystals every atom gets its phase's label.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from ase import Atoms
from ase.neighborlist import neighbor_list

from seiflow.core.errors import SeiflowError

LABELS = ("Li metal", "LiCl", "Li3InCl6", "In metal", "other")
LI_METAL, LICL, LI3INCL6, IN_METAL, OTHER = range(len(LABELS))
SPECIES = ("Li", "In", "Cl")
DEFAULT_CUTOFFS = {("Li", "Cl"): 3.1, ("In", "Cl"): 3.1, ("Li", "Li"): 3.3, ("Li", "In"): 3.3,
                   ("In", "In"): 3.6}


@dataclass(frozen=True)
class LabelRules:
    """Cutoffs (Å) per unordered species pair and the neighbour-count thresholds of the rules."""

    cutoffs: dict[tuple[str, str], float] = field(default_factory=lambda: dict(DEFAULT_CUTOFFS))
    salt_min_cl: int = 3
    metal_max_cl: int = 1
    metal_min_neighbours: int = 4

    def __post_init__(self):
        for pair, r in self.cutoffs.items():
            if len(pair) != 2 or not r > 0:
                raise SeiflowError(f"label cutoff {pair}: {r} Å must be a positive pair cutoff")

    def as_dict(self) -> dict:
        return {"cutoffs_A": {f"{a}-{b}": r for (a, b), r in self.cutoffs.items()},
                "salt_min_cl": self.salt_min_cl, "metal_max_cl": self.metal_max_cl,
                "metal_min_neighbours": self.metal_min_neighbours}


def label_index(name: str) -> int:
    """Position of a label name in LABELS."""
    if name not in LABELS:
        raise SeiflowError(f"unknown phase label {name!r} (labels: {', '.join(LABELS)})")
    return LABELS.index(name)


def _neighbour_graph(atoms: Atoms, rules: LabelRules):
    """(i, j, symbols, counts): the neighbour pairs within the pair cutoffs (ASE applies a pair's
    cutoff in both orders) and every atom's neighbours by species (Li, In, Cl), (natoms, 3)."""
    sym = np.asarray(atoms.get_chemical_symbols())
    present = set(sym)
    cut = {(a, b): r for (a, b), r in rules.cutoffs.items() if a in present and b in present}
    if cut:
        i, j = neighbor_list("ij", atoms, cut, self_interaction=False)
    else:
        i = j = np.zeros(0, dtype=int)
    n = len(atoms)
    code = np.full(n, -1)
    for k, s in enumerate(SPECIES):
        code[sym == s] = k
    keep = code[j] >= 0
    counts = np.bincount(i[keep] * 3 + code[j[keep]], minlength=3 * n).reshape(n, 3)
    return i, j, sym, counts


def neighbour_counts(atoms: Atoms, rules: LabelRules | None = None) -> np.ndarray:
    """Neighbours of every atom by species (Li, In, Cl) within the rules' cutoffs, (natoms, 3)."""
    return _neighbour_graph(atoms, rules or LabelRules())[3]


def label_atoms(atoms: Atoms, rules: LabelRules | None = None) -> np.ndarray:
    """Phase label (index into LABELS) of every atom by the rules of the module docstring."""
    rules = rules or LabelRules()
    i, j, sym, counts = _neighbour_graph(atoms, rules)
    n = len(atoms)
    n_li, n_in, n_cl = counts.T
    salt = n_cl >= rules.salt_min_cl
    metal = (n_cl <= rules.metal_max_cl) & (n_li + n_in >= rules.metal_min_neighbours)
    labels = np.full(n, OTHER)
    is_li, is_in, is_cl = sym == "Li", sym == "In", sym == "Cl"
    labels[is_in & salt] = LI3INCL6
    labels[is_in & metal & ~salt] = IN_METAL
    # Cl: bonded to an oxidised In?
    ox_in = (labels == LI3INCL6) & is_in
    cl_on_ox = np.zeros(n, dtype=bool)
    cl_on_ox[i[is_cl[i] & ox_in[j]]] = True
    labels[is_cl & cl_on_ox] = LI3INCL6
    labels[is_cl & ~cl_on_ox & (n_li >= rules.salt_min_cl)] = LICL
    # Li: a salt cation takes the majority label of its Cl neighbours
    edge = is_li[i] & is_cl[j]
    ox_cl = np.bincount(i[edge], weights=(labels[j[edge]] == LI3INCL6), minlength=n)
    li_salt = is_li & salt
    labels[li_salt & (2 * ox_cl >= n_cl)] = LI3INCL6
    labels[li_salt & (2 * ox_cl < n_cl)] = LICL
    labels[is_li & metal & ~salt] = LI_METAL
    return labels


def label_counts(labels: np.ndarray) -> np.ndarray:
    """Atoms per label, (len(LABELS),)."""
    return np.bincount(np.asarray(labels, dtype=int), minlength=len(LABELS))


def label_fractions(labels: np.ndarray) -> dict[str, float]:
    """{label: fraction of all atoms}."""
    counts = label_counts(labels)
    total = max(int(counts.sum()), 1)
    return {name: float(c) / total for name, c in zip(LABELS, counts)}
