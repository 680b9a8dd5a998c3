"""Figures a speaker would show, checked on the matplotlib Figure objects: error plots coloured
by group with RMSE/MAE per group, one g(r) panel per pair with the first-shell CN, γ thresholds
as labelled lines, every backend's training curve, and overlays of several runs."""

from types import SimpleNamespace

import numpy as np
import pytest
from ase.build import bulk

from seiflow.analysis import first_minimum, rdf
from seiflow.potentials.metrics import Parity, frame_group
from seiflow.report.compare import (
    arrhenius_compare_figure, msd_compare_figure, rdf_compare_figure,
)
from seiflow.report.figures import parity_figure, parity_plots, plt
from seiflow.report.learning import (
    committee_training_curve, gamma_histograms, gamma_histograms_figure, training_curve,
    training_figure,
)
from seiflow.report.transport import rdf_figure, rdf_plot


def _is_png(path, min_size=5000):
    return path.stat().st_size > min_size and path.read_bytes()[:4] == b"\x89PNG"


def _legend_texts(ax):
    legend = ax.get_legend()
    return [t.get_text() for t in legend.get_texts()] if legend else []


def _parity():
    rng = np.random.default_rng(0)
    out = {}
    for comp, n, scale in (("energy", 20, 3.0), ("forces", 300, 0.05), ("stress", 60, 0.2)):
        p = Parity()
        for group, shift in (("initial", 0.0), ("active", 1.0)):
            ref = rng.normal(-4000.0 if comp == "energy" else 0.0, 5.0, n)
            p.extend(ref, ref + scale * (rng.standard_normal(n) + shift), group)
        out[comp] = p
    return out


def test_error_plots_show_errors_by_group_with_units(tmp_path):
    parity = _parity()
    fig = parity_figure(parity, "test set")
    assert len(fig.axes) == 3
    units = {"energy": "meV/atom", "forces": "eV/Å", "stress": "GPa"}
    for ax, (comp, unit) in zip(fig.axes, units.items()):
        assert unit in ax.get_ylabel() and "predicted − reference" in ax.get_ylabel()
        assert "reference" in ax.get_xlabel()
        texts = _legend_texts(ax)
        assert len(texts) == 2
        for group in ("active", "initial"):
            e = parity[comp].errors(group)
            line = next(t for t in texts if t.startswith(group))
            assert f"RMSE {e['rmse']:.3g}" in line and f"MAE {e['mae']:.3g}" in line
        # the points are errors: their spread is the error's, not the reference's
        y = np.concatenate([c.get_offsets()[:, 1] for c in ax.collections])
        assert np.allclose(np.sort(y), np.sort(np.subtract(parity[comp].pred,
                                                           parity[comp].ref)))
    plt.close(fig)
    assert _is_png(parity_plots(parity, tmp_path / "parity-test.png"))


def test_error_plot_leaves_out_components_without_data():
    parity = _parity()
    parity["stress"] = Parity()
    fig = parity_figure(parity)
    assert [ax.get_ylabel().split()[0] for ax in fig.axes] == ["energy", "forces"]
    plt.close(fig)


def test_frame_group_falls_back_to_builder():
    atoms = bulk("Cu")
    assert frame_group(atoms) == "all"
    atoms.info["builder"] = "amorphous"
    assert frame_group(atoms) == "amorphous"
    atoms.info["group"] = "active"
    assert frame_group(atoms) == "active"


@pytest.fixture(scope="module")
def nacl_rdfs():
    frames = [bulk("NaCl", "rocksalt", a=5.64, cubic=True) * (3, 3, 3)]
    frames[0].rattle(0.05, seed=1)
    pairs = [("Na", "Cl"), ("Na", "Na"), ("Cl", "Cl")]
    results = [rdf(frames, pair, 7.5, 150) for pair in pairs]
    return results, [first_minimum(r) for r in results]


def test_rdf_one_panel_per_pair_with_first_shell_cn(nacl_rdfs, tmp_path):
    results, minima = nacl_rdfs
    fig = rdf_figure(results, minima, "NaCl")
    panels = [ax for ax in fig.axes if ax.get_ylabel() == "g(r)"]
    twins = [ax for ax in fig.axes if "coordination" in ax.get_ylabel()]
    assert len(panels) == len(twins) == 3
    assert [ax.get_title() for ax in panels] == ["Na–Cl", "Na–Na", "Cl–Cl"]
    for ax, twin, (r_min, cn) in zip(panels, twins, minima):
        assert any(t.startswith("first minimum") and f"{r_min:.2f} Å" in t
                   for t in _legend_texts(ax))
        assert any(f"CN = {cn:.2f}" in t.get_text() for t in twin.texts)
        assert "running CN" in _legend_texts(ax)
    assert minima[0][1] == pytest.approx(6.0, abs=0.1)  # rock salt: 6 Cl around Na
    plt.close(fig)
    assert _is_png(rdf_plot(results, tmp_path / "rdf.png", minima))


def test_gamma_thresholds_are_labelled_lines(tmp_path):
    fig = gamma_histograms_figure({0: [2.5, 3.0, 12.0], 1: [2.1, 2.2]}, 2.0, 10.0)
    ax = fig.axes[0]
    lines = {line.get_gid(): line for line in ax.lines}
    assert lines["γ_select"].get_xdata()[0] == 2.0 and lines["γ_break"].get_xdata()[0] == 10.0
    texts = _legend_texts(ax)
    assert any(t.startswith("γ_select = 2") for t in texts)
    assert any(t.startswith("γ_break = 10") for t in texts)
    assert {"iteration 0", "iteration 1"} <= set(texts)
    assert {" γ_select = 2", " γ_break = 10"} <= {t.get_text() for t in ax.texts}
    plt.close(fig)
    assert _is_png(gamma_histograms({0: [2.5]}, tmp_path / "g.png", 2.0, 10.0))


MTP = {"time_s": [1.0, 2.0, 3.0], "loss_components": [[3, 2, 1], [2, 1, 0.5], [1, 0.5, 0.2]],
       "stop": "converged"}
EPOCHS = {"epoch": [0, 1, 2, 3], "stage": [1, 1, 2, 2], "train_loss": [4, 3, 2, 1],
          "valid_loss": [5, 4, 3, 2], "valid_rmse_e_meV_per_atom": [9, 7, 5, 4],
          "valid_rmse_f_eV_per_A": [0.3, 0.2, 0.15, 0.1], "wall_s": [1, 2, 3, 4]}
CHGNET = {"mae": {"train": {"e": [0.02, 0.01], "f": [0.2, 0.1], "s": [0.5, 0.4]},
                  "val": {"e": [0.03, 0.02], "f": [0.3, 0.2], "s": [0.6, 0.5]}},
          "mae_units": {"e": "eV/atom", "f": "eV/Å", "s": "GPa"}, "stop": "epochs"}


@pytest.mark.parametrize("record, n_axes, units", [
    (MTP, 1, ["s"]), (EPOCHS, 3, ["meV/atom", "eV/Å"]),
    ({k: v for k, v in EPOCHS.items() if k != "stage"}, 3, ["meV/atom"]),
    (CHGNET, 3, ["meV/atom", "eV/Å", "GPa"])])
def test_training_curve_of_every_backend(record, n_axes, units, tmp_path):
    fig = training_figure(record, "fit")
    assert len(fig.axes) == n_axes
    labels = " ".join(ax.get_xlabel() + " " + ax.get_ylabel() for ax in fig.axes)
    assert all(ax.get_xlabel() or ax.get_ylabel() for ax in fig.axes)
    for unit in units:
        assert f"({unit})" in labels
    if "stage" in record:
        assert any("stage two from epoch 3" in t for t in _legend_texts(fig.axes[0]))
    plt.close(fig)
    assert _is_png(training_curve(record, tmp_path / "training-curve.png"))


def test_training_curve_without_history_is_skipped(tmp_path):
    assert training_figure({"stop": "x"}) is None
    assert training_curve({}, tmp_path / "t.png") is None and not (tmp_path / "t.png").exists()
    assert committee_training_curve([{}, {}], tmp_path / "c.png") is None
    assert _is_png(committee_training_curve([MTP, MTP], tmp_path / "c.png"))


class _FakeModel:
    backend = "fake"

    def __init__(self, training):
        self.record = {"training": training}

    def save(self, path):
        path.mkdir(parents=True, exist_ok=True)


def test_save_model_writes_training_curves_for_models_and_committees(tmp_path):
    from seiflow.workflows.train import save_model

    save_model(_FakeModel(EPOCHS), tmp_path / "mace")
    assert _is_png(tmp_path / "mace" / "training-curve.png")
    committee = _FakeModel({})
    committee.members = [_FakeModel(CHGNET), _FakeModel(CHGNET)]
    save_model(committee, tmp_path / "committee")
    for name in ("training-curve.png", "member-00/training-curve.png",
                 "member-01/training-curve.png"):
        assert _is_png(tmp_path / "committee" / name)


def test_rdf_overlay_one_panel_per_pair_one_line_per_run(nacl_rdfs):
    results, minima = nacl_rdfs
    fig = rdf_compare_figure({"300 K": results, "600 K": results, "MACE": results},
                             {"300 K": minima, "600 K": minima, "MACE": minima})
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert len(panels) == 3
    for ax in panels:
        assert len([ln for ln in ax.lines if ln.get_gid() == "g"]) == 3
        assert {"300 K", "600 K", "MACE"} <= set(_legend_texts(ax))
    plt.close(fig)
    with pytest.raises(ValueError, match="same pairs"):
        rdf_compare_figure({"a": results, "b": results[:2]})


def test_msd_and_arrhenius_overlays():
    t = np.linspace(0, 5000, 51)
    runs = {f"{T} K": {"t_fs": t, "msd_A2": 6 * D * t / 1000, "window_fs": (1000, 4000),
                       "D_cm2_s": D * 1e-4, "D_sigma_cm2_s": None}
            for T, D in ((300, 0.01), (600, 0.1), (900, 0.5))}
    fig = msd_compare_figure(runs, "Li")
    ax = fig.axes[0]
    assert len([ln for ln in ax.lines if ln.get_gid() == "msd"]) == 3
    assert [t.split(":")[0] for t in _legend_texts(ax)] == list(runs)
    assert ax.get_xlabel() == "lag time t (ps)" and ax.get_ylabel() == "Li MSD (Å²)"
    plt.close(fig)
    T = np.array([500.0, 700.0, 900.0])
    series = {name: {"T_K": T, "D": np.exp(-ea / (8.617e-5 * T)), "D_sigma": None,
                     "line_T_K": T, "line_D": np.exp(-ea / (8.617e-5 * T)), "Ea_eV": ea,
                     "Ea_sigma_eV": float("nan")} for name, ea in (("MTP", 0.3), ("MACE", 0.4))}
    fig = arrhenius_compare_figure(series)
    texts = _legend_texts(fig.axes[0])
    assert texts == ["MTP: Ea = 0.300 ± n/a eV", "MACE: Ea = 0.400 ± n/a eV"]
    plt.close(fig)
    with pytest.raises(ValueError, match="nothing to compare"):
        msd_compare_figure({})


def test_unused_grid_cells_are_removed(nacl_rdfs):
    results, minima = nacl_rdfs
    fig = rdf_figure(results[:2] * 2, minima[:2] * 2)  # 4 pairs: a 2 x 3 grid, 2 cells unused
    assert len([ax for ax in fig.axes if ax.get_ylabel() == "g(r)"]) == 4
    assert len(fig.axes) == 8
    plt.close(fig)


def test_fake_namespace_results_work():
    """Any object with the listed attributes is drawn (report sits below analysis)."""
    edges = np.linspace(0, 5, 51)
    res = SimpleNamespace(pair=("Li", "F"), r=0.5 * (edges[1:] + edges[:-1]), edges=edges,
                          g=np.ones(50), cn=np.linspace(0, 10, 50))
    fig = rdf_figure([res], [None])
    assert len(fig.axes) == 2
    plt.close(fig)


def test_thermo_plot_draws_the_thermostat_target_only_where_there_is_one(tmp_path, monkeypatch):
    import seiflow.report.transport as transport
    from seiflow.md.thermo import THERMO_COLUMNS

    drawn = []
    monkeypatch.setattr(transport, "save_figure", lambda fig, path: drawn.append(fig) or path)
    n = 11
    columns = {c: np.full(n, np.nan) for c in THERMO_COLUMNS}
    columns.update(time_fs=np.arange(n) * 100.0, replica=np.zeros(n), T_K=np.linspace(290, 910, n),
                   Epot_eV=np.zeros(n), conserved_eV=np.zeros(n),
                   target_K=np.linspace(300, 900, n))
    transport.thermo_plot(columns, tmp_path / "ramp.png")
    temperature = drawn[-1].axes[0]
    target = [line for line in temperature.get_lines() if line.get_label() == "target"]
    assert len(target) == 1 and np.allclose(target[0].get_ydata(), columns["target_K"])
    assert np.allclose(target[0].get_xdata(), columns["time_fs"] / 1000.0)  # ps

    columns["target_K"] = np.full(n, np.nan)  # NVE: no target, no line, no legend
    transport.thermo_plot(columns, tmp_path / "nve.png")
    assert not [ln for ln in drawn[-1].axes[0].get_lines() if ln.get_label() == "target"]
    assert drawn[-1].axes[0].get_legend() is None
