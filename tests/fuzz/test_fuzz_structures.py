"""A corpus of bad structure files (tests/fuzz/corpus.py) through every structure-consuming
command, in-process: `seiflow label --labeler emt`, `seiflow data import`, `seiflow grade`.

Every file is invalid, so every case must end with exit 2, one ``error: ...`` line, no
traceback, within the case timeout, and the label store passed in (labels.db, holding 4
labels) byte-for-byte unchanged. Nothing is stubbed here: a file that got through would be
labelled, imported or graded for real (small EMT cells, a level-2 MTP), and fail the case.

Cases: SEIFLOW_FUZZ_CASES (default 1200 over the whole fuzz suite) x the shares below.
"""

from __future__ import annotations

import collections
import time

import pytest

from tests.fuzz.corpus import LABEL_KINDS, STRUCTURE_KINDS, bad_labels, bad_structure
from tests.fuzz.gaps import known_gap
from tests.fuzz.harness import cases_for, invoke, problems, record, report, store_state

COMMANDS = {  # name -> (argv before the file, argv after it, share of the suite's cases)
    "label-emt": (["label"], ["--labeler", "emt", "--db", "labels.db", "--no-progress"], 0.07),
    "data-import": (["data", "import"], ["--db", "labels.db"], 0.06),
    "grade": (["grade", "model"], ["--out", "graded.extxyz"], 0.05),
}


def _run_corpus(name: str, kinds: tuple[str, ...], make, share: float, folder) -> None:
    before_args, after_args, _ = COMMANDS[name]
    n = cases_for(share)
    store = folder / "labels.db"
    failures, counts = [], collections.Counter()
    start = time.perf_counter()
    for case in range(n):
        kind, seed = kinds[case % len(kinds)], case // len(kinds)
        path, what = make(kind, seed, folder)
        before = store_state(store)
        out = invoke([*before_args, str(path), *after_args])
        why = problems(out, must_reject=True)
        if store_state(store) != before:
            why.append("labels.db changed")
        if (folder / "graded.extxyz").exists():
            why.append("graded.extxyz written")
            (folder / "graded.extxyz").unlink()
        counts[kind] += 1
        gap = known_gap(out, what)
        counts["known_gap"] += gap is not None
        if why and not gap:
            failures.append((what, out, why))
        path.unlink()
    record(f"structures/{name}/{make.__name__}",
           {"cases": n, "rejected": n - len(failures), "failures": len(failures),
            "seconds": round(time.perf_counter() - start, 2), "kinds": dict(counts)})
    assert not failures, report(failures)


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_bad_structure_files(name, fuzz_dir):
    _run_corpus(name, STRUCTURE_KINDS, bad_structure, COMMANDS[name][2], fuzz_dir)


def test_bad_labels_are_not_imported(fuzz_dir):
    _run_corpus("data-import", LABEL_KINDS, bad_labels, 0.02, fuzz_dir)


def test_a_valid_file_passes_the_same_commands(fuzz_dir):
    """The corpus's base frames are accepted: the refusals above are about the corruptions."""
    out = invoke(["grade", "model", "cu.extxyz"])
    assert out.code == 0, out.stderr
    out = invoke(["data", "import", "cu.extxyz", "--db", "other.db"])
    assert out.code == 0, out.stderr
    out = invoke(["label", "cu.extxyz", "--labeler", "emt", "--db", "emt.db", "--no-progress"])
    assert out.code == 0, out.stderr
