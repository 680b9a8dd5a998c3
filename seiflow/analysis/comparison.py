"""Side-by-side comparison of one property computed by two methods (data in, data out)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

# below this magnitude of the reference a relative deviation means nothing (an energy of
# reaction of ~0, a count of imaginary modes of 0): only the absolute difference is given
RELATIVE_FLOOR = 1e-3


@dataclass
class ComparisonRow:
    target: str  # e.g. li2co3-c2c, neb-li2co3-c2c-vacancy
    prop: str  # lattice, elastic, phonons, neb, interface
    quantity: str  # e.g. "C11"
    unit: str
    value: float | None  # the potential's
    reference: float | None  # the reference method's
    status: str  # "ok", or "failed (potential): reason" / "failed (reference): reason"
    value_sigma: float | None = None  # standard error of the potential's value, if it has one
    reference_sigma: float | None = None  # of the reference's value
    max_gamma: float | None = None  # largest grade γ met along the potential's calculation
    flag: str = ""  # e.g. "γ 4.1 > γ_select 2": the potential extrapolated there
    relative_floor: float = RELATIVE_FLOOR  # |reference| below which no deviation is given

    @property
    def difference(self) -> float | None:
        if self.value is None or self.reference is None:
            return None
        return self.value - self.reference

    @property
    def deviation_pct(self) -> float | None:
        diff = self.difference
        if diff is None or abs(self.reference) < self.relative_floor:
            return None
        return 100.0 * diff / abs(self.reference)

    def to_dict(self) -> dict:
        """The row as a dict; σ, γ and flag only when the property states them."""
        out = {**asdict(self), "difference": self.difference,
               "deviation_pct": self.deviation_pct}
        del out["relative_floor"]
        for name in ("value_sigma", "reference_sigma", "max_gamma"):
            if out[name] is None:
                del out[name]
        if not self.flag and self.max_gamma is None:
            del out["flag"]
        return out


def agreement(row: dict, relative_pct: dict[str, float], absolute: dict[str, float]) -> str:
    """Whether a computed row (``ComparisonRow.to_dict()``) agrees with its reference within
    the tolerance set for its unit: ``absolute`` (e.g. eV: 0.05) on |Δ|, else ``relative_pct``
    (e.g. GPa: 15) on |deviation|. "within", "outside (...)", or "" when no tolerance applies
    or a side has no value."""
    diff, unit = row.get("difference"), row.get("unit", "")
    if diff is None:
        return ""
    if unit in absolute:
        limit = absolute[unit]
        if abs(diff) <= limit:
            return "within"
        return f"outside (|Δ| {abs(diff):.3g} > {limit:g} {unit})"
    dev = row.get("deviation_pct")
    if unit in relative_pct and dev is not None:
        limit = relative_pct[unit]
        return "within" if abs(dev) <= limit else f"outside ({dev:+.1f} % vs ±{limit:g} %)"
    return ""


def gamma_flag(max_gamma: float | None, gamma_select: float) -> str:
    """"" unless the potential's largest grade exceeded ``gamma_select`` (then it says so)."""
    if max_gamma is None or max_gamma <= gamma_select:
        return ""
    return f"γ {max_gamma:.3g} > γ_select {gamma_select:g}: extrapolating"


def compare(target: str, prop: str, outcomes: dict[str, dict]) -> list[ComparisonRow]:
    """Rows for one property: ``outcomes`` maps "potential"/"reference" to
    ``{"status": "ok", "scalars": {name: (value, unit)}}`` or ``{"status": "failed",
    "reason": ...}``. A failure, or a side missing, yields rows that say so; a property where
    both failed yields one row carrying both reasons."""
    pot, ref = outcomes.get("potential"), outcomes.get("reference")
    reasons = [f"failed ({side}): {o['reason']}" if o else f"not run ({side})"
               for side, o in (("potential", pot), ("reference", ref))
               if not o or o["status"] != "ok"]
    status = "; ".join(reasons) or "ok"
    pot_s = pot["scalars"] if pot and pot["status"] == "ok" else {}
    ref_s = ref["scalars"] if ref and ref["status"] == "ok" else {}
    names = list(dict.fromkeys([*ref_s, *pot_s]))
    if not names:
        return [ComparisonRow(target, prop, "-", "", None, None, status)]
    return [ComparisonRow(target, prop, name, (ref_s.get(name) or pot_s.get(name))[1],
                          pot_s[name][0] if name in pot_s else None,
                          ref_s[name][0] if name in ref_s else None, status)
            for name in names]
