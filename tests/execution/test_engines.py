import pytest

from seiflow.execution import InProcessSettings, RecordLog


class Flaky:
    """Raises on the first call for each item listed in ``fail_once``."""

    def __init__(self, fail_once=(), always=()):
        self.fail_once, self.always, self.seen = set(fail_once), set(always), set()

    def __call__(self, x):
        if x in self.always:
            raise RuntimeError(f"bad item {x}")
        if x in self.fail_once and x not in self.seen:
            self.seen.add(x)
            raise RuntimeError("transient")
        return x * x


def test_inprocess_retries_records_and_results(tmp_path):
    got = {}
    log = RecordLog(tmp_path / "rec.jsonl")
    recs = InProcessSettings(retries=1, progress=False).map(
        Flaky(fail_once={2}, always={3}), [1, 2, 3], ["a", "b", "c"],
        on_result=lambda k, r: got.__setitem__(k, r), records=log)
    assert got == {"a": 1, "b": 4}
    by = {r.key: r for r in recs}
    assert by["b"].status == "done" and by["b"].attempts == 2
    assert by["c"].status == "error" and "bad item 3" in by["c"].error and by["c"].attempts == 2
    assert log.done() == {"a", "b"}

    # resume: what is done is skipped, the rest runs again
    got.clear()
    recs = InProcessSettings(progress=False).map(Flaky(), [1, 2, 3], ["a", "b", "c"],
                                                 on_result=lambda k, r: got.__setitem__(k, r),
                                                 records=log)
    assert got == {"c": 9} and [r.status for r in recs] == ["skipped", "skipped", "done"]


def test_record_log_ignores_a_line_cut_by_a_kill(tmp_path):
    path = tmp_path / "rec.jsonl"
    path.write_text('{"key": "a", "status": "done"}\n{"key": "b", "sta')
    assert RecordLog(path).done() == {"a"}


@pytest.mark.slow
def test_parsl_engine_maps_with_local_workers(tmp_path):
    from seiflow.execution import ParslSettings

    got = {}  # workers must import the function: a builtin stands in for a seiflow task
    recs = ParslSettings(max_workers=2, retries=0, run_dir=tmp_path / "runinfo",
                         progress=False).map(
        int, ["1", "2", "x", "4"], ["a", "b", "c", "d"],
        on_result=lambda k, r: got.__setitem__(k, r))
    assert got == {"a": 1, "b": 2, "d": 4}
    assert [r.status for r in recs] == ["done", "done", "error", "done"]
