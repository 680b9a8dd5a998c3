"""The validation table as Markdown: one row per quantity, the potential next to the reference,
difference and deviation, failures spelled out."""

from __future__ import annotations

from pathlib import Path


def _fmt(x: float | None, digits: int = 4) -> str:
    if x is None:
        return "–"
    if x != 0 and (abs(x) >= 1e4 or abs(x) < 1e-3):
        return f"{x:.3e}"
    return f"{x:.{digits}g}"


def _value(r: dict, key: str) -> str:
    sigma = r.get(f"{key}_sigma")
    text = _fmt(r[key])
    return text if sigma is None or r[key] is None else f"{text} ± {_fmt(sigma, 2)}"


def validation_markdown(rows: list[dict], potential: str, reference: str,
                        figures: list[str], header: str = "") -> str:
    """``rows`` are ComparisonRow.to_dict() records; ``figures`` relative PNG paths. Values
    with a standard error read "x ± σ"; when a row states the potential's largest γ, the table
    has "max γ" and "flag" columns."""
    lines = [f"# Validation: {potential} vs {reference}", ""]
    if header:
        lines += [header, ""]
    n_failed = sum(r["status"] != "ok" for r in rows)
    graded = any("max_gamma" in r or r.get("flag") for r in rows)
    n_flagged = sum(bool(r.get("flag")) for r in rows)
    summary = f"{len(rows)} rows, {n_failed} with a failed or missing calculation."
    outside = [r for r in rows if r.get("agreement", "").startswith("outside")]
    if any(r.get("agreement") for r in rows):
        summary += (f" {len(outside)} of {sum(bool(r.get('agreement')) for r in rows)} "
                    "compared quantities outside the tolerance.")
    if n_flagged:
        summary += f" {n_flagged} flagged: the potential's γ exceeded γ_select."
    extra = (" max γ | flag |", "---|---|") if graded else ("", "")
    lines += [summary, "",
              f"| target | property | quantity | {potential} | {reference} | unit | Δ | "
              f"deviation | agreement | status |{extra[0]}",
              f"|---|---|---|---|---|---|---|---|---|---|{extra[1]}"]
    for r in rows:
        dev = "–" if r["deviation_pct"] is None else f"{r['deviation_pct']:+.1f} %"
        gamma = f" {_fmt(r.get('max_gamma'), 3)} | {r.get('flag') or '–'} |" if graded else ""
        lines.append(
            f"| {r['target']} | {r['prop']} | {r['quantity']} | {_value(r, 'value')} | "
            f"{_value(r, 'reference')} | {r['unit']} | {_fmt(r['difference'], 3)} | {dev} | "
            f"{r.get('agreement') or '–'} | {r['status']} |{gamma}")
    if figures:
        lines += ["", "## Figures", ""] + [f"![{Path(f).stem}]({f})" for f in figures]
    return "\n".join(lines) + "\n"
