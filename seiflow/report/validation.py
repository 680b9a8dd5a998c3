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


def validation_markdown(rows: list[dict], potential: str, reference: str,
                        figures: list[str], header: str = "") -> str:
    """``rows`` are ComparisonRow.to_dict() records; ``figures`` relative PNG paths."""
    lines = [f"# Validation: {potential} vs {reference}", ""]
    if header:
        lines += [header, ""]
    n_failed = sum(r["status"] != "ok" for r in rows)
    lines += [f"{len(rows)} rows, {n_failed} with a failed or missing calculation.", "",
              f"| target | property | quantity | {potential} | {reference} | unit | Δ | "
              "deviation | status |",
              "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        dev = "–" if r["deviation_pct"] is None else f"{r['deviation_pct']:+.1f} %"
        lines.append(
            f"| {r['target']} | {r['prop']} | {r['quantity']} | {_fmt(r['value'])} | "
            f"{_fmt(r['reference'])} | {r['unit']} | {_fmt(r['difference'], 3)} | {dev} | "
            f"{r['status']} |")
    if figures:
        lines += ["", "## Figures", ""] + [f"![{Path(f).stem}]({f})" for f in figures]
    return "\n".join(lines) + "\n"
