import pytest

from seiflow.analysis.comparison import compare


def ok(**scalars):
    return {"status": "ok", "scalars": {k: (v, "GPa") for k, v in scalars.items()}}


def test_rows_pair_values_and_give_deviation():
    rows = compare("cu", "elastic", {"potential": ok(C11=110.0, C12=0.0),
                                     "reference": ok(C11=100.0, C12=0.0)})
    c11, c12 = rows
    assert (c11.quantity, c11.value, c11.reference, c11.unit) == ("C11", 110.0, 100.0, "GPa")
    assert c11.deviation_pct == pytest.approx(10.0)
    assert c12.difference == 0.0 and c12.deviation_pct is None  # no % of zero
    assert c11.status == "ok"


def test_a_failure_is_a_row_not_a_gap():
    rows = compare("li2co3", "neb", {"potential": ok(barrier=0.3),
                                     "reference": {"status": "failed", "reason": "no conv"}})
    assert len(rows) == 1 and rows[0].value == 0.3 and rows[0].reference is None
    assert rows[0].status == "failed (reference): no conv"
    both = compare("x", "phonons", {"potential": {"status": "failed", "reason": "a"}})
    assert len(both) == 1 and both[0].quantity == "-"
    assert "failed (potential): a" in both[0].status and "not run (reference)" in both[0].status
    assert both[0].to_dict()["deviation_pct"] is None


def test_agreement_by_unit_absolute_then_relative():
    from seiflow.analysis.comparison import ComparisonRow, agreement

    rel, ab = {"GPa": 15.0, "Å": 2.0}, {"eV": 0.05}
    c11 = ComparisonRow("lif", "elastic", "C11", "GPa", 111.6, 76.5, "ok").to_dict()
    assert agreement(c11, rel, ab) == "outside (+45.9 % vs ±15 %)"
    a = ComparisonRow("lif", "lattice", "a", "Å", 4.099, 4.088, "ok").to_dict()
    assert agreement(a, rel, ab) == "within"
    hop = ComparisonRow("neb-lif", "neb", "barrier (forward)", "eV", 0.638, 0.585, "ok")
    assert agreement(hop.to_dict(), rel, ab) == "outside (|Δ| 0.053 > 0.05 eV)"
    close = ComparisonRow("neb-lif", "neb", "barrier (forward)", "eV", 0.60, 0.585, "ok")
    assert agreement(close.to_dict(), rel, ab) == "within"
    # no tolerance for the unit, or a side without a value: no verdict
    assert agreement(ComparisonRow("x", "lattice", "B0'", "", 3.1, 3.7, "ok").to_dict(),
                     rel, ab) == ""
    failed = ComparisonRow("x", "elastic", "C11", "GPa", None, 76.5, "failed (potential): x")
    assert agreement(failed.to_dict(), rel, ab) == ""
