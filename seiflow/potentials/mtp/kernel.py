"""seiflow's compiled MTP evaluator (``_mtpkernel.c``) behind a small Python engine.

``KernelEngine(data).calculate(atoms, rows=...)`` returns energy (eV), per-atom energies,
forces (eV/Å), stress (ASE Voigt, eV/Å³; periodic cells) and, with ``rows``, the per-atom basis
values B_s(n_i) (n × m, the rows of the MaxVol grade without the species one-hot), all from one
pass over the pairs inside the cutoff. The neighbour list (vesin) is built with a skin and kept
while no atom moved more than half the skin and the cell, pbc and species are unchanged; the
kernel recomputes every pair vector from the positions and drops pairs beyond the cutoff.

The moment-contraction plan (monomial tree, basic moments, contraction rows) is derived once per
basis; the coefficients are read from ``data`` at every call, so an engine follows a refit.
"""

from __future__ import annotations

import ctypes
import importlib.util
import os

import numpy as np
from ase import Atoms

KERNEL_MODULE = "seiflow.potentials.mtp._mtpkernel"
SKIN = 0.5  # Å beyond the cutoff kept in the neighbour list
MAX_RADIAL_FUNCS = 16  # MAX_RFC in _mtpkernel.c

_P_INT = ctypes.POINTER(ctypes.c_int)
_P_DBL = ctypes.POINTER(ctypes.c_double)


class _Model(ctypes.Structure):  # mtp_model in _mtpkernel.c
    _fields_ = [(name, ctypes.c_int) for name in
                ("n_species", "rfc", "rbs", "n_basic", "n_mono", "n_groups", "n_scalar",
                 "n_moments")] + \
               [(name, _P_INT) for name in ("basic_mu", "basic_mono", "by_mono", "mono_start",
                                            "mono_parent", "mono_axis", "group_k",
                                            "group_start", "term_ij")] + \
               [("term_mult", _P_DBL), ("adj_order", _P_INT), ("use_start", _P_INT),
                ("use_k", _P_INT), ("use_other", _P_INT), ("use_mult", _P_DBL),
                ("mapping", _P_INT)] + \
               [(name, _P_DBL) for name in ("radial_coeffs", "species_coeffs",
                                            "moment_coeffs")] + \
               [(name, ctypes.c_double) for name in ("scaling", "rmin", "rmax")]


def _load():
    """The compiled library through ctypes, or None (with the reason) when it is not built."""
    try:
        import seiflow.potentials.mtp._mtpkernel  # noqa: F401 - proves the build is there
        path = importlib.util.find_spec(KERNEL_MODULE).origin
        lib = ctypes.CDLL(path)
    except (ImportError, OSError) as exc:
        return None, str(exc)
    lib.mtp_evaluate.restype = ctypes.c_int
    lib.mtp_evaluate.argtypes = [ctypes.POINTER(_Model), ctypes.c_int, _P_DBL, _P_DBL, _P_INT,
                                 ctypes.POINTER(ctypes.c_int64), ctypes.POINTER(ctypes.c_int32),
                                 ctypes.POINTER(ctypes.c_int32), ctypes.c_int, _P_DBL, _P_DBL,
                                 _P_DBL, _P_DBL]
    lib.mtp_max_threads.restype = ctypes.c_int
    if hasattr(lib, "mtp_md_steps"):
        lib.mtp_md_steps.restype = ctypes.c_int
        lib.mtp_md_steps.argtypes = (
            lib.mtp_evaluate.argtypes[:2] + [_P_DBL] * 3 + lib.mtp_evaluate.argtypes[3:9]
            + [_P_DBL, ctypes.c_double, ctypes.c_int, ctypes.c_double, ctypes.c_int,
               ctypes.c_int, ctypes.c_double] + [_P_DBL] * 7 + [_P_INT])
        lib.mtp_npt_steps.restype = ctypes.c_int
        lib.mtp_npt_steps.argtypes = (
            lib.mtp_evaluate.argtypes[:2] + [_P_DBL] * 4 + lib.mtp_evaluate.argtypes[4:9]
            + [_P_DBL] * 3 + [ctypes.c_double, ctypes.c_double, ctypes.c_int, ctypes.c_double,
                              ctypes.c_int, ctypes.c_double] + [_P_DBL] * 3
            + [ctypes.c_double, ctypes.c_double] + [_P_DBL] * 8 + [_P_INT])
    if hasattr(lib, "mtp_train"):
        lib.mtp_train.restype = ctypes.c_int
        lib.mtp_train.argtypes = lib.mtp_evaluate.argtypes[:8] + [_P_DBL] * 6
    return lib, ""


_LIB, LOAD_ERROR = _load()


def available() -> bool:
    """Whether the compiled kernel was built and loads."""
    return _LIB is not None


def trains() -> bool:
    """Whether the compiled kernel has its train mode (parameter Jacobians)."""
    return _LIB is not None and hasattr(_LIB, "mtp_train")


def openmp_threads() -> int:
    """Threads the kernel would use by default (0 when built without OpenMP)."""
    return _LIB.mtp_max_threads() if _LIB is not None else 0


def _ptr(a: np.ndarray, kind):
    return a.ctypes.data_as(kind)


def contraction_plan(alpha_index_basic: np.ndarray, alpha_index_times: np.ndarray,
                     n_moments: int = 0) -> dict:
    """The kernel's evaluation plan of a basis (MLIP's flat arrays).

    * monomial tree: every monomial x^a y^b z^c of the unit vector that a basic moment needs is
      a parent monomial (one degree lower, listed earlier) times one component
      (``mono_parent``, ``mono_axis``); ``basic_mono``/``basic_mu`` name each basic moment's
      monomial and radial function, ``by_mono``/``mono_start`` list the basic moments of each
      monomial;
    * contractions: the ``times`` rows as runs of equal output (``group_k``, ``group_start``)
      with their terms (``term_ij``, ``term_mult``); for the adjoints, every use of each
      moment as an input and the order in which they become final (``adj_order``: one entry
      per moment, at least ``n_moments``).
    """
    basic = np.asarray(alpha_index_basic, dtype=int).reshape(-1, 4)
    index: dict[tuple[int, int, int], int] = {(0, 0, 0): 0}
    parent, axis = [-1], [0]

    def add(key: tuple[int, int, int]) -> int:
        if key in index:
            return index[key]
        ax = next(a for a in range(3) if key[a] > 0)
        par = add(tuple(k - (a == ax) for a, k in enumerate(key)))
        index[key] = len(parent)
        parent.append(par)
        axis.append(ax)
        return index[key]

    mono = np.array([add(tuple(int(v) for v in row[1:])) for row in basic], dtype=int)
    by_mono = np.argsort(mono, kind="stable")
    mono_start = np.searchsorted(mono[by_mono], np.arange(len(parent) + 1))
    times = np.asarray(alpha_index_times, dtype=int).reshape(-1, 4)
    starts = np.flatnonzero(np.r_[True, times[1:, 3] != times[:-1, 3]]) if len(times) else \
        np.zeros(0, dtype=int)
    ints = dict(basic_mu=basic[:, 0], basic_mono=mono, by_mono=by_mono, mono_start=mono_start,
                mono_parent=parent, mono_axis=axis, group_k=times[starts, 3],
                group_start=np.r_[starts, len(times)], term_ij=times[:, :2])
    ints.update(_adjoint_plan(times, len(basic), n_moments))
    plan = {k: np.ascontiguousarray(v, dtype=np.intc) for k, v in ints.items()}
    plan["term_mult"] = np.ascontiguousarray(times[:, 2], dtype=float)
    plan["use_mult"] = np.ascontiguousarray(plan.pop("use_mult"), dtype=float)
    return plan


def _adjoint_plan(times: np.ndarray, n_basic: int, n_moments: int) -> dict:
    """Every use of a moment x as a contraction input (output k, other input, multiplicity),
    grouped by x, and an order in which the adjoints dE/dm_x become final: the contraction
    outputs from the last computed back, then the basic moments."""
    n_moments = max(n_moments, n_basic, int(times[:, [0, 1, 3]].max(initial=-1)) + 1)
    x = np.r_[times[:, 0], times[:, 1]]
    order = np.argsort(x, kind="stable")
    use_k = np.r_[times[:, 3], times[:, 3]][order]
    use_other = np.r_[times[:, 1], times[:, 0]][order]
    use_mult = np.r_[times[:, 2], times[:, 2]][order]
    use_start = np.searchsorted(x[order], np.arange(n_moments + 1))
    last = {}
    for t, k in enumerate(times[:, 3]):
        last[int(k)] = t
    outputs = sorted(last, key=lambda k: -last[k])
    rest = [k for k in range(n_moments) if k not in last]
    return dict(adj_order=outputs + rest, use_start=use_start, use_k=use_k, use_other=use_other,
                use_mult=use_mult)


class KernelEngine:
    """Energy, forces, stress and basis rows of an MTP (motep ``MTPData``) for any structure."""

    def __init__(self, data, threads: int | None = None):
        if _LIB is None:
            raise ImportError(f"seiflow's MTP kernel is not built ({LOAD_ERROR})")
        self.data = data
        self.threads = threads
        self._plan_key = None
        self._nl = None
        self._struct = None  # (plan, scalars, coefficients, model struct, arrays it points into)
        self._md = None  # md_steps' output arrays, kept between calls (forces carry over)

    def _plan(self) -> dict:
        d = self.data
        key = (id(d.alpha_index_basic), id(d.alpha_index_times), id(d.alpha_moment_mapping))
        if key != self._plan_key:
            if int(d.radial_funcs_count) > MAX_RADIAL_FUNCS:
                raise ValueError(f"seiflow's MTP kernel takes at most {MAX_RADIAL_FUNCS} radial "
                                 f"functions (this MTP has {d.radial_funcs_count})")
            plan = contraction_plan(d.alpha_index_basic, d.alpha_index_times,
                                    int(d.alpha_moments_count))
            plan["mapping"] = np.ascontiguousarray(d.alpha_moment_mapping, dtype=np.intc)
            n_moments = len(plan["adj_order"])
            bad = [name for name, arr, top in (
                ("alpha_index_basic", plan["basic_mu"], int(d.radial_funcs_count)),
                ("alpha_index_times", plan["term_ij"], n_moments),
                ("alpha_moment_mapping", plan["mapping"], n_moments)) if arr.size and (
                    arr.min() < 0 or arr.max() >= top)]
            if bad:  # would read outside the kernel's arrays
                raise ValueError(f"this MTP's {', '.join(bad)} index outside its arrays")
            self._arrays, self._plan_key = plan, key
        return self._arrays

    def _model(self) -> tuple[_Model, list]:
        """The kernel's model struct at the current coefficients: rebuilt when the plan or any
        coefficient changed (a fit moves them in place), else the last one (MD: ~µs)."""
        d, plan = self.data, self._plan()
        scalars = (float(d.scaling), float(d.radial_basis.min), float(d.radial_basis.max))
        current = (d.radial_coeffs, d.species_coeffs, d.moment_coeffs)
        cached = self._struct
        if cached is not None and cached[0] is plan and cached[1] == scalars and all(
                np.array_equal(a, b) for a, b in zip(current, cached[2])):
            return cached[3], cached[4]
        coeffs = dict(
            radial_coeffs=np.array(d.radial_coeffs, dtype=float, order="C"),
            species_coeffs=np.array(d.species_coeffs, dtype=float, order="C"),
            moment_coeffs=np.array(d.moment_coeffs, dtype=float, order="C"))
        n_moments, n_species = len(plan["adj_order"]), int(d.species_count)
        sizes = (n_species**2 * int(d.radial_funcs_count) * int(d.radial_basis.size), n_species,
                 len(plan["mapping"]))
        if tuple(a.size for a in coeffs.values()) != sizes:
            raise ValueError("this MTP's radial, species or moment coefficients do not match its "
                             "basis")
        m = _Model(n_species=int(d.species_count), rfc=int(d.radial_funcs_count),
                   rbs=int(d.radial_basis.size), n_basic=len(plan["basic_mu"]),
                   n_mono=len(plan["mono_parent"]), n_groups=len(plan["group_k"]),
                   n_scalar=len(plan["mapping"]), n_moments=n_moments,
                   scaling=scalars[0], rmin=scalars[1], rmax=scalars[2])
        for name, arr in plan.items():
            setattr(m, name, _ptr(arr, _P_DBL if arr.dtype == float else _P_INT))
        for name, arr in coeffs.items():
            setattr(m, name, _ptr(arr, _P_DBL))
        keep = [plan, coeffs]  # the arrays the struct points into stay alive with it
        self._struct = (plan, scalars, tuple(coeffs.values()), m, keep)
        return m, keep

    def neighbours(self, atoms: Atoms, types: np.ndarray):
        """CSR neighbour list within cutoff + skin (kept while valid): offsets, j, shifts."""
        from seiflow.potentials.mtp.neighbours import SkinList

        if self._nl is None:
            self._nl = SkinList(float(self.data.radial_basis.max), SKIN)
        return self._nl.get(atoms, types)

    def _inputs(self, atoms: Atoms) -> list:
        """The structure arguments of the kernel's entry points (positions through pairs)."""
        types = np.ascontiguousarray(species_types(atoms, self.data.species), dtype=np.intc)
        offsets, nj, ns = self.neighbours(atoms, types)
        pos = np.ascontiguousarray(atoms.positions, dtype=float)
        cell = np.ascontiguousarray(atoms.cell.array, dtype=float)
        return [pos, cell, types, offsets, nj, ns]

    def train(self, atoms: Atoms) -> dict:
        """``calculate`` plus the derivatives with respect to the parameters θ (motep's order:
        moment, species, radial coefficients): ``jac_energy`` (p,), ``jac_forces`` (p, n, 3),
        ``jac_stress`` (p, 3, 3; symmetrised virial / volume, periodic cells only)."""
        if not trains():
            raise ImportError("seiflow's MTP kernel has no train mode (rebuild it)")
        d, n = self.data, len(atoms)
        p = len(d.alpha_moment_mapping) + int(d.species_count) + int(
            d.species_count) ** 2 * int(d.radial_funcs_count) * int(d.radial_basis.size)
        energies, forces, virial = np.empty(n), np.empty((n, 3)), np.empty((3, 3))
        je, jf, jv = np.empty(p), np.empty((p, n, 3)), np.empty((p, 3, 3))
        pos, cell, types, offsets, nj, ns = self._inputs(atoms)
        model, keep = self._model()
        rc = _LIB.mtp_train(ctypes.byref(model), n, _ptr(pos, _P_DBL), _ptr(cell, _P_DBL),
                            _ptr(types, _P_INT),
                            offsets.ctypes.data_as(ctypes.POINTER(ctypes.c_int64)),
                            nj.ctypes.data_as(ctypes.POINTER(ctypes.c_int32)),
                            ns.ctypes.data_as(ctypes.POINTER(ctypes.c_int32)),
                            *(_ptr(a, _P_DBL) for a in (energies, forces, virial, je, jf, jv)))
        del keep
        if rc != 0:
            raise MemoryError("seiflow's MTP kernel could not allocate its work arrays")
        out = {"energy": float(energies.sum()), "energies": energies, "forces": forces,
               "jac_energy": je, "jac_forces": jf}
        if atoms.cell.rank == 3 and all(atoms.pbc):
            volume = atoms.get_volume()
            out["stress"] = (0.5 * (virial + virial.T) / volume).flat[[0, 4, 8, 5, 2, 1]]
            out["jac_stress"] = 0.5 * (jv + jv.transpose(0, 2, 1)) / volume
        return out

    def calculate(self, atoms: Atoms, rows: bool = False) -> dict:
        types = np.ascontiguousarray(species_types(atoms, self.data.species), dtype=np.intc)
        offsets, nj, ns = self.neighbours(atoms, types)
        n = len(atoms)
        pos = np.ascontiguousarray(atoms.positions, dtype=float)
        cell = np.ascontiguousarray(atoms.cell.array, dtype=float)
        out = self._outputs(n, rows)
        model, keep = self._model()
        rc = _LIB.mtp_evaluate(ctypes.byref(model), n, _ptr(pos, _P_DBL), _ptr(cell, _P_DBL),
                               _ptr(types, _P_INT), *_lists(offsets, nj, ns), self._threads(),
                               *(_ptr(out[k], _P_DBL) for k in ("energies", "forces",
                                                                "virial")),
                               _ptr(out["basis"], _P_DBL) if rows else None)
        del keep
        if rc != 0:
            raise MemoryError("seiflow's MTP kernel could not allocate its work arrays")
        return _results(atoms, out)

    def md_steps(self, atoms: Atoms, momenta: np.ndarray, masses: np.ndarray, n_steps: int,
                 dt: float, chain: dict | None = None, start_mid: bool = False,
                 rows: bool = False, barostat: dict | None = None) -> tuple[int, bool, dict]:
        """Up to ``n_steps`` velocity-Verlet steps (with ``chain``: ASE's Nosé-Hoover chain
        NVT; with ``barostat`` too: ASE's MTKNPT; _mtpmd.h) inside the kernel, from ``atoms``'
        positions (and cell, NPT) and ``momenta`` (all updated in place) and the forces (and
        virial, NPT) of the last call (or ``set_forces``). ``dt`` in ASE time units;
        ``chain``: ``kT`` (eV), ``Q`` (chain masses), ``eta`` and ``p_eta``; ``barostat``:
        ``W`` (cell mass), ``P`` (eV/Å³), ``R`` (cell-chain masses), ``xi``, ``p_xi``, ``p_g``
        (3 × 3 cell momenta); the variables are updated in place.
        Returns (steps completed, whether it stopped between the drift and the force
        evaluation of the next one because an atom left the neighbour list's skin: call
        again with ``start_mid`` after ``atoms.positions`` are synced, the list is then
        rebuilt, and the outputs of the last evaluation (``calculate``'s dict)."""
        if not hasattr(_LIB, "mtp_npt_steps"):
            raise ImportError("seiflow's MTP kernel has no MD loop (rebuild it)")
        types = np.ascontiguousarray(species_types(atoms, self.data.species), dtype=np.intc)
        offsets, nj, ns = self.neighbours(atoms, types)
        n = len(atoms)
        pos = atoms.positions  # updated in place (ASE keeps a float64 C array)
        if self._md is None or len(self._md["energies"]) != n:
            self._md = self._outputs(n, False)
        out = self._md
        if rows and out.get("basis") is None:
            out["basis"] = self._outputs(n, True)["basis"]
        none = ctypes.cast(None, _P_DBL)
        c = chain or {}
        mid = ctypes.c_int(0)
        model, keep = self._model()
        head = [ctypes.byref(model), n, _ptr(pos, _P_DBL), _ptr(momenta, _P_DBL),
                _ptr(masses, _P_DBL)]
        tail = [*(_ptr(out[k], _P_DBL) for k in ("energies", "forces", "virial")),
                _ptr(out["basis"], _P_DBL) if rows else none, ctypes.byref(mid)]
        lists = [_ptr(types, _P_INT), *_lists(offsets, nj, ns), self._threads()]
        nl = self._nl
        if barostat is None:
            cell = np.ascontiguousarray(atoms.cell.array, dtype=float)
            done = _LIB.mtp_md_steps(
                *head, _ptr(cell, _P_DBL), *lists, _ptr(nl.built_positions, _P_DBL),
                (nl.skin / 2) ** 2, n_steps, dt, int(start_mid), len(c.get("Q", ())),
                float(c.get("kT", 0.0)), *(_ptr(c[k], _P_DBL) if c else none
                                           for k in ("Q", "eta", "p_eta")), *tail)
        else:
            b = barostat
            cell = np.array(atoms.cell.array, dtype=float, order="C")  # updated, then set
            ref_cell, ref_inv = nl.built_cell
            done = _LIB.mtp_npt_steps(
                *head, _ptr(cell, _P_DBL), *lists, _ptr(nl.built_positions, _P_DBL),
                _ptr(ref_cell, _P_DBL), _ptr(ref_inv, _P_DBL), nl.cutoff + nl.skin, nl.skin,
                n_steps, dt, int(start_mid), float(c["kT"]),
                *(_ptr(c[k], _P_DBL) for k in ("Q", "eta", "p_eta")), float(b["W"]),
                float(b["P"]), *(_ptr(b[k], _P_DBL) for k in ("R", "xi", "p_xi", "p_g")),
                *tail)
            atoms.set_cell(cell, scale_atoms=False)
        del keep
        if done < 0:
            raise MemoryError("seiflow's MTP kernel could not allocate its work arrays")
        copies = {k: (v.copy() if v is not None else None) for k, v in out.items()}
        return done, bool(mid.value), _results(atoms, {**copies, "basis": copies["basis"]
                                                        if rows else None})

    def set_forces(self, forces: np.ndarray, virial: np.ndarray | None = None) -> None:
        """The forces (and virial, eV: the kernel's dE/dε, stress × volume) ``md_steps``
        starts from, those of the current state."""
        if self._md is None or self._md["forces"].shape != forces.shape:
            self._md = self._outputs(len(forces), False)
        self._md["forces"][:] = forces
        self._md["virial"][:] = 0.0 if virial is None else virial

    def _outputs(self, n: int, rows: bool) -> dict:
        return {"energies": np.empty(n), "forces": np.empty((n, 3)), "virial": np.empty((3, 3)),
                "basis": np.empty((n, len(self.data.alpha_moment_mapping))) if rows else None}

    def _threads(self) -> int:
        return self.threads if self.threads is not None else _env_threads()


def _lists(offsets: np.ndarray, nj: np.ndarray, ns: np.ndarray) -> list:
    return [offsets.ctypes.data_as(ctypes.POINTER(ctypes.c_int64)),
            nj.ctypes.data_as(ctypes.POINTER(ctypes.c_int32)),
            ns.ctypes.data_as(ctypes.POINTER(ctypes.c_int32))]


def _results(atoms: Atoms, out: dict) -> dict:
    """calculate's dict from the kernel's outputs: energy, energies, forces, stress (periodic,
    ASE Voigt, eV/Å³) and basis (when computed)."""
    res = {"energy": float(out["energies"].sum()), "energies": out["energies"],
           "forces": out["forces"]}
    if atoms.cell.rank == 3 and all(atoms.pbc):
        virial = out["virial"]
        res["stress"] = (0.5 * (virial + virial.T) / atoms.get_volume()).flat[[0, 4, 8, 5, 2, 1]]
    if out.get("basis") is not None:
        res["basis"] = out["basis"]
    return res


def _env_threads() -> int:
    """OMP_NUM_THREADS (its first level, e.g. 4 of "4,2"), 0 when unset: all cores."""
    value = os.environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
    return int(value) if value.isdigit() else 0


def species_types(atoms: Atoms, species) -> np.ndarray:
    """Index of every atom's element in ``species`` (atomic numbers)."""
    species = [int(s) for s in species]
    lookup = np.full(max(max(species), int(atoms.numbers.max(initial=0))) + 1, -1)
    lookup[species] = np.arange(len(species))
    types = lookup[atoms.numbers]
    if (types < 0).any():
        missing = sorted(set(atoms.numbers[types < 0].tolist()))
        raise ValueError(f"elements {missing} are not species of this MTP ({species})")
    return types
