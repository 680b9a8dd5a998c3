"""LAMMPS handover: a seiflow model and a structure as a LAMMPS run folder (docs/lammps.md).

``export_lammps`` writes ``structure.data`` (atom_style atomic, the atom types in the model's
species order), ``in.lammps`` (units metal; NVT or NPT Nosé–Hoover with the reference paper's
0.5 fs step, 100 fs temperature and 500 fs pressure damping) and the potential files:

- MTP: ``potential.mtp`` (MLIP's text format, which MLIP-2, MLIP-3 and both LAMMPS interfaces
  read) and, when the model has an active set, ``potential.almtp`` (the same text plus the
  selection state in MLIP's ``#MVS`` format, potentials/mtp/mlip_io.py) for MLIP-3's
  extrapolation control (γ_select, γ_break); ``mlip.ini`` (+ ``state.als``, the same state in
  MLIP-2's own layout) for MLIP-2's interface; ``in.lammps`` uses ``pair_style mlip
  load_from=...`` (interface-lammps-mlip-3) and names MLIP-2's ``pair_style mlip mlip.ini``.
- MACE: ``mace-lammps.pt``, made the way mace-torch's ``mace_create_lammps_model`` makes it
  (float64 on the CPU, ``LAMMPS_MACE`` wrapper, e3nn's TorchScript compile),
  ``pair_style mace no_domain_decomposition`` / ``pair_coeff * * mace-lammps.pt <species>``,
  and ``atom_modify map yes`` (the pair style looks atoms up by id).
"""

from __future__ import annotations

import copy
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import ase.io
from ase import Atoms

from seiflow.core.errors import SeiflowError
from seiflow.potentials.base import read_model_json
from seiflow.potentials.registry import load_potential

DATA_FILE, INPUT_FILE, MANIFEST = "structure.data", "in.lammps", "export.json"
ENSEMBLES = ("nvt", "npt")


@dataclass
class LammpsRun:
    """What ``in.lammps`` runs (the reference paper's settings by default)."""

    ensemble: str = "nvt"
    temperature: float = 300.0  # K
    pressure_bar: float = 1.0  # NPT only
    steps: int = 10000
    timestep_fs: float = 0.5
    tdamp_fs: float = 100.0
    pdamp_fs: float = 500.0
    thermo_every: int = 100
    dump_every: int = 100
    seed: int = 12345
    gamma_select: float = 2.0
    gamma_break: float = 10.0

    def check(self) -> None:
        if self.ensemble not in ENSEMBLES:
            raise SeiflowError(f"--ensemble {self.ensemble}: use nvt or npt")
        for name in ("temperature", "steps", "timestep_fs", "tdamp_fs", "pdamp_fs"):
            if not getattr(self, name) > 0:
                raise SeiflowError(f"{name.replace('_', '-')} must be positive, not "
                                   f"{getattr(self, name)}")


def write_data_file(atoms: Atoms, species: tuple[str, ...], path: Path) -> Path:
    """LAMMPS data file (metal units, atom_style atomic, masses); type k is species[k-1]."""
    extra = sorted(set(atoms.get_chemical_symbols()) - set(species))
    if extra:
        raise SeiflowError(f"the structure has {', '.join(extra)}, which the model (species "
                           f"{', '.join(species)}) does not know")
    ase.io.write(path, atoms, format="lammps-data", specorder=list(species),
                 atom_style="atomic", masses=True, units="metal")
    return path


def md_lines(run: LammpsRun) -> list[str]:
    """Velocities, thermostat/barostat fix, thermo output, dump and run (metal units: ps)."""
    t, dt = run.temperature, run.timestep_fs / 1000.0
    tdamp, pdamp = run.tdamp_fs / 1000.0, run.pdamp_fs / 1000.0
    fix = f"fix md all nvt temp {t:g} {t:g} {tdamp:g}"
    if run.ensemble == "npt":
        fix = (f"fix md all npt temp {t:g} {t:g} {tdamp:g} "
               f"iso {run.pressure_bar:g} {run.pressure_bar:g} {pdamp:g}")
    return [
        f"timestep {dt:g}  # ps ({run.timestep_fs:g} fs)",
        f"velocity all create {t:g} {run.seed} mom yes rot yes dist gaussian",
        f"{fix}  # Nose-Hoover: Tdamp {run.tdamp_fs:g} fs"
        + (f", Pdamp {run.pdamp_fs:g} fs" if run.ensemble == "npt" else ""),
        "thermo_style custom step time temp pe ke etotal press vol density",
        f"thermo {run.thermo_every}",
        f"dump traj all custom {run.dump_every} dump.lammpstrj id type x y z fx fy fz",
        f"run {run.steps}",
    ]


def input_script(pair: list[str], run: LammpsRun, species: tuple[str, ...],
                 setup: tuple[str, ...] = ()) -> str:
    """in.lammps: units, atom style, ``setup`` (atom settings the pair style needs before the
    data file is read), the data file, ``pair``, neighbour settings and the MD."""
    head = ["# written by seiflow export-lammps (docs/lammps.md)", "units metal",
            "atom_style atomic", *setup, "boundary p p p", f"read_data {DATA_FILE}",
            "# atom types: " + ", ".join(f"{k + 1} = {s}" for k, s in enumerate(species)), ""]
    return "\n".join(head + pair + ["", "neighbor 2.0 bin", "neigh_modify every 1 delay 0 "
                                    "check yes", ""] + md_lines(run)) + "\n"


def mtp_files(model, out: Path, run: LammpsRun) -> tuple[list[str], list[str]]:
    """The MTP's MLIP files in ``out`` and the pair lines for interface-lammps-mlip-3."""
    from motep.io.mlip.mtp import write_mtp

    from seiflow.potentials.mtp.mlip_io import mlip2_state, mvs_block

    write_mtp(out / "potential.mtp", model.data, legacy=True)
    ini = "mtp-filename potential.mtp\ncalculate-efs TRUE\n"  # MLIP-2's interface settings
    files = ["potential.mtp", "mlip.ini"]
    if model.active_set is None:
        (out / "mlip.ini").write_text(ini)
        return ["pair_style mlip load_from=potential.mtp  # no active set: no γ control",
                "# MLIP-2's interface: pair_style mlip mlip.ini", "pair_coeff * *"], files
    text = (out / "potential.mtp").read_bytes().rstrip(b"\n")
    (out / "potential.almtp").write_bytes(text + mvs_block(model.data, model.active_set))
    (out / "state.als").write_bytes(mlip2_state(text, model.data, model.active_set))
    (out / "mlip.ini").write_text(
        ini + f"select TRUE\nselect:threshold {run.gamma_select:g}\n"
        f"select:threshold-break {run.gamma_break:g}\n"
        "select:save-selected preselected.cfg\nselect:load-state state.als\n")
    files += ["potential.almtp", "state.als"]
    pair = ["# MLIP-3 interface; with MLIP-2's use: pair_style mlip mlip.ini",
            "pair_style mlip load_from=potential.almtp extrapolation_control=true "
            f"extrapolation_control:threshold_save={run.gamma_select:g} "
            f"extrapolation_control:threshold_break={run.gamma_break:g} "
            "extrapolation_control:save_extrapolative_to=preselected.cfg",
            "pair_coeff * *"]
    return pair, files


# pair_style mace (no_domain_decomposition) finds a ghost atom's local image through LAMMPS'
# atom map (atom->map(tag)); without one LAMMPS crashes in its first force call
MACE_SETUP = ("atom_modify map yes  # pair_style mace looks atoms up by id",)


def mace_files(model, out: Path) -> tuple[list[str], list[str]]:
    """mace-torch's LAMMPS model (as ``mace_create_lammps_model`` writes it) and pair lines."""
    from e3nn.util import jit
    from mace.calculators import LAMMPS_MACE

    module = copy.deepcopy(model.module).double().to("cpu")
    heads = list(getattr(module, "heads", [None]) or [None])
    wrapped = LAMMPS_MACE(module, head=heads[-1]) if heads[-1] is not None \
        else LAMMPS_MACE(module)
    jit.compile(wrapped).save(str(out / "mace-lammps.pt"))
    return ["pair_style mace no_domain_decomposition",
            "pair_coeff * * mace-lammps.pt " + " ".join(model.species)], ["mace-lammps.pt"]


def export_lammps(model_path: Path, atoms: Atoms, out: Path, run: LammpsRun) -> dict:
    """Write the LAMMPS run folder ``out``; returns what was written (also ``export.json``)."""
    run.check()
    backend = read_model_json(model_path).get("backend")
    if backend not in ("mtp", "mace"):
        raise SeiflowError(f"{model_path} is a {backend} model: export-lammps writes MTP and "
                           "MACE models (the LAMMPS pair styles mlip and mace)")
    model = load_potential(model_path)
    species = tuple(model.species)
    out.mkdir(parents=True, exist_ok=True)
    write_data_file(atoms, species, out / DATA_FILE)
    pair, files = mtp_files(model, out, run) if backend == "mtp" else mace_files(model, out)
    setup = MACE_SETUP if backend == "mace" else ()
    (out / INPUT_FILE).write_text(input_script(pair, run, species, setup))
    info = {"model": str(model_path), "backend": backend, "species": list(species),
            "atoms": len(atoms), "files": [DATA_FILE, INPUT_FILE, *files],
            "gamma_control": backend == "mtp" and getattr(model, "active_set", None) is not None,
            "run": asdict(run)}
    (out / MANIFEST).write_text(json.dumps(info, indent=1) + "\n")
    return info
