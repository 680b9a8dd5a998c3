"""Moving the target temperature of an ASE thermostat between steps (a heating or cooling
ramp, md/settings.py ``temperature_end_K``).

ASE 3.29 keeps the target in these places: ``Langevin.temp`` (kT, eV; ``set_temperature``
recomputes its noise coefficients); ``NoseHooverChainThermostat._kT`` with the chain masses
``_Q`` (Q₀ = 3N·kT·τ², Qₖ = kT·τ²); for ``MTKNPT`` also ``MTKBarostat._kT`` with the cell
mass ``_W`` ((N+1)·kT·τ_p²) and the barostat chain masses ``_R``, and ``MTKNPT._kT``. As in
LAMMPS' ``fix nvt/npt`` with Tstart ≠ Tstop, the masses follow the target (τ keeps its
meaning): each is its initial value times T/T₀. Every setting is computed from the initial
values and T alone, never from the previous step's, so a restart that sets the target of its
next step gets the same numbers as the uninterrupted run.
"""

from __future__ import annotations

from ase import units


class ThermostatTarget:
    """Sets the target temperature of one ASE dynamics built at ``temperature_K``."""

    def __init__(self, dyn, temperature_K: float):
        self.dyn, self.t0 = dyn, temperature_K
        self.thermostat = getattr(dyn, "_thermostat", None)
        self.barostat = getattr(dyn, "_barostat", None)
        if self.thermostat is not None:
            self.q0 = self.thermostat._Q.copy()
        if self.barostat is not None:
            self.w0, self.r0 = self.barostat._W, self.barostat._R.copy()

    def set(self, temperature_K: float) -> None:
        """Make ``temperature_K`` the target of the next step."""
        kT, ratio = units.kB * temperature_K, temperature_K / self.t0
        if hasattr(self.dyn, "set_temperature"):  # Langevin
            self.dyn.set_temperature(temperature_K=temperature_K)
        if self.thermostat is not None:
            self.thermostat._kT = kT
            self.thermostat._Q[:] = self.q0 * ratio
        if self.barostat is not None:
            self.barostat._kT = kT
            self.barostat._W = self.w0 * ratio
            self.barostat._R[:] = self.r0 * ratio
            self.dyn._kT, self.dyn._temperature_K = kT, temperature_K
