"""Figures and the Markdown report of an active-learning run (data in, files out)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402
import numpy as np  # noqa: E402

from seiflow.core.atomic import atomic_write  # noqa: E402
from seiflow.report.figures import save_figure  # noqa: E402


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


def gamma_thresholds(ax, select: float, brk: float | None, axis: str = "x") -> None:
    """γ_select and γ_break as labelled threshold lines on a γ axis (``axis`` "x": vertical
    lines, as on a histogram; "y": horizontal, as on a γ trace), with their legend entries
    (``brk`` None: no break line)."""
    line = ax.axvline if axis == "x" else ax.axhline
    for value, color, name, what in ((select, "k", "γ_select", "keep as candidate"),
                                     (brk, "r", "γ_break", "stop the trajectory")):
        if value is None:
            continue
        line(value, color=color, ls="--", lw=0.9, label=f"{name} = {value:g} ({what})",
             gid=name)
        xy = (value, 0.98) if axis == "x" else (0.01, value)
        ax.annotate(f" {name} = {value:g}", xy, xycoords=ax.get_xaxis_transform() if axis == "x"
                    else ax.get_yaxis_transform(), fontsize=8, color=color,
                    rotation=90 if axis == "x" else 0, va="top" if axis == "x" else "bottom",
                    ha="left")


def gamma_histograms_figure(gammas: dict[int, list[float]], select: float, brk: float):
    """Distribution of candidate-frame grades per iteration (log scale), with both thresholds
    as labelled lines (the Figure, not saved)."""
    fig, ax = plt.subplots(figsize=(6.4, 3.8), dpi=110)
    values = [g for v in gammas.values() for g in v]
    hi = max(values + [brk * 2])
    bins = np.logspace(0, np.log10(hi), 40)
    for it, v in sorted(gammas.items()):
        if v:
            ax.hist(v, bins=bins, histtype="step", lw=1.5, label=f"iteration {it}")
    gamma_thresholds(ax, select, brk, "x")
    ax.set_xscale("log")
    ax.set_xlabel("γ of candidate frames (max over atoms; dimensionless)")
    ax.set_ylabel("frames")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def gamma_histograms(gammas: dict[int, list[float]], path: Path, select: float,
                     brk: float) -> Path:
    """``gamma_histograms_figure`` written as a PNG at ``path``."""
    return save_figure(gamma_histograms_figure(gammas, select, brk), path)


def markdown_report(iterations: list[dict], meta: dict, path: Path) -> Path:
    lines = [f"# Active learning: {meta['run_dir']}", "",
             f"Labeler: {meta['labeler']}; potential: {meta['potential']}; "
             f"γ_select = {meta['gamma_select']}, γ_break = {meta['gamma_break']}.",
             f"Status: **{meta['status']}** after {len(iterations)} iteration(s); "
             f"{meta['labels_total']} labelled structures ({meta['test_structures']} held out).",
             f"Final model: {meta['fit']}",
             "", "Held-out RMSE: rattled copies of the starting structures (fixed from the start) "
             "and MD frames of the first trajectories that ran to their end (labelled once).", "",
             "| iteration | labels added | labels total | E RMSE rattled / MD (meV/atom) | "
             "F RMSE rattled / MD (eV/Å) | trajectories finished / broken | max γ | "
             "fit / explore / select / label (s) |", "|---|---|---|---|---|---|---|---|"]
    for r in iterations:
        t = r["stage_wall_s"]
        e, m = r.get("test_errors") or {}, r.get("test_md_errors") or {}

        def pair(comp: str) -> str:  # "-" where a held-out set is empty
            return " / ".join(f"{d[comp]['rmse']:.3g}" if d.get(comp) else "-" for d in (e, m))

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
    """A fit's training curve as a PNG (``training_figure``); None when the record holds no
    history to draw."""
    fig = training_figure(training, title)
    return None if fig is None else save_figure(fig, path)


def training_figure(training: dict, title: str = ""):
    """The training curve of any backend's training record (model.json "training"), or None
    when it holds no history: MTP (loss per component against fit wall time), MACE and
    SevenNet (train/validation loss and validation RMSE against epoch), CHGNet (train and
    validation MAE of energy, forces, stress against epoch)."""
    if training.get("time_s") and training.get("loss_components"):
        fig = _mtp_curve(training)
    elif training.get("epoch") and training.get("train_loss"):
        fig = _epoch_curve(training)
    elif isinstance(training.get("mae"), dict) and training["mae"].get("train"):
        fig = _chgnet_curve(training["mae"])
    else:
        return None
    stop = training.get("stop") or training.get("stopped")
    fig.suptitle(title or f"stopped: {stop or '?'}", fontsize=9)
    fig.tight_layout()
    return fig


def _mtp_curve(training: dict):
    times, parts = training["time_s"], np.asarray(training["loss_components"], dtype=float)
    fig, ax = plt.subplots(figsize=(6, 3.8), dpi=110)
    ax.plot(times, parts.sum(1), "k.-", label="total")
    for k, name in enumerate(("energy", "forces", "stress")):
        if np.any(parts[:, k] > 0):
            ax.plot(times, parts[:, k], ".-", label=name, alpha=0.8)
    ax.set_yscale("log")
    ax.set_xlabel("fit wall time (s)")
    ax.set_ylabel("training loss (weighted, see docs/potentials.md)")
    ax.legend(fontsize=8)
    return fig


def _epoch_curve(h: dict):
    """MACE / SevenNet: loss (log) and validation RMSE against epoch (1-based)."""
    epochs = np.asarray(h["epoch"], dtype=float) + 1
    fig, (ax, ax_e) = plt.subplots(1, 2, figsize=(11, 3.8), dpi=110)
    ax.plot(epochs, h["train_loss"], ".-", label="train")
    if h.get("valid_loss"):
        ax.plot(epochs, h["valid_loss"], ".-", label="validation")
    stages = np.asarray(h.get("stage") or [], dtype=int)
    if (stages == 2).any():
        first = epochs[np.argmax(stages == 2)]
        for a in (ax, ax_e):
            a.axvline(first, color="0.4", ls=":", lw=0.9, label=f"stage two from epoch "
                      f"{first:g}")
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss (weighted E, F, S terms; see the backend's docs)")
    ax.legend(fontsize=8)
    ax_f = ax_e.twinx()
    ax_e.plot(epochs, h.get("valid_rmse_e_meV_per_atom") or [np.nan] * len(epochs), "C0.-",
              label="energy (left)")
    ax_f.plot(epochs, h.get("valid_rmse_f_eV_per_A") or [np.nan] * len(epochs), "C1.-",
              label="forces (right)")
    ax_e.set_xlabel("epoch")
    ax_e.set_ylabel("validation RMSE energy (meV/atom)")
    ax_f.set_ylabel("validation RMSE forces (eV/Å)")
    h1, l1 = ax_e.get_legend_handles_labels()
    h2, l2 = ax_f.get_legend_handles_labels()
    ax_e.legend(h1 + h2, l1 + l2, fontsize=8)
    for a in (ax, ax_e):
        a.xaxis.set_major_locator(MaxNLocator(integer=True))
    return fig


_CHGNET = {"e": ("energy", "meV/atom", 1000.0), "f": ("forces", "eV/Å", 1.0),
           "s": ("stress", "GPa", 1.0)}


def _chgnet_curve(mae: dict):
    """CHGNet: MAE per target (energy in meV/atom from its eV/atom, forces, stress)."""
    targets = [t for t in _CHGNET if mae["train"].get(t)]
    fig, axes = plt.subplots(1, len(targets), figsize=(4.2 * len(targets), 3.6), dpi=110,
                             squeeze=False)
    for ax, t in zip(axes[0], targets):
        name, unit, scale = _CHGNET[t]
        for split, label in (("train", "train"), ("val", "validation")):
            y = np.asarray(mae.get(split, {}).get(t) or [], dtype=float) * scale
            if y.size:
                ax.plot(np.arange(1, y.size + 1), y, ".-", label=label)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(f"MAE {name} ({unit})")
        ax.legend(fontsize=8)
    return fig


def _main_series(training: dict) -> tuple[np.ndarray, np.ndarray, str, str] | None:
    """(x, y, x label, y label) of a training record's headline curve, or None."""
    if training.get("time_s") and training.get("loss_components"):
        y = np.asarray(training["loss_components"], dtype=float).sum(1)
        return np.asarray(training["time_s"]), y, "fit wall time (s)", "training loss (total)"
    if training.get("epoch") and training.get("train_loss"):
        y = training.get("valid_loss") or training["train_loss"]
        return (np.asarray(training["epoch"]) + 1, np.asarray(y), "epoch",
                "validation loss (weighted E, F, S terms)")
    mae = training.get("mae")
    if isinstance(mae, dict) and (mae.get("val") or {}).get("e"):
        y = 1000.0 * np.asarray(mae["val"]["e"], dtype=float)
        return np.arange(1, y.size + 1), y, "epoch", "validation MAE energy (meV/atom)"
    return None


def committee_training_curve(trainings: list[dict], path: Path, title: str = "") -> Path | None:
    """The members' headline training curves on one plot (a committee's training-curve.png);
    None when no member has a history."""
    series = [(k, _main_series(t)) for k, t in enumerate(trainings)]
    series = [(k, s) for k, s in series if s is not None]
    if not series:
        return None
    fig, ax = plt.subplots(figsize=(6, 3.8), dpi=110)
    for k, (x, y, xlabel, ylabel) in series:
        ax.plot(x, y, ".-", label=f"member {k}", gid="member")
    ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if xlabel == "epoch":
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(fontsize=8)
    ax.set_title(title or f"committee of {len(trainings)}", fontsize=9)
    fig.tight_layout()
    return save_figure(fig, path)
