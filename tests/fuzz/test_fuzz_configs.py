"""Mutated example configs through every config-consuming command, in-process.

Each target is a command and a base config (an example from examples/, a section of one, or
a small config of this file where examples/ has none). Every case is a seeded mutant of the
base (tests/fuzz/mutate.py). The command must answer with exit 2 and one ``error: ...`` line,
or accept the input and reach the probe that stands in for its work (exit 99; never for a
mutation that is always invalid), never print a traceback, and, when it refuses, leave
labels.db (and the files beside it) unchanged.

Cases: SEIFLOW_FUZZ_CASES (default 1200 over the whole fuzz suite) x this file's shares.
"""

from __future__ import annotations

import collections
import time
import zlib
from pathlib import Path

import pytest
import yaml

from tests.fuzz.harness import (PROBE_EXIT, TRACEBACK, cases_for, invoke, problems, record,
                                report, store_state)
from tests.fuzz.gaps import FIXED_GAPS, KNOWN_GAPS, known_gap
from tests.fuzz.mutate import mutate

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
LEARN = ("demo", "learn-gpaw", "learn-mace-committee", "lif-interstitial",
         "validate-li2co3-learn")
MD_BASE = """
structure: cu.extxyz
calculator: {name: emt}
out_dir: md-run
md: {ensemble: langevin, temperature_K: 300, timestep_fs: 2.0, steps: 200, traj_stride: 10,
     checkpoint_every: 100, friction_per_fs: 0.02}
"""
MD_MODEL_BASE = """
structure: cu.extxyz
potential: model
out_dir: md-model
md: {ensemble: npt, temperature_K: 600, pressure_bar: 10000, steps: 100, traj_stride: 10,
     checkpoint_every: 50, tdamp_fs: 50, pdamp_fs: 400}
field_V_per_A: [0.0, 0.0, 0.1]
field_charges: {Cu: 1.0, Al: -1.0}
"""
TRAIN_BASE = """
db: labels.db
out: trained
potential: {backend: mtp, level: 6, max_iter: 8, cutoff: 5.0}
split: {test_fraction: 0.25, mode: stratified, seed: 1}
"""


def _example(name: str) -> dict:
    return yaml.safe_load((EXAMPLES / f"{name}.yaml").read_text())


def _dump(data: dict) -> str:
    return yaml.safe_dump(data, sort_keys=False)


def targets() -> dict[str, tuple[str, list[str], float]]:
    """name -> (base config text, argv with CONFIG for the config file, share of the cases)."""
    out: dict[str, tuple[str, list[str], float]] = {
        "build/structures": ((EXAMPLES / "structures.yaml").read_text(),
                             ["build", "CONFIG", "--no-progress"], 0.08),
        # without its `model:` key, which the command's MODEL argument replaces
        "validate/validate-li2co3": (_dump({k: v for k, v in _example("validate-li2co3").items()
                                            if k != "model"}),
                                     ["validate", "model", "--config", "CONFIG",
                                      "--no-progress"], 0.08),
        "md/emt": (MD_BASE, ["md", "CONFIG", "--no-progress"], 0.06),
        "md/model-field": (MD_MODEL_BASE, ["md", "CONFIG", "--no-progress"], 0.05),
        "train/mtp": (TRAIN_BASE, ["train", "CONFIG", "--no-progress"], 0.05),
        "train/mace-committee": (
            _dump({"db": "labels.db", "out": "trained",  # (model/ holds a model: refused)
                   "potential": _example("learn-mace-committee")["potential"]}),
            ["train", "CONFIG", "--no-progress"], 0.05),
    }
    for name in LEARN:
        out[f"learn/{name}"] = ((EXAMPLES / f"{name}.yaml").read_text(),
                                ["learn", "CONFIG", "--no-progress"], 0.05)
    for name in ("demo", "learn-gpaw"):
        out[f"build/{name}.structures"] = (
            _dump({"out_dir": "built", **_example(name)["structures"]}),
            ["build", "CONFIG", "--no-progress"], 0.03)
        out[f"label/settings-{name}.labeler"] = (
            _dump(_example(name)["labeler"]),
            ["label", "cu.extxyz", "--settings", "CONFIG", "--db", "labels.db", "--no-progress"],
            0.03)
    for name in ("parsl-local", "parsl-slurm"):
        out[f"label/engine-{name}"] = (
            (EXAMPLES / f"{name}.yaml").read_text(),
            ["label", "cu.extxyz", "--labeler", "emt", "--db", "labels.db", "--engine-config",
             "CONFIG", "--no-progress"], 0.03)
    return out


TARGETS = targets()


def test_every_base_config_is_accepted(probed_dir):
    """Unmutated, every base reaches the probe: the fuzz measures the mutations, not a broken
    base."""
    for name, (text, argv, _) in TARGETS.items():
        (probed_dir / "base.yaml").write_text(text)
        out = invoke([a if a != "CONFIG" else "base.yaml" for a in argv])
        assert out.code == PROBE_EXIT, f"{name}: {out.code} {out.stderr}"


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_mutated_configs(name, probed_dir):
    text, argv, share = TARGETS[name]
    n = cases_for(share)
    first = zlib.crc32(name.encode()) % 1_000_000  # each target its own seeds
    store = probed_dir / "labels.db"
    failures, kinds = [], collections.Counter()
    start = time.perf_counter()
    for seed in range(first, first + n):
        mutant = mutate(text, seed)
        path = probed_dir / f"case-{seed}.yaml"
        path.write_bytes(mutant.data)
        before = store_state(store)
        out = invoke([str(path) if a == "CONFIG" else a for a in argv])
        why = problems(out, mutant.must_reject)
        if out.code != PROBE_EXIT and store_state(store) != before:
            why.append("labels.db changed")  # (an accepted input may open it for work)
        kinds["accepted" if out.code == PROBE_EXIT else "rejected"] += 1
        gap = known_gap(out, mutant.describe())
        kinds["known_gap"] += gap is not None  # refused wrongly, or accepted though invalid
        if why and not gap:
            failures.append((f"seed {seed}: {mutant.describe()}", out, why))
        path.unlink()
    record(f"configs/{name}", {"cases": n, **kinds, "failures": len(failures),
                               "seconds": round(time.perf_counter() - start, 2)})
    assert not failures, report(failures)


@pytest.mark.parametrize("gap", [pytest.param(g, id=g.key, marks=pytest.mark.xfail(
    strict=True, reason=g.reason)) for g in KNOWN_GAPS])
def test_known_gaps(gap, probed_dir):
    """Each known gap's reproducer must be refused with exit 2 and one line (xfail until the
    file it names is fixed)."""
    (probed_dir / "gap.yaml").write_text(gap.config)
    out = invoke([a if a != "CONFIG" else "gap.yaml" for a in gap.argv])
    assert TRACEBACK not in out.stdout + out.stderr
    assert not problems(out, must_reject=True), out.stderr


@pytest.mark.parametrize("gap", FIXED_GAPS, ids=[g.key for g in FIXED_GAPS])
def test_fixed_gaps(gap, probed_dir):
    """Each fixed gap's reproducer is refused before any work: exit 2, one line that names
    the key and the limit."""
    (probed_dir / "gap.yaml").write_text(gap.config)
    out = invoke([a if a != "CONFIG" else "gap.yaml" for a in gap.argv])
    assert not problems(out, must_reject=True), out.stderr
    assert gap.expect in out.stderr, out.stderr
