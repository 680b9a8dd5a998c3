"""MLIP-2 / MLIP-3 files: ``.mtp`` potentials and the MaxVol selection state (``#MVS`` block).

Formats, as MLIP-3's own source reads and writes them (src/mtpr.cpp Load/Save,
src/cfg_selection.cpp Save/Load, src/maxvol.cpp WriteData/ReadData):

- ``.mtp``: text (``MTP``, ``version = 1.1.0``, optional ``scaling``, ``species_count``,
  optional ``potential_tag``, the radial basis and coefficients, the moment tables,
  ``species_coeffs``, ``moment_coeffs``). MLIP-2 and MLIP-3 share it; motep reads it.
- MLIP-3's ``.almtp`` is that text followed by
  ``\\n#MVS_v1.1\\n``, the selection weights (``energy_weight`` ... ``weight_scaling``), ``#``,
  two binary n × n float64 matrices (MaxVol's A, whose rows are the selected equations, and
  invA = (A⁻¹)ᵀ, both row-major), ``\\n#\\n``, n lines ``cfg_index equation_index``, ``#``,
  and the selected configurations as ``.cfg`` text.
- MLIP-2's ``.als`` state file (MLIP-2's src/active_learning.cpp Save/Load) is the text, ``^``,
  four raw float64 selection weights, ``#``, the same two matrices, n lines ``row cfg_index``
  and the configurations; MLIP-2 cannot read the ``#MVS`` block.

n is MLIP's coefficient count: every radial coefficient (C²·K·R), then the species
coefficients (C), then the moment coefficients (M); a neighbourhood's row is the gradient of
its site energy with respect to all of them, and the grade of a row b is max |b·A⁻¹|. seiflow's
grade uses only the linear coefficients (potentials/active.py). seiflow therefore writes its
active set as A = diag(PIN·I, A_linear): the radial directions are pinned so that they add
nothing (≤ 1e-9) to the grade, and MLIP (``mlp calculate_grade``, LAMMPS extrapolation control)
computes seiflow's γ. Reading, such a block gives back A_linear exactly; any other block (an
MLIP-trained state) is rebuilt in seiflow's row space from the configurations it selected.
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from motep.io.mlip.mtp import read_mtp
from motep.potentials.mtp.data import MTPData

from seiflow.potentials.active import ActiveSet
from seiflow.potentials.base import ModelError

MVS_TAG = b"#MVS_v1.1"
WEIGHT_KEYS = ("energy_weight", "force_weight", "stress_weight", "site_en_weight",
               "weight_scaling")
PIN = 1e12  # the radial directions' diagonal in a seiflow-written A (their grade share ≤ 1e-9)
_OPTIONAL_TEXT = re.compile(r"^\s*potential_tag\s*=.*$", re.MULTILINE)


@dataclass
class MVSState:
    """MLIP's selection state: weights, MaxVol matrix A (n × n), links, selected cfg text."""

    weights: dict[str, float]
    matrix: np.ndarray
    links: np.ndarray  # n × 2: (selected configuration index, equation index); -1 = none
    cfg_text: str


def split_mvs(raw: bytes) -> tuple[str, bytes | None]:
    """The ``.mtp`` text and the ``#MVS`` block after it (None when there is none)."""
    at = raw.find(MVS_TAG)
    head, block = (raw, None) if at < 0 else (raw[:at], raw[at:])
    try:
        return head.decode("utf-8"), block
    except UnicodeDecodeError:
        raise ModelError("not an MLIP .mtp file (binary data before any #MVS block)") from None


def coeff_counts(data: MTPData) -> tuple[int, int, int]:
    """(radial, species, moment) coefficient counts: MLIP's n is their sum."""
    s = int(data.species_count)
    radial = s * s * int(data.radial_funcs_count) * int(data.radial_basis.size)
    return radial, s, int(data.alpha_scalar_moments)


def read_mtp_text(text: str, where: str) -> MTPData:
    """Parse ``.mtp`` text (MLIP-2 or MLIP-3) with motep; one clear error for anything else."""
    if not text.lstrip().startswith("MTP"):
        raise ModelError(f"{where} is not an MLIP .mtp file (it does not start with 'MTP')")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "potential.mtp"
        path.write_text(_OPTIONAL_TEXT.sub("", text))
        try:
            data = read_mtp(path)
        except Exception as exc:  # noqa: BLE001 - any parse failure means a malformed file
            raise ModelError(f"{where} is not a readable .mtp file ({type(exc).__name__}: "
                             f"{exc})") from None
    if not isinstance(data, MTPData) or type(data) is not MTPData:
        raise ModelError(f"{where} is a magnetic MTP; seiflow reads non-magnetic MTPs only")
    _check_complete(data, where)
    return data


def _check_complete(data: MTPData, where: str) -> None:
    missing = [k for k in ("species_count", "radial_funcs_count", "alpha_scalar_moments")
               if getattr(data, k, None) is None]
    if missing:
        raise ModelError(f"{where} lacks {', '.join(missing)}: not a complete .mtp file")
    radial, s, m = coeff_counts(data)
    if data.radial_coeffs is None or data.moment_coeffs is None or data.species_coeffs is None:
        raise ModelError(f"{where} has no trained coefficients (an untrained level template?): "
                         "train it first")
    if (np.size(data.radial_coeffs) != radial or len(data.moment_coeffs) != m
            or len(data.species_coeffs) != s):
        raise ModelError(f"{where} is corrupt: its coefficient counts do not match its "
                         f"species_count {s}, radial basis and moment tables")


def parse_mvs(block: bytes, n: int, where: str) -> MVSState:
    """Parse a ``#MVS_v1.1`` block of a potential with ``n`` coefficients."""
    bad = f"{where}: the #MVS selection block is malformed"
    head_end = block.find(b"#", len(MVS_TAG))
    if head_end < 0:
        raise ModelError(bad + " (no end of its weights)")
    words = block[len(MVS_TAG):head_end].decode("ascii", "replace").split()
    try:
        weights = {k: float(words[words.index(k) + 1]) for k in WEIGHT_KEYS}
    except (ValueError, IndexError):
        raise ModelError(bad + " (its selection weights)") from None
    start, size = head_end + 1, n * n * 8
    if len(block) < start + 2 * size:
        raise ModelError(f"{bad} (its matrices are shorter than {n} x {n}: the .mtp and the "
                         "selection state do not belong together)")
    matrix = np.frombuffer(block[start:start + size], dtype="<f8").reshape(n, n).copy()
    tail = block[start + 2 * size:].decode("utf-8", "replace").split("#", 2)
    if len(tail) < 3:
        raise ModelError(bad + " (no equation links after the matrices)")
    try:
        links = np.array([int(v) for v in tail[1].split()], dtype=int).reshape(n, 2)
    except ValueError:
        raise ModelError(bad + f" (expected {n} equation links)") from None
    return MVSState(weights=weights, matrix=matrix, links=links, cfg_text=tail[2])


def _perm(m: int, s: int) -> np.ndarray:
    """Column order taking seiflow's row [basis (m), species (s)] to MLIP's [species, basis]."""
    return np.concatenate([np.arange(m, m + s), np.arange(m)])


def _maxvol_matrices(data: MTPData, active: ActiveSet) -> bytes:
    """MaxVol's A = diag(PIN·I, A_linear) in MLIP's coefficient order and invA = (A⁻¹)ᵀ, as
    the raw row-major float64 bytes both MLIP versions read."""
    radial, s, m = coeff_counts(data)
    n = radial + s + m
    full = np.zeros((n, n))
    full[:radial, :radial] = PIN * np.eye(radial)
    full[radial:, radial:] = (active.rows * active.scale)[:, _perm(m, s)]
    inv_t = np.linalg.inv(full).T
    return (np.ascontiguousarray(full, "<f8").tobytes()
            + np.ascontiguousarray(inv_t, "<f8").tobytes())


def mvs_block(data: MTPData, active: ActiveSet) -> bytes:
    """The ``#MVS`` block that makes MLIP-3 grade exactly as seiflow's ``active`` set does."""
    n = sum(coeff_counts(data))
    head = "\n" + MVS_TAG.decode() + "\n" + "".join(
        f"{k} {v:.16e}\n" for k, v in zip(WEIGHT_KEYS[:4], (0.0, 0.0, 0.0, 1.0))
    ) + "weight_scaling 2\n#"
    links = "".join("-1 -1\n" for _ in range(n))
    return head.encode() + _maxvol_matrices(data, active) + b"\n#\n" + links.encode() + b"#\n"


# MLIP-2 needs at least one selected configuration in its state (its loader indexes them);
# seiflow's active set keeps rows, not configurations, so every row points to this one atom.
# In LAMMPS' "selection by generation" mode (select:threshold-break > 1) MLIP-2 only grades,
# appends configurations above the threshold to its file and breaks above threshold-break:
# the stored configurations are never used.
_MLIP2_PLACEHOLDER_CFG = (b"BEGIN_CFG\n Size\n    1\n Supercell\n    10 0 0\n    0 10 0\n"
                          b"    0 0 10\n AtomData:  id type cartes_x cartes_y cartes_z\n"
                          b"    1 0 0 0 0\nEND_CFG\n")


def mlip2_state(mtp_text: bytes, data: MTPData, active: ActiveSet) -> bytes:
    """MLIP-2's active-learning state file (``select:load-state``; MLIP-2's
    MaxvolSelection::Save/Load): the ``.mtp`` text, ``^``, the four selection weights as raw
    float64 (neighbourhoods 1, energy, forces, stress 0: seiflow's neighbourhood γ), ``#``,
    MaxVol's A and invA, one ``row configuration`` line per coefficient, the configurations."""
    n = sum(coeff_counts(data))
    weights = np.array([1.0, 0.0, 0.0, 0.0], "<f8").tobytes()
    rows = "".join(f"{i} 0\n" for i in range(n)).encode()
    return (mtp_text.rstrip(b"\n") + b"\n^" + weights + b"\n#" + _maxvol_matrices(data, active)
            + b"\n" + rows + _MLIP2_PLACEHOLDER_CFG)


MLIP2_WEIGHT_KEYS = ("site_en_weight", "energy_weight", "force_weight", "stress_weight")


def parse_mlip2_state(raw: bytes, n: int, where: str) -> MVSState:
    """Parse MLIP-2's state file (see ``mlip2_state``) of a potential with ``n``
    coefficients; ``links`` are its (row, configuration) lines."""
    bad = f"{where} is not an MLIP-2 selection state"
    caret = raw.find(b"^")
    if caret < 0:
        raise ModelError(f"{where} has no selection state: neither MLIP-3's #MVS_v1.1 block "
                         "nor MLIP-2's layout (^, weights, #, matrices)")
    weights = np.frombuffer(raw[caret + 1:caret + 33], dtype="<f8")
    start = raw.find(b"#", caret + 33) + 1
    if len(weights) < 4 or start == 0 or len(raw) < start + 2 * n * n * 8:
        raise ModelError(f"{bad} of a {n}-coefficient potential (its weights or its n x n "
                         "matrices are missing or short)")
    matrix = np.frombuffer(raw[start:start + n * n * 8], dtype="<f8").reshape(n, n).copy()
    words = raw[start + 2 * n * n * 8:].decode("utf-8", "replace").split(None, 2 * n)
    try:
        links = np.array([int(v) for v in words[:2 * n]], dtype=int).reshape(n, 2)
    except ValueError:
        raise ModelError(f"{bad} (expected {n} row-to-configuration lines)") from None
    return MVSState(weights=dict(zip(MLIP2_WEIGHT_KEYS, map(float, weights))), matrix=matrix,
                    links=links, cfg_text=words[2 * n] if len(words) > 2 * n else "")


def seiflow_active_set(state: MVSState, data: MTPData) -> ActiveSet | None:
    """seiflow's active set from a block seiflow wrote (A = diag(PIN·I, A_linear)); None for
    any other block (its rows mix radial and linear directions)."""
    radial, s, m = coeff_counts(data)
    a = state.matrix
    pinned = np.allclose(a[:radial, :radial], PIN * np.eye(radial), rtol=1e-12, atol=0.0)
    if not pinned or np.any(a[:radial, radial:]) or np.any(a[radial:, :radial]):
        return None
    lin = a[radial:, radial:][:, np.argsort(_perm(m, s))]
    scale = np.sqrt(np.mean(lin**2, axis=0))
    scale[scale == 0] = 1.0
    rows = lin / scale
    return ActiveSet(scale=scale, rows=rows, inverse=np.linalg.inv(rows), complete=True)
