"""Make tests/data/mlip3_lif_level6.almtp and mlip3_lif_level6_efs.json (tests/test_import_mtp.py).

Only seiflow's own data: the rattled LiF cells of ``tests.test_import_mtp.lif_frames(4, seed=1)``
labelled by seiflow's SevenNet-0 labeler (``seiflow label -l sevennet``), written by
``seiflow data export --format cfg``, trained by MLIP-3 (``mlp train`` of its level-6 template,
50 iterations, ``--al_mode=nbh``; the .almtp embeds the configurations it selected). The
reference is MLIP-3's energies and forces of the same frames, at full precision, from
benchmarks/mlip_crosscheck.py's CalcEFS driver. MLIP-3 is built outside the repository (its
licence forbids redistribution; see mlip_crosscheck.py's docstring).

Run:  OMP_NUM_THREADS=1 .venv/bin/python benchmarks/mlip3_test_data.py --mlip-dir /tmp/mlip3
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import ase.io

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "benchmarks"), str(ROOT)]
from mlip_crosscheck import build_driver, run_driver, write_cfg_exact  # noqa: E402

from tests.test_import_mtp import ALMTP, REFERENCE, SPECIES, lif_frames  # noqa: E402

ITERATIONS = 50


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--mlip-dir", default=os.environ.get("SEIFLOW_MLIP_DIR"),
                   help="MLIP-3 build folder (bin/mlp, obj/serial); env SEIFLOW_MLIP_DIR")
    args = p.parse_args()
    mlip = Path(args.mlip_dir) if args.mlip_dir else None
    if mlip is None or not (mlip / "bin" / "mlp").exists():
        print(f"no MLIP-3 build (bin/mlp) at {mlip}; see benchmarks/mlip_crosscheck.py")
        return 1
    frames = lif_frames(4, seed=1)
    seiflow = [sys.executable, "-m", "seiflow"]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        ase.io.write(work / "frames.extxyz", frames)
        subprocess.run([*seiflow, "label", str(work / "frames.extxyz"), "-l", "sevennet",
                        "--db", str(work / "labels.db"), "--group", "lif", "--no-progress"],
                       check=True)
        subprocess.run([*seiflow, "data", "export", str(work / "labels.db"),
                        str(work / "train.cfg"), "--format", "cfg"], check=True)
        subprocess.run([str(mlip / "bin" / "mlp"), "train",
                        str(mlip / "MTP_templates" / "06.almtp"), str(work / "train.cfg"),
                        f"--save_to={ALMTP}", f"--iteration_limit={ITERATIONS}",
                        "--al_mode=nbh", "--log=none"], check=True, capture_output=True)
        exe = build_driver(mlip, work)
        cfg = write_cfg_exact(frames, SPECIES, work / "frames.cfg")
        results, _, _ = run_driver(exe, ALMTP, cfg, 0)
    reference = {
        "species": SPECIES,
        "energies_eV": [e for e, _ in results],
        "forces_eV_per_A": [f.tolist() for _, f in results],
        "mlp": "MLIP-3 (RichardZJM/mlip3-extract 25dfa45) MLMTPR::CalcEFS, %.17g "
               "(benchmarks/mlip_crosscheck.py's driver)",
        "frames": "tests.test_import_mtp.lif_frames(4, seed=1)",
        "made_by": "benchmarks/mlip3_test_data.py",
    }
    REFERENCE.write_text(json.dumps(reference, indent=1) + "\n")
    print(f"wrote {ALMTP} ({ALMTP.stat().st_size} bytes) and {REFERENCE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
