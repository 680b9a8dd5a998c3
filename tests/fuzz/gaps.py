"""Validation gaps the fuzz found below the CLI (in files the CLI may not change): each with
the file to fix, how to recognise it in a command's stderr, and a minimal reproducer that
test_known_gaps runs as a strict xfail. A fixed gap XPASSes: delete its entry then.

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


HUGE = r"=(1e\+300|10{30}|9223372036854775808)\b"  # the mutator's huge numbers
LEARN = ("learn", "CONFIG", "--no-progress")
BUILD = ("build", "CONFIG", "--no-progress")
BASE_BUILD = "out_dir: o\nformats: [extxyz]\nsnapshots: false\ncalculator: {name: emt}\n"

KNOWN_GAPS = (
    Gap("potential-not-a-mapping", "seiflow/potentials/registry.py",
        "has no attribute 'backend'", "", LEARN,
        "structures: {phases: [{name: lif}]}\npotential: 5\n",
        "_backend() (the discriminator of PotentialSettings) calls value.backend on a value "
        "that is neither a dict nor a settings object: AttributeError instead of a "
        "validation error; return None for such values (pydantic then names the field)"),
    Gap("field-charges-keys", "seiflow/workflows/transport.py", "",
        r"unknown_key field_charges\.", ("md", "CONFIG", "--no-progress"),
        "structure: cu.extxyz\ncalculator: {name: emt}\nout_dir: run\nmd: {steps: 10}\n"
        "field_V_per_A: [0, 0, 0.1]\nfield_charges: {colour: 1.0}\n",
        "MDConfig.field_charges accepts any key: a charge for 'colour' (not an element) is "
        "silently ignored; check the keys with seiflow.core.elements.check_element"),
    Gap("amorphous-count", "seiflow/structures/amorphous.py", "",
        r"amorphous\.\d+\.count" + HUGE, BUILD,
        BASE_BUILD + "amorphous: [{name: a, composition: {Cu: 4}, count: 1000000000000}]\n",
        "AmorphousSpec.count has no upper bound: count 10**30 hangs `seiflow build` in "
        "workflows/build.py _tasks (one task object per structure) before anything is built"),
    Gap("amorphous-composition", "seiflow/structures/amorphous.py", "",
        r"amorphous\.\d+\.composition\.\w+" + HUGE, BUILD,
        BASE_BUILD + "amorphous: [{name: a, composition: {Cu: 1000000000000000000000}}]\n",
        "AmorphousSpec.composition counts have no upper bound: 10**30 Cu ends in an internal "
        "OverflowError in pack_amorphous (bound the total atom count)"),
    Gap("amorphous-seed", "seiflow/structures/amorphous.py", "",
        r"amorphous\.\d+\.seed=-", BUILD,
        BASE_BUILD + "amorphous: [{name: a, composition: {Cu: 4}, seed: -1}]\n",
        "AmorphousSpec.seed accepts negative numbers; numpy refuses them when packing "
        "(internal ValueError 'expected non-negative integer'): Field(0, ge=0)"),
    Gap("supercell-width", "seiflow/structures/geometry.py", "",
        r"min_width" + HUGE, BUILD,
        BASE_BUILD + "phases: [{name: li-bcc, min_width: 1.0e+30}]\n",
        "min_width (PhaseSpec, DefectSpec, validate's targets) has no upper bound and "
        "supercell_repeats casts ceil(min_width / width) to int: 1e30 Å silently builds a "
        "1x1x1 cell (overflow), 2**63 ends in 'negative dimensions'; bound the repeats or "
        "the atom count"),
    Gap("interface-size", "seiflow/structures/interfaces.py", "",
        r"interfaces\.\d+\.(max_area|film_layers|substrate_layers|min_inplane_width)" + HUGE,
        BUILD, BASE_BUILD + "interfaces: [{film: li-bcc, film_miller: [1, 1, 1], substrate: "
        "li2co3-c2c, substrate_miller: [0, 0, 1], max_area: 1.0e+30}]\n",
        "InterfaceSpec.max_area / film_layers / substrate_layers / min_inplane_width have no "
        "upper bound: max_area 1e30 or film_layers 10**30 hang `seiflow build`"),
    Gap("md-pressure", "seiflow/md/runner.py", "",
        r"md\.pressure_bar" + HUGE, ("md", "CONFIG", "--no-progress"),
        "structure: cu.extxyz\ncalculator: {name: emt}\nout_dir: run\n"
        "md: {ensemble: npt, steps: 10, pressure_bar: 1.0e+300}\n",
        "MDSettings.pressure_bar has no bounds: 1e300 bar ends NPT in an internal ValueError "
        "('data must be finite') instead of a config error"),
    Gap("mtp-cutoff", "seiflow/potentials/mtp/settings.py", "",
        r"potential\.(member\.)?cutoff" + HUGE, ("train", "CONFIG", "--no-progress"),
        "db: labels.db\npotential: {backend: mtp, level: 2, cutoff: 1.0e+300}\n",
        "MTPSettings.cutoff has no upper bound: 1e300 Å ends the fit in an internal "
        "ValueError ('need at least one array to concatenate')"),
    Gap("explore-temperatures", "seiflow/workflows/learn.py", "",
        r"explore\.temperatures_K\.\d+=(-|0\b)|empty_list explore\.(temperatures_K|ensembles)",
        LEARN, "structures: {phases: [{name: lif}]}\nexplore: {temperatures_K: [-300]}\n",
        "ExploreSettings.temperatures_K items are unbounded and the lists may be empty: a "
        "temperature <= 0 is refused only by MDSettings in _explore_tasks, after the build, "
        "the initial labels and the first fit; an empty list explores nothing (items gt=0, "
        "min_length=1)"),
    Gap("perturb-seed", "seiflow/active/sampling.py", "",
        r"(initial|test_set)\.seed=-", LEARN,
        "structures: {phases: [{name: lif}]}\ninitial: {seed: -1}\n",
        "PerturbSettings.seed accepts negative numbers; np.random.default_rng refuses them "
        "after the structures are built (Field(0, ge=0))"),
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
