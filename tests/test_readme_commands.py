"""The README's two commands: exactly two, .ci/run calls the test one, the demo one works."""

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
def test_demo_command_builds_every_structure(tmp_path):
    out = subprocess.run(["bash", "scripts/demo.sh", "--out", str(tmp_path), "--no-progress"],
                         cwd=ROOT, capture_output=True, text=True, timeout=1200)
    assert out.returncode == 0, out.stderr[-3000:]
    summary = yaml.safe_load((tmp_path / "build-summary.yml").read_text())
    config = yaml.safe_load((ROOT / "examples/demo.yaml").read_text())
    expected = (len(config["phases"]) + sum(a["count"] for a in config["amorphous"])
                + len(config["defects"]) + len(config["interfaces"]))
    assert summary["status"] == "ok" and len(summary["outputs"]) == expected
    for rec in summary["outputs"]:
        if rec["kind"] == "amorphous":  # compressed towards the 50 kbar target
            assert rec["density_final"] > 1.5 * rec["density_initial"]
            assert rec["final_pressure_GPa"] > 2.0
