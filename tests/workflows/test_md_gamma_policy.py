"""`seiflow md` with a trained model: one γ policy with the loop and validate — frames above
γ_select are counted and warned about, γ above γ_break stops the run with one line."""

import ase.io
import numpy as np
import pytest
import yaml
from ase.build import bulk

from seiflow.core.config import parse_config
from seiflow.core.errors import ConfigError, SeiflowError
from seiflow.potentials.mtp.fit import fit_mtp
from seiflow.reference import EMTSettings
from seiflow.workflows.md import MDConfig, run_md_config


@pytest.fixture(scope="module")
def narrow_model(tmp_path_factory):
    """An MTP that saw only a cold, barely rattled Cu cell: hot MD takes it outside."""
    folder = tmp_path_factory.mktemp("narrow")
    frames = []
    for k in range(8):
        atoms = bulk("Cu", "fcc", a=3.61, cubic=True).repeat((2, 1, 1))
        atoms.rattle(0.01, seed=k)
        frames.append(EMTSettings().label(atoms).attach(atoms))
    # MLIP's stress weight: with the default 0.01 this 15-step level-4 fit of 8 cold frames
    # blows up in 100 steps at 1200 K, before the γ policy can be watched
    fit_mtp(frames, level=4, cutoff=3.0, max_iter=15, seed=0, progress=False,
            weights=(1.0, 0.01, 0.001)).save(folder / "model")
    ase.io.write(folder / "cu.extxyz", bulk("Cu", "fcc", a=3.61, cubic=True).repeat((2, 2, 2)))
    return folder


def _cfg(folder, out, **extra):
    return parse_config({"structure": str(folder / "cu.extxyz"),
                         "potential": str(folder / "model"), "out_dir": str(folder / out),
                         "md": {"ensemble": "nvt", "temperature_K": 1200, "timestep_fs": 2.0,
                                "steps": 100, "traj_stride": 5, "checkpoint_every": 50},
                         **extra}, MDConfig)


def test_frames_above_gamma_select_are_counted_and_warned(narrow_model, caplog):
    info = run_md_config(_cfg(narrow_model, "warn", gamma_select=1.05), progress=False)
    summary = yaml.safe_load((narrow_model / "warn" / "md-summary.yml").read_text())
    assert info["frames_graded"] == 21 and summary["gamma_select"] == 1.05
    assert summary["gamma_every_steps"] == 5  # the default 20, but frames are 5 steps apart
    assert 0 < info["frames_gamma_above_select"] <= 21 and info["max_gamma"] > 1.05
    assert "extrapolated in" in caplog.text
    plot = narrow_model / "warn" / "gamma.png"  # max γ per frame with labelled thresholds
    assert plot.stat().st_size > 10_000 and {"gamma_plot": str(plot)} in summary["outputs"]


def test_a_resumed_run_reports_gamma_over_the_whole_run(narrow_model):
    whole = run_md_config(_cfg(narrow_model, "whole", gamma_select=1.05), progress=False)
    half = _cfg(narrow_model, "split", gamma_select=1.05)
    half.md.steps = 50
    run_md_config(half, progress=False)
    resumed = run_md_config(_cfg(narrow_model, "split", gamma_select=1.05), progress=False)
    assert resumed["restarted_from"] == 50 and resumed["frames_graded_before_resume"] > 0
    for key in ("max_gamma", "frames_gamma_above_select", "frames_graded"):
        assert resumed[key] == pytest.approx(whole[key]), key


def test_gamma_break_stops_the_md_with_one_line(narrow_model):
    cfg = _cfg(narrow_model, "stop", gamma_select=1.01, gamma_break=1.05)
    with pytest.raises(SeiflowError, match=r"MD stopped: γ = .* > γ_break = 1.05"):
        run_md_config(cfg, progress=False)
    frames = ase.io.read(narrow_model / "stop" / "trajectory.extxyz", index=":")
    assert 1 <= len(frames) < 21 and np.isfinite(frames[-1].positions).all()
    assert (narrow_model / "stop" / "gamma.png").is_file()  # drawn for the stopped run too
    summary = yaml.safe_load((narrow_model / "stop" / "md-summary.yml").read_text())
    assert summary["status"] == "failed" and summary["max_gamma"] > 1.05
    assert summary["stopped_by_gamma_at_step"] > 0 and summary["frames_graded"] >= 1
    kept = ase.io.read(narrow_model / "stop" / "gamma-break.extxyz")  # the state to label
    assert kept.info["step"] == summary["stopped_by_gamma_at_step"] and kept.calc is None
    assert kept.info["gamma"] > 1.05
    assert kept.arrays["gamma"].max() == pytest.approx(kept.info["gamma"])
    assert len(kept.arrays["gamma"]) == len(kept)


def test_gamma_every_grades_between_frames_and_stops_no_later(narrow_model):
    info = run_md_config(_cfg(narrow_model, "every1", gamma_select=1.05, gamma_every=1),
                         progress=False)  # every step graded, frames still every 5
    assert info["frames_graded"] == 101 and info["gamma_every_steps"] == 1
    assert len(ase.io.read(narrow_model / "every1" / "trajectory.extxyz", index=":")) == 21
    stops = []
    for name, every in (("stop5", 5), ("stop1", 1)):
        with pytest.raises(SeiflowError, match="γ_break"):
            run_md_config(_cfg(narrow_model, name, gamma_select=1.01, gamma_break=1.05,
                               gamma_every=every), progress=False)
        summary = yaml.safe_load((narrow_model / name / "md-summary.yml").read_text())
        stops.append(summary["stopped_by_gamma_at_step"])
    assert stops[0] % 5 == 0 and stops[1] <= stops[0]  # the first step past γ_break


def test_gamma_trace_figure_shows_the_frames_and_labelled_thresholds(tmp_path):
    import matplotlib.pyplot as plt

    from seiflow.report import transport
    seen = {}
    save = transport.save_figure

    def keep(fig, path):
        ax = fig.axes[0]
        seen.update(y=list(ax.lines[0].get_ydata()), scale=ax.get_yscale(),
                    gids=[ln.get_gid() for ln in ax.lines[1:]],
                    texts=[t.get_text() for t in ax.texts], xlabel=ax.get_xlabel())
        return save(fig, path)

    transport.save_figure = keep
    try:
        transport.gamma_trace_plot(np.array([0.0, 500.0, 1000.0]), np.array([1.2, 3.0, 12.0]),
                                   tmp_path / "g.png", 2.0, 10.0)
    finally:
        transport.save_figure = save
        plt.close("all")
    assert seen["y"] == [1.2, 3.0, 12.0] and seen["scale"] == "log"
    assert seen["gids"] == ["γ_select", "γ_break"] and seen["xlabel"] == "time (ps)"
    assert [t.strip() for t in seen["texts"]] == ["γ_select = 2", "γ_break = 10"]


def test_gamma_break_must_lie_above_gamma_select(narrow_model):
    with pytest.raises(ConfigError, match="gamma_break"):
        _cfg(narrow_model, "x", gamma_select=3.0, gamma_break=2.0)
