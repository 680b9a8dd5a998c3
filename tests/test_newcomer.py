"""A newcomer's walk through the README and docs/*.md (issue 20).

1. Every ``seiflow ...`` line of a ```bash (or plain ```) block of README.md and docs/*.md
   (line continuations joined, trailing ``# comments`` dropped) names a command that exists and
   uses only options that command accepts, with values its types take (a Choice, a number)
   and no missing required argument — parsed by the CLI's own parser, nothing run. Every
   inline `seiflow ...` span of the prose names a command that exists and options it has.
   Every command shown answers ``--help``; the command lists show one line per command.
2. The curated walk runs the documented commands in a newcomer's order on tiny inputs in a
   temporary folder — the docs' options kept, their file names and sizes replaced by tiny
   ones (fcc Cu/Al cells labelled by ASE's EMT, an MTP of level 2-4 fitted in seconds) — and
   checks exit code 0 and the files each command says it writes. The documented lines the walk
   cannot run offline and cheaply are in ``NOT_RUN`` with the reason; every other documented
   line must be run (the walk checks it at its end).
"""

from __future__ import annotations

import contextlib
import glob
import io
import json
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import typer.main
import yaml
from ase.build import bulk
from ase.io import read, write

from seiflow.cli.app import app, run
from tests.walkers import li_walkers

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
ALMTP = ROOT / "tests" / "data" / "mlip3_lif_level6.almtp"  # MLIP-3-trained, F Li

# ---------------------------------------------------------------------------------------------
# the documented command lines
# ---------------------------------------------------------------------------------------------


def _join_continuations(block: str) -> list[str]:
    lines, current = [], ""
    for raw in block.splitlines():
        if lines and not current and raw[:1].isspace() and raw.strip()[:1] in ("[", "-"):
            current = lines.pop()  # a synopsis's indented option lines continue it
        current = f"{current} {raw.strip()}" if current else raw.strip()
        if current.endswith("\\"):
            current = current[:-1].rstrip()
            continue
        lines.append(current)
        current = ""
    if current:
        lines.append(current)
    return lines


def documented_lines() -> list[tuple[str, str]]:
    """(where, command line without its comment) of every ``seiflow`` line in a code block;
    ``where`` is ``FILE:LINE``. A synopsis's ``[--opt VALUE]`` brackets are dropped."""
    out = []
    for path in DOCS:
        text = path.read_text()
        for m in re.finditer(r"^```([a-z]*)\n(.*?)^```", text, re.S | re.M):
            if m.group(1) not in ("", "bash", "sh", "shell", "console"):
                continue
            first = text[:m.start(2)].count("\n") + 1
            for line in _join_continuations(m.group(2)):
                if not line.startswith("seiflow "):
                    continue
                k = next(i for i, raw in enumerate(m.group(2).splitlines())
                         if raw.strip() and line.startswith(raw.strip().rstrip("\\").rstrip()))
                words = shlex.split(line.replace("[", " ").replace("]", " "), comments=True)
                out.append((f"{path.name}:{first + k}", " ".join(words)))
    return out


def inline_spans() -> list[tuple[str, str]]:
    """(FILE, span) of every ``seiflow ...`` inline code span outside the code blocks."""
    out = []
    for path in DOCS:
        text = re.sub(r"^```.*?^```", "", path.read_text(), flags=re.S | re.M)
        for m in re.finditer(r"`(seiflow [^`]+)`", text):
            out.append((path.name, " ".join(m.group(1).split())))
    return out


LINES = documented_lines()
ROOT_COMMAND = typer.main.get_command(app)


def _resolve(words: list[str], group_ok: bool = False):
    """(click command, its name path, the remaining words) of ``seiflow WORDS``; a group
    without its sub-command only if ``group_ok`` (prose: `seiflow analyze`)."""
    cmd, path, rest = ROOT_COMMAND, [], list(words)
    while hasattr(cmd, "commands"):
        if group_ok and path and (not rest or rest[0].startswith("-")):
            break
        if not rest or rest[0] not in cmd.commands:
            sub = "a sub-command" if not rest else repr(rest[0])
            raise AssertionError(f"`seiflow {' '.join(path)}` has no command {sub} "
                                 f"(it has {', '.join(sorted(cmd.commands))})")
        path.append(rest[0])
        cmd = cmd.commands[rest.pop(0)]
    return cmd, path, rest


def check_command_line(line: str) -> None:
    """Raise AssertionError naming what the CLI would refuse in ``line`` (not run)."""
    words = shlex.split(line)
    assert words[0] == "seiflow"
    cmd, path, args = _resolve(words[1:])
    ctx = cmd.context_class(cmd, info_name=" ".join(path), **cmd.context_settings)
    try:
        opts, extra, order = cmd.make_parser(ctx).parse_args(args)
    except Exception as exc:  # NoSuchOption, BadOptionUsage, ...
        raise AssertionError(f"`{line}`: {exc}") from None
    assert not extra or ctx.allow_extra_args, f"`{line}`: unexpected arguments {extra}"
    for param in cmd.params:
        if param.required and opts.get(param.name) in (None, ()):
            raise AssertionError(f"`{line}`: missing {param.opts[0]}")
    for param in order:  # the option's type: a number, a tuple of numbers, ...
        value = opts[param.name]
        if isinstance(value, str) and value.isupper():
            continue  # a synopsis's placeholder: --frame-dt FS
        try:
            param.process_value(ctx, value)
        except Exception as exc:
            raise AssertionError(f"`{line}`: {param.opts[0]}: {exc}") from None


@pytest.mark.parametrize("where, line", LINES, ids=[w for w, _ in LINES])
def test_documented_line_parses(where, line):
    check_command_line(line)


def test_the_docs_show_commands():
    assert len(LINES) >= 70
    assert any(line.startswith("seiflow analyze reaction") for _, line in LINES)


SPANS = inline_spans()


@pytest.mark.parametrize("line, needle", [
    ("seiflow train --nope", "No such option"), ("seiflow trian x", "no command 'trian'"),
    ("seiflow data", "no command a sub-command"), ("seiflow train --level x", "--level"),
    ("seiflow train --weights 1 2", "3 arguments"), ("seiflow export-lammps m", "missing"),
    ("seiflow grade m a.extxyz --out", "requires an argument"),
    ("seiflow phases extra", "unexpected"),
])
def test_the_checks_catch_a_wrong_line(line, needle):
    with pytest.raises(AssertionError, match=re.escape(needle)):
        check_command_line(line)
    with pytest.raises(AssertionError):
        check_span("self-test", "seiflow train --no-such-option")


@pytest.mark.parametrize("where, span", SPANS, ids=[f"{w}:{s[:40]}" for w, s in SPANS])
def test_inline_span_names_a_command_and_its_options(where, span):
    check_span(where, span)


def check_span(where: str, span: str) -> None:
    words = span.replace("[", " ").replace("]", " ").split()[1:]
    if words and "|" in words[0]:  # `seiflow data import|export|stats|split`
        alternatives = words[0].split("|")
    elif len(words) > 1 and "|" in words[1]:
        alternatives = [f"{words[0]} {w}" for w in words[1].split("|")]
        words = words[1:]
    else:
        alternatives = [None]
    for alt in alternatives:
        head = alt.split() if alt else []
        cmd, _, rest = _resolve(head + words[1:] if alt else words, group_ok=True)
        known = {o for p in cmd.params for o in [*p.opts, *p.secondary_opts]} | {"--help"}
        for w in rest:
            if w.startswith("--"):
                assert w.split("=")[0] in known, f"{where}: `{span}`: no option {w}"


def test_the_readme_build_config_is_valid():
    """README's build config (what `seiflow build my-config.yaml` reads) passes the config
    check; the walk builds a tiny one."""
    from seiflow.core.config import parse_config
    from seiflow.workflows.build import BuildConfig

    block = re.findall(r"^```yaml\n(.*?)^```", (ROOT / "README.md").read_text(), re.S | re.M)[0]
    cfg = parse_config(yaml.safe_load(block), BuildConfig, where="README.md")
    assert cfg.phases and cfg.amorphous and cfg.defects and cfg.interfaces


def test_every_documented_command_answers_help():
    seen = set()
    for _, line in LINES:
        _, path, _ = _resolve(shlex.split(line)[1:])
        seen.add(tuple(path))
    for path in sorted(seen):
        code, out, err = seiflow(*path, "--help")
        assert code == 0 and "Usage" in out, (path, err)


def test_command_lists_show_one_line_per_command():
    """`seiflow --help` and `seiflow data --help` list each command with its docstring's
    first paragraph as one line (typer would keep the docstring's line breaks there)."""
    groups = [ROOT_COMMAND, *(c for c in ROOT_COMMAND.commands.values() if hasattr(c, "commands"))]
    for group in groups:
        for name, cmd in group.commands.items():
            text = cmd.short_help or (cmd.help or "").split("\n\n")[0]
            assert text.strip() and "\n" not in text, (name, text)


# ---------------------------------------------------------------------------------------------
# the walk
# ---------------------------------------------------------------------------------------------

# Documented lines the walk does not run, and why (each is parsed by the tests above). Every
# other documented line is run below (the walk checks it at its end), and
# test_not_run_names_only_documented_lines keeps this list in step with the docs.
MACE = "MACE fits: minutes of torch per model (tests/potentials/test_mace.py runs tiny ones)"
NOT_RUN = {
    "seiflow label cells.extxyz --labeler gpaw --settings gpaw.yaml --db labels.db "
    "--engine parsl --engine-config examples/parsl-local.yaml":
        "GPAW PBE (a DFT code, minutes per cell) on Parsl workers; tests/reference/"
        "test_labelers.py and tests/execution/test_engines.py run each",
    "seiflow label cells.extxyz --labeler gpaw --db labels.db --engine parsl "
    "--engine-config examples/parsl-slurm.yaml": "GPAW on a SLURM cluster",
    "seiflow data import frames.extxyz data.npz deepmd-systems/ --db x.db":
        "a NequIP .npz: seiflow writes none to make a tiny one from; the same line without "
        "data.npz is run (extxyz + DeePMD), and tests/data/test_formats.py reads .npz",
    "seiflow train --db labels.db --backend mace --out mace": MACE,
    "seiflow train --db labels.db --backend mace --foundation my-foundation.model": MACE,
    "seiflow train --db labels.db --backend mace --committee 4": MACE,
    "seiflow train --db labels.db --backend chgnet":
        "CHGNet fine-tuning: minutes of torch (tests/potentials/test_chgnet.py)",
    "seiflow train --db labels.db --backend sevennet --foundation sevennet-0 --epochs 5 "
    "--out 7net-li": "SevenNet-0 fine-tuning: minutes of torch (tests/potentials/test_sevennet.py)",
    "seiflow train --db labels.db --backend mace --preset small --device cpu --max-time 3600 "
    "--weights 50 50 0": MACE,
    "seiflow train --db labels.db --backend mace --epochs 200 --out mace-model": MACE,
    "seiflow train --db labels.db --backend mace --foundation mace-mpa-0-medium.model "
    "--epochs 50": MACE + "; the foundation file is a download",
    "seiflow md-batched replicas.yaml":
        "torch-sim with a MACE model (tests/cli/test_md_batched_cli.py)",
    "seiflow validate model --reference xtb --phases li2co3,lif --out val":
        "library SEI phases (Li, C, O, F) with xTB: minutes; EMT knows none of them. "
        "tests/workflows/test_validate.py validates an MTP against EMT on Cu",
    "seiflow validate model --config examples/validate-li2co3.yaml":
        "NEB and interfaces of Li2CO3 with xTB: tens of minutes",
    "seiflow validate MODEL --reference xtb --phases li2co3,lif,li-bcc --out runs/validate":
        "as above (xTB on library SEI phases)",
    "seiflow validate MODEL --config examples/validate-li2co3.yaml": "as above",
    "seiflow validate MODEL --reference gpaw --settings gpaw.yaml --phases li2co3 "
    "--properties lattice": "GPAW PBE",
    "seiflow neb initial.extxyz final.extxyz --labeler gpaw --settings gpaw.yaml --images 5":
        "GPAW PBE (the same NEB with EMT is the README line, run)",
    "seiflow analyze reaction TRAJ --axis z --out DIR --bin-width 1.0 --frame-dt FS --every N "
    "--cluster-species In --cluster-cutoff 3.6 --front Li3InCl6 --front-smooth 2.0 --plane Å":
        "a synopsis; a reactive Li/Li3InCl6 trajectory is minutes of MD "
        "(tests/analysis/test_reaction.py runs the analysis on made-up trajectories)",
    "seiflow learn examples/li-li3incl6.yaml": "the Li/Li3InCl6 loop with SevenNet-0: hours",
    "seiflow resume runs/li-li3incl6": "continues the loop above",
}


def seiflow(*argv) -> tuple[int, str, str]:
    """``seiflow ARGV`` in this process (seiflow.cli.app.run, the console script's body)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = run([str(a) for a in argv])
    return code, out.getvalue(), err.getvalue()


RAN: set[str] = set()
TIMES: list[tuple[float, str]] = []


def doc(line: str, *files: str, sub: dict[str, str] | None = None) -> str:
    """Run the documented LINE (as the docs show it, comment dropped; it must be there) with
    each phrase of ``sub`` replaced (whole words: the docs' file names and sizes become the
    walk's tiny ones, its options stay), glob-expanded as a shell would; assert exit code 0
    and that each of ``files`` (globs) exists afterwards. Returns stdout."""
    assert line in {documented for _, documented in LINES}, f"not in the docs: {line}"
    RAN.add(line)
    text = line
    for old, new in (sub or {}).items():
        pattern = rf"(?<!\S){re.escape(old)}(?!\S)"
        assert re.search(pattern, text), f"{old!r} is not in `{line}`"
        text = re.sub(pattern, new, text)
    argv = []
    for word in shlex.split(text)[1:]:
        argv += sorted(glob.glob(word, recursive=True)) or [word] if "*" in word else [word]
    t0 = time.perf_counter()
    code, out, err = seiflow(*argv)
    TIMES.append((time.perf_counter() - t0, " ".join(argv)))
    assert code == 0, f"seiflow {' '.join(argv)} (the docs: `{line}`): exit {code}\n{err[-3000:]}"
    for f in files:
        assert glob.glob(f, recursive=True), \
            f"seiflow {' '.join(argv)}: wrote no {f} (here: {sorted(map(str, Path().iterdir()))})"
    return out


def _cu_al_cells(n: int, seed: int) -> list:
    """Rattled, strained 32-atom fcc Cu cells with 8 Al (7.4 Å wide; unlabelled)."""
    rng = np.random.default_rng(seed)
    out = []
    for k in range(n):
        atoms = bulk("Cu", "fcc", 3.7, cubic=True).repeat(2)
        atoms.numbers[rng.choice(len(atoms), 8, replace=False)] = 13
        eps = rng.uniform(-0.03, 0.03, (3, 3))
        atoms.set_cell(atoms.cell @ (np.eye(3) + (eps + eps.T) / 2), scale_atoms=True)
        atoms.rattle(0.08, seed=int(rng.integers(1 << 30)))
        atoms.info["source"] = f"cell {k}"
        out.append(atoms)
    return out


def _emt_labelled(frames: list) -> list:
    from ase.calculators.emt import EMT

    from seiflow.workflows.properties.base import single_point

    return [single_point(atoms, lambda _: EMT()) for atoms in frames]


def _write_mlearn(frames: list, path: Path) -> None:
    """Labelled frames as an mlearn benchmark file (pymatgen structures, VASP kbar virial
    stress xx yy zz xy yz zx, compressive positive)."""
    from pymatgen.io.ase import AseAtomsAdaptor

    from seiflow.core.units import GPA

    entries = []
    for k, atoms in enumerate(frames):
        s = atoms.get_stress(voigt=True)  # ASE: eV/Å³, xx yy zz yz xz xy, tensile positive
        kbar = -np.array([s[0], s[1], s[2], s[5], s[3], s[4]]) / GPA * 10
        entries.append({"structure": AseAtomsAdaptor.get_structure(atoms).as_dict(),
                        "outputs": {"energy": atoms.get_potential_energy(),
                                    "forces": atoms.get_forces().tolist(),
                                    "virial_stress": kbar.tolist()},
                        "group": "Bulk", "description": f"emt {k}", "num_atoms": len(atoms)})
    path.write_text(json.dumps(entries))


WALK_EA, WALK_D1200 = 0.35, 3.1e-5  # eV; cm²/s at 1200 K, the docs' extra Arrhenius point


def _random_walk(T: float, n_frames: int = 200, dt_fs: float = 10.0, box: float = 15.0):
    """60 Li random walkers among 20 fixed F in a cubic box, D(T) Arrhenius with WALK_EA
    through WALK_D1200; frames carry time_fs and temperature_K as `seiflow md` writes them."""
    from ase.units import kB

    d_a2_fs = WALK_D1200 * np.exp(-WALK_EA / kB * (1 / T - 1 / 1200)) * 1e16 / 1e15
    frames = li_walkers(np.sqrt(2 * d_a2_fs * dt_fs), 60, 20, n_frames, box, dt_fs, int(T))
    for atoms in frames:
        atoms.info["temperature_K"] = float(T)
    return frames


def _doc_yaml(name: str, first_key: str) -> dict:
    """The YAML block of docs/NAME whose first key is FIRST_KEY (comment lines skipped)."""
    text = (ROOT / "docs" / name).read_text()
    for m in re.finditer(r"^```yaml\n(.*?)^```", text, re.S | re.M):
        keys = [ln for ln in m.group(1).splitlines() if ln.strip() and not ln.startswith("#")]
        if keys and keys[0].startswith(first_key):
            return yaml.safe_load(m.group(1))
    raise AssertionError(f"docs/{name}: no yaml block starting with {first_key}")


def test_console_script_runs():
    """The installed entry point, once, as a real process (the walk runs in-process)."""
    exe = Path(sys.executable).with_name("seiflow")
    argv = [str(exe)] if exe.is_file() else [sys.executable, "-m", "seiflow"]
    r = subprocess.run([*argv, "phases"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "lif" in r.stdout, r.stderr


@pytest.mark.slow
def test_newcomer_walk(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SEIFLOW_LOG_DIR", str(tmp_path / "logs"))
    t_start = time.perf_counter()
    cu = bulk("Cu", "fcc", a=3.6, cubic=True)
    write("cell.cif", cu)
    write("cu.extxyz", cu)
    write("alloy.extxyz", _cu_al_cells(1, seed=7)[0])

    # -- README "Using it": the phase library and a build config (one file of ours, EMT) ------
    assert "li2co3-c2c" in doc("seiflow phases")
    assert "PF6" in doc("seiflow phases --molecules")
    Path("my-config.yaml").write_text(yaml.safe_dump(
        {"out_dir": "runs/structures", "formats": ["extxyz", "cif", "poscar"],
         "snapshots": True, "calculator": {"name": "emt"}, "phases": [{"file": "alloy.extxyz"}]}))
    doc("seiflow build my-config.yaml", "runs/structures/build-summary.yml",
        "runs/structures/**/alloy.cif", "runs/structures/**/alloy.POSCAR",
        "runs/structures/**/alloy.png")
    Path("my-config.toml").write_text(
        'out_dir = "runs/structures"\nformats = ["extxyz"]\nsnapshots = false\n'
        'calculator = {name = "emt"}\n\n[[phases]]\nfile = "alloy.extxyz"\n')
    doc("seiflow build my-config.toml --out runs/x --no-progress", "runs/x/build-summary.yml",
        "runs/x/**/alloy.extxyz")

    # -- reference labels (EMT for SevenNet-0) and the label store ----------------------------
    write("cells.extxyz", _cu_al_cells(10, seed=1))
    label = "seiflow label runs/demo/structures/defect/*.extxyz --labeler sevennet --db labels.db"
    doc(label, "labels.db", sub={"runs/demo/structures/defect/*.extxyz": "runs/x/**/*.extxyz",
                                 "sevennet": "emt"})
    doc(label, sub={"runs/demo/structures/defect/*.extxyz": "cells.extxyz", "sevennet": "emt"})
    assert "11 labelled frames" in doc("seiflow data stats labels.db", "labels.stats.png")
    doc("seiflow data split labels.db --test-fraction 0.1")

    # an mlearn data set of our own (README, docs/labelling.md: same lines, two spellings)
    Path("mlearn").mkdir()
    _write_mlearn(_emt_labelled(_cu_al_cells(10, seed=2)), Path("mlearn/training.json"))
    _write_mlearn(_emt_labelled(_cu_al_cells(3, seed=3)), Path("mlearn/test.json"))
    for where, line in LINES:
        if line.startswith("seiflow data import ../shared/data/mlearn-Li/"):
            name = line.split("mlearn-Li/")[1].split()[0]
            out = doc(line, "li.db", sub={f"../shared/data/mlearn-Li/{name}": f"mlearn/{name}"})
    assert "already there" in out  # the second spelling imports nothing new
    doc("seiflow data export li.db train.cfg --format cfg --split train", "train.cfg")
    seiflow("data", "export", "li.db", "frames.extxyz")  # inputs of the import lines below
    seiflow("data", "export", "li.db", "deepmd-systems", "--format", "deepmd")
    doc("seiflow data import train.cfg --type-map Li,C,O --db x.db", "x.db",
        sub={"Li,C,O": "Al,Cu"})
    doc("seiflow data import frames.extxyz data.npz deepmd-systems/ --db x.db",
        sub={"data.npz": ""})

    # -- potentials: MTP level 16 -> 4 (2 -> 0.1 s of fit), on 1 core ------------------------
    out = doc("seiflow train --db li.db --level 16 --workers 2 --max-time 300 --out li-l16",
              "li-l16/model.json", "li-l16/errors.json", "li-l16/parity-*.png",
              sub={"--level 16": "--level 4 --max-iter 15", "--workers 2": "--workers 1",
                   "--max-time 300": "--max-time 30"})
    assert "RMSE" in out
    doc("seiflow train --db labels.db --level 16 --out model", "model/model.json",
        sub={"--level 16": "--level 4 --max-iter 15"})
    train_cfg = _doc_yaml("potentials.md", "db:")  # potentials.md's train.yaml
    train_cfg["potential"].update(level=2, max_iter=5)
    train_cfg["out"] = "model-yaml"
    Path("train.yaml").write_text(yaml.safe_dump(train_cfg))
    code, _, err = seiflow("train", "train.yaml")  # "# or: seiflow train train.yaml"
    assert code == 0 and Path("model-yaml/model.json").is_file(), err
    doc("seiflow train --db labels.db --preset small --max-time 600 --weights 1 0.01 0 "
        "--out small", "small/model.json", sub={"--max-time 600": "--max-time 2"})
    doc("seiflow evaluate model --db labels.db", "model/evaluation/per-frame.csv",
        "model/evaluation/per-frame.json", "model/evaluation/errors.json",
        "model/evaluation/parity-*.png")

    # -- MD: docs/md-transport.md's md.yaml, 60 steps, with the MTP ("mtp") and EMT ("mace") -
    md_cfg = _doc_yaml("md-transport.md", "structure:")
    md_cfg.pop("field_V_per_A")  # "optional applied field"
    md_cfg.update(structure="alloy.extxyz", potential="li-l16", out_dir="mtp")
    md_cfg["md"].update(steps=40, traj_stride=2, timestep_fs=1.0)
    Path("md.yaml").write_text(yaml.safe_dump(md_cfg))
    doc("seiflow md md.yaml", "mtp/trajectory.extxyz", "mtp/checkpoint.extxyz",
        "mtp/md-summary.yml")
    emt_cfg = {k: v for k, v in md_cfg.items() if k != "potential"}
    emt_cfg.update(calculator={"name": "emt"}, out_dir="mace")
    Path("md-emt.yaml").write_text(yaml.safe_dump(emt_cfg))
    doc("seiflow md md.yaml", "mace/trajectory.extxyz", sub={"md.yaml": "md-emt.yaml"})
    shutil.copy("mtp/trajectory.extxyz", "traj.extxyz")
    doc("seiflow grade model traj.extxyz --out graded.extxyz", "graded.extxyz")
    assert "gamma" in read("graded.extxyz").arrays
    doc("seiflow analyze rdf --compare mtp/trajectory.extxyz mace/trajectory.extxyz "
        "--pair Li-F --out an", "an/rdf-compare.json", "an/rdf-compare.png",
        sub={"Li-F": "Cu-Al --r-max 3.5"})  # within half the 7.4 Å cell

    # -- transport: Li random walkers among F at 300 and 600 K stand in for long MD runs, in
    #    `seiflow md`'s layout, so that the docs' lines run as they are ---------------------
    for T in (300, 600):
        Path(f"md-{T}K").mkdir()
        write(f"md-{T}K/trajectory.extxyz", _random_walk(T))
    doc("seiflow analyze rdf md-600K/trajectory.extxyz --pair Li-F --pair Li-Li --r-max 6 "
        "--nbins 200 --out an", "an/rdf.json", "an/rdf-*.png")
    doc("seiflow analyze msd md-*/trajectory.extxyz --species Li --out an", "an/msd.json",
        "an/msd-*.png")
    doc("seiflow analyze diffusion md-*/trajectory.extxyz --species Li --out an",
        "an/diffusion.json")
    doc("seiflow analyze arrhenius an/diffusion.json 1200:3.1e-5:0.2e-5 --at 300 --out an",
        "an/arrhenius.json", "an/arrhenius.png")
    ea = json.loads(Path("an/arrhenius.json").read_text())["Ea_eV"]
    assert ea == pytest.approx(WALK_EA, rel=0.2)
    doc("seiflow analyze arrhenius an/diffusion.json --out an", "an/arrhenius.json")
    doc("seiflow analyze conductivity md-600K/trajectory.extxyz --species Li --z 1 --out an",
        "an/conductivity.json")
    doc("seiflow analyze msd --compare md-300K/trajectory.extxyz md-600K/trajectory.extxyz "
        "--species Li --out an", "an/msd-compare.json", "an/msd-compare.png")
    for name in ("mtp", "mace"):
        shutil.copy("an/diffusion.json", f"{name}/diffusion.json")
    doc("seiflow analyze arrhenius --compare mtp/diffusion.json mace/diffusion.json --out an",
        "an/arrhenius-compare.json", "an/arrhenius-compare.png")

    # -- one property, one structure: fcc Cu; EMT for xTB / SevenNet, the walk's MTP ---------
    doc("seiflow singlepoint cell.cif --model li-l16", "runs/singlepoint/cell/singlepoint.json",
        "runs/singlepoint/cell/singlepoint-summary.yml")
    doc("seiflow geomopt cell.cif --labeler sevennet --cell --symmetry --fmax 0.01",
        "runs/geomopt/cell/relaxed.extxyz", sub={"sevennet": "emt"})
    doc("seiflow geomopt cell.cif --labeler xtb --cell --symmetry --fmax 0.01 --max-steps 300",
        "runs/geomopt/cell/relaxed.extxyz", sub={"xtb": "emt"})
    doc("seiflow eos --phase lif --model li-l16 --points 9 --range 0.06",
        "runs/eos/cell/eos.json", sub={"--phase lif": "cell.cif", "--points 9": "--points 5"})
    doc("seiflow eos --phase lif --model mace --points 9 --range 0.06",
        sub={"--phase lif": "cell.cif", "mace": "li-l16", "--points 9": "--points 5"})
    doc("seiflow elastic --phase lif --labeler xtb --min-width 12", "runs/elastic/cell/*.json",
        sub={"--phase lif": "cell.cif", "xtb": "emt", "12": "3", })
    doc("seiflow elastic --phase lif --labeler sevennet --strains=-0.01,-0.005,0.005,0.01",
        sub={"--phase lif": "cu.extxyz", "sevennet": "emt"})
    doc("seiflow phonons --phase li-bcc --model li-l16 --supercell-width 12 --mesh 30",
        "runs/phonons/cell/phonons.json",
        sub={"--phase li-bcc": "cell.cif", "12": "6", "30": "10"})
    doc("seiflow phonons --phase lif --model li-l16 --supercell-width 12 --mesh 30",
        sub={"--phase lif": "cu.extxyz", "12": "6", "30": "10"})
    doc("seiflow neb --phase li2co3 --mechanism vacancy --labeler xtb --min-width 12",
        "runs/neb/*/neb.json", sub={"--phase li2co3": "cu.extxyz --species Cu --images 3",
                                    "xtb": "emt", "12": "7"})
    band = read(glob.glob("runs/neb/*/neb-band.extxyz")[0], ":")
    write("initial.extxyz", band[0])
    write("final.extxyz", band[-1])
    doc("seiflow neb initial.extxyz final.extxyz --model li-l16 --images 5",
        sub={"--model li-l16": "--labeler emt", "5": "3"})
    doc("seiflow neb --phase li2co3 --mechanism knockoff --model li-l16 --min-width 7.5",
        "runs/neb/neb-cu-knockoff/neb.json",
        sub={"--phase li2co3": "cu.extxyz --species Cu --images 3",
             "--model li-l16": "--labeler emt", "7.5": "7"})

    # -- LAMMPS and MLIP (docs/lammps.md) -----------------------------------------------------
    doc("seiflow export-lammps li-l16 cell.cif --out lmp", "lmp/in.lammps",
        "lmp/structure.data", "lmp/export.json", "lmp/potential.mtp", "lmp/potential.almtp",
        "lmp/state.als", "lmp/mlip.ini")
    doc("seiflow export-lammps model cell.cif --out lmp --ensemble npt --temperature 600",
        "lmp-npt/in.lammps", sub={"model": "li-l16", "lmp": "lmp-npt"})
    doc("seiflow export-lammps li-l16 cell.cif --out lmp --ensemble npt --temperature 600 "
        "--pressure-bar 1 --steps 200000 --timestep-fs 0.5", sub={"lmp": "lmp-npt2"})
    assert "npt" in Path("lmp-npt2/in.lammps").read_text()
    shutil.copy(ALMTP, "trained.almtp")
    shutil.copy(ALMTP, "pot.almtp")
    doc("seiflow import-mtp trained.almtp --species Li C O --out mlip-model",
        "mlip-model/model.json", sub={"Li C O": "F Li"})
    doc("seiflow import-mtp pot.almtp --species Li C O --out mlip-model",
        sub={"Li C O": "F Li", "mlip-model": "mlip-model-2"})
    species = json.loads(Path("lmp/export.json").read_text())["species"]  # ["Al", "Cu"]
    doc("seiflow import-mtp pot.mtp --als state.als --species Li F --out m", "m/model.json",
        sub={"pot.mtp": "lmp/potential.mtp", "state.als": "lmp/state.als",
             "Li F": " ".join(species)})  # MLIP-2's pair: our own export's
    lif = bulk("LiF", "rocksalt", a=4.03, cubic=True)
    lif.rattle(0.05, seed=1)
    write("traj.extxyz", lif)
    assert "max γ" in doc("seiflow grade mlip-model traj.extxyz")

    # -- the active-learning loop: one iteration, resumed, then raised to two ----------------
    write("cu-2x1x1.extxyz", bulk("Cu", "fcc", a=3.61, cubic=True).repeat((2, 1, 1)))
    Path("my-learn.yaml").write_text(yaml.safe_dump({
        "run_dir": "runs/demo",
        "structures": {"formats": ["extxyz"], "snapshots": False, "calculator": {"name": "emt"},
                       "phases": [{"file": "cu-2x1x1.extxyz"}]},
        "labeler": {"name": "emt"}, "potential": {"backend": "mtp", "level": 4, "max_iter": 10},
        "initial": {"per_structure": 4, "seed": 0, "rattle_A": [0.005, 0.01], "strain": 0.0},
        "test_set": {"per_structure": 2, "seed": 5},
        "explore": {"temperatures_K": [1200], "steps": 100, "traj_stride": 10,
                    "timestep_fs": 2.0},
        "gamma_select": 1.1, "gamma_break": 1.6, "test_md": 2, "max_select_per_iteration": 3,
        "max_iterations": 1, "label_budget": 14}))
    doc("seiflow learn my-learn.yaml", "runs/demo/report.md", "runs/demo/iter-00/model/model.json")
    doc("seiflow resume runs/demo")
    doc("seiflow resume runs/demo --max-iterations 12", "runs/demo/iter-01/model/model.json",
        sub={"12": "2"})

    print("\n".join(f"{t:6.2f} s  {c}" for t, c in TIMES))
    print(f"walk: {time.perf_counter() - t_start:.1f} s, {len(RAN)} documented lines run")
    # every documented line ran, or NOT_RUN says why
    missing = [f"{w}: {line}" for w, line in LINES if line not in RAN and line not in NOT_RUN]
    assert not missing, "documented lines neither run nor excused:\n" + "\n".join(missing)


def test_not_run_names_only_documented_lines():
    """NOT_RUN stays in step with the docs (the walk checks that the rest is run)."""
    documented = {line for _, line in LINES}
    stale = [line for line in NOT_RUN if line not in documented]
    assert not stale, f"NOT_RUN lines the docs no longer show: {stale}"
