"""``initial_md:``: the initial set drawn from NVT MD run with the labeler itself (a 32-atom
EMT Cu cell, 20 steps at two temperatures), stored with the MD's own labels and provenance,
held out in part, compared by g(r) with the final model's MD; a rerun adds nothing; bad
settings are one line."""

import json

import ase.io
import numpy as np
import pytest
import yaml
from ase.build import bulk

from seiflow.core.config import parse_config
from seiflow.core.errors import ConfigError
from seiflow.data.store import LabelStore
from seiflow.reference.emt import EMTSettings
from seiflow.workflows.learn import LearnConfig, run_learn

MD = {"temperatures_K": [300, 900], "steps": 20, "timestep_fs": 2.0, "stride": 5,
      "test_fraction": 0.25, "seed": 3, "rdf_r_max_A": 3.0}
CONFIG = {
    "structures": {"formats": ["extxyz"], "snapshots": False, "phases": [{"file": "cu.extxyz"}]},
    "labeler": {"name": "emt"},
    "potential": {"backend": "mtp", "level": 4, "cutoff": 3.0, "max_iter": 10},
    "initial": {"per_structure": 2, "seed": 0, "rattle_A": [0.01, 0.02], "strain": 0.0},
    "test_set": {"per_structure": 1, "seed": 5},
    "initial_md": MD,
    "explore": {"temperatures_K": [300], "steps": 20, "traj_stride": 5},
    "test_md": 0, "max_iterations": 1, "label_budget": 100,
}


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    folder = tmp_path_factory.mktemp("initial-md")
    ase.io.write(folder / "cu.extxyz", bulk("Cu", "fcc", a=3.61, cubic=True).repeat((2, 2, 1)))
    cfg = {**CONFIG, "run_dir": str(folder / "run"),
           "structures": {**CONFIG["structures"],
                          "phases": [{"file": str(folder / "cu.extxyz")}]}}
    run_learn(parse_config(cfg, LearnConfig), progress=False)
    return folder / "run", cfg


def test_frames_carry_the_md_labels_and_their_origin(finished):
    run, _ = finished
    store = LabelStore(run / "labels.db")
    rows = list(store.rows(group="initial-md"))
    # 2 trajectories x steps 5, 10, 15, 20 (the start is not kept)
    assert len(rows) == 8
    assert {r.get("trajectory") for r in rows} == {"cu-300K", "cu-900K"}
    assert {r.get("temperature_K") for r in rows} == {300.0, 900.0}
    assert {r.get("builder") for r in rows} == {"reference-md"}
    assert sorted(r.get("step") for r in rows) == [5, 5, 10, 10, 15, 15, 20, 20]
    split = {r.get("step"): r.get("split") for r in rows}
    assert split == {5: "train", 10: "train", 15: "train", 20: "test-reference-md"}
    labeler = EMTSettings()
    assert {r.get("settings_hash") for r in rows} == {labeler.settings_hash()}
    for row in rows:
        direct = labeler.label(row.toatoms())
        assert row.energy == pytest.approx(direct.energy, abs=1e-9)
        np.testing.assert_allclose(row.forces, direct.forces, atol=1e-9)
        np.testing.assert_allclose(row.stress, direct.stress, atol=1e-9)
    # the MD moved: the frames differ from each other
    assert len({round(r.energy, 6) for r in rows}) == 8


def test_held_out_errors_and_rdf_comparison(finished):
    run, _ = finished
    errors = json.loads((run / "evaluation" / "errors.json").read_text())
    assert errors["test-reference-md"]["all"]["forces"]["n"] == 2 * 32 * 3  # 2x2x2 cells
    rdfs = json.loads((run / "evaluation" / "rdf-reference-vs-mlip.json").read_text())
    assert [t["trajectory"] for t in rdfs["trajectories"]] == ["cu-300K", "cu-900K"]
    for t in rdfs["trajectories"]:
        assert "failure" not in t, t.get("failure")
        pair = t["pairs"]["Cu-Cu"]
        assert len(pair["g_reference"]) == len(pair["g_mlip"]) == len(t["r_A"])
        assert max(pair["g_reference"]) > 1 and t["window_fs"] == [30.0, 40.0]
        assert (run / "evaluation" / t["plot"]).stat().st_size > 1000
    assert "rdf-cu-300K.png" in (run / "report.md").read_text()
    summary = yaml.safe_load((run / "learn-summary.yml").read_text())
    md = summary["initial_md"]
    assert md["frames_train"] == 6 and md["frames_test"] == 2
    assert all(v > 0 for v in md["teacher_s_per_step"].values())


def test_rerun_adds_nothing(finished):
    run, cfg = finished
    store = LabelStore(run / "labels.db")
    before = sorted(r.structure_hash for r in store.rows())
    mtime = (run / "initial-md" / "cu-300K" / "trajectory.extxyz").stat().st_mtime
    run_learn(parse_config(cfg, LearnConfig), progress=False)
    assert sorted(r.structure_hash for r in store.rows()) == before
    assert (run / "initial-md" / "cu-300K" / "trajectory.extxyz").stat().st_mtime == mtime


def test_a_killed_trajectory_resumes_without_relabelling(tmp_path):
    """Frames already stored are skipped: the MD is redone from its checkpoint and the store
    gets each step once."""
    from seiflow.active.reference_md import InitialMDSettings, ReferenceMDTask, reference_md

    ase.io.write(tmp_path / "cu.extxyz", bulk("Cu", "fcc", a=3.61, cubic=True))
    s = InitialMDSettings(temperatures_K=[600], steps=20, stride=5, timestep_fs=2.0)
    task = ReferenceMDTask("cu-600K", tmp_path / "cu.extxyz", "cu", EMTSettings(),
                           s.md(600, 0), s.test_after_step(), str(tmp_path / "l.db"),
                           tmp_path / "md")
    first = reference_md(task)
    store = LabelStore(tmp_path / "l.db")
    hashes = sorted(r.structure_hash for r in store.rows())
    (tmp_path / "md" / "result.json").unlink()  # as if killed after its last frame
    again = reference_md(task)
    assert sorted(r.structure_hash for r in store.rows()) == hashes
    assert (first.frames_train, first.frames_test) == (again.frames_train, again.frames_test)


def test_an_independent_held_out_trajectory(tmp_path):
    """``test_steps``: beside each trajectory another one at other velocities, all held out."""
    from seiflow.active.reference_md import InitialMDSettings
    from seiflow.execution import InProcessSettings
    from seiflow.workflows.reference_md import reference_md_tasks, run_reference_md

    ase.io.write(tmp_path / "cu.extxyz", bulk("Cu", "fcc", a=3.61, cubic=True))
    s = InitialMDSettings(temperatures_K=[600], steps=10, stride=5, test_steps=15,
                          timestep_fs=2.0)
    store = LabelStore(tmp_path / "l.db")
    tasks = reference_md_tasks(s, [("cu", tmp_path / "cu.extxyz")], EMTSettings(), store.url,
                               tmp_path)
    assert [t.name for t in tasks] == ["cu-600K", "cu-600K-test"]
    assert tasks[0].md.seed != tasks[1].md.seed and tasks[1].md.steps == 15
    done = run_reference_md(s, tasks, InProcessSettings(progress=False), store, tmp_path)
    assert (done["frames_train"], done["frames_test"]) == (2, 3)
    split = {(r.get("trajectory"), r.get("step")): r.get("split") for r in store.rows()}
    assert split == {("cu-600K", 5): "train", ("cu-600K", 10): "train",
                     ("cu-600K-test", 5): "test-reference-md",
                     ("cu-600K-test", 10): "test-reference-md",
                     ("cu-600K-test", 15): "test-reference-md"}


def test_the_longest_trajectory_is_submitted_first(tmp_path):
    """Workers end together when the most atom-steps go first; the seeds stay the tasks'."""
    from seiflow.active.reference_md import InitialMDSettings
    from seiflow.core.errors import SeiflowError
    from seiflow.workflows.reference_md import reference_md_tasks, run_reference_md

    class Recording:  # an engine that only records what it was given, in order
        def map(self, fn, tasks, names, records=None):
            self.names = names

    cu = bulk("Cu", "fcc", a=3.61, cubic=True)
    for name, cell in (("small", cu), ("big", cu.repeat(2))):
        ase.io.write(tmp_path / f"{name}.extxyz", cell)
    s = InitialMDSettings(temperatures_K=[300], steps=10, stride=5, test_steps=40,
                          timestep_fs=2.0)
    store, engine = LabelStore(tmp_path / "l.db"), Recording()
    tasks = reference_md_tasks(s, [(n, tmp_path / f"{n}.extxyz") for n in ("small", "big")],
                               EMTSettings(), store.url, tmp_path)
    seeds = {t.name: t.md.seed for t in tasks}
    with pytest.raises(SeiflowError, match="reference MD failed"):  # nothing ran
        run_reference_md(s, tasks, engine, store, tmp_path)
    # atom-steps: big-test 32 x 40, big 32 x 10, small-test 4 x 40, small 4 x 10
    assert engine.names == ["big-300K-test", "big-300K", "small-300K-test", "small-300K"]
    assert {t.name: t.md.seed for t in tasks} == seeds


@pytest.mark.parametrize("change, message", [
    ({"steps": -5}, "steps"),
    ({"stride": 50}, "stride (50) must not exceed steps (20)"),
    ({"test_fraction": 1.0}, "test_fraction"),
    ({"temperatures_K": [-300]}, "temperatures_K"),
    ({"test_steps": 3}, "test_steps (3) must be 0 or at least stride (5)"),
])
def test_bad_settings_are_one_line(tmp_path, change, message):
    with pytest.raises(ConfigError) as err:
        parse_config({**CONFIG, "initial_md": {**MD, **change},
                      "run_dir": str(tmp_path / "r")}, LearnConfig)
    text = str(err.value)
    assert message.replace("(", "").replace(")", "") in text.replace("(", "").replace(")", "")
    assert "\n" not in text.strip()
    assert not (tmp_path / "r").exists()



def test_a_structure_the_labeler_cannot_treat_is_one_line_before_any_md(tmp_path):
    from seiflow.active.reference_md import InitialMDSettings
    from seiflow.core.errors import SeiflowError
    from seiflow.execution import InProcessSettings
    from seiflow.workflows.reference_md import reference_md_tasks, run_reference_md

    ase.io.write(tmp_path / "li.extxyz", bulk("Li", "bcc", a=3.51, cubic=True))
    s = InitialMDSettings(steps=10, stride=5)
    store = LabelStore(tmp_path / "l.db")
    tasks = reference_md_tasks(s, [("li", tmp_path / "li.extxyz")], EMTSettings(), store.url,
                               tmp_path)
    with pytest.raises(SeiflowError, match="initial_md, li: EMT .* cannot treat element"):
        run_reference_md(s, tasks, InProcessSettings(progress=False), store, tmp_path)
    assert not (tmp_path / "initial-md").exists() and store.count() == 0
