"""`seiflow analyze rdf|msd|diffusion|arrhenius|conductivity|reaction`: trajectories -> g(r),
MSD, D, Ea, Nernst–Einstein conductivity and the reaction analysis of an interface (profiles,
fronts, clusters, phase labels, flux), as tables, JSON and PNG plots."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from seiflow.cli.console import out_console
from seiflow.core.errors import SeiflowError
from seiflow.workflows.compare import compare_arrhenius, compare_msd, compare_rdf
from seiflow.workflows.reaction import analyze_reaction
from seiflow.workflows.transport import (
    analyze_arrhenius, analyze_conductivity, analyze_diffusion, analyze_msd, analyze_rdf,
)

app = typer.Typer(help="Structure and transport analysis of MD trajectories (JSON + PNG).",
                  no_args_is_help=True)

TRAJS = typer.Argument(..., help="trajectory files (all frames; extxyz from `seiflow md`)")
SPECIES = typer.Option(..., "--species", help="element of the diffusing atoms, e.g. Li")
FRAME_DT = typer.Option(None, "--frame-dt",
                        help="time between frames, fs (default: the frames' info time_fs)")
COMPARE = typer.Option(False, "--compare", help="overlay all inputs in one figure "
                       "(*-compare.png, *-compare.json): several temperatures or models")
LABELS = typer.Option(None, "--labels", help="with --compare: comma-separated run names, one "
                      "per input (default: file names, or folder names where those repeat)")
TEMPERATURE = typer.Option(None, "--temperature",
                           help="K (default: md-summary.yml beside the trajectory)")


def _out(default: str) -> Path:
    return typer.Option(Path(default), "--out", help="folder for the JSON and PNG files")


def _g(value: float | None, fmt: str = ".4g") -> str:
    return "—" if value is None else format(value, fmt)


def _pm(value: float | None, sigma: float | None, fmt: str = ".4g") -> str:
    return f"{_g(value, fmt)} ± {_g(sigma, '.2g')}"


def _d_table(results: list[dict], title: str, with_T: bool) -> Table:
    table = Table(title=title)
    cols = ["trajectory", "atoms", *(["T (K)"] if with_T else []), "D ± σ (Å²/ps)",
            "D (cm²/s)", "fit window (ps)", "points", "log-log slope"]
    for col in cols:
        table.add_column(col)
    for r in results:
        t0, t1 = r["window_fs"]
        table.add_row(r["trajectory"], str(r["n_selected"]),
                      *([f"{r['T_K']:.1f}"] if with_T else []),
                      _pm(r["D_A2_ps"], r["D_sigma_A2_ps"]),
                      f"{r['D_cm2_s']:.3e}",
                      f"{t0 / 1000:.3g}–{t1 / 1000:.3g}", str(r["n_points"]),
                      _g(r["loglog_slope"], ".3f"))
    return table


@app.command("rdf")
def rdf_cmd(
    trajs: list[Path] = TRAJS,
    pair: list[str] = typer.Option(..., "--pair", help="species pair A-B (repeatable), e.g. Li-O"),
    r_max: float = typer.Option(6.0, "--r-max", help="Å; at most half the smallest cell width"),
    nbins: int = typer.Option(200, "--nbins", help="histogram bins"),
    compare: bool = COMPARE,
    labels: str | None = LABELS,
    out: Path = _out("analysis"),
) -> None:
    """g(r) and running coordination number (one panel per pair); first minimum and
    first-shell CN per pair. With --compare: all trajectories overlaid in one figure."""
    if compare:
        data = compare_rdf(trajs, pair, r_max, nbins, out, labels)
        name, key = "rdf-compare", "run"
    else:
        _no_labels(labels)
        data = analyze_rdf(trajs, pair, r_max, nbins, out)
        name, key = "rdf", "trajectory"
    table = Table(title=f"g(r) up to {r_max:g} Å ({out}/{name}.json)")
    for col in (key, "pair", "frames", "peaks (Å)", "first minimum (Å)",
                "CN first shell (atoms)"):
        table.add_column(col)
    for r in data["results"]:
        peaks = ", ".join(f"{p:.2f}" for p in r["peaks_A"][:3])
        table.add_row(r[key], r["pair"], str(r["n_frames"]), peaks,
                      _g(r["first_minimum_A"], ".3f"), _g(r["cn_first_shell"], ".2f"))
    c = out_console()
    c.print(table)
    for r in data["results"]:
        if r["note"]:
            c.print(f"{r['trajectory']} {r['pair']}: {r['note']}", highlight=False)


@app.command("msd")
def msd_cmd(trajs: list[Path] = TRAJS, species: str = SPECIES,
            frame_dt: float | None = FRAME_DT, compare: bool = COMPARE,
            labels: str | None = LABELS, out: Path = _out("analysis")) -> None:
    """Tracer MSD (centre-of-mass drift removed) and D from its diffusive window. With
    --compare: all trajectories' MSD on one log–log plot, D of each in the legend."""
    if compare:
        data = compare_msd(trajs, species, out, frame_dt, labels)
        rows = [{**r, "trajectory": r["run"]} for r in data["results"]]
        title = f"{species} MSD ({out}/msd-compare.json, {out}/{data['plot']})"
        out_console().print(_d_table(rows, title, False))
        return
    _no_labels(labels)
    data = analyze_msd(trajs, species, out, frame_dt)
    out_console().print(_d_table(data["results"], f"{species} MSD ({out}/msd.json)", False))


@app.command("diffusion")
def diffusion_cmd(trajs: list[Path] = TRAJS, species: str = SPECIES,
                  temperature: float | None = TEMPERATURE, frame_dt: float | None = FRAME_DT,
                  out: Path = _out("analysis")) -> None:
    """D ± σ and T of each trajectory into diffusion.json, the input of `analyze arrhenius`."""
    data = analyze_diffusion(trajs, species, out, temperature, frame_dt)
    out_console().print(_d_table(data["results"], f"{species} diffusion ({out}/diffusion.json)",
                             True))


@app.command("arrhenius")
def arrhenius_cmd(
    inputs: list[str] = typer.Argument(..., help="diffusion.json files or T:D[:sigma] "
                                       "(T in K, D and sigma in cm²/s)"),
    at: float = typer.Option(300.0, "--at", help="extrapolate D to this temperature, K"),
    compare: bool = typer.Option(False, "--compare", help="one fit per input, overlaid in "
                                 "arrhenius-compare.png (an input: a diffusion.json or "
                                 "comma-separated T:D[:sigma] points)"),
    labels: str | None = LABELS,
    out: Path = _out("analysis"),
) -> None:
    """Fit D(T) = D0 exp(-Ea / kB T): Ea ± σ and D extrapolated with its 95 % interval."""
    if compare:
        _compare_arrhenius(inputs, out, labels)
        return
    _no_labels(labels)
    data = analyze_arrhenius(inputs, out, at)
    table = Table(title=f"Arrhenius fit of {data['n_points']} points ({out}/arrhenius.json)")
    for col in ("T (K)", "D (cm²/s)", "σ (cm²/s)"):
        table.add_column(col)
    for p in data["points"]:
        table.add_row(f"{p['T_K']:.1f}", f"{p['D_cm2_s']:.4e}", _g(p["D_sigma_cm2_s"], ".2e"))
    c = out_console()
    c.print(table)
    x = data["extrapolation"]
    ci = ("no interval (needs σ of D or 3 points)" if x["ci_low_cm2_s"] is None else
          f"{x['confidence']:.0%} CI {x['ci_low_cm2_s']:.3e}–{x['ci_high_cm2_s']:.3e} cm²/s")
    note = f" ({data['note']})" if data["note"] else ""
    c.print(f"Ea = {_pm(data['Ea_eV'], data['Ea_sigma_eV'], '.4f')} eV, "
            f"D0 = {data['D0_cm2_s']:.3e} cm²/s; D({x['T_K']:g} K) = {x['D_cm2_s']:.3e} cm²/s, "
            f"{ci}{note}", highlight=False)


def _no_labels(labels: str | None) -> None:
    if labels:
        raise SeiflowError("--labels names the runs of --compare; add --compare")


def _compare_arrhenius(inputs: list[str], out: Path, labels: str | None) -> None:
    data = compare_arrhenius(inputs, out, labels)
    table = Table(title=f"Arrhenius fits ({out}/arrhenius-compare.json, {out}/{data['plot']})")
    for col in ("series", "points", "T range (K)", "Ea ± σ (eV)", "D0 (cm²/s)"):
        table.add_column(col)
    for r in data["results"]:
        T = [p["T_K"] for p in r["points"]]
        table.add_row(r["series"], str(r["n_points"]), f"{min(T):.0f}–{max(T):.0f}",
                      _pm(r["Ea_eV"], r["Ea_sigma_eV"], ".4f"), f"{r['D0_cm2_s']:.3e}")
    out_console().print(table)


@app.command("conductivity")
def conductivity_cmd(
    traj: Path = typer.Argument(..., help="trajectory file"),
    species: str = SPECIES,
    z: int = typer.Option(1, "--z", help="carrier charge, e"),
    temperature: float | None = TEMPERATURE,
    haven: float = typer.Option(1.0, "--haven", help="assumed Haven ratio (1: uncorrelated)"),
    frame_dt: float | None = FRAME_DT,
    out: Path = _out("analysis"),
) -> None:
    """Nernst–Einstein conductivity from the tracer D (ignores correlations; see the caveat)."""
    r = analyze_conductivity(traj, species, z, out, temperature, frame_dt, haven)
    table = Table(title=f"Nernst–Einstein conductivity ({out}/conductivity.json)")
    for col in ("species", "z (e)", "T (K)", "carriers", "volume (Å³)", "c (mol/L)",
                "D (cm²/s)", "σ (S/m)", "σ (mS/cm)"):
        table.add_column(col)
    table.add_row(species, str(z), f"{r['T_K']:.1f}", str(r["n_carriers"]),
                  f"{r['volume_A3']:.1f}", f"{r['concentration_mol_L']:.3g}",
                  _pm(r["D_cm2_s"], r["D_sigma_cm2_s"], ".3e"),
                  _pm(r["sigma_S_m"], r["sigma_sigma_S_m"]),
                  _pm(r["sigma_mS_cm"], r["sigma_sigma_mS_cm"]))
    c = out_console()
    c.print(table)
    c.print(f"[yellow]caveat:[/] {r['caveat']}", highlight=False)


@app.command("reaction")
def reaction_cmd(
    traj: Path = typer.Argument(..., help="trajectory of a reactive interface (extxyz, ...)"),
    axis: str = typer.Option("z", "--axis", help="interface normal: x, y or z (cell a, b, c)"),
    bin_width: float = typer.Option(1.0, "--bin-width", help="profile bin width, Å"),
    frame_dt: float | None = FRAME_DT,
    every: int = typer.Option(1, "--every", help="use every N-th frame"),
    cluster_species: list[str] = typer.Option(["In"], "--cluster-species",
                                              help="species of the metal clusters (repeatable)"),
    cluster_cutoff: float = typer.Option(3.6, "--cluster-cutoff",
                                         help="bond cutoff of a cluster, Å"),
    front: str = typer.Option("Li3InCl6", "--front", help="phase label or species whose "
                              "profile defines the reaction fronts"),
    front_smooth: float = typer.Option(2.0, "--front-smooth", help="Gaussian smoothing of "
                                       "that profile before the front search, Å (0: none)"),
    plane: float | None = typer.Option(None, "--plane", help="height of the flux plane along "
                                       "the axis, Å (default: the initial - front)"),
    out: Path = _out("analysis"),
) -> None:
    """Profiles (atoms/Å³), fronts (Å), clusters, phase labels and Li flux against time (ps)."""
    d = analyze_reaction(traj, out, axis, bin_width, frame_dt, every, tuple(cluster_species),
                         cluster_cutoff, front, plane, front_smooth)
    table = Table(title=f"reaction analysis of {d['n_frames']} frames ({out}/reaction.json)")
    for col in ("time (ps)", *d["labels"]["names"], "clusters", "largest", "percolates",
                "front - (Å)", "front + (Å)", "net Li crossings"):
        table.add_column(col)
    cl, fl, fr = d["clusters"], d["flux"], d["fronts"]
    for k in sorted({0, d["n_frames"] - 1}):
        perc = "".join(a for a, p in zip("abc", cl["largest_percolates_abc"][k]) if p) or "no"
        table.add_row(f"{d['times_ps'][k]:.3g}",
                      *(f"{x:.3f}" for x in d["labels"]["fractions"][k]),
                      str(cl["n_clusters_min2"][k]), str(cl["largest"][k]), perc,
                      _g(fr["-"]["position_A"][k], ".2f"), _g(fr["+"]["position_A"][k], ".2f"),
                      "—" if fl is None else str(fl["cumulative_net"][k]))
    c = out_console()
    c.print(table)
    for note in d["notes"]:
        c.print(f"note: {note}", highlight=False)
