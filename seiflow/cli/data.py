"""`seiflow data stats|import|export|split`: the label store and its formats."""

from __future__ import annotations

import hashlib
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from seiflow.core.errors import SeiflowError
from seiflow.data import formats
from seiflow.data.stats import dataset_stats, split_by_group
from seiflow.data.store import LabelStore, Origin
from seiflow.data.labels import Label

app = typer.Typer(help="The label store: statistics, import/export, train/test splits.",
                  no_args_is_help=True)


@app.command("stats")
def stats(db: Path = typer.Argument(..., help="label store"),
          png: Path | None = typer.Option(None, "--png", help="histogram PNG (default: beside db)"),
          ) -> None:
    """Counts, element coverage, energy/force/stress ranges and a histogram PNG."""
    store = LabelStore(_existing(db))
    s = dataset_stats(store.frames())
    c = Console()
    c.print(f"{db}: {store.count()} rows, {s.frames} labelled frames ({s.atoms} atoms), "
            f"{store.count(status='failed')} failed, {s.with_stress} with stress")
    t = Table("group", "frames", title="groups")
    for g, n in s.by_group.items():
        t.add_row(g, str(n))
    c.print(t)
    t = Table("element", "frames", "atoms", title="element coverage")
    for e, d in s.elements.items():
        t.add_row(e, str(d["frames"]), str(d["atoms"]))
    c.print(t)
    if s.energy_per_atom:
        c.print(f"energy: {s.energy_per_atom[0]:.4f} .. {s.energy_per_atom[1]:.4f} eV/atom")
        c.print(f"forces: {s.force_component[0]:.3f} .. {s.force_component[1]:.3f} eV/Å "
                f"(max |F| {s.max_force_norm:.3f} eV/Å)")
    if s.stress_GPa:
        c.print(f"stress: {s.stress_GPa[0]:.3f} .. {s.stress_GPa[1]:.3f} GPa (ASE sign)")
    from seiflow.report.figures import dataset_histograms

    out = dataset_histograms(s, png or db.with_suffix(".stats.png"), title=str(db))
    c.print(f"histograms: {out}")


@app.command("import")
def import_(files: list[Path] = typer.Argument(..., help="labelled data files"),
            db: Path = typer.Option(..., "--db"),
            fmt: str = typer.Option("auto", "--format", help="auto | mlearn | extxyz | cfg"),
            type_map: str | None = typer.Option(None, "--type-map", help="cfg: e.g. Li,C,O"),
            group: str | None = typer.Option(None, "--group", help="override the file's group"),
            reference: str | None = typer.Option(
                None, "--reference", help="name of the method/settings that made these labels "
                "(files imported under one name train together; default: one per file)"),
            ) -> None:
    """Add labelled frames (energies, forces, stresses) from other codes to the store."""
    store = LabelStore(db)
    added = skipped = 0
    for path in files:
        frames = _read_labelled(path, fmt, type_map)
        settings = f"import-{reference}" if reference else \
            "import-" + hashlib.sha256(path.read_bytes()).hexdigest()[:12]
        for atoms in frames:
            if store.is_labelled(atoms, settings):
                skipped += 1
                continue
            lab = Label.from_atoms(atoms)
            origin = Origin(group=group or str(atoms.info.get("group", path.stem)),
                            builder=f"import {path.name}")
            store.add(atoms, lab, f"import:{reference or path.name}", settings, origin)
            added += 1
    Console(soft_wrap=True).print(f"imported {added} frames into {db} ({skipped} already there)")


@app.command("export")
def export(db: Path = typer.Argument(...), out: Path = typer.Argument(...),
           fmt: str = typer.Option("extxyz", "--format", help="extxyz | cfg | deepmd | db"),
           split: str | None = typer.Option(None, "--split", help="train | test"),
           group: str | None = typer.Option(None, "--group")) -> None:
    """Write labelled frames for other codes (MLIP .cfg, DeePMD npy, extxyz, ASE db)."""
    store = LabelStore(_existing(db))
    filters = {k: v for k, v in (("split", split), ("group", group)) if v}
    frames = store.frames(**filters)
    if not frames:
        raise SeiflowError(f"{db}: no labelled frames match {filters or 'the store'}")
    type_map = sorted({s for a in frames for s in a.get_chemical_symbols()})
    if fmt == "extxyz":
        formats.write_extxyz(frames, out)
    elif fmt == "cfg":
        formats.write_cfg(frames, out, type_map)
    elif fmt == "deepmd":
        formats.write_deepmd(frames, out, type_map)
    elif fmt == "db":
        target = LabelStore(out)
        for a in frames:
            target.add(a, Label.from_atoms(a),
                       str(a.info.get("labeler")), str(a.info.get("settings_hash")),
                       Origin(group=str(a.info.get("group", "default"))))
    else:
        raise SeiflowError(f"unknown export format {fmt!r} (extxyz, cfg, deepmd, db)")
    Console(soft_wrap=True).print(f"wrote {len(frames)} frames to {out} ({fmt}; type map {','.join(type_map)})")


@app.command("split")
def split(db: Path = typer.Argument(...),
          test_fraction: float = typer.Option(0.1, "--test-fraction"),
          seed: int = typer.Option(0, "--seed"),
          mode: str = typer.Option("stratified", "--mode", help="stratified | grouped")) -> None:
    """Mark every labelled frame train or test, by group."""
    store = LabelStore(_existing(db))
    frames = store.frames()
    try:
        train, test = split_by_group([str(a.info.get("group")) for a in frames], test_fraction,
                                     seed, mode)
    except ValueError as exc:
        raise SeiflowError(str(exc)) from None
    store.set_split([frames[i].info["id"] for i in train], "train")
    store.set_split([frames[i].info["id"] for i in test], "test")
    Console(soft_wrap=True).print(f"{db}: {len(train)} train, {len(test)} test ({mode}, seed {seed})")


def _existing(db: Path) -> Path:
    if "://" not in str(db) and not Path(db).exists():
        raise SeiflowError(f"label store not found: {db}")
    return db


def _read_labelled(path: Path, fmt: str, type_map: str | None):
    if fmt == "auto":
        fmt = {".json": "mlearn", ".cfg": "cfg"}.get(path.suffix, "extxyz")
    if fmt == "mlearn":
        return formats.read_mlearn_json(path)
    if fmt == "cfg":
        if not type_map:
            raise SeiflowError("reading .cfg needs --type-map (element of each type, e.g. Li,C,O)")
        return formats.read_cfg(path, type_map.split(","))
    if fmt == "extxyz":
        frames = formats.read_extxyz(path)
        if any(a.calc is None or "energy" not in a.calc.results for a in frames):
            raise SeiflowError(f"{path}: frames without energies cannot be imported as labels")
        return frames
    raise SeiflowError(f"unknown import format {fmt!r} (mlearn, extxyz, cfg)")
