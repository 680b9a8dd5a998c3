"""Validation gaps the fuzz found below the CLI (in files the CLI may not change): each with
the file to fix, how to recognise it in a command's stderr, and a minimal reproducer that
test_known_gaps runs as a strict xfail. A fixed gap XPASSes: move it to FIXED_GAPS then, where
its reproducer stays as a regression test (test_fixed_gaps: refused, one line, naming the key).

The fuzz loops count a case that shows a known gap (its signature in stderr, or an accepted
mutation its pattern names) as ``known_gap``, and do not fail on it, so the suite stays green
and the gap stays visible (in the counts and here).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tests.fuzz.harness import Outcome


@dataclass(frozen=True)
class Gap:
    key: str
    fix_in: str  # the file whose validation is missing
    signature: str  # text in stderr that identifies the failure, or
    accepted: str  # a regular expression of mutations wrongly accepted (exit 99)
    argv: tuple[str, ...]  # a reproducer; CONFIG is replaced by a file holding `config`
    config: str
    why: str

    @property
    def reason(self) -> str:
        return f"{self.fix_in}: {self.why}"


HUGE = r"=(1e\+300|10{30}|9223372036854775808)\b"  # the mutator's huge numbers (for patterns)
LEARN = ("learn", "CONFIG", "--no-progress")
BUILD = ("build", "CONFIG", "--no-progress")
BASE_BUILD = "out_dir: o\nformats: [extxyz]\nsnapshots: false\ncalculator: {name: emt}\n"

KNOWN_GAPS: tuple[Gap, ...] = ()  # none open: every gap below is fixed (FIXED_GAPS)


@dataclass(frozen=True)
class Fixed:
    """A gap that is fixed, kept as a regression test: ``argv`` on ``config`` must be refused
    with exit 2 and one ``error:`` line that holds ``expect`` (the key and the limit)."""

    key: str
    argv: tuple[str, ...]
    config: str
    expect: str


MD = ("md", "CONFIG", "--no-progress")
MD_BASE = "structure: cu.extxyz\ncalculator: {name: emt}\nout_dir: run\n"
LIF = "structures: {phases: [{name: lif}]}\n"
IFACE = ("interfaces: [{film: li-bcc, film_miller: [1, 1, 1], substrate: li2co3-c2c, "
         "substrate_miller: [0, 0, 1], ")

FIXED_GAPS = (
    # the 11 gaps the fuzz found (fixed at the config models)
    Fixed("potential-not-a-mapping", LEARN, LIF + "potential: 5\n",
          "gap.yaml: potential"),  # (the key named; the wording is the registry's)
    Fixed("field-charges-keys", MD, MD_BASE + "md: {steps: 10}\nfield_V_per_A: [0, 0, 0.1]\n"
          "field_charges: {colour: 1.0}\n", "field_charges: unknown element 'colour'"),
    Fixed("amorphous-count", BUILD,
          BASE_BUILD + "amorphous: [{name: a, composition: {Cu: 4}, count: 1000000000000}]\n",
          "amorphous.0.count: Input should be less than or equal to 10000"),
    Fixed("amorphous-composition", BUILD,
          BASE_BUILD + "amorphous: [{name: a, composition: {Cu: 1000000000000000000000}}]\n",
          "atoms in one structure; at most 200000"),
    Fixed("amorphous-composition-molecules", BUILD,
          BASE_BUILD + "amorphous: [{name: a, composition: {Li2CO3: 40000}}]\n",
          "240000 atoms in one structure"),
    Fixed("amorphous-seed", BUILD,
          BASE_BUILD + "amorphous: [{name: a, composition: {Cu: 4}, seed: -1}]\n",
          "amorphous.0.seed: Input should be greater than or equal to 0"),
    Fixed("supercell-width", BUILD, BASE_BUILD + "phases: [{name: li-bcc, min_width: 1.0e+30}]\n",
          "phases.0.min_width: Input should be less than or equal to 200"),
    Fixed("supercell-atoms", BUILD,
          BASE_BUILD + "phases: [{name: li-bcc, min_atoms: 1000000000000000000000000000000}]\n",
          "phases.0.min_atoms: Input should be less than or equal to 200000"),
    Fixed("defect-width", BUILD, BASE_BUILD + "defects: [{phase: li2co3-c2c, kind: vacancy, "
          "min_width: 1.0e+6}]\n", "defects.0.min_width: Input should be less than or equal"),
    Fixed("validate-width", ("validate", "model", "--config", "CONFIG", "--no-progress"),
          "phases: [{phase: li-bcc, min_width: 1.0e+6}]\n",
          "phases.0.min_width: Input should be less than or equal to 200"),
    Fixed("interface-area", BUILD, BASE_BUILD + IFACE + "max_area: 1.0e+30}]\n",
          "interfaces.0.max_area: Input should be less than or equal to 2000"),
    Fixed("interface-layers", BUILD, BASE_BUILD + IFACE + "film_layers: 1000000000000}]\n",
          "interfaces.0.film_layers: Input should be less than or equal to 100"),
    Fixed("interface-width", BUILD, BASE_BUILD + IFACE + "min_inplane_width: 1.0e+9}]\n",
          "interfaces.0.min_inplane_width: Input should be less than or equal to 200"),
    Fixed("md-pressure", MD, MD_BASE + "md: {ensemble: npt, steps: 10, pressure_bar: 1.0e+300}\n",
          "md.pressure_bar: Input should be less than or equal to 10000000"),
    Fixed("md-pressure-negative", MD, MD_BASE + "md: {ensemble: npt, steps: 10, "
          "pressure_bar: -1.0e+12}\n", "md.pressure_bar: Input should be greater than or equal"),
    Fixed("md-temperature", MD, MD_BASE + "md: {steps: 10, temperature_K: 1.0e+300}\n",
          "md.temperature_K: Input should be less than or equal to 100000"),
    Fixed("md-seed", MD, MD_BASE + "md: {steps: 10, seed: -3}\n",
          "md.seed: Input should be greater than or equal to 0"),
    Fixed("mtp-cutoff", ("train", "CONFIG", "--no-progress"),
          "db: labels.db\npotential: {backend: mtp, level: 2, cutoff: 1.0e+300}\n",
          "cutoff: Input should be less than or equal to 15"),
    Fixed("mtp-workers", ("train", "--db", "labels.db", "--out", "t", "--workers", "1000",
                          "--no-progress"), "", "workers: Input should be less than or equal"),
    Fixed("mtp-seed", ("train", "CONFIG", "--no-progress"),
          "db: labels.db\nout: t\npotential: {backend: mtp, level: 2, seed: -2}\n",
          "seed: Input should be greater than or equal to 0"),
    Fixed("explore-temperatures", LEARN, LIF + "explore: {temperatures_K: [-300]}\n",
          "explore.temperatures_K.0: Input should be greater than 0"),
    Fixed("explore-temperatures-empty", LEARN, LIF + "explore: {temperatures_K: []}\n",
          "explore.temperatures_K: List should have at least 1 item"),
    Fixed("explore-ensembles-empty", LEARN, LIF + "explore: {ensembles: []}\n",
          "explore.ensembles: List should have at least 1 item"),
    Fixed("explore-pressures", LEARN, LIF + "explore: {ensembles: [npt], pressures_bar: "
          "[1, 1.0e+300]}\n", "explore.pressures_bar.1: Input should be less than or equal"),
    Fixed("perturb-seed", LEARN, LIF + "initial: {seed: -1}\n",
          "initial.seed: Input should be greater than or equal to 0"),
    Fixed("perturb-rattle-reversed", LEARN, LIF + "initial: {rattle_A: [0.2, 0.05]}\n",
          "initial.rattle_A: rattle_A must be [low, high] with 0 <= low <= high <= 1"),
    Fixed("learn-seed", LEARN, LIF + "seed: -1\n", "seed: Input should be greater than or equal"),
    Fixed("test-set-same-seed", LEARN, LIF + "initial: {seed: 7}\ntest_set: {seed: 7}\n",
          "test_set.seed and initial.seed are both 7"),
)

def known_gap(out: Outcome, mutation: str = "") -> Gap | None:
    """The known gap an outcome's stderr (or an accepted ``mutation``) shows, if any."""
    from tests.fuzz.harness import PROBE_EXIT

    for gap in KNOWN_GAPS:
        if gap.signature and gap.signature in out.stderr:
            return gap
        if gap.accepted and out.code == PROBE_EXIT and re.search(gap.accepted, mutation):
            return gap
    return None
