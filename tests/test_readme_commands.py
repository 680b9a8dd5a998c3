"""The README's two commands: exactly two, .ci/run calls the test one, the demo one works."""

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

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
def test_demo_command_learns_a_potential(tmp_path):
    """The main job: structures -> xTB labels -> MTP by active learning, converged."""
    run = tmp_path / "demo"
    out = subprocess.run(["bash", "scripts/demo.sh", "--run-dir", str(run), "--no-progress"],
                         cwd=ROOT, capture_output=True, text=True, timeout=1800)
    assert out.returncode == 0, out.stderr[-3000:]
    summary = yaml.safe_load((run / "learn-summary.yml").read_text())
    assert summary["status"] == "ok"
    assert summary["status_learning"] == "converged", summary
    reports = [json.loads(p.read_text()) for p in sorted(run.glob("iter-*/report.json"))]
    assert reports[-1]["broken"] == 0 and reports[0]["labels_added"] > 0
    structures = yaml.safe_load((run / "structures" / "build-summary.yml").read_text())
    for rec in structures["outputs"]:  # compressed towards the 50 kbar target
        assert rec["density_final"] > 1.3 * rec["density_initial"]
    assert (run / "report.md").read_text().count("\n| ") >= len(reports)
