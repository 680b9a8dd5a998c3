"""PBE with CP2K (Gaussian and plane waves), through ASE's persistent ``cp2k_shell``.

DZVP-MOLOPT-SR-GTH basis and GTH-PBE pseudopotentials (Debian packages ``cp2k cp2k-data``);
k-points from the same spacing as the other backends, with ``SYMMETRY F``; optional built-in D3.

Launch settings (not hashed): ``command`` (e.g. ``mpirun -n 16 cp2k_shell.psmp``), ``scratch``
(parent of the per-calculator folders) and ``keep_files``. Each calculator's shell runs inside
its own new folder, so CP2K's inputs, outputs and restart files never land in the working
directory; the folder is removed when the label is done (or the calculator is collected).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
from functools import cache
from pathlib import Path
from typing import ClassVar, Literal

from ase import Atoms
from ase.units import Ry
from pydantic import Field

from seiflow.reference.base import (
    CalculatorLabeler,
    LabelerError,
    check_elements,
    new_scratch,
    scratch_folder,
)
from seiflow.reference.dispersion import D3Damping
from seiflow.reference.kpoints import kpoint_grid

DATA_DIRS = ("/usr/share/cp2k", "/usr/share/cp2k/data")
MAX_PATH = 80  # characters: cp2k_shell's LOAD worked with a 76-, failed with a 111-character path


class CP2KSettings(CalculatorLabeler):
    LAUNCH_FIELDS: ClassVar[frozenset[str]] = frozenset({"command", "scratch", "keep_files"})

    name: Literal["cp2k"] = "cp2k"
    xc: Literal["PBE"] = "PBE"
    basis_set: str = "DZVP-MOLOPT-SR-GTH"
    pseudo_potential: str = "GTH-PBE"
    cutoff: float = Field(600.0, gt=0, description="density cut-off, Ry")
    rel_cutoff: float = Field(60.0, gt=0, description="Ry")
    kspacing: float = Field(0.35, gt=0, description="k-point spacing, Å⁻¹ (VASP KSPACING)")
    d3: D3Damping | None = None
    max_scf: int = Field(100, ge=1)
    eps_scf: float = Field(1e-7, gt=0)
    command: str = Field("cp2k_shell", description="launch: the cp2k_shell binary with its "
                         "MPI launcher, e.g. 'mpirun -n 16 cp2k_shell.psmp'")
    scratch: str | None = Field(None, description="launch: parent folder of the per-calculator "
                                "scratch folders (default: the system temp folder)")
    keep_files: bool = Field(False, description="launch: keep each calculator's folder")

    def data_dir(self) -> Path:
        for d in [os.environ.get("CP2K_DATA_DIR"), *DATA_DIRS]:
            if d and (Path(d) / "BASIS_MOLOPT").is_file():
                return Path(d)
        raise LabelerError("CP2K data (BASIS_MOLOPT) not found: apt-get install cp2k-data, "
                           "or set CP2K_DATA_DIR")

    def check(self, atoms: Atoms) -> None:
        binary = next((w for w in shlex.split(self.command) if "cp2k" in w),
                      self.command.split()[0])
        if shutil.which(binary) is None:
            raise LabelerError(f"CP2K binary {binary!r} not found on PATH: "
                               "apt-get install cp2k cp2k-data, or set 'command'")
        have = basis_elements(str(self.data_dir() / "BASIS_MOLOPT"), self.basis_set)
        check_elements(atoms, have, f"CP2K basis {self.basis_set}")

    def input_section(self, atoms: Atoms) -> str:
        """The CP2K input added to ASE's: SCF, k-points, dispersion."""
        lines = ["&FORCE_EVAL", "&DFT", "&MGRID", f"REL_CUTOFF {self.rel_cutoff}", "&END MGRID",
                 "&SCF", f"EPS_SCF {self.eps_scf}", "&END SCF"]
        if atoms.pbc.all():
            k = kpoint_grid(atoms, self.kspacing)
            if k != (1, 1, 1):
                lines += ["&KPOINTS", f"SCHEME MONKHORST-PACK {k[0]} {k[1]} {k[2]}",
                          "SYMMETRY F", "&END KPOINTS"]
        if self.d3:
            kind = {"zero": "DFTD3", "bj": "DFTD3(BJ)"}[self.d3]
            lines += ["&XC", "&VDW_POTENTIAL", "POTENTIAL_TYPE PAIR_POTENTIAL",
                      "&PAIR_POTENTIAL", f"TYPE {kind}",
                      f"PARAMETER_FILE_NAME {self.data_dir()}/dftd3.dat",
                      f"REFERENCE_FUNCTIONAL {self.xc}", "&END PAIR_POTENTIAL",
                      "&END VDW_POTENTIAL", "&END XC"]
        return "\n".join(lines + ["&END DFT", "&END FORCE_EVAL"])

    def calculator(self, atoms: Atoms):
        from ase.calculators.cp2k import CP2K

        folder = new_scratch("seiflow-cp2k-", self.scratch)
        if len(str(folder / "cp2k.inp")) > MAX_PATH:
            shutil.rmtree(folder, ignore_errors=True)
            raise LabelerError(f"CP2K scratch path {folder} is too long for cp2k_shell (at "
                               f"most {MAX_PATH - 9} characters): choose a shorter 'scratch'")
        # the shell runs in its own folder: CP2K writes restart files beside it, never the cwd
        command = f"cd {shlex.quote(str(folder))} && exec {self.command}"
        calc = CP2K(command=command, xc=self.xc, basis_set=self.basis_set,
                    basis_set_file=str(self.data_dir() / "BASIS_MOLOPT"),
                    potential_file=str(self.data_dir() / "GTH_POTENTIALS"),
                    pseudo_potential=self.pseudo_potential, cutoff=self.cutoff * Ry,
                    max_scf=self.max_scf, stress_tensor=bool(atoms.pbc.all()),
                    inp=self.input_section(atoms),
                    print_level="LOW", label=str(folder / "cp2k"))
        scratch_folder(calc, folder, self.keep_files)
        return calc


@cache
def basis_elements(path: str, basis: str) -> set[str]:
    """Elements for which ``basis`` is defined in a CP2K basis file."""
    pattern = re.compile(rf"^\s*([A-Z][a-z]?)\s+.*\b{re.escape(basis)}\b")
    with open(path) as f:
        return {m.group(1) for line in f if (m := pattern.match(line))}
