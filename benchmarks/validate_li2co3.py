"""Issue 7's whole suite on Li2CO3: an MTP trained by seiflow's active learning on GFN1-xTB
labels (examples/validate-li2co3-learn.yaml) against GFN1-xTB itself, every property of Li et al.
(Mater. Horiz. 2025): lattice + EOS, elastic constants, phonons, NEB barriers of the three Li
mechanisms, Li(111)/ and Li(110)/Li2CO3(001) interface energies.

Run (after `seiflow learn examples/validate-li2co3-learn.yaml`):
    .venv/bin/python benchmarks/validate_li2co3.py runs/validate-li2co3-learn/iter-NN/model
It runs `seiflow validate` with examples/validate-li2co3.yaml (resumable), then copies the table,
results and figures to benchmarks/results/validate_li2co3/ with the machine and, beside seiflow's
numbers, the paper's own MTP and DFT (PBE) values where it states them.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import describe  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "examples" / "validate-li2co3.yaml"
OUT = Path(__file__).resolve().parent / "results" / "validate_li2co3"

# Li et al., Mater. Horiz. 12, 10770 (2025): Sec. 3.2.1 (NEB, 1x2x2 Li2CO3) and Sec. 3.3
# (interfaces). Their reference is PBE DFT, ours GFN1-xTB: compare trends, not digits.
PAPER = {
    ("neb-li2co3-c2c-frenkel", "barrier (forward)"): {"MTP": 1.19, "unit": "eV"},
    ("neb-li2co3-c2c-vacancy", "barrier (forward)"): {
        "MTP/DFT range": "0.18-0.24", "unit": "eV"},
    ("neb-li2co3-c2c-knockoff", "barrier (forward)"): {
        "MTP/DFT range": "0.18-0.24", "unit": "eV"},
    ("interface-li-bcc-110_li2co3-c2c-001", "interface energy"): {
        "MTP": 0.44, "DFT": 0.52, "unit": "J/m²"},
    ("interface-li-bcc-111_li2co3-c2c-001", "interface energy"): {
        "MTP": 0.35, "DFT": 0.46, "unit": "J/m²"},
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("model", type=Path)
    ap.add_argument("--out", type=Path, default=ROOT / "runs" / "validate-li2co3")
    args = ap.parse_args()
    cmd = [sys.executable, "-m", "seiflow", "validate", str(args.model), "--config",
           str(CONFIG), "--out", str(args.out), "--no-progress"]
    subprocess.run(cmd, check=True)
    summary = json.loads((args.out / "results.json").read_text())
    for row in summary["rows"]:
        paper = PAPER.get((row["target"], row["quantity"]))
        if paper:
            row["paper"] = paper
    OUT.mkdir(parents=True, exist_ok=True)
    for fig in summary["figures"]:
        shutil.copy(args.out / fig, OUT / fig)
    shutil.copy(args.out / "table.md", OUT / "table.md")
    summary["machine"] = describe()
    meta = json.loads((Path(args.model) / "model.json").read_text())
    summary["model_meta"] = {k: meta[k] for k in ("backend", "level", "species")}
    (OUT / "results.json").write_text(json.dumps(summary, indent=1))
    print((OUT / "table.md").read_text())


if __name__ == "__main__":
    main()
