"""The label budget of `seiflow learn` is a hard cap (held-out, initial and MD held-out sets
included, the cut said and kept across resumes), and a `test_set:` never shares the initial
set's seed."""

import json

import ase.io
import numpy as np
import pytest
import yaml
from ase.build import bulk

from seiflow.core.config import parse_config
from seiflow.core.errors import ConfigError
from seiflow.active.sampling import perturbed
from seiflow.data.labels import fit_weight
from seiflow.data.store import LabelStore, structure_hash
from seiflow.workflows.learn import LearnConfig, budget_cut, resume, run_learn
from tests.workflows.test_learn_kills import CONFIG


@pytest.mark.parametrize("n_test, n_initial, budget, expected", [
    (2, 4, 14, (2, 4)),  # fits: nothing cut
    (2, 4, 6, (2, 4)),
    (2, 4, 3, (1, 2)),  # in proportion
    (2, 4, 1, (0, 1)),  # at least one training frame
    (6, 2, 4, (3, 1)),
    (5, 0, 3, (3, 0)),
])
def test_budget_cut(n_test, n_initial, budget, expected):
    got = budget_cut(n_test, n_initial, budget)
    assert got == expected and sum(got) <= budget


def _config(tmp_path, **changes):
    """The kill test's tiny loop, smaller still (a level-2 MTP, 60 MD steps)."""
    ase.io.write(tmp_path / "cu.extxyz", bulk("Cu", "fcc", a=3.61, cubic=True).repeat((2, 1, 1)))
    data = {**CONFIG, "potential": {"backend": "mtp", "level": 2, "max_iter": 4},
            "explore": {**CONFIG["explore"], "steps": 60}, **changes,
            "run_dir": str(tmp_path / "run")}
    data["structures"] = {**CONFIG["structures"],
                          "phases": [{"file": str(tmp_path / "cu.extxyz")}]}
    return parse_config(data, LearnConfig)


@pytest.fixture
def no_figures(monkeypatch):
    """The loop's figures (most of this tiny loop's time) are not what is tested here."""
    for target in ("seiflow.workflows.learn.learning_curves",
                   "seiflow.workflows.learn.gamma_histograms",
                   "seiflow.workflows.train.training_curve"):
        monkeypatch.setattr(target, lambda *args, **kwargs: None)


def test_label_budget_is_a_hard_cap_and_the_cut_is_kept(tmp_path, caplog, no_figures):
    report = run_learn(_config(tmp_path, label_budget=3), progress=False)
    run = tmp_path / "run"
    store = LabelStore(run / "labels.db")
    assert store.count() == 3 and report.status == "label budget reached"
    assert store.count(group="test") == 1 and store.count(group="initial") == 2
    cut = "label_budget 3: held-out set cut from 2 to 1 frames, initial set from 4 to 2"
    assert cut in caplog.text
    assert yaml.safe_load((run / "learn-summary.yml").read_text())["label_budget_cut"] == cut
    assert json.loads((run / "initial-sets.json").read_text())["initial"] == 2

    report = resume(run, progress=False, label_budget=5)  # a higher budget: the same sets
    assert store.count(group="test") == 1 and store.count(group="initial") == 2
    assert store.count() <= 5 and store.count(group="active") >= 1
    assert report.iterations[-1].labels_total == store.count()


def test_test_set_gets_its_own_seed(tmp_path):
    cfg = _config(tmp_path, initial={"per_structure": 2, "seed": 7},
                  test_set={"per_structure": 2}, max_iterations=1, label_budget=4)
    assert cfg.test_set.seed == 7 + 1001
    cells = [ase.io.read(tmp_path / "cu.extxyz")]
    held_out = {structure_hash(a) for a in perturbed(cells, cfg.test_set, "test")}
    training = {structure_hash(a) for a in perturbed(cells, cfg.initial, "initial")}
    assert len(held_out) == len(training) == 2 and not held_out & training
    with pytest.raises(ConfigError, match="test_set.seed and initial.seed are both 7"):
        _config(tmp_path, initial={"seed": 7}, test_set={"seed": 7})


def test_initial_strained_frames_join_the_initial_set(tmp_path):
    from seiflow.workflows.learn import _initial_sets
    from seiflow.workflows.run import Run

    cfg = _config(tmp_path, initial={"per_structure": 2, "seed": 7},
                  initial_strained={"per_structure": 3, "rattle_A": [0, 0.01], "strain": 0.02,
                                    "seed": 3, "weight": 5})
    cell = ase.io.read(tmp_path / "cu.extxyz")
    _, initial, _ = _initial_sets(cfg, [cell], Run(tmp_path / "run"))
    strained = [a for a in initial if a.info["source"].startswith("initial strain")]
    assert len(initial) == 5 and len(strained) == 3
    assert [fit_weight(a) for a in initial] == [1.0, 1.0, 5.0, 5.0, 5.0]  # their loss weight
    for a in strained:  # strained cells, atoms within 0.05 Å of their strained sites
        frac = np.linalg.solve(a.cell.T, a.positions.T).T
        ideal = np.linalg.solve(cell.cell.T, cell.positions.T).T
        assert np.abs(a.cell.array - cell.cell.array).max() > 1e-3
        assert np.abs((frac - ideal) @ a.cell.array).max() < 0.05
    with pytest.raises(ConfigError, match="initial.seed and initial_strained.seed are both 7"):
        _config(tmp_path, initial={"seed": 7}, initial_strained={"seed": 7})


def test_strained_copies_centred_on_the_labelers_zero_pressure(tmp_path):
    """zero_pressure: the copies are strained about the labeler's own equilibrium volume (EMT
    Cu: a0 = 3.590 Å), not the built cell's (3.61 Å here); the centred cell is kept, so a
    second call (a resumed run) draws the very same frames."""
    from ase.calculators.emt import EMT

    from seiflow.core.units import GPA
    from seiflow.workflows.learn import _initial_sets
    from seiflow.workflows.run import Run

    strained = {"per_structure": 8, "rattle_A": [0, 0], "strain": 0.005, "seed": 3}
    cfg = _config(tmp_path, initial={"per_structure": 1, "seed": 7},
                  initial_strained={**strained, "zero_pressure": True})
    cell = ase.io.read(tmp_path / "cu.extxyz")
    run = Run(tmp_path / "run")
    _, initial, _ = _initial_sets(cfg, [cell], run)
    copies = [a for a in initial if a.info["source"].startswith("initial strain")]
    (centred,) = (run.structures / "zero-pressure").glob("*.extxyz")
    zero = ase.io.read(centred)
    zero.calc = EMT()
    assert abs(zero.get_stress()[:3].mean()) / GPA < 0.05
    assert zero.cell.lengths()[1] == pytest.approx(3.590, abs=0.002)
    # the strains are drawn about that cell: their mean volume is its volume, not the built one
    mean_v = np.mean([a.get_volume() for a in copies])
    assert mean_v == pytest.approx(zero.get_volume(), rel=0.006)
    assert abs(mean_v / cell.get_volume() - 1) > 0.01
    again = _initial_sets(cfg, [cell], run)[1]
    assert [structure_hash(a) for a in again] == [structure_hash(a) for a in initial]
    plain = _initial_sets(_config(tmp_path, initial={"per_structure": 1, "seed": 7},
                                  initial_strained=strained), [cell], Run(tmp_path / "r2"))[1]
    assert plain[-1].get_volume() != pytest.approx(copies[-1].get_volume(), rel=1e-3)
