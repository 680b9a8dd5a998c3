"""The reference's crystal properties fanned out through the execution engine: each single
calculation (crystal relaxation, lattice relaxation, EOS volume, strained cell, phonon
supercell) is one engine task with its own record, kept on disk; a killed run redoes only the
calculations that had not finished; the numbers are those of the serial code, bit for bit.

fanout_emt_cu.json holds the lattice/EOS, elastic and phonon results of EMT Cu computed by the
serial code before the fan-out existed (same config as ``_config``)."""

import json
from pathlib import Path

import pytest
from ase.build import bulk
from ase.io import write

from seiflow.execution import InProcessSettings, ParslSettings
from seiflow.workflows import fanout
from seiflow.reference.emt import EMTSettings
from seiflow.workflows.properties.crystal import relax_crystal
from seiflow.workflows.properties.elastic import compute_elastic
from seiflow.workflows.properties.lattice import compute_lattice
from seiflow.workflows.properties.phonons import compute_phonons
from seiflow.workflows.validate import Task, ValidateConfig, result_path, run_task

PINNED = json.loads((Path(__file__).parent / "fanout_emt_cu.json").read_text())
PROPS = ("lattice", "elastic", "phonons")
EMT_CALCULATOR = EMTSettings.calculator
N_CALCS = 1 + 1 + 7 + 24 + 1 + 1  # start, lattice relax, EOS, strains, phonon supercells


def _config(tmp_path: Path, engine: dict | None = None) -> ValidateConfig:
    tmp_path.mkdir(parents=True, exist_ok=True)
    write(tmp_path / "cu.extxyz", bulk("Cu", "fcc", a=3.6, cubic=True))
    return ValidateConfig(
        model=tmp_path / "no-model", reference=EMTSettings(), out_dir=tmp_path / "val",
        phases=[{"file": tmp_path / "cu.extxyz", "min_width": 3.0}],
        phonons={"min_width": 7.0, "mesh": [6, 6, 6], "band_npoints": 5},
        engine=engine or {"name": "inprocess", "progress": False})


def _reference(cfg: ValidateConfig) -> dict:
    """Run the reference's task of the crystal; its three results."""
    run_task(Task("phases", 0, "reference", cfg))
    out = {}
    for prop in PROPS:
        data = json.loads(result_path(cfg.out_dir, "cu", prop, "reference").read_text())
        assert data["status"] == "ok", data
        out[prop] = data["result"]
    return out


def _approx_equal(a, b, rel=1e-8, noise=1e-6):
    """Nested equality, floats within ``rel`` or ``noise``: the pinned file came from another
    machine, and OpenBLAS picks its kernels by CPU, so relaxed results agree to ~1e-10 and
    values that are zero up to round-off (acoustic frequencies at Γ, THz) only in size."""
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for k in a:
            _approx_equal(a[k], b[k], rel, noise)
    elif isinstance(a, list):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _approx_equal(x, y, rel, noise)
    elif isinstance(a, float):
        assert b == pytest.approx(a, rel=rel, abs=noise)
    else:
        assert a == b


class Counting:
    """EMT calculators made so far; ``kill_at``: the n-th creation kills the run."""

    def __init__(self, monkeypatch, kill_at: int | None = None):
        self.n, self.kill_at = 0, kill_at

        def calculator(labeler, atoms=None):
            self.n += 1
            if self.n == self.kill_at:
                raise Killed
            return EMT_CALCULATOR(labeler, atoms)

        monkeypatch.setattr(EMTSettings, "calculator", calculator)


class Killed(BaseException):  # as kill -9: nothing catches it
    pass


def _records(cfg: ValidateConfig) -> list[dict]:
    path = cfg.out_dir / "calcs.records.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


def _cached(cfg: ValidateConfig) -> list[dict]:
    return [json.loads(p.read_text()) for p in (cfg.out_dir / "cu" / "calcs").glob("*.json")]


def test_fanned_out_results_equal_the_serial_code(tmp_path, monkeypatch):
    cfg = _config(tmp_path)
    sizes = []
    inprocess_map = InProcessSettings.map

    def counted_map(engine, fn, items, *args, **kwargs):
        sizes.append(len(items))
        return inprocess_map(engine, fn, items, *args, **kwargs)

    monkeypatch.setattr(InProcessSettings, "map", counted_map)
    fanned = _reference(cfg)
    # three rounds: the crystal relaxation; the lattice relaxation, 24 strained cells and the
    # undisplaced phonon supercell together; the 7 EOS volumes and the displaced supercell
    assert sizes == [1, 1 + 24 + 1, 7 + 1]
    for prop in PROPS:
        _approx_equal(PINNED[prop], fanned[prop])
    # the serial path (potential side, single-property commands): the same numbers, bit for bit
    emt = EMTSettings()
    start = relax_crystal(cfg.phases[0].cell(), lambda a: emt.calculator(a), cfg.lattice,
                          "relaxation").atoms
    serial = {"lattice": compute_lattice(start, emt.calculator, cfg.lattice),
              "elastic": compute_elastic(start, emt.calculator, cfg.elastic),
              "phonons": compute_phonons(start, emt.calculator, cfg.phonons)}
    for prop in PROPS:
        assert json.loads(json.dumps(serial[prop].to_dict())) == fanned[prop], prop
    # one engine task per single calculation, each recorded and kept
    records = _records(cfg)
    assert len(records) == N_CALCS and all(r["status"] == "done" for r in records)
    assert all(r["key"].startswith("cu.reference/") for r in records)
    kinds = sorted(c["kind"] for c in _cached(cfg))
    assert len(kinds) == N_CALCS and kinds.count("point") == 2  # the phonon supercells


def test_a_killed_run_recomputes_only_unfinished_calculations(tmp_path, monkeypatch):
    full = Counting(monkeypatch)
    _reference(_config(tmp_path / "full"))
    cfg = _config(tmp_path / "killed")
    kill_at = full.n // 2  # in the middle of the strained cells
    Counting(monkeypatch, kill_at=kill_at)
    with pytest.raises(Killed):
        run_task(Task("phases", 0, "reference", cfg))
    done = _cached(cfg)
    assert 0 < len(done) < N_CALCS
    assert not result_path(cfg.out_dir, "cu", "elastic", "reference").exists()
    # a relaxation makes two calculators (optimizer, final single point), a point one
    spent = sum(2 if c["kind"] == "relax" else 1 for c in done)
    assert spent <= kill_at - 1  # the unfinished calculation made the others
    rerun = Counting(monkeypatch)
    results = _reference(cfg)
    assert rerun.n == full.n - spent  # only the calculations not kept are computed
    assert len(_records(cfg)) == N_CALCS  # (the killed one never got a record)
    for prop in PROPS:
        _approx_equal(PINNED[prop], results[prop])
    # nothing left: a third run computes nothing
    again = Counting(monkeypatch)
    for prop in PROPS:
        result_path(cfg.out_dir, "cu", prop, "reference").unlink()
    assert _reference(cfg) == results and again.n == 0


@pytest.mark.slow
def test_parsl_local_workers_give_the_same_numbers(tmp_path):
    inprocess = _reference(_config(tmp_path / "inprocess"))
    engine = ParslSettings(max_workers=2, retries=0, run_dir=tmp_path / "runinfo",
                           progress=False).model_dump()
    cfg = _config(tmp_path / "parsl", engine)
    with cfg.engine.session():  # workers started once for the six stages, as validate does
        assert _reference(cfg) == inprocess
    assert len(_records(cfg)) == N_CALCS


def _status(cfg: ValidateConfig, prop: str) -> dict:
    return json.loads(result_path(cfg.out_dir, "cu", prop, "reference").read_text())


def test_a_failed_calculation_fails_its_property_only(tmp_path, monkeypatch):
    cfg = _config(tmp_path)
    run_calc = fanout.run_calc_task

    def scf_fails(job):  # as a labeler whose SCF does not converge on the sheared cells
        if "strain e4" in job.calc.what:
            return {"status": "failed", "reason": f"{job.calc.what}: SCF not converged"}
        return run_calc(job)

    monkeypatch.setattr(fanout, "run_calc_task", scf_fails)
    run_task(Task("phases", 0, "reference", cfg))
    elastic = _status(cfg, "elastic")
    assert elastic["status"] == "failed"
    assert elastic["reason"] == "ionic relaxation at strain e4 = -0.01: SCF not converged"
    for prop in ("lattice", "phonons"):
        _approx_equal(PINNED[prop], _status(cfg, prop)["result"])
    # the failure is kept like a result: recomputing the property computes nothing
    monkeypatch.setattr(fanout, "run_calc_task", run_calc)
    count = Counting(monkeypatch)
    result_path(cfg.out_dir, "cu", "elastic", "reference").unlink()
    run_task(Task("phases", 0, "reference", cfg))
    assert count.n == 0 and _status(cfg, "elastic")["reason"] == elastic["reason"]


def test_a_crashed_calculation_is_sent_again_by_the_rerun(tmp_path, monkeypatch):
    cfg = _config(tmp_path)
    run_calc = fanout.run_calc_task

    def crash_displaced(job):
        if job.calc.what.startswith("displaced"):
            raise RuntimeError("worker lost")
        return run_calc(job)

    monkeypatch.setattr(fanout, "run_calc_task", crash_displaced)
    run_task(Task("phases", 0, "reference", cfg))
    phonons = _status(cfg, "phonons")
    assert phonons["status"] == "failed" and "worker lost" in phonons["reason"]
    assert "identity" not in phonons  # not current: the rerun tries again
    assert _status(cfg, "elastic")["status"] == "ok"
    monkeypatch.setattr(fanout, "run_calc_task", run_calc)
    count = Counting(monkeypatch)
    _approx_equal(PINNED["phonons"], _reference(cfg)["phonons"])
    assert count.n == 1  # only the displaced supercell
