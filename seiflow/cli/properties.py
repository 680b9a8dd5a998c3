"""`seiflow singlepoint | geomopt | eos | elastic | phonons | neb`: one property of one
structure with one method (a model folder or a labeler), by ``seiflow validate``'s property code
(seiflow.workflows.calculate). Each writes ``<command>.json``, a summary, figures; prints a table.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from seiflow.cli.console import out_console
from seiflow.cli.inputs import check_structure_files
from seiflow.core.config import StrictModel, parse_config, read_mapping
from seiflow.core.errors import ConfigError
from seiflow.workflows import calculate as calc
from seiflow.workflows.methods import MethodSpec, fit_sentence, fit_state
from seiflow.workflows.properties.elastic import ElasticSettings
from seiflow.workflows.properties.lattice import LatticeSettings
from seiflow.workflows.properties.neb import NEBSettings
from seiflow.workflows.properties.phonons import PhononSettings

# options every command shares
STRUCTURE = typer.Argument(None, help="structure file (any format ASE reads; last frame)")
PHASE = typer.Option(None, "--phase", "-p", help="library phase instead of a file (lif, "
                     "li2co3, ...; see `seiflow phases`)")
MODEL = typer.Option(None, "--model", "-m", help="potential folder (MTP, MACE, SevenNet, CHGNet"
                     "...; seiflow train / learn / import-mtp) or a `seiflow learn` run folder")
LABELER = typer.Option(None, "--labeler", "-l", help="or a labeler: sevennet | chgnet | xtb | "
                       "gpaw | cp2k | vasp | emt")
SETTINGS = typer.Option(None, "--settings", help="YAML/TOML labeler settings")
ALLOW_THIN = typer.Option(False, "--allow-thin", help="xtb: cells < 12 Å")
OUT = typer.Option(None, "--out", "-o", help="output folder (default runs/COMMAND/NAME)")
MIN_WIDTH = typer.Option(None, "--min-width", help="repeat the cell to this width first, Å "
                         "(default: the cell as given)")
PROGRESS = typer.Option(True, "--progress/--no-progress")
FMAX = typer.Option(0.01, "--fmax", help="force convergence of the relaxation, eV/Å")
RELAX = typer.Option(True, "--relax/--no-relax", help="relax positions and cell first (space "
                     "group kept; --no-relax: the structure must be relaxed)")


def _method(model: Path | None, labeler: str | None, settings: Path | None,
            allow_thin: bool) -> MethodSpec:
    """The model folder or the labeler (named, with its settings file), checked."""
    if model is not None and (labeler or settings):
        raise ConfigError("give a model folder (--model) or a labeler (--labeler), not both")
    if model is None and not (labeler or settings):
        raise ConfigError("give a model folder (--model DIR) or a labeler (--labeler emt|xtb|"
                          "gpaw|sevennet|...)")
    data: dict = {"model": str(model)} if model is not None else {}
    if model is None:
        lab = read_mapping(settings) if settings else {}
        lab["name"] = labeler or lab.get("name")
        if allow_thin:
            lab["allow_thin"] = True
        data["labeler"] = lab
    return parse_config(data, MethodSpec, where=str(settings or "command line"))


def _settings(model: type[StrictModel], **values) -> StrictModel:
    """A settings model from the options (one error line for a value it refuses)."""
    return parse_config({k: v for k, v in values.items() if v is not None}, model,
                        where="command line")


def _structure(structure: Path | None, phase: str | None,
               min_width: float | None) -> calc.StructureSpec:
    spec = parse_config({"file": structure, "phase": phase, "min_width": min_width},
                        calc.StructureSpec, where="command line")
    check_structure_files([spec.file])
    return spec


def _out_dir(command: str, name: str, out: Path | None) -> Path:
    return out or Path("runs") / command / name


def _run(command: str, method: MethodSpec, name: str, structures, inputs: dict,
         out: Path | None, compute) -> None:
    out_dir = _out_dir(command, name, out)
    outcome = calc.run_command(command, method, structures, inputs, out_dir, compute)
    table = Table(title=f"{command}: {name} with {outcome.method}", title_justify="left")
    for column in ("quantity", "value", "unit"):
        table.add_column(column, justify="right" if column == "value" else "left")
    for quantity, (value, unit) in outcome.scalars.items():
        table.add_row(quantity, f"{value:.6g}" if value is not None else "—", unit)
    console = out_console()
    console.print(table)
    console.print(f"written to {out_dir}: " + ", ".join(p.name for p in outcome.files),
                  highlight=False)
    if method.model is not None and (state := fit_state(method.model))["converged"] is False:
        console.print(fit_sentence(state), highlight=False)


def _inputs(spec, **settings: StrictModel | None) -> dict:
    return {"structure": spec.model_dump(mode="json", exclude_none=True),
            "settings": {k: s.model_dump(mode="json") for k, s in settings.items()
                         if s is not None}}


def singlepoint(structure: Path | None = STRUCTURE, phase: str | None = PHASE,
                model: Path | None = MODEL, labeler: str | None = LABELER,
                settings: Path | None = SETTINGS, allow_thin: bool = ALLOW_THIN,
                min_width: float | None = MIN_WIDTH, out: Path | None = OUT) -> None:
    """Energy (eV), forces (eV/Å) and stress (GPa) of a structure."""
    method = _method(model, labeler, settings, allow_thin)
    spec = _structure(structure, phase, min_width)
    atoms = spec.atoms()
    _run("singlepoint", method, spec.name, [atoms], _inputs(spec), out,
         calc.singlepoint(atoms))


def geomopt(structure: Path | None = STRUCTURE, phase: str | None = PHASE,
            model: Path | None = MODEL, labeler: str | None = LABELER,
            settings: Path | None = SETTINGS, allow_thin: bool = ALLOW_THIN,
            min_width: float | None = MIN_WIDTH, out: Path | None = OUT,
            fmax: float = typer.Option(0.01, "--fmax", help="force convergence, eV/Å"),
            smax: float = typer.Option(0.01, "--smax", help="stress convergence with --cell, GPa"),
            max_steps: int = typer.Option(500, "--max-steps", help="optimizer steps"),
            cell: bool = typer.Option(False, "--cell", help="relax the cell too"),
            symmetry: bool = typer.Option(False, "--symmetry", help="keep the space group")
            ) -> None:
    """Relax a structure (positions; the cell with --cell): relaxed.extxyz, energy and force
    per step."""
    method = _method(model, labeler, settings, allow_thin)
    spec = _structure(structure, phase, min_width)
    s = _settings(calc.GeomOptSettings, fmax=fmax, smax=smax, max_steps=max_steps, cell=cell,
                  symmetry=symmetry)
    atoms = spec.atoms()
    _run("geomopt", method, spec.name, [atoms], _inputs(spec, geomopt=s), out,
         calc.geomopt(atoms, s))


def eos(structure: Path | None = STRUCTURE, phase: str | None = PHASE,
        model: Path | None = MODEL, labeler: str | None = LABELER,
        settings: Path | None = SETTINGS, allow_thin: bool = ALLOW_THIN,
        min_width: float | None = MIN_WIDTH, out: Path | None = OUT, fmax: float = FMAX,
        points: int = typer.Option(7, "--points", help="number of volumes (5-31)"),
        volume_range: float = typer.Option(0.06, "--range", help="volumes V0·(1 ± range), "
                                           "fraction"),
        progress: bool = PROGRESS) -> None:
    """Relaxed lattice parameters (Å) and the Birch–Murnaghan equation of state (V0 Å³/atom,
    B0 GPa)."""
    method = _method(model, labeler, settings, allow_thin)
    spec = _structure(structure, phase, min_width)
    lat = _settings(LatticeSettings, fmax=fmax, eos_points=points, eos_range=volume_range)
    atoms = spec.atoms()
    _run("eos", method, spec.name, [atoms], _inputs(spec, lattice=lat), out,
         calc.eos(atoms, lat, method.label, progress))


def elastic(structure: Path | None = STRUCTURE, phase: str | None = PHASE,
            model: Path | None = MODEL, labeler: str | None = LABELER,
            settings: Path | None = SETTINGS, allow_thin: bool = ALLOW_THIN,
            min_width: float | None = MIN_WIDTH, out: Path | None = OUT, fmax: float = FMAX,
            strains: str = typer.Option("-0.01,-0.005,0.005,0.01", "--strains",
                                        help="strains applied to each of the six modes, "
                                        "fraction (|e| <= 0.05)"),
            clamped: bool = typer.Option(False, "--clamped-ions", help="no ionic relaxation "
                                         "in the strained cells"),
            relax: bool = RELAX, progress: bool = PROGRESS) -> None:
    """Elastic constants Cij and Voigt–Reuss–Hill moduli (GPa) by finite strains."""
    method = _method(model, labeler, settings, allow_thin)
    spec = _structure(structure, phase, min_width)
    try:
        magnitudes = tuple(float(x) for x in strains.split(",") if x.strip())
    except ValueError:
        raise ConfigError(f"--strains takes comma-separated numbers, not {strains!r}") from None
    s = _settings(ElasticSettings, magnitudes=magnitudes, relax_ions=not clamped, fmax=fmax)
    lat = _settings(LatticeSettings, fmax=fmax) if relax else None
    atoms = spec.atoms()
    _run("elastic", method, spec.name, [atoms], _inputs(spec, lattice=lat, elastic=s), out,
         calc.elastic(atoms, s, lat, method.label, progress))


def _mesh(text: str) -> float | list[int]:
    parts = [p for p in text.replace("x", ",").split(",") if p.strip()]
    try:
        return [int(p) for p in parts] if len(parts) == 3 else float(text)
    except ValueError:
        raise ConfigError(f"--mesh takes a length in Å or three integers, not {text!r}") from None


def phonons(structure: Path | None = STRUCTURE, phase: str | None = PHASE,
            model: Path | None = MODEL, labeler: str | None = LABELER,
            settings: Path | None = SETTINGS, allow_thin: bool = ALLOW_THIN,
            min_width: float | None = MIN_WIDTH, out: Path | None = OUT, fmax: float = FMAX,
            supercell: float = typer.Option(10.0, "--supercell-width", help="smallest width "
                                            "of the displaced supercells, Å"),
            mesh: str = typer.Option("30", "--mesh", help="q mesh of the DOS: a length in Å "
                                     "or n1,n2,n3"),
            displacement: float = typer.Option(0.01, "--displacement", help="finite "
                                               "displacement, Å"),
            relax: bool = RELAX, progress: bool = PROGRESS) -> None:
    """Phonon band structure and DOS (THz) by finite displacements (phonopy)."""
    method = _method(model, labeler, settings, allow_thin)
    spec = _structure(structure, phase, min_width)
    s = _settings(PhononSettings, min_width=supercell, mesh=_mesh(mesh),
                  displacement=displacement)
    lat = _settings(LatticeSettings, fmax=fmax) if relax else None
    atoms = spec.atoms()
    _run("phonons", method, spec.name, [atoms], _inputs(spec, lattice=lat, phonons=s), out,
         calc.phonons(atoms, s, lat, method.label, progress))


def neb(endpoints: list[Path] = typer.Argument(None, help="INITIAL FINAL end-point files "
                                               "(or one crystal file with --mechanism)"),
        phase: str | None = PHASE, mechanism: str | None = typer.Option(
            None, "--mechanism", help="vacancy | knockoff | frenkel: end points built in the "
            "crystal (as validate's neb: entries)"),
        species: str = typer.Option("Li", "--species", help="the migrating species"),
        model: Path | None = MODEL, labeler: str | None = LABELER,
        settings: Path | None = SETTINGS, allow_thin: bool = ALLOW_THIN,
        min_width: float | None = typer.Option(None, "--min-width", help="supercell width of "
                                               "the crystal with --mechanism, Å (default 7.5)"),
        out: Path | None = OUT,
        images: int = typer.Option(5, "--images", help="intermediate images"),
        climb: bool = typer.Option(True, "--climb/--no-climb", help="climbing image"),
        fmax: float = typer.Option(0.05, "--fmax", help="band convergence, eV/Å"),
        max_steps: int = typer.Option(500, "--max-steps", help="band optimizer steps"),
        progress: bool = PROGRESS) -> None:
    """Climbing-image NEB: barrier (eV) and energy profile along the path (Å). With a labeler
    every calculation is kept in OUT/calcs: the same command again resumes a killed run."""
    method = _method(model, labeler, settings, allow_thin)
    path = _neb_path(endpoints or [], phase, mechanism, species, min_width)
    s = _settings(NEBSettings, n_images=images, climb=climb, fmax=fmax, max_steps=max_steps)
    initial, final = path.endpoints()
    # a reference's NEB (hours with DFT) keeps every calculation: rerun, it resumes
    cache = _out_dir("neb", path.name, out) / "calcs" if method.labeler is not None else None
    _run("neb", method, path.name, [initial, final], _inputs(path, neb=s), out,
         calc.neb(initial, final, s, method.label, progress, cache_dir=cache))


def _neb_path(files: list[Path], phase: str | None, mechanism: str | None, species: str,
              min_width: float | None) -> calc.NEBPath:
    if mechanism is None:
        if len(files) != 2 or phase is not None:
            raise ConfigError("neb takes two end-point files (INITIAL FINAL), or a crystal "
                              "(one file or --phase) with --mechanism")
        data = {"initial": files[0], "final": files[1]}
    else:
        if len(files) + (phase is not None) != 1:
            raise ConfigError("with --mechanism give one crystal: a structure file or --phase")
        crystal = {"phase": phase, "file": files[0] if files else None,
                   "mechanism": mechanism, "species": species, "min_width": min_width}
        data = {"crystal": {k: v for k, v in crystal.items() if v is not None}}
    check_structure_files(files)
    return parse_config(data, calc.NEBPath, where="command line")
