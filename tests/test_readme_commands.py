"""The README's two commands: exactly two, .ci/run calls the test one, the demo one works."""

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

CONFIGS = Path(__file__).parent / "configs"
ROOT = Path(__file__).resolve().parents[1]


def _readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Two commands", 1)[1].split("\n## ", 1)[0]
    return [c.strip() for c in re.findall(r"```bash\n(.*?)```", section, re.S)]


def test_exactly_two_commands_and_ci_calls_the_test_one():
    demo, test = _readme_commands()
    assert demo == "bash scripts/demo.sh" and test == "bash scripts/test.sh"
    ci = [ln.strip() for ln in (ROOT / ".ci/run").read_text().splitlines()
          if ln.strip() and not ln.startswith("#") and not ln.startswith(("set ", "cd "))]
    assert ci == [test]


@pytest.mark.slow
def test_demo_command_learns_and_validates_a_potential(tmp_path):
    """The main job's command with a smaller config pair (tests/configs/demo-quick-*.yaml):
    structures -> SevenNet-0 labels -> MTP by active learning -> the held-out evaluation ->
    validation against the teacher. The full-size run is recorded in docs/demo.md."""
    run = tmp_path / "demo"
    env = {**os.environ, "DEMO_CONFIG": str(CONFIGS / "demo-quick-learn.yaml"),
           "DEMO_VALIDATE": str(CONFIGS / "demo-quick-validate.yaml")}
    out = subprocess.run(["bash", "scripts/demo.sh", "--run-dir", str(run), "--no-progress"],
                         cwd=ROOT, capture_output=True, text=True, timeout=1800, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    summary = yaml.safe_load((run / "learn-summary.yml").read_text())
    assert summary["status"] == "ok" and summary["held_out_errors"]["test-rattled"]
    reports = [json.loads(p.read_text()) for p in sorted(run.glob("iter-*/report.json"))]
    assert reports and reports[0]["labels_total"] > 0
    structures = yaml.safe_load((run / "structures" / "build-summary.yml").read_text())
    for rec in structures["outputs"]:  # every starting cell at least 2 x the 4 Å cutoff wide
        assert min(rec["widths_A"]) >= 8.0, rec
    table = (run / "validate" / "table.md").read_text()
    assert "| lif | lattice | a |" in table and "barrier (forward)" in table
    assert (run / "report.md").read_text().count("\n| ") >= len(reports)
