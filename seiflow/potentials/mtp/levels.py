"""Untrained MTP basis sets for levels 2–28, generated from the level definition.

An MTP site energy is a linear combination of scalar contractions of the moment tensors

    M_{μ,ν}(n_i) = Σ_j f_μ(|r_ij|) r̂_ij ⊗ … ⊗ r̂_ij   (ν factors),

and the *level* of a basis function is the sum of lev(M_{μ,ν}) = 2 + 4μ + ν over its moments
(Shapeev, Multiscale Model. Simul. 14, 1153 (2016); Gubaev et al., Comput. Mater. Sci. 156, 148
(2019)). A level-L potential uses every distinct scalar contraction of level ≤ L.

Each basis function is a multigraph of moments (see ``_contraction_trees``), enumerated here up
to isomorphism and written as a tree of pairwise tensor contractions; this module then turns the
trees into MLIP's flat ``alpha_index_basic`` / ``alpha_index_times`` /
``alpha_moment_mapping`` arrays, so the result is an ordinary ``.mtp`` basis that motep's engines,
MLIP-3 and LAMMPS all evaluate:

* every Cartesian component of a basic moment M_{μ,ν} is the monomial x^a y^b z^c (a+b+c = ν),
  one ``alpha_index_basic`` row {μ, a, b, c};
* every component of a contraction is a sum of products of two earlier components, written as
  ``alpha_index_times`` rows {i, j, multiplicity, k}; components whose sums are identical share
  one index, so symmetric tensors are stored once per distinct component.
"""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from seiflow.core.errors import SeiflowError

LEVELS = tuple(range(2, 30, 2))


def moment_level(mu: int, nu: int) -> int:
    """lev(M_{μ,ν}) = 2 + 4μ + ν."""
    return 2 + 4 * mu + nu


@dataclass(frozen=True)
class MTPBasis:
    """The species-independent part of an ``.mtp`` file (MLIP's untrained template)."""

    level: int
    radial_funcs_count: int
    alpha_index_basic: np.ndarray  # (n_basic, 4): μ, a, b, c
    alpha_index_times: np.ndarray  # (n_times, 4): i, j, multiplicity, k
    alpha_moment_mapping: np.ndarray  # indices of the scalar basis functions

    @property
    def alpha_moments_count(self) -> int:
        times = self.alpha_index_times
        return int(max(len(self.alpha_index_basic), times[:, 3].max() + 1 if len(times) else 0))

    @property
    def alpha_scalar_moments(self) -> int:
        return len(self.alpha_moment_mapping)


# MLIP's limits, which its level templates (and motep's enumeration) follow
MAX_MOMENTS = 4  # moments per basis function
MAX_MU = 5
MAX_NU = 10


def _multigraphs(nus: tuple[int, ...]) -> list[np.ndarray]:
    """Loop-free multigraphs on vertices with degrees ``nus``: edge multiplicity matrices."""
    k = len(nus)
    pairs = [(i, j) for i in range(k) for j in range(i + 1, k)]
    out = []

    def assign(p: int, left: list[int], e: np.ndarray) -> None:
        if p == len(pairs):
            if not any(left):
                out.append(e.copy())
            return
        i, j = pairs[p]
        # vertex i has no pairs after this one: it must be saturated now
        last_i = all(i not in pp for pp in pairs[p + 1:])
        for m in range(min(left[i], left[j]) + 1):
            if last_i and left[i] - m:
                continue
            left[i] -= m
            left[j] -= m
            e[i, j] = e[j, i] = m
            assign(p + 1, left, e)
            left[i] += m
            left[j] += m
        e[i, j] = e[j, i] = 0

    if k == 1:
        return [np.zeros((1, 1), dtype=int)] if nus[0] == 0 else []
    assign(0, list(nus), np.zeros((k, k), dtype=int))
    return out


def _canonical(labels: tuple, e: np.ndarray) -> tuple:
    """A key equal for isomorphic labelled multigraphs."""
    k = len(labels)
    best = None
    for perm in itertools.permutations(range(k)):
        if any(labels[perm[i]] != labels[i] for i in range(k)):
            continue
        key = tuple(e[np.ix_(perm, perm)].ravel())
        best = key if best is None or key < best else best
    return best


def _component_tree(labels: tuple, e: np.ndarray, vertices: list[int]):
    """Contraction tree of one connected component: vertices contracted one after another,
    in the order that keeps the largest intermediate tensor smallest."""
    best = None
    for order in itertools.permutations(vertices):
        tree, slots, peak = None, [], 0
        for pos, b in enumerate(order):
            mu, nu = labels[b]
            b_slots = [t for t in order if t != b for _ in range(e[b, t])]
            node = (mu, nu, nu)
            if tree is None:
                tree, slots = node, [(b, t) for t in b_slots]
                continue
            placed = set(order[:pos])
            laxes, raxes, used = [], [], set()
            for li, (owner, target) in enumerate(slots):
                if target != b:
                    continue
                ri = next(r for r, t in enumerate(b_slots) if t == owner and r not in used)
                used.add(ri)
                laxes.append(li)
                raxes.append(ri)
            free = [sl for li, sl in enumerate(slots) if li not in laxes]
            free += [(b, t) for r, t in enumerate(b_slots) if r not in used and t not in placed]
            tree = (tree, node, len(free), (tuple(laxes), tuple(raxes)))
            slots = free
            peak = max(peak, len(free))
        if best is None or peak < best[0]:
            best = (peak, tree)
    return best[1]


def _graph_tree(labels: tuple, e: np.ndarray):
    """Contraction tree of a whole basis function: components, then their scalar product."""
    k = len(labels)
    seen, comps = set(), []
    for v in range(k):
        if v in seen:
            continue
        stack, comp = [v], []
        while stack:
            u = stack.pop()
            if u in seen:
                continue
            seen.add(u)
            comp.append(u)
            stack.extend(w for w in range(k) if e[u, w] and w not in seen)
        comps.append(sorted(comp))
    trees = sorted((_component_tree(labels, e, c) for c in comps), key=repr)
    tree = trees[0]
    for other in trees[1:]:
        tree = (tree, other, 0, ((), ()))
    return tree


def _contraction_trees(level: int) -> list:
    """Every distinct scalar basis function of ``level`` as a contraction tree.

    A scalar contraction of symmetric moment tensors is a multigraph: one vertex per moment
    M_{μ,ν} with degree ν, one edge per contracted index pair. Self-loops are excluded (a trace
    of r̂⊗r̂ is 1, giving a lower moment), and isomorphic graphs are the same function.
    """
    labels = [(mu, nu) for mu in range(MAX_MU + 1) for nu in range(MAX_NU + 1)
              if moment_level(mu, nu) <= level]
    out = []
    for k in range(1, MAX_MOMENTS + 1):
        for combo in itertools.combinations_with_replacement(labels, k):
            if sum(moment_level(mu, nu) for mu, nu in combo) > level:
                continue
            keys = set()
            for e in _multigraphs(tuple(nu for _, nu in combo)):
                key = _canonical(combo, e)
                if key not in keys:
                    keys.add(key)
                    out.append(_graph_tree(combo, e))
    return out


def _is_basic(node) -> bool:
    return not isinstance(node[0], tuple)


class _Builder:
    """Assigns MLIP moment indices to tensor components while walking contraction trees."""

    def __init__(self, trees):
        self.basic: dict[tuple, int] = {}
        for tree in trees:
            self._collect_basic(tree)
        self.next_index = len(self.basic)
        self.times: list[tuple[int, int, int, int]] = []
        self.by_expression: dict[frozenset, int] = {}
        self.components: dict = {}  # node -> {component tuple: moment index}

    def _collect_basic(self, node) -> None:
        if _is_basic(node):
            mu, nu, _ = node
            for comp in itertools.product(range(3), repeat=nu):
                key = (mu, comp.count(0), comp.count(1), comp.count(2))
                self.basic.setdefault(key, len(self.basic))
        else:
            self._collect_basic(node[0])
            self._collect_basic(node[1])

    def indices(self, node) -> dict[tuple, int]:
        """Moment index of every Cartesian component of ``node``."""
        if node in self.components:
            return self.components[node]
        if _is_basic(node):
            mu, nu, _ = node
            out = {comp: self.basic[(mu, comp.count(0), comp.count(1), comp.count(2))]
                   for comp in itertools.product(range(3), repeat=nu)}
        else:
            out = self._contract(node)
        self.components[node] = out
        return out

    def _contract(self, node) -> dict[tuple, int]:
        left, right, dim, (laxes, raxes) = node
        lc, rc = self.indices(left), self.indices(right)
        lrank, rrank = _rank(left), _rank(right)
        lfree = [a for a in range(lrank) if a not in laxes]
        rfree = [a for a in range(rrank) if a not in raxes]
        out = {}
        for free in itertools.product(range(3), repeat=dim):
            lf, rf = free[: len(lfree)], free[len(lfree):]
            terms: Counter = Counter()
            for summed in itertools.product(range(3), repeat=len(laxes)):
                li, ri = [0] * lrank, [0] * rrank
                for a, v in zip(lfree, lf):
                    li[a] = v
                for a, v in zip(rfree, rf):
                    ri[a] = v
                for a, b, v in zip(laxes, raxes, summed):
                    li[a] = v
                    ri[b] = v
                p, q = lc[tuple(li)], rc[tuple(ri)]
                terms[(min(p, q), max(p, q))] += 1
            expression = frozenset(terms.items())
            index = self.by_expression.get(expression)
            if index is None:
                index = self.next_index
                self.next_index += 1
                self.by_expression[expression] = index
                self.times.extend((p, q, mult, index) for (p, q), mult in sorted(terms.items()))
            out[free] = index
        return out


def _rank(node) -> int:
    return node[1] if _is_basic(node) else node[2]


@lru_cache(maxsize=None)
def mtp_basis(level: int) -> MTPBasis:
    """The untrained basis of an MTP of ``level`` (2, 4, …, 28)."""
    if level not in LEVELS:
        raise SeiflowError(f"MTP level must be an even number from 2 to 28, got {level}")
    trees = _contraction_trees(level)
    builder = _Builder(trees)
    mapping = [builder.indices(tree)[()] for tree in trees]
    basic = sorted(builder.basic.items(), key=lambda kv: kv[1])
    mus = [key[0] for key, _ in basic]
    return MTPBasis(
        level=level,
        radial_funcs_count=max(mus) + 1,
        alpha_index_basic=np.array([key for key, _ in basic], dtype=np.int32).reshape(-1, 4),
        alpha_index_times=np.array(builder.times, dtype=np.int32).reshape(-1, 4),
        alpha_moment_mapping=np.array(mapping, dtype=np.int32),
    )
