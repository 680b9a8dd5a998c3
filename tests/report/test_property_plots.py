"""Property overlay plots from plain dicts (the report layer never sees analysis classes)."""

import numpy as np
import pytest

from seiflow.report.properties import plot_elastic, plot_eos, plot_phonons


def eos_dict(v0, b0_GPa, shift):
    v = np.linspace(0.94, 1.06, 7) * v0
    e = 0.5 * b0_GPa / 160.2 * (v - v0) ** 2 / v0 + shift
    return {"eos": {"volumes_A3": v.tolist(), "energies_eV": e.tolist(),
                    "curve_volumes_A3": v.tolist(), "curve_energies_eV": e.tolist(),
                    "e0_eV": shift, "v0_A3": v0, "b0_GPa": b0_GPa, "n_atoms": 4}}


def phonon_dict(scale, labels=(("Γ", "X"), ("X", "W"), ("K", "Γ"))):
    band, start = [], 0.0
    for lab in labels:
        d = start + np.linspace(0, 0.3, 11)
        f = scale * np.outer(np.sin(np.linspace(0, np.pi / 2, 11)), [4.0, 4.0, 7.0])
        band.append({"labels": list(lab), "distances_invA": d.tolist(),
                     "frequencies_THz": f.tolist()})
        start = d[-1]
    freqs = np.linspace(-0.5, 8, 50)
    return {"band": band, "dos_frequencies_THz": freqs.tolist(),
            "dos_states_per_THz": np.exp(-(freqs - 5) ** 2).tolist()}


def elastic_dict(c11, c12, c44):
    return {"independent_GPa": {"C11": c11, "C12": c12, "C44": c44},
            "moduli_GPa": {"K_H": (c11 + 2 * c12) / 3, "G_H": c44}}


def test_plots_from_plain_dicts(tmp_path):
    out = [plot_eos({"A": eos_dict(47.0, 140.0, -14.0), "B": eos_dict(48.0, 120.0, -3.0)},
                    tmp_path / "eos.png"),
           plot_phonons({"A": phonon_dict(1.0), "B": phonon_dict(0.9)}, tmp_path / "ph.png"),
           plot_elastic({"A": elastic_dict(170, 120, 75), "B": elastic_dict(160, 110, 80)},
                        tmp_path / "el.png")]
    for p in out:
        assert p.stat().st_size > 5000 and p.read_bytes()[:4] == b"\x89PNG"


def test_phonon_paths_must_match_and_empty_input_is_refused(tmp_path):
    with pytest.raises(ValueError, match="path"):
        plot_phonons({"A": phonon_dict(1.0), "B": phonon_dict(1.0, (("Γ", "L"),))},
                     tmp_path / "ph.png")
    with pytest.raises(ValueError, match="nothing to plot"):
        plot_eos({}, tmp_path / "eos.png")
