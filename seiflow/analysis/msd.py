"""Unwrapping of periodic trajectories and mean-squared displacements (tracer and collective).

Data in, data out: frames are ASE ``Atoms`` (positions in Å), times are in fs.

Conventions
-----------
- ``unwrap`` follows every atom from frame to frame through the fractional-coordinate difference
  wrapped to [-0.5, 0.5) along each periodic axis, converted to Å with the *current* frame's
  cell. This is exact for any cell that changes between frames (NPT): the affine part of a cell
  change does not count as a displacement.
- ``msd`` removes the drift of the whole system's centre of mass (mass-weighted, masses in amu)
  from every frame before computing displacements, averages over many time origins (all frames
  through an FFT, or ``n_origins`` evenly spaced ones) and also splits the trajectory into
  ``n_blocks`` consecutive blocks, each with its own MSD, for block-averaged uncertainties.
- The tracer MSD is ``<|r_i(t0 + t) - r_i(t0)|^2>`` averaged over the selected atoms and origins
  (Å²). With per-atom charges ``q_i`` (e), the collective (charge) MSD is
  ``<|sum_i q_i (r_i(t0 + t) - r_i(t0))|^2>`` ((e·Å)²) and its uncorrelated part is
  ``sum_i q_i^2 <|r_i(t0 + t) - r_i(t0)|^2>``; the ratio of their slopes is the inverse Haven
  ratio, and ``sigma = slope(charge_msd) / (2 dim V kB T)`` is the Einstein conductivity.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ase import Atoms
from scipy import fft

from seiflow.core.errors import SeiflowError


class UnwrapError(SeiflowError):
    """A trajectory whose frames cannot be followed unambiguously across periodic boundaries."""


@dataclass
class MSDResult:
    """Mean-squared displacements against lag time; see the module docstring for definitions."""

    t_fs: np.ndarray  # lag times, fs (starts at 0)
    msd: np.ndarray  # tracer MSD of the selected atoms, Å² (sum over x, y, z)
    msd_xyz: np.ndarray  # tracer MSD per Cartesian axis, Å², shape (nlag, 3)
    block_t_fs: np.ndarray  # lag times of the block MSDs, fs
    block_msd_xyz: np.ndarray  # tracer MSD per block and axis, Å², shape (n_blocks, nlag_block, 3)
    charge_msd: np.ndarray | None  # collective <|sum q_i dr_i|^2>, (e·Å)², or None
    charge_msd_uncorrelated: np.ndarray | None  # sum q_i^2 <|dr_i|^2>, (e·Å)², or None
    n_selected: int  # atoms in the tracer average
    n_atoms: int
    n_frames: int
    dt_fs: float  # time between frames, fs
    com_removed: bool  # whether the system's centre-of-mass drift was subtracted
    n_origins: int | None  # time origins per lag (None: every frame)

    @property
    def t_ps(self) -> np.ndarray:
        """Lag times in ps."""
        return self.t_fs / 1000.0

    @property
    def block_msd(self) -> np.ndarray:
        """Tracer MSD per block (Å², sum over x, y, z), shape (n_blocks, nlag_block)."""
        return self.block_msd_xyz.sum(axis=-1)


def select_species(atoms: Atoms, symbol: str) -> np.ndarray:
    """Boolean mask (natoms,) of the atoms of element ``symbol``; error if there are none."""
    mask = np.asarray(atoms.get_chemical_symbols()) == symbol
    if not mask.any():
        raise SeiflowError(f"no {symbol!r} atoms in {atoms.get_chemical_formula()}")
    return mask


def unwrap(frames: list[Atoms], max_jump: float = 0.25) -> np.ndarray:
    """Unwrapped positions (Å), shape (nframes, natoms, 3), starting from frame 0's positions.

    Raises ``UnwrapError`` when atom counts, species or periodicity change between frames, or when
    an atom moves more than ``max_jump`` of a periodic cell vector between consecutive frames: the
    wrapped difference would then be ambiguous (the frames were saved too rarely).
    """
    if not frames:
        raise UnwrapError("unwrap needs at least one frame")
    if not 0 < max_jump < 0.5:
        raise UnwrapError(f"max_jump must lie in (0, 0.5) of a cell vector, got {max_jump}")
    first = frames[0]
    natoms, numbers, pbc = len(first), first.numbers.copy(), first.pbc.copy()
    out = np.empty((len(frames), natoms, 3))
    out[0] = first.positions

    def scaled(atoms: Atoms, k: int) -> np.ndarray:
        if not pbc.any():
            return atoms.positions
        cell = atoms.cell.array
        if abs(np.linalg.det(cell)) < 1e-12:
            raise UnwrapError(f"frame {k} has a singular cell; a periodic trajectory needs one")
        return np.linalg.solve(cell.T, atoms.positions.T).T

    prev = scaled(first, 0)
    for k in range(1, len(frames)):
        atoms = frames[k]
        if len(atoms) != natoms:
            raise UnwrapError(f"frame {k} has {len(atoms)} atoms, frame 0 has {natoms}; "
                              "a trajectory must keep its atoms")
        if not np.array_equal(atoms.numbers, numbers):
            raise UnwrapError(f"frame {k} changes the species or order of the atoms of frame 0")
        if not np.array_equal(atoms.pbc, pbc):
            raise UnwrapError(f"frame {k} has pbc={atoms.pbc}, frame 0 has pbc={pbc}")
        cur = scaled(atoms, k)
        if not pbc.any():
            out[k] = out[k - 1] + (cur - prev)
            prev = cur
            continue
        ds = cur - prev
        ds[:, pbc] -= np.floor(ds[:, pbc] + 0.5)  # wrap to [-0.5, 0.5)
        jump = np.abs(ds[:, pbc])
        if jump.max() > max_jump:
            i, ax = np.unravel_index(np.argmax(jump), jump.shape)
            axis = "abc"[int(np.flatnonzero(pbc)[ax])]
            raise UnwrapError(
                f"atom {i} moved {jump[i, ax]:.2f} of cell vector {axis} between frames {k - 1} "
                f"and {k} (limit {max_jump}): frames too far apart to unwrap unambiguously; "
                "save frames more often"
            )
        out[k] = out[k - 1] + ds @ atoms.cell.array
        prev = cur
    return out


def _weighted_msd(x: np.ndarray, w: np.ndarray, max_lag: int,
                  n_origins: int | None) -> np.ndarray:
    """sum_i w_i <|x_i(t0 + m) - x_i(t0)|^2>_t0 per axis, shape (max_lag + 1, 3).

    ``x`` has shape (nframes, n, 3). With ``n_origins`` None every frame is an origin (FFT,
    O(N log N)); otherwise ``n_origins`` evenly spaced origins are used for each lag.
    """
    nf = x.shape[0]
    out = np.zeros((max_lag + 1, 3))
    m = np.arange(max_lag + 1)
    if n_origins is None:
        nfft = fft.next_fast_len(2 * nf)
        norm = (nf - m)[:, None, None]
        for lo in range(0, x.shape[1], 256):
            xc = x[:, lo:lo + 256] - x[0, lo:lo + 256]  # the MSD is shift invariant
            cs = np.concatenate([np.zeros((1,) + xc.shape[1:]), np.cumsum(xc**2, axis=0)])
            s1 = (cs[nf - m] + cs[nf] - cs[m]) / norm
            spec = fft.rfft(xc, n=nfft, axis=0)
            s2 = fft.irfft(spec * spec.conj(), n=nfft, axis=0)[: max_lag + 1] / norm
            out += np.einsum("mai,a->mi", s1 - 2.0 * s2, w[lo:lo + 256])
        out[0] = 0.0
        return np.maximum(out, 0.0)
    origins = np.unique(np.round(np.linspace(0, nf - 2, n_origins)).astype(int))
    count = np.zeros(max_lag + 1)
    for t0 in origins:
        top = min(max_lag, nf - 1 - t0)
        d2 = (x[t0:t0 + top + 1] - x[t0]) ** 2
        out[: top + 1] += np.einsum("mai,a->mi", d2, w)
        count[: top + 1] += 1
    return out / count[:, None]


def _checked_inputs(positions, times_fs, species_mask, max_lag, n_origins, n_blocks):
    """The positions as floats, the frame interval (fs), max_lag and the block length, after
    checking every argument of ``msd`` (one clear error each)."""
    x = np.asarray(positions, dtype=float)
    if x.ndim != 3 or x.shape[2] != 3:
        raise SeiflowError(f"positions must have shape (nframes, natoms, 3), got {x.shape}")
    nf, na, _ = x.shape
    t = np.asarray(times_fs, dtype=float)
    if t.shape != (nf,):
        raise SeiflowError(f"times_fs has shape {t.shape}, expected ({nf},) for {nf} frames")
    if nf < 2:
        raise SeiflowError("msd needs at least two frames")
    dts = np.diff(t)
    dt = float(dts.mean())
    if dt <= 0 or np.abs(dts - dt).max() > 1e-3 * dt:
        raise SeiflowError("times_fs must increase in equal steps (frames saved at a fixed "
                           f"interval); got steps from {dts.min():g} to {dts.max():g} fs")
    sel = np.asarray(species_mask)
    if sel.shape != (na,) or sel.dtype != bool:
        raise SeiflowError(f"species_mask must be a boolean array of shape ({na},)")
    if not sel.any():
        raise SeiflowError("species_mask selects no atoms")
    max_lag = nf // 2 if max_lag is None else int(max_lag)
    if not 1 <= max_lag <= nf - 1:
        raise SeiflowError(f"max_lag must lie in 1..{nf - 1} frames, got {max_lag}")
    if n_origins is not None and n_origins < 1:
        raise SeiflowError(f"n_origins must be a positive integer or None, got {n_origins}")
    if n_blocks < 2:
        raise SeiflowError(f"n_blocks must be >= 2 (block-averaged uncertainty), got {n_blocks}")
    block_len = nf // n_blocks
    if block_len < 4:
        raise SeiflowError(f"{nf} frames are too few for {n_blocks} blocks (need >= 4 frames "
                           "per block); use fewer blocks or a longer trajectory")
    return x, dt, max_lag, block_len


def msd(positions: np.ndarray, times_fs: np.ndarray, species_mask: np.ndarray,
        max_lag: int | None = None, n_origins: int | None = None, *,
        masses: np.ndarray | None, charges: np.ndarray | None = None,
        n_blocks: int = 5) -> MSDResult:
    """Tracer MSD of the atoms in ``species_mask`` (and collective charge MSD) against lag time.

    positions: unwrapped positions, Å, shape (nframes, natoms, 3) (see ``unwrap``).
    times_fs: frame times, fs, evenly spaced.
    species_mask: boolean (natoms,) selecting the tracer atoms (see ``select_species``).
    max_lag: longest lag in frames (default nframes // 2).
    n_origins: time origins per lag; None uses every frame.
    masses: per-atom masses (amu) used to remove the system's centre-of-mass drift; pass None
        explicitly to keep the drift (recorded as ``com_removed=False``).
    charges: per-atom charges (e) for the collective (charge) MSD; None skips it.
    n_blocks: consecutive blocks with their own MSD (lags up to half a block) for uncertainties.
    """
    x, dt, max_lag, block_len = _checked_inputs(positions, times_fs, species_mask, max_lag,
                                                n_origins, n_blocks)
    nf, na, _ = x.shape
    sel = np.asarray(species_mask)
    if masses is not None:
        mass = np.asarray(masses, dtype=float)
        if mass.shape != (na,) or (mass <= 0).any():
            raise SeiflowError(f"masses must be {na} positive values (amu)")
        com = np.einsum("fai,a->fi", x, mass) / mass.sum()
        x = x - (com - com[0])[:, None, :]
    w = sel / sel.sum()
    msd_xyz = _weighted_msd(x[:, sel], w[sel], max_lag, n_origins)
    block_lag = min(max_lag, block_len // 2)
    blocks = np.stack([
        _weighted_msd(x[b * block_len:(b + 1) * block_len][:, sel], w[sel], block_lag, n_origins)
        for b in range(n_blocks)
    ])
    q_msd = q_unc = None
    if charges is not None:
        q = np.asarray(charges, dtype=float)
        if q.shape != (na,) or not np.isfinite(q).all():
            raise SeiflowError(f"charges must be {na} finite values (e)")
        total = np.einsum("fai,a->fi", x, q)[:, None, :]
        q_msd = _weighted_msd(total, np.ones(1), max_lag, n_origins).sum(axis=1)
        q_unc = _weighted_msd(x, q**2, max_lag, n_origins).sum(axis=1)
    lags = np.arange(max_lag + 1) * dt
    return MSDResult(
        t_fs=lags, msd=msd_xyz.sum(axis=1), msd_xyz=msd_xyz,
        block_t_fs=np.arange(block_lag + 1) * dt, block_msd_xyz=blocks,
        charge_msd=q_msd, charge_msd_uncorrelated=q_unc, n_selected=int(sel.sum()), n_atoms=na,
        n_frames=nf, dt_fs=dt, com_removed=masses is not None, n_origins=n_origins,
    )
