"""Figures and the Markdown report of an active-learning run (data in, files out)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from seiflow.core.atomic import atomic_write  # noqa: E402


def learning_curves(iterations: list[dict], path: Path) -> Path:
    """Held-out RMSE (energy, forces) and cumulative labels against iteration."""
    it = [r["iteration"] for r in iterations]
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.5), dpi=110)
    for ax, comp, unit in ((axes[0], "energy", "meV/atom"), (axes[1], "forces", "eV/Å")):
        for key, label in (("test_errors", "rattled"), ("test_md_errors", "MD frames")):
            pts = [(r["iteration"], r[key][comp]["rmse"]) for r in iterations if r.get(key)]
            if pts:
                ax.plot(*zip(*pts), "o-", label=f"held out: {label}")
        ax.set_xlabel("iteration")
        ax.set_ylabel(f"test RMSE {comp} ({unit})")
        ax.legend(fontsize=8)
    axes[2].plot(it, [r["labels_total"] for r in iterations], "s-", label="labels (cumulative)")
    axes[2].bar(it, [r["labels_added"] for r in iterations], alpha=0.4, label="added")
    axes[2].set_xlabel("iteration")
    axes[2].set_ylabel("labelled structures")
    axes[2].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def gamma_histograms(gammas: dict[int, list[float]], path: Path, select: float,
                     brk: float) -> Path:
    """Distribution of candidate-frame grades per iteration (log scale), with both thresholds."""
    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=110)
    values = [g for v in gammas.values() for g in v]
    hi = max(values + [brk * 2])
    bins = np.logspace(0, np.log10(hi), 40)
    for it, v in sorted(gammas.items()):
        if v:
            ax.hist(v, bins=bins, histtype="step", lw=1.5, label=f"iteration {it}")
    ax.axvline(select, color="k", ls="--", lw=0.8)
    ax.axvline(brk, color="r", ls="--", lw=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("γ of candidate frames (max over atoms)")
    ax.set_ylabel("frames")
    if gammas:
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def markdown_report(iterations: list[dict], meta: dict, path: Path) -> Path:
    lines = [f"# Active learning: {meta['run_dir']}", "",
             f"Labeler: {meta['labeler']}; potential: {meta['potential']}; "
             f"γ_select = {meta['gamma_select']}, γ_break = {meta['gamma_break']}.",
             f"Status: **{meta['status']}** after {len(iterations)} iteration(s); "
             f"{meta['labels_total']} labelled structures ({meta['test_structures']} held out).",
             "", "Held-out RMSE: rattled copies of the starting structures (fixed from the start) "
             "and MD frames of the first trajectories that ran to their end (labelled once).", "",
             "| iteration | labels added | labels total | E RMSE rattled / MD (meV/atom) | "
             "F RMSE rattled / MD (eV/Å) | trajectories finished / broken | max γ | "
             "fit / explore / select / label (s) |", "|---|---|---|---|---|---|---|---|"]
    for r in iterations:
        t = r["stage_wall_s"]
        e, m = r["test_errors"], r.get("test_md_errors") or {}

        def pair(comp: str) -> str:
            md = f"{m[comp]['rmse']:.3g}" if m.get(comp) else "-"
            return f"{e[comp]['rmse']:.3g} / {md}"

        lines.append(
            f"| {r['iteration']} | {r['labels_added']} | {r['labels_total']} | "
            f"{pair('energy')} | {pair('forces')} | {r['finished']} / "
            f"{r['broken']} | {r['max_gamma']:.3g} | {t['fit']:.0f} / {t['explore']:.0f} / "
            f"{t['select']:.0f} / {t['label']:.0f} |")
    lines += ["", "![learning curves](learning-curves.png)", "",
              "![candidate grades](gamma-histograms.png)", ""]
    atomic_write(path, "\n".join(lines))
    return path


def training_curve(training: dict, path: Path, title: str = "") -> Path | None:
    """A fit's loss per component against wall time (log scale), from a model's training
    record (``time_s``, ``loss_components``); None when the record has no such history."""
    times, parts = training.get("time_s"), training.get("loss_components")
    if not times or not parts:
        return None
    parts = np.asarray(parts, dtype=float)
    fig, ax = plt.subplots(figsize=(6, 3.8), dpi=110)
    ax.plot(times, parts.sum(1), "k.-", label="total")
    for k, name in enumerate(("energy", "forces", "stress")):
        if np.any(parts[:, k] > 0):
            ax.plot(times, parts[:, k], ".-", label=name, alpha=0.8)
    ax.set_yscale("log")
    ax.set_xlabel("fit wall time (s)")
    ax.set_ylabel("training loss (weighted, see docs/potentials.md)")
    ax.set_title(title or f"stopped: {training.get('stop', '?')}", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
