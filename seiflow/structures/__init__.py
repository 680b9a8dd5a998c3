"""Structure builders: phase library, amorphous packing, defects, interfaces. Compression of a
packing needs a calculator: seiflow.workflows.compression.compress."""

from seiflow.structures.amorphous import (
    AmorphousSpec,
    CompressionSettings,
    build_amorphous,
    pack_amorphous,
)
from seiflow.structures.defects import (
    DefectSpec,
    make_defect,
    make_frenkel_pair,
    make_interstitial,
    make_vacancy,
)
from seiflow.structures.geometry import (
    check_no_overlap,
    check_width,
    largest_void,
    make_supercell,
    perpendicular_widths,
    supercell_repeats,
)
from seiflow.structures.interfaces import InterfaceResult, InterfaceSpec, build_interface
from seiflow.structures.library import (
    get_molecule,
    get_phase,
    list_molecules,
    list_phases,
    phase_info,
)

__all__ = [
    "AmorphousSpec",
    "CompressionSettings",
    "DefectSpec",
    "InterfaceResult",
    "InterfaceSpec",
    "build_amorphous",
    "build_interface",
    "check_no_overlap",
    "check_width",
    "get_molecule",
    "get_phase",
    "largest_void",
    "list_molecules",
    "list_phases",
    "make_defect",
    "make_frenkel_pair",
    "make_interstitial",
    "make_supercell",
    "make_vacancy",
    "pack_amorphous",
    "perpendicular_widths",
    "phase_info",
    "supercell_repeats",
]
