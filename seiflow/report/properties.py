"""Overlay figures of crystal properties computed by several methods (e.g. a potential and the
reference): equation of state, phonon bands with DOS, elastic constants. One colour per method.

Data in, PNG out. ``report`` sits below ``analysis`` in the layer order, so every function takes
a mapping ``{method label: result}`` where a result is the ``to_dict()`` form of the workflow
results (or any object with a ``to_dict()`` method giving it):

- EOS: a lattice result dict with ``"eos"`` (or an EOS dict itself) holding ``volumes_A3``,
  ``energies_eV``, ``curve_volumes_A3``, ``curve_energies_eV``, ``e0_eV``, ``v0_A3``,
  ``b0_GPa`` and ``n_atoms``;
- phonons: ``"band"`` (segments with ``labels``, ``distances_invA``, ``frequencies_THz``),
  ``dos_frequencies_THz`` and ``dos_states_per_THz``;
- elastic: ``independent_GPa`` ({name: GPa}) and ``moduli_GPa`` (with ``K_H``, ``G_H``);
- diffusion (Arrhenius): ``points`` (``T_K``, ``D_cm2_s``, ``D_sigma_cm2_s``), ``Ea_eV``,
  ``Ea_sigma_eV``, ``D0_cm2_s``.

Units: volume Å³/atom, energy meV/atom relative to each method's own minimum, frequency THz,
elastic constants GPa, D cm²/s, T K, Ea eV.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from ase.units import kB  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

from seiflow.report.figures import save_figure  # noqa: E402


def _as_dict(result: Any) -> dict:
    return result.to_dict() if hasattr(result, "to_dict") else dict(result)


def _check(results: Mapping[str, Any]) -> dict[str, dict]:
    if not results:
        raise ValueError("nothing to plot: no results given")
    return {str(k): _as_dict(v) for k, v in results.items()}


def plot_eos(results: Mapping[str, Any], path: Path, title: str = "") -> Path:
    """E − E0 (meV/atom) against V (Å³/atom): each method's points and Birch–Murnaghan curve,
    V0 and B0 in the legend. Returns ``path``."""
    data = _check(results)
    fig, ax = plt.subplots(figsize=(6.0, 4.2), dpi=110)
    for k, (label, d) in enumerate(data.items()):
        eos = d.get("eos", d)
        n = eos.get("n_atoms") or d.get("n_atoms") or 1
        e0 = float(eos["e0_eV"])
        color = f"C{k % 10}"
        ax.plot(np.asarray(eos["volumes_A3"]) / n,
                (np.asarray(eos["energies_eV"]) - e0) / n * 1000, "o", color=color, ms=5)
        ax.plot(np.asarray(eos["curve_volumes_A3"]) / n,
                (np.asarray(eos["curve_energies_eV"]) - e0) / n * 1000, "-", color=color,
                lw=1.3, label=f"{label}: V0 = {float(eos['v0_A3']) / n:.3f} Å³/atom, "
                              f"B0 = {float(eos['b0_GPa']):.1f} GPa")
    ax.set_xlabel("volume (Å³/atom)")
    ax.set_ylabel("E − E0 (meV/atom)")
    ax.legend(fontsize=8)
    ax.set_title(title or "equation of state (Birch–Murnaghan)", fontsize=10)
    return save_figure(fig, path)


def _segment_layout(band: list[dict]) -> tuple[list[tuple[float, float]], list[float], list[str]]:
    """x range of each segment (from the first method's distances), tick positions and labels
    ('X|U' where the path jumps)."""
    ranges = [(float(b["distances_invA"][0]), float(b["distances_invA"][-1])) for b in band]
    ticks, names = [ranges[0][0]], [band[0]["labels"][0]]
    for k, seg in enumerate(band):
        end = seg["labels"][1]
        nxt = band[k + 1]["labels"][0] if k + 1 < len(band) else end
        ticks.append(ranges[k][1])
        names.append(end if nxt == end else f"{end}|{nxt}")
    return ranges, ticks, names


def plot_phonons(results: Mapping[str, Any], path: Path, title: str = "") -> Path:
    """Phonon bands along the common high-symmetry path (left) and total DOS (right), THz.

    Every method must have the same path (same segment labels). Each method's segments are
    stretched onto the first method's reciprocal-space distances, so lattice constants that
    differ slightly still line up at the labelled points. Returns ``path``.
    """
    data = _check(results)
    first = next(iter(data.values()))
    labels0 = [tuple(b["labels"]) for b in first["band"]]
    for label, d in data.items():
        if [tuple(b["labels"]) for b in d["band"]] != labels0:
            raise ValueError(f"phonon path of {label!r} differs from the first result's; "
                             "compare the same structure")
    ranges, ticks, names = _segment_layout(first["band"])
    fig, (ax, ax_dos) = plt.subplots(1, 2, figsize=(8.0, 4.4), dpi=110, sharey=True,
                                     gridspec_kw={"width_ratios": [3.2, 1], "wspace": 0.12})
    f_all = np.concatenate([np.ravel(b["frequencies_THz"]) for d in data.values()
                            for b in d["band"]])
    handles = []
    for k, (label, d) in enumerate(data.items()):
        color = f"C{k % 10}"
        for (x0, x1), seg in zip(ranges, d["band"]):
            dist = np.asarray(seg["distances_invA"], dtype=float)
            span = dist[-1] - dist[0]
            t = (dist - dist[0]) / span if span > 0 else np.zeros_like(dist)
            ax.plot(x0 + t * (x1 - x0), np.asarray(seg["frequencies_THz"]), color=color,
                    lw=1.0, alpha=0.9)
        ax_dos.plot(np.asarray(d["dos_states_per_THz"]), np.asarray(d["dos_frequencies_THz"]),
                    color=color, lw=1.0)
        handles.append(Line2D([], [], color=color, label=label))
    for x in ticks[1:-1]:
        ax.axvline(x, color="0.6", lw=0.6)
    ax.axhline(0.0, color="0.3", lw=0.6, ls=":")
    ax_dos.axhline(0.0, color="0.3", lw=0.6, ls=":")
    ax.set_xticks(ticks, names)
    ax.set_xlim(ticks[0], ticks[-1])
    f_lo, f_hi = float(f_all.min()), float(f_all.max())
    pad = 0.05 * (f_hi - min(f_lo, 0.0))
    ax.set_ylim(min(f_lo, 0.0) - pad, f_hi + pad)
    ax.set_ylabel("frequency (THz)")
    ax.legend(handles=handles, fontsize=8, loc="lower right")
    ax.set_title(title or "phonon dispersion", fontsize=10)
    ax_dos.set_xlabel("DOS (states/THz)")
    ax_dos.set_xlim(left=0)
    return save_figure(fig, path)


def plot_elastic(results: Mapping[str, Any], path: Path, title: str = "") -> Path:
    """Grouped bars of the independent elastic constants and the Hill moduli B and G (GPa),
    one colour per method. Returns ``path``."""
    data = _check(results)
    names: list[str] = []
    for d in data.values():
        names += [n for n in d["independent_GPa"] if n not in names]
    names += ["B_VRH", "G_VRH"]
    x = np.arange(len(names))
    width = 0.8 / len(data)
    fig, ax = plt.subplots(figsize=(max(5.0, 0.7 * len(names) + 2), 4.0), dpi=110)
    for k, (label, d) in enumerate(data.items()):
        values = dict(d["independent_GPa"])
        values["B_VRH"] = d["moduli_GPa"]["K_H"]
        values["G_VRH"] = d["moduli_GPa"]["G_H"]
        heights = [float(values.get(n, np.nan)) for n in names]
        ax.bar(x + (k - (len(data) - 1) / 2) * width, heights, width, color=f"C{k % 10}",
               label=label)
    ax.axhline(0.0, color="0.3", lw=0.6)
    ax.set_xticks(x, names)
    ax.set_ylabel("GPa")
    ax.legend(fontsize=8)
    ax.set_title(title or "elastic constants and Hill moduli", fontsize=10)
    return save_figure(fig, path)


def plot_arrhenius(results: Mapping[str, Any], path: Path, title: str = "") -> Path:
    """ln D (D in cm²/s) against 1000/T (1/K) of each method: diffusive temperatures with their
    σ as error bars, the Arrhenius line where Ea was fitted (Ea ± σ in the legend).

    A result holds ``points`` (``T_K``, ``D_cm2_s`` or None, ``D_sigma_cm2_s``), ``Ea_eV``,
    ``Ea_sigma_eV`` and ``D0_cm2_s``. Returns ``path``."""
    data = _check(results)
    fig, ax = plt.subplots(figsize=(6.0, 4.2), dpi=110)
    for k, (label, d) in enumerate(data.items()):
        color = f"C{k % 10}"
        pts = [p for p in d["points"] if p.get("D_cm2_s")]
        if d.get("Ea_eV") is not None and d.get("D0_cm2_s"):
            sig = d.get("Ea_sigma_eV")
            label = f"{label}: Ea = {d['Ea_eV']:.3f}" + (f" ± {sig:.3f}" if sig else "") + " eV"
            T = np.linspace(min(p["T_K"] for p in d["points"]),
                            max(p["T_K"] for p in d["points"]), 20)
            ax.plot(1000.0 / T, np.log(d["D0_cm2_s"]) - d["Ea_eV"] / (kB * T),
                    "-", color=color, lw=1.2)
        if pts:
            D = np.array([p["D_cm2_s"] for p in pts])
            err = np.array([p.get("D_sigma_cm2_s") or 0.0 for p in pts]) / D
            ax.errorbar([1000.0 / p["T_K"] for p in pts], np.log(D), yerr=err, fmt="o",
                        color=color, capsize=3, label=label)
        else:
            ax.plot([], [], "o", color=color, label=f"{label}: no diffusive run")
    ax.set_xlabel("1000 / T (1/K)")
    ax.set_ylabel("ln (D / (cm²/s))")
    ax.legend(fontsize=8)
    ax.set_title(title or "tracer diffusion (Arrhenius)", fontsize=10)
    return save_figure(fig, path)


def plot_stress_strain(result: Any, path: Path, title: str = "") -> Path:
    """One panel per Voigt strain mode (e1 … e6): the six stress components (GPa, ASE sign:
    tensile positive) against the applied strain, points as computed and lines σ0 + C·e of the
    fitted stiffness. ``result``: an elastic result dict with ``strains``, ``stresses_GPa``,
    ``C_GPa`` and ``stress0_GPa``. Returns ``path``."""
    d = _as_dict(result)
    strains, stresses = np.asarray(d["strains"]), np.asarray(d["stresses_GPa"])
    C, s0 = np.asarray(d["C_GPa"]), np.asarray(d["stress0_GPa"])
    names = ["xx", "yy", "zz", "yz", "xz", "xy"]
    fig, axes = plt.subplots(2, 3, figsize=(10.5, 6.0), dpi=110, sharey=True,
                             layout="constrained")
    for mode, ax in enumerate(axes.ravel()):
        rows = np.flatnonzero(np.abs(strains[:, mode]) > 0)
        e = strains[rows, mode]
        line = np.linspace(min(e.min(initial=0.0), 0.0), max(e.max(initial=0.0), 0.0), 2)
        for comp in range(6):
            color = f"C{comp}"
            ax.plot(e, stresses[rows, comp], "o", color=color, ms=4,
                    label=f"σ{names[comp]}" if mode == 0 else None)
            ax.plot(line, s0[comp] + C[comp, mode] * line, "-", color=color, lw=0.9)
        ax.set_title(f"strain e{mode + 1} ({names[mode]})", fontsize=9)
        ax.tick_params(labelsize=8)
        ax.locator_params(axis="x", nbins=5)
        ax.axhline(0.0, color="0.6", lw=0.5)
    for ax in axes[1]:
        ax.set_xlabel("strain (Voigt, engineering)")
    for ax in axes[:, 0]:
        ax.set_ylabel("stress (GPa)")
    fig.legend(loc="outside upper right", fontsize=8, ncol=6)
    fig.suptitle(title or "stress–strain (lines: fitted Cij)", fontsize=10, x=0.02,
                 ha="left")
    return save_figure(fig, path)


def plot_relaxation(energies_eV: list[float], fmax_eV_A: list[float], path: Path,
                    max_stress_GPa: list[float] | None = None, title: str = "") -> Path:
    """Energy (eV, relative to the start) and largest force (eV/Å; with a cell relaxation also
    the largest stress component, GPa; log scale) against the optimizer step of one
    relaxation. Returns ``path``."""
    e = np.asarray(energies_eV, dtype=float)
    steps = np.arange(len(e))
    fig, (ax_e, ax_f) = plt.subplots(2, 1, figsize=(6.0, 5.0), dpi=110, sharex=True)
    ax_e.plot(steps, e - e[0], "-o", ms=3, lw=1.0)
    ax_e.set_ylabel("E − E(start) (eV)")
    ax_f.semilogy(steps, np.maximum(np.asarray(fmax_eV_A, dtype=float), 1e-12), "-o", ms=3,
                  lw=1.0, color="C1", label="largest force (eV/Å)")
    if max_stress_GPa is not None:
        ax_f.semilogy(steps, np.maximum(np.asarray(max_stress_GPa, dtype=float), 1e-12), "-s",
                      ms=3, lw=1.0, color="C2", label="largest stress (GPa)")
    ax_f.legend(fontsize=8)
    ax_f.set_ylabel("eV/Å, GPa")
    ax_f.xaxis.get_major_locator().set_params(integer=True)
    ax_f.set_xlabel("optimizer step")
    ax_e.set_title(title or "geometry optimisation", fontsize=10)
    return save_figure(fig, path)
