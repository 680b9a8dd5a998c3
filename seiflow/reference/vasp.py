"""An input profile for users who have VASP: PBE, ENCUT, KSPACING and IVDW as in Li et al.,
Mater. Horiz. 2025 (520 eV, 0.35 Å⁻¹). seiflow writes the inputs and, where ``vasp_std`` (or
``command``) and POTCARs (``VASP_PP_PATH``) exist, runs VASP through ASE.

Launch settings (not hashed): ``command`` (``mpirun -n 16 vasp_std``), ``scratch`` (parent of
the per-calculator run folders) and ``keep_files``; VASP never runs in the working directory."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import ClassVar, Literal

from ase import Atoms
from pydantic import Field

from seiflow.reference.base import (
    CalculatorLabeler,
    LabelerError,
    new_scratch,
    scratch_folder,
)
from seiflow.reference.dispersion import D3Damping

IVDW = {"zero": 11, "bj": 12}


class VASPSettings(CalculatorLabeler):
    LAUNCH_FIELDS: ClassVar[frozenset[str]] = frozenset({"command", "scratch", "keep_files"})

    name: Literal["vasp"] = "vasp"
    xc: Literal["PBE"] = "PBE"
    encut: float = Field(520.0, gt=0, description="eV")
    kspacing: float = Field(0.35, gt=0, description="Å⁻¹ (VASP KSPACING, includes 2π)")
    ediff: float = Field(1e-6, gt=0, description="eV")
    sigma: float = Field(0.05, gt=0, description="Gaussian smearing, eV")
    d3: D3Damping | None = None
    command: str = Field("vasp_std", description="launch: how to start VASP, e.g. "
                         "'mpirun -n 16 vasp_std'")
    scratch: str | None = Field(None, description="launch: parent folder of the per-calculator "
                                "run folders (default: the system temp folder)")
    keep_files: bool = Field(False, description="launch: keep each calculator's run folder")

    def incar(self) -> dict:
        """INCAR tags (single point with stress)."""
        tags = {"GGA": "PE", "ENCUT": self.encut, "KSPACING": self.kspacing, "KGAMMA": True,
                "EDIFF": self.ediff, "ISMEAR": 0, "SIGMA": self.sigma, "PREC": "Accurate",
                "LREAL": False, "ISIF": 2, "IBRION": -1, "NSW": 0, "LWAVE": False,
                "LCHARG": False}
        if self.d3:
            tags["IVDW"] = IVDW[self.d3]
        return tags

    def check(self, atoms: Atoms) -> None:
        binary = self.command.split()[-1]
        if shutil.which(binary) is None:
            raise LabelerError(f"VASP binary {binary!r} not found on PATH (set 'command'); "
                               "`seiflow.reference.vasp.write_inputs` writes the inputs anyway")
        if not os.environ.get("VASP_PP_PATH"):
            raise LabelerError("VASP_PP_PATH is not set: ASE needs it to find the POTCARs")

    def calculator(self, atoms: Atoms):
        from ase.calculators.vasp import Vasp

        folder = new_scratch("seiflow-vasp-", self.scratch)
        calc = Vasp(command=self.command, directory=str(folder),
                    **{k.lower(): v for k, v in self.incar().items()})
        scratch_folder(calc, folder, self.keep_files)
        return calc


def write_inputs(settings: VASPSettings, atoms: Atoms, directory: str | Path) -> list[Path]:
    """Write INCAR and POSCAR (species sorted, as VASP needs) without running VASP; the POTCAR
    is left to the user's VASP_PP_PATH."""
    import ase.io

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    fmt = {True: ".TRUE.", False: ".FALSE."}
    lines = [f"{k} = {fmt.get(v, v) if isinstance(v, bool) else v}"
             for k, v in settings.incar().items()]
    (directory / "INCAR").write_text("\n".join(lines) + "\n")
    ase.io.write(directory / "POSCAR", atoms, format="vasp", direct=True, sort=True)
    return [directory / "INCAR", directory / "POSCAR"]
