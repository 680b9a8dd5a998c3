"""`seiflow import-mtp`: an MLIP-2 or MLIP-3 ``.mtp`` / ``.almtp`` as a seiflow MTP model folder.

The file's text part is the potential (motep reads it); ``species`` names its types in order (plain
``.mtp`` files carry no element names). The active set comes from the ``#MVS`` selection block
after the text (MLIP-3's ``.almtp``), or from ``--als`` (MLIP-2's state file, in MLIP-2's own
layout or an ``#MVS`` block): a state seiflow wrote gives its active set back exactly; an MLIP-
written block is rebuilt in seiflow's row space (linear coefficients) by MaxVol over the
neighbourhoods of the configurations MLIP selected, which the block carries. Without either, the
model has no active set and every command that needs γ says so.
"""

from __future__ import annotations

import logging
import re
import tempfile
from pathlib import Path

import numpy as np
from ase.data import atomic_numbers

from seiflow.core.errors import SeiflowError
from seiflow.data.formats import read_cfg
from seiflow.potentials.active import ActiveSet
from seiflow.potentials.mtp.levels import mtp_basis
from seiflow.potentials.mtp.mlip_io import (MVS_TAG, MVSState, coeff_counts, parse_mlip2_state,
                                            parse_mvs, read_mtp_text, seiflow_active_set,
                                            split_mvs)
from seiflow.potentials.mtp.model import MTPModel

log = logging.getLogger(__name__)
MAX_LEVEL = 28


def _read_bytes(path: Path, what: str) -> bytes:
    if not path.is_file():
        raise SeiflowError(f"{what} {path} does not exist or is not a file")
    raw = path.read_bytes()
    if not raw.strip():
        raise SeiflowError(f"{what} {path} is empty")
    return raw


def check_species(species: list[str], count: int, where: str) -> tuple[str, ...]:
    unknown = [s for s in species if s not in atomic_numbers or s == "X"]
    if unknown:
        raise SeiflowError(f"--species: {', '.join(unknown)} is not an element symbol")
    if len(set(species)) != len(species):
        raise SeiflowError(f"--species names an element twice: {' '.join(species)}")
    if len(species) != count:
        raise SeiflowError(f"{where} has species_count = {count} but --species names "
                           f"{len(species)} ({' '.join(species) or 'none'}): name one element "
                           "per type, in the file's type order")
    return tuple(species)


def guess_level(data) -> int:
    """The MTP level named in the potential name, else the one whose moment counts ``data``
    has (MLIP orders its tables differently; 0 when none up to 28 matches)."""
    found = re.search(r"level\s*(\d+)", str(getattr(data, "potential_name", "")), re.I)
    if found:
        return int(found.group(1))
    for level in range(2, MAX_LEVEL + 1, 2):
        b = mtp_basis(level)
        if b.alpha_scalar_moments > data.alpha_scalar_moments:
            break  # the tables grow with the level (and take seconds to build above 20)
        if (b.alpha_scalar_moments == data.alpha_scalar_moments
                and b.alpha_moments_count == data.alpha_moments_count
                and len(b.alpha_index_basic) == len(data.alpha_index_basic)):
            return level
    return 0


def rebuilt_active_set(model: MTPModel, state: MVSState, where: str) -> ActiveSet | None:
    """MaxVol active set over the neighbourhoods of the configurations in MLIP's block."""
    if "BEGIN_CFG" not in state.cfg_text:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "selected.cfg"
        path.write_text(state.cfg_text.strip() + "\n")
        try:
            frames = read_cfg(path, list(model.species))
        except SeiflowError as exc:
            raise SeiflowError(f"{where}: the configurations in its selection state: {exc}"
                               ) from None
    return ActiveSet.from_matrix(np.vstack([model.rows(a) for a in frames]))


def _state(text_block: bytes | None, als: Path | None, n: int) -> tuple[MVSState | None, str]:
    """The selection state of the ``.almtp`` itself, or of ``--als``: MLIP-3's ``#MVS`` block
    or MLIP-2's own state layout."""
    if als is None:
        source = "the #MVS block"
        return (None if text_block is None else parse_mvs(text_block, n, source)), source
    raw, source = _read_bytes(als, "--als"), f"--als {als}"
    if MVS_TAG in raw:
        return parse_mvs(split_mvs(raw)[1], n, source), source
    return parse_mlip2_state(raw, n, source), source


def import_mtp(path: Path, species: list[str], out: Path, als: Path | None = None) -> dict:
    """Read ``path`` (and ``als``) into a seiflow MTP model saved in ``out``; returns a summary
    (``active_set``: exact, rebuilt, or none; ``note``: what was done with the #MVS block)."""
    raw = _read_bytes(path, "MTP file")
    if MVS_TAG not in raw and b"\n^" in raw:  # MLIP-2's state file: the potential and its state
        raw, als = raw[:raw.index(b"\n^")], als or path
    text, block = split_mvs(raw)
    data = read_mtp_text(text, str(path))
    names = check_species(list(species), int(data.species_count), str(path))
    data.species = [atomic_numbers[s] for s in names]
    data.optimized = ["moment_coeffs", "species_coeffs", "radial_coeffs"]
    model = MTPModel(data=data, species=names, level=guess_level(data),
                     record={"imported_from": str(path)})
    state, source = _state(block, als, sum(coeff_counts(data)))
    how, note = "none", "no selection state: no active set, no extrapolation grade γ"
    if state is not None:
        model.active_set = seiflow_active_set(state, data)
        how, note = "exact", f"active set read from {source} (written by seiflow)"
        if model.active_set is None:
            model.active_set = rebuilt_active_set(model, state, source)
            n_cfg = state.cfg_text.count("BEGIN_CFG")
            how = "rebuilt" if model.active_set is not None else "none"
            note = (f"{source} is MLIP's MaxVol state over all {len(state.matrix)} coefficients "
                    f"(radial ones included); seiflow grades with the linear ones, so the "
                    f"active set was rebuilt from the {n_cfg} configurations it selected"
                    if n_cfg else f"{source} holds no selected configurations: it was "
                    "stripped; no active set, no extrapolation grade γ")
    model.record.update(active_set_source=how, mvs_note=note)
    model.save(out)
    return {"model": str(out), "species": list(names), "level": model.level,
            "active_set": how, "note": note, "cutoff": model.cutoff}
