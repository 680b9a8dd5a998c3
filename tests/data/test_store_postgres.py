"""The label store on a real PostgreSQL server (started here on a private Unix socket)."""

import glob
import os
import shutil
import subprocess
import tempfile
from contextlib import contextmanager

import numpy as np
import pytest
from ase.build import bulk, molecule

from seiflow.core.errors import SeiflowError
from seiflow.data.labels import Label
from seiflow.data.locking import owner_id
from seiflow.data.store import LabelStore, Origin, structure_hash
from seiflow.reference import XTBSettings
from seiflow.workflows.label import run_label

BINDIRS = sorted(glob.glob("/usr/lib/postgresql/*/bin"))


def _as_server_user(cmd):
    if os.geteuid() == 0:  # initdb refuses root: run as Debian's postgres user
        runuser = shutil.which("runuser") or next(
            p for p in ("/usr/sbin/runuser", "/sbin/runuser") if os.path.exists(p))
        cmd = [runuser, "-u", "postgres", "--", *cmd]
    subprocess.run(cmd, check=True, capture_output=True, timeout=120)


@contextmanager
def postgres_server(port: int):
    """A throw-away PostgreSQL server on a private Unix socket: yields its URL, or skips."""
    if not BINDIRS:
        pytest.skip("PostgreSQL server not installed (scripts/setup.sh installs it)")
    pytest.importorskip("psycopg2")
    bindir = BINDIRS[-1]
    root = tempfile.mkdtemp(prefix="seiflow-pg-")
    os.chmod(root, 0o755)
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    data = os.path.join(root, "data")
    _as_server_user([f"{bindir}/initdb", "-D", data, "-A", "trust", "-U", "postgres"])
    _as_server_user([f"{bindir}/pg_ctl", "-D", data, "-w", "-l", os.path.join(root, "log"),
                     "-o", f"-k {root} -p {port} -c listen_addresses=''", "start"])
    try:
        _as_server_user([f"{bindir}/createdb", "-h", root, "-p", str(port), "-U", "postgres",
                         "seiflow"])
        yield f"postgresql://postgres@/seiflow?host={root}&port={port}"
    finally:
        _as_server_user([f"{bindir}/pg_ctl", "-D", data, "-m", "immediate", "stop"])
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def pg_url():
    with postgres_server(5439) as url:
        yield url


def test_postgres_store_works_like_sqlite(pg_url, tmp_path):
    pg, lite = LabelStore(pg_url), LabelStore(tmp_path / "s.db")
    atoms = bulk("LiF", "rocksalt", a=4.03, cubic=True)
    lab = Label(-40.0, np.arange(24.0).reshape(8, 3) / 100, np.arange(6.0) / 1000)
    for store in (pg, lite):
        store.add(atoms, lab, "xtb", "h1", Origin(group="lif", iteration=1))
        store.add(molecule("H2O"), Label(failure="SCF not converged"), "xtb", "h1")
    (a,), (b,) = pg.frames(), lite.frames()
    assert a.get_potential_energy() == b.get_potential_energy() == -40.0
    np.testing.assert_array_equal(a.get_forces(), b.get_forces())
    np.testing.assert_allclose(a.get_stress(), b.get_stress())
    assert a.info["group"] == "lif" and a.info["iteration"] == 1
    assert pg.is_labelled(atoms, "h1") and not pg.is_labelled(atoms, "h2")
    assert pg.failures()[0]["failure"] == lite.failures()[0]["failure"]


def test_label_run_into_postgres(pg_url):
    store = LabelStore(pg_url)
    frames = [molecule(n) for n in ("CH4", "NH3", "CO2")]
    first = run_label(frames, XTBSettings(), store)
    again = run_label(frames, XTBSettings(), store)
    assert first.ok == 3 and again.already == 3 and again.ok == 0


def test_postgres_unique_key_and_claims(pg_url):
    store = LabelStore(pg_url)
    atoms = bulk("Cu", "fcc", a=3.6)
    key = structure_hash(atoms)
    assert store.claim(key, "c1") == "new" and store.claim(key, "c1") == "new"  # mine
    assert store.claims() == [(key, "c1", owner_id())]
    assert store.commit_claimed(atoms, Label(-1.0, np.zeros((1, 3)), np.zeros(6)), "emt",
                                "c1") is not None
    assert store.claim(key, "c1") == "done" and store.claims() == []
    with pytest.raises(SeiflowError, match="already in"):
        store.add(atoms, Label(-2.0, np.zeros((1, 3)), np.zeros(6)), "emt", "c1")
    assert store.count(settings_hash="c1") == 1
    store.add(atoms, Label(-2.0, np.zeros((1, 3)), np.zeros(6)), "emt", "c2")  # other settings
    assert store.labelled("c2") == {key}
