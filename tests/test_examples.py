"""Every config in examples/ validates against its schema (the demo itself runs in
test_readme_commands.py)."""

from pathlib import Path

import pytest

from seiflow.core.config import load_config
from seiflow.execution import ParslSettings
from seiflow.workflows.build import BuildConfig
from seiflow.workflows.learn import LearnConfig
from seiflow.workflows.validate import ValidateConfig

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.mark.parametrize("name, schema", [
    ("demo.yaml", LearnConfig), ("learn-gpaw.yaml", LearnConfig),
    ("lif-interstitial.yaml", LearnConfig), ("validate-li2co3-learn.yaml", LearnConfig),
    ("learn-mace-committee.yaml", LearnConfig), ("li-li3incl6.yaml", LearnConfig),
    ("validate-li2co3.yaml", ValidateConfig), ("demo-validate.yaml", ValidateConfig),
    ("lif-interstitial-validate.yaml", ValidateConfig), ("structures.yaml", BuildConfig),
    ("lif-interstitial-diffusion.yaml", ValidateConfig), ("li2co3-mechanisms.yaml", LearnConfig),
    ("parsl-local.yaml", ParslSettings),
    ("parsl-slurm.yaml", ParslSettings),
])
def test_example_validates(name, schema):
    load_config(EXAMPLES / name, schema)


def test_no_example_left_untested():
    assert {p.name for p in EXAMPLES.glob("*.yaml")} == {
        "demo.yaml", "learn-gpaw.yaml", "lif-interstitial.yaml", "structures.yaml",
        "parsl-local.yaml", "parsl-slurm.yaml", "validate-li2co3-learn.yaml",
        "validate-li2co3.yaml", "learn-mace-committee.yaml", "demo-validate.yaml",
        "lif-interstitial-validate.yaml", "li-li3incl6.yaml", "lif-interstitial-diffusion.yaml",
        "li2co3-mechanisms.yaml"}
