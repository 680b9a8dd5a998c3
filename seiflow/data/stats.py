"""Summary statistics of labelled frames: counts, element coverage, energy/force/stress ranges.
Data in, data out: plotting is in seiflow.report.figures."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np
from ase import Atoms
from ase.units import GPa


@dataclass
class DatasetStats:
    frames: int
    atoms: int
    by_group: dict[str, int]
    elements: dict[str, dict[str, int]]  # symbol -> {"frames": n, "atoms": n}
    energy_per_atom: tuple[float, float] | None  # eV/atom (min, max)
    force_component: tuple[float, float] | None  # eV/Å (min, max)
    max_force_norm: float | None  # eV/Å
    stress_GPa: tuple[float, float] | None  # min, max of all components, GPa (ASE sign)
    with_stress: int = 0
    energies_per_atom: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)
    force_components: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)


def dataset_stats(frames: list[Atoms]) -> DatasetStats:
    groups: Counter[str] = Counter()
    el_frames: Counter[str] = Counter()
    el_atoms: Counter[str] = Counter()
    epa, fcomp, stress = [], [], []
    for atoms in frames:
        groups[str(atoms.info.get("group", "default"))] += 1
        syms = atoms.get_chemical_symbols()
        el_atoms.update(syms)
        el_frames.update(set(syms))
        res = atoms.calc.results if atoms.calc is not None else {}
        if "energy" in res:
            epa.append(res["energy"] / len(atoms))
        if "forces" in res:
            fcomp.append(np.asarray(res["forces"]).ravel())
        if "stress" in res:
            stress.append(np.asarray(res["stress"]) / GPa)
    f = np.concatenate(fcomp) if fcomp else np.zeros(0)
    fnorm = max((np.linalg.norm(x.reshape(-1, 3), axis=1).max() for x in fcomp), default=None)
    s = np.concatenate(stress) if stress else np.zeros(0)
    return DatasetStats(
        frames=len(frames),
        atoms=sum(len(a) for a in frames),
        by_group=dict(sorted(groups.items())),
        elements={e: {"frames": el_frames[e], "atoms": el_atoms[e]} for e in sorted(el_atoms)},
        energy_per_atom=(min(epa), max(epa)) if epa else None,
        force_component=(float(f.min()), float(f.max())) if f.size else None,
        max_force_norm=None if fnorm is None else float(fnorm),
        stress_GPa=(float(s.min()), float(s.max())) if s.size else None,
        with_stress=len(stress),
        energies_per_atom=np.asarray(epa),
        force_components=f,
    )


def split_by_group(groups: list[str], test_fraction: float, seed: int = 0,
                   mode: str = "stratified") -> tuple[list[int], list[int]]:
    """Train/test indices. ``stratified``: each group split in ``test_fraction`` (at least one
    test frame from every group with 2+ frames). ``grouped``: whole groups go to the test set
    until it holds ``test_fraction`` of the frames (tests transfer to unseen groups)."""
    if not 0 < test_fraction < 1:
        raise ValueError("test_fraction must be between 0 and 1")
    rng = np.random.default_rng(seed)
    by: dict[str, list[int]] = {}
    for i, g in enumerate(groups):
        by.setdefault(g, []).append(i)
    test: list[int] = []
    if mode == "stratified":
        for idx in by.values():
            idx = list(rng.permutation(idx))
            n = int(round(test_fraction * len(idx)))
            n = max(n, 1) if len(idx) > 1 else 0
            test += idx[:n]
    elif mode == "grouped":
        names = list(rng.permutation(sorted(by)))
        for g in names:
            if len(test) >= test_fraction * len(groups):
                break
            test += by[g]
    else:
        raise ValueError(f"unknown split mode {mode!r} (stratified or grouped)")
    tset = set(test)
    return [i for i in range(len(groups)) if i not in tset], sorted(tset)
