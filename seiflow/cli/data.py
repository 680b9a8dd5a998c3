"""`seiflow data stats|import|export|split`: the label store and its formats."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from seiflow.cli.console import out_console
from seiflow.cli.inputs import beside_store, check_geometry, existing_store, is_url
from seiflow.core.errors import SeiflowError
from seiflow.core.fingerprint import Fingerprint
from seiflow.data import formats
from seiflow.data.stats import dataset_stats, split_by_group
from seiflow.data.checks import check_labelled, import_warnings
from seiflow.data.store import LabelStore, Origin, structure_hash
from seiflow.data.labels import Label

app = typer.Typer(help="The label store: statistics, import/export, train/test splits.",
                  no_args_is_help=True)


@app.command("stats")
def stats(db: str = typer.Argument(..., help="label store (.db or postgresql://)"),
          png: Path | None = typer.Option(None, "--png", help="histogram PNG (default: beside db)"),
          ) -> None:
    """Counts, element coverage, energy/force/stress ranges and a histogram PNG."""
    store = LabelStore(existing_store(db))
    s = dataset_stats(store.frames())
    c = out_console()
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

    out = dataset_histograms(s, png or beside_store(db, ".stats.png"), title=db)
    c.print(f"histograms: {out}")


@app.command("import")
def import_(files: list[Path] = typer.Argument(..., help="labelled data files or directories"),
            db: str = typer.Option(..., "--db", help="label store (.db or postgresql://)"),
            fmt: str = typer.Option("auto", "--format",
                                    help="auto | mlearn | extxyz | cfg | npz | deepmd"),
            type_map: str | None = typer.Option(
                None, "--type-map", help="element of each type, e.g. Li,C,O: cfg; npz with "
                "atom_types but no type_names; DeePMD systems without type_map.raw"),
            group: str | None = typer.Option(None, "--group", help="override the file's group"),
            reference: str | None = typer.Option(
                None, "--reference", help="name of the method/settings that made these labels "
                "(files imported under one name train together; default: one per file)"),
            split: str | None = typer.Option(
                None, "--split", help="train | test: mark every imported frame (keeps a data "
                "set's official split; default: a frame's own info split, else unmarked)"),
            ) -> None:
    """Add labelled frames (energies, forces, stresses) from other codes to the store.

    Every frame of every file is read and checked first (finite labels, known elements, no
    overlapping atoms, a real cell); one bad frame stops the import before the store is touched.
    """
    if split not in (None, "train", "test"):
        raise SeiflowError(f"--split must be train or test, not {split!r}")
    sources = [(path, _read_checked(path, f, type_map)) for path, f in _inputs(files, fmt)]
    err = Console(stderr=True, soft_wrap=True)
    for path, frames in sources:
        warning = import_warnings(frames, str(path))
        if warning:
            err.print(f"warning: {warning}", highlight=False, markup=False)
    store = LabelStore(db)
    added = skipped = 0
    marks: dict[str, list[int]] = {"train": [], "test": []}
    for path, frames in sources:
        settings = f"import-{reference}" if reference else f"import-{_content_hash(path)}"
        for atoms in frames:
            origin = Origin(group=group or str(atoms.info.get("group", path.stem)),
                            builder=f"import {path.name}")
            mark = split or (atoms.info.get("split") if atoms.info.get("split") in marks else None)
            row_id, new = _add_once(store, atoms, settings,
                                    f"import:{reference or path.name}", origin, mark)
            added, skipped = added + new, skipped + (not new)
            if row_id is not None and mark:
                marks[mark].append(row_id)
    for name, ids in marks.items():
        store.set_split(ids, name, by="import")
    marked = ", ".join(f"{len(v)} marked {k}" for k, v in marks.items() if v)
    Console(soft_wrap=True).print(f"imported {added} frames into {db} ({skipped} already there"
                                  + (f"; {marked}" if marked else "") + ")")


@app.command("export")
def export(db: str = typer.Argument(..., help="label store (.db or postgresql://)"),
           out: str = typer.Argument(..., help="file or folder; for --format db a .db file "
                                     "or a postgresql:// URL"),
           fmt: str = typer.Option("extxyz", "--format", help="extxyz | cfg | deepmd | db"),
           split: str | None = typer.Option(None, "--split", help="train | test"),
           group: str | None = typer.Option(None, "--group")) -> None:
    """Write labelled frames for other codes (MLIP .cfg, DeePMD npy, extxyz, ASE db)."""
    _not_into_source(db, out)
    store = LabelStore(existing_store(db))
    filters = {k: v for k, v in (("split", split), ("group", group)) if v}
    frames = store.frames(**filters)
    if not frames:
        raise SeiflowError(f"{db}: no labelled frames match {filters or 'the store'}")
    type_map = sorted({s for a in frames for s in a.get_chemical_symbols()})
    if fmt == "extxyz":
        formats.write_extxyz(frames, Path(out))
    elif fmt == "cfg":
        formats.write_cfg(frames, Path(out), type_map)
    elif fmt == "deepmd":
        formats.write_deepmd(frames, Path(out), type_map)
    elif fmt == "db":
        target = LabelStore(out)
        for a in frames:
            target.add(a, Label.from_atoms(a),
                       str(a.info.get("labeler")), str(a.info.get("settings_hash")),
                       Origin(group=str(a.info.get("group", "default"))))
    else:
        raise SeiflowError(f"unknown export format {fmt!r} (extxyz, cfg, deepmd, db)")
    Console(soft_wrap=True).print(f"wrote {len(frames)} frames to {out} ({fmt}; type map "
                                  f"{','.join(type_map)})")


@app.command("split")
def split(db: str = typer.Argument(..., help="label store (.db or postgresql://)"),
          test_fraction: float = typer.Option(0.1, "--test-fraction"),
          seed: int = typer.Option(0, "--seed"),
          mode: str = typer.Option("stratified", "--mode", help="stratified: each group "
                                   "split by the fraction | grouped: whole groups go to test"),
          force: bool = typer.Option(False, "--force", help="replace a split that came with "
                                     "imported data (data import --split, or the file's own)"),
          ) -> None:
    """Mark every labelled frame train or test, by group."""
    store = LabelStore(existing_store(db))
    frames = store.frames()
    imported = _imported_split(frames)
    if imported and not force:
        raise SeiflowError(f"{db}: {imported} kept the split they were imported with; "
                           "`seiflow data split --force` replaces it")
    try:
        train, test = split_by_group([str(a.info.get("group")) for a in frames], test_fraction,
                                     seed, mode)
    except ValueError as exc:
        raise SeiflowError(str(exc)) from None
    store.set_split([frames[i].info["id"] for i in train], "train")
    store.set_split([frames[i].info["id"] for i in test], "test")
    replaced = f"; replaced the imported split of {imported}" if imported else ""
    Console(soft_wrap=True).print(f"{db}: {len(train)} train, {len(test)} test ({mode}, seed "
                                  f"{seed}){replaced}")


def _imported_split(frames: list) -> str:
    """'N frames (a train, b test)' that carry an imported split, or '' if none."""
    marks = [str(a.info.get("split")) for a in frames if a.info.get("split_by") == "import"]
    if not marks:
        return ""
    counts = ", ".join(f"{marks.count(s)} {s}" for s in sorted(set(marks)))
    return f"{len(marks)} frames ({counts})"


def _not_into_source(db: str, out: str) -> None:
    """Refuse an export whose target is its own source (it would double or overwrite it)."""
    if is_url(db) or is_url(out):
        same = db.rstrip("/") == out.rstrip("/")
    else:
        a, b = Path(db), Path(out)
        same = a.resolve() == b.resolve() or (a.exists() and b.exists() and a.samefile(b))
    if same:
        raise SeiflowError(f"data export: the target {out} is the store it reads; write to "
                           "another file")


FORMATS = ("mlearn", "extxyz", "cfg", "npz", "deepmd")


def _inputs(files: list[Path], fmt: str) -> list[tuple[Path, str]]:
    """(path, format) of every input; a DeePMD directory becomes each system below it."""
    out = []
    for path in files:
        kind = fmt if fmt != "auto" else "deepmd" if path.is_dir() else \
            {".json": "mlearn", ".cfg": "cfg", ".npz": "npz"}.get(path.suffix.lower(), "extxyz")
        if kind not in FORMATS:
            raise SeiflowError(f"unknown import format {fmt!r} ({', '.join(FORMATS)})")
        if kind != "deepmd":
            out.append((path, kind))
            continue
        systems = formats.find_deepmd_systems(path)
        if not systems:
            raise SeiflowError(f"{path}: no DeePMD-kit system (a directory with type.raw) there")
        out += [(system, kind) for system in systems]
    return out


def _read_checked(path: Path, fmt: str, type_map: str | None) -> list:
    """The labelled frames of one input, each through the validation gate."""
    frames = _read_labelled(path, fmt, type_map.split(",") if type_map else None)
    for k, atoms in enumerate(frames):
        check_geometry(atoms, f"{path}:frame {k}")  # first: nothing below may hang on it
        check_labelled(atoms, f"{path}:frame {k}")
    return frames


def _read_labelled(path: Path, fmt: str, type_map: list[str] | None) -> list:
    if fmt == "mlearn":
        return formats.read_mlearn_json(path)
    if fmt == "cfg":
        if not type_map:
            raise SeiflowError("reading .cfg needs --type-map (element of each type, e.g. Li,C,O)")
        return formats.read_cfg(path, type_map)
    if fmt == "npz":
        return formats.read_nequip_npz(path, type_map)
    if fmt == "deepmd":
        return formats.read_deepmd(path, type_map)
    return formats.read_extxyz(path)


def _content_hash(path: Path) -> str:
    """First 12 hex digits of the SHA-256 of a file, or of a directory's files and names."""
    h = Fingerprint()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for p in files:
        if path.is_dir():  # a single file hashes its bytes alone, as imports always did
            h.update(str(p.relative_to(path)), b"\0")
        h.update(p.read_bytes())
    return h.hex(12)


def _add_once(store: LabelStore, atoms, settings: str, labeler: str, origin: Origin,
              mark: str | None) -> tuple[int | None, bool]:
    """(row id, True) for a new row; for a structure already there (id to mark, False).

    A row already there gets ``mark`` only if it has no split yet: a split is never moved.
    """
    rows = list(store.rows(structure_hash=structure_hash(atoms), settings_hash=settings))
    if rows:
        unmarked = [r.id for r in rows if r.get("split") is None]
        return (unmarked[0] if unmarked and mark else None), False
    return store.add(atoms, Label.from_atoms(atoms), labeler, settings, origin), True
