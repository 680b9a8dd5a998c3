"""Issue 19's table: LiF interstitial Ea and the three Li2CO3 barriers, teacher vs MLIP.

Reads what the studies wrote (nothing is computed here):
- benchmarks/results/lif_interstitial_diffusion.json (benchmarks/lif_interstitial_diffusion.py):
  the MTP's Arrhenius Ea from 0.5-ns production MD, the knock-off NEB of teacher and MTP;
- benchmarks/results/li2co3_mechanisms/results.json (benchmarks/li2co3_mechanisms.py): the
  Li2CO3 vacancy hop, interstitial knock-off and Frenkel pair, teacher and MTP bands;
- the same bands with other converged fits of the same labels (VARIANTS: a tighter tolerance,
  a ten times heavier energy weight, level 18 from random coefficients, the teacher's own
  band images added with weight 20; benchmarks/refit_learned_model.py), so the note shows how
  far the fitting choices move each number and their spread;
- MACE fitted on the same labels (MACE_RUNS, benchmarks/mace_on_learned_labels.py, then
  li2co3_mechanisms.py --model): its own column (first seed) with its max γ, the other seeds
  and the MACE spread in the note;
- benchmarks/results/<case>_gpaw_*.json (benchmarks/gpaw_on_teacher_band.py): GPAW PBE single
  points on the teacher's path of the LiF knock-off and the Li2CO3 vacancy hop; the PBE column
  shows the plane-wave one with the highest cut-off on the densest k mesh, ± its last cut-off
  step or the k-mesh change.

Run:  .venv/bin/python benchmarks/transport_table.py
Writes benchmarks/results/transport_table.md. The teacher is SevenNet-0 (PBE-trained); the PBE
column is GPAW's, where computed.
"""

from __future__ import annotations

import json
from pathlib import Path

from seiflow.reference import GPAWSettings

RESULTS = Path(__file__).resolve().parent / "results"
LIF = RESULTS / "lif_interstitial_diffusion.json"
LI2CO3 = RESULTS / "li2co3_mechanisms" / "results.json"
VARIANTS = {"tol 1e-6": "li2co3_mechanisms_refit", "energy weight 10": "li2co3_mechanisms_energy10",
            "level 18": "li2co3_mechanisms_l18",
            "+ teacher's bands (weight 20)": "li2co3_mechanisms_paths"}
MACE_RUNS = {"seed 0": "li2co3_mechanisms_mace", "seed 1": "li2co3_mechanisms_mace_seed1"}
COLUMNS = ("system", "quantity", "SevenNet-0 (teacher)", "MTP", "MACE, same labels (max γ)",
           "PBE (GPAW)", "literature", "max γ (MTP)", "wall (s, teacher / MTP)", "note")


def _seconds(*seconds) -> str:
    return " / ".join("–" if s is None else (f"{s:,.0f}" if s >= 100 else f"{s:.1f}")
                      for s in seconds)


def _f(x, sigma=None) -> str:
    if x is None:
        return "–"
    return f"{x:.3f} ± {sigma:.3f}" if sigma is not None else f"{x:.3f}"


def gpaw_barrier(case: str) -> str:
    """PBE's barrier of ``case`` on the teacher's path: the plane-wave result with the highest
    cut-off on the densest k mesh, ± the larger of its last cut-off step and of the change
    with the k mesh at equal cut-off."""
    done = {}
    for path in sorted(RESULTS.glob(f"{case}_gpaw_*.json")):
        doc = json.loads(path.read_text())
        st = GPAWSettings(**doc["settings"])  # defaults are left out of the stored dump
        if "pbe_barrier_on_teacher_path_eV" in doc and st.mode == "pw":
            done[(st.ecut, st.kspacing)] = doc["pbe_barrier_on_teacher_path_eV"]
    if not done:
        return "–"
    k = min(kk for _, kk in done)
    ecuts = sorted(e for e, kk in done if kk == k)
    best = done[(ecuts[-1], k)]
    where = f"PW {ecuts[-1]:g} eV, k spacing {k:g} Å⁻¹, on the teacher's path"
    d_ecut = abs(best - done[(ecuts[-2], k)]) if len(ecuts) > 1 else None
    d_k = max((abs(done[(e, k)] - b) for (e, kk), b in done.items() if kk != k
               and (e, k) in done), default=None)
    if d_ecut is None and d_k is None:
        return f"{best:.3f} ({where}; one setting, no ±)"
    parts = ([f"cut-off {ecuts[-2]:g}→{ecuts[-1]:g} eV: {d_ecut:.3f}"] if d_ecut is not None
             else []) + ([f"k mesh: {d_k:.3f}"] if d_k is not None else [])
    return f"{best:.3f} ± {max(d for d in (d_ecut, d_k) if d is not None):.3f} ({where}; " \
        f"{', '.join(parts)})"


def lif_rows(doc: dict) -> list[list[str]]:
    lit = "{:.2f}-{:.2f}".format(*doc["literature_Ea_eV"])
    arr = doc["arrhenius"]
    temps = sorted(p["T_K"] for p in doc["points"] if "D_cm2_s" in p)
    flagged = arr.get("flagged_temperatures") or []
    ns = sorted({p["nvt_ps"] / 1000 for p in doc["points"] if "D_cm2_s" in p})
    span = f"{ns[0]:g}" if len(ns) == 1 else f"{ns[0]:g}-{ns[-1]:g}"
    note = (f"MD Ea, {len(temps)} T ({temps[0]:g}-{temps[-1]:g} K), {span} ns each, 217 atoms"
            + (f"; flagged at {', '.join(f'{t:g}' for t in flagged)} K (γ > 2)" if flagged
               else "") + "; teacher MD unfinished (docs/md-transport.md)")
    md_wall = sum(p["wall_s"] for p in doc["points"] if "D_cm2_s" in p)
    rows = [["LiF + Li interstitial", "Ea, MD (eV)", "–", _f(arr.get("Ea_eV"),
             arr.get("Ea_sigma_eV")), "–", "–", lit, _f(arr.get("max_gamma")),
             _seconds(None, md_wall),
             note + " (MTP wall: production MD only)"]]
    neb = {r["quantity"]: r for r in doc["neb"]}
    fwd = neb.get("barrier (forward)")
    if fwd:
        rows.append(["LiF + Li interstitial", "knock-off NEB barrier (eV)", _f(fwd["reference"]),
                     _f(fwd["value"]), "–", gpaw_barrier("lif_knockoff"), lit,
                     _f(fwd.get("max_gamma")),
                     _seconds(None, None),
                     "2×2×2 cell, 3 images, climbing image"])
    return rows


def variant_note(value: float | None, others: dict[str, float | None],
                 what: str = "other converged fits") -> str:
    """The other fits' values of a row ("none": the fit has no such state, e.g. its Frenkel
    pair relaxes back into the crystal) and the spread (largest - smallest) of all of them."""
    if not others:
        return ""
    values = [v for v in (value, *others.values()) if v is not None]
    note = f"; {what}: " + ", ".join(
        f"{k} {'none' if v is None else _f(v)}" for k, v in others.items())
    return note + (f"; spread {_f(max(values) - min(values))}" if len(values) > 1 else "")


def mace_cell(key: tuple, mace: dict[str, dict]) -> tuple[str, str]:
    """The MACE column (first run's value and max γ) and ``variant_note`` on the other runs."""
    found = {name: r for name, doc in mace.items() for r in doc["rows"]
             if (r["mechanism"], r["quantity"]) == key}
    if not found:
        return "–", ""
    first, r = next(iter(found.items()))
    cell = "–" if r["mlip_eV"] is None else (
        _f(r["mlip_eV"]) + ("" if r["max_gamma"] is None else f" ({r['max_gamma']:.2f})"))
    others = {name: o["mlip_eV"] for name, o in found.items() if name != first}
    if r["mlip_eV"] is None and not any(v is not None for v in others.values()):
        return cell, ""
    return cell, variant_note(r["mlip_eV"], others, f"other MACE fits (this one {first})")


def li2co3_rows(doc: dict, variants: dict[str, dict], mace: dict[str, dict]) -> list[list[str]]:
    wanted = {("vacancy", "barrier"): "vacancy hop barrier (eV)",
              ("knockoff", "E_a = highest point of the path above A"):
              "interstitial knock-off E_a (eV)",
              ("frenkel", "pair energy above the crystal"): "Frenkel pair (3.06 Å) energy "
              "above the crystal (eV)",
              ("frenkel", "barrier"): "Frenkel pair formation barrier (eV)"}
    others = {name: {(r["mechanism"], r["quantity"]): r["mlip_eV"] for r in v["rows"]}
              for name, v in variants.items()}
    pbe = {("vacancy", "barrier"): gpaw_barrier("li2co3_vacancy")}
    rows = []
    for r in doc["rows"]:
        key = (r["mechanism"], r["quantity"])
        if key not in wanted:
            continue
        paper = "–" if r["paper_eV"] is None else f"{r['paper_eV']:.2f} (Li et al. 2025)"
        note = r["note"] + variant_note(r["mlip_eV"], {
            name: values.get(key) for name, values in others.items()
            if not (r["mlip_eV"] is None and values.get(key) is None)})
        mace_value, mace_note = mace_cell(key, mace)
        rows.append(["Li2CO3 (1×2×2)", wanted[key], _f(r["teacher_eV"]), _f(r["mlip_eV"]),
                     mace_value, pbe.get(key, "–"), paper, _f(r["max_gamma"]),
                     _seconds(r["wall_s"]["teacher"], r["wall_s"]["mlip"]), note + mace_note])
    return rows


def _read(folders: dict[str, str]) -> dict[str, dict]:
    return {name: json.loads(path.read_text()) for name, folder in folders.items()
            if (path := RESULTS / folder / "results.json").exists()}


def main() -> None:
    rows = []
    if LIF.exists():
        rows += lif_rows(json.loads(LIF.read_text()))
    if LI2CO3.exists():
        rows += li2co3_rows(json.loads(LI2CO3.read_text()), _read(VARIANTS), _read(MACE_RUNS))
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    text = "\n".join(lines) + "\n"
    (RESULTS / "transport_table.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
