"""The label store: an ASE database (SQLite file by default; a PostgreSQL URL works the same).

Every row holds the structure, its label (energy eV, forces eV/Å, stress eV/Å³ as an ASE
single-point result) or the failure reason, the labeler and the hash of its settings, and the
origin (group, builder, iteration, trajectory, extrapolation grade, MD temperature and step).

The store alone says what is labelled: a structure is done for a labeler iff the store has a row
with its structure hash and the labeler's settings hash. Beside ASE's tables, the table
``label_keys`` has one entry per (structure hash, settings hash), its primary key, so a pair is
never committed twice. A worker *claims* a pair there (status ``claimed``, owner host:pid:start,
time) before labelling it; other workers skip pairs that are done or claimed by a live process,
and take over claims of dead processes (or, for an owner on another host, claims older than
``claim_timeout_s``). A label is committed in one transaction with its key (claimed → done), so a
killed run loses at most the labels in flight. Writers are serialised: on SQLite by the lock
file ``<db>.lock`` (stale ones are broken; ``seiflow.data.locking``) and BEGIN IMMEDIATE, on
PostgreSQL by a transaction-scoped advisory lock.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path

import ase.db
import numpy as np
from ase import Atoms

from seiflow.core.errors import SeiflowError
from seiflow.core.fingerprint import Fingerprint
from seiflow.data.labels import FIT_WEIGHT, Label, fit_weight
from seiflow.data.locking import LOCK_TIMEOUT_S, StoreLock, owner_alive, owner_id

log = logging.getLogger(__name__)

CLAIM_TIMEOUT_S = float(os.environ.get("SEIFLOW_CLAIM_TIMEOUT", 6 * 3600))
PG_LOCK_KEY = 7_311_946_207_215_201  # pg_advisory_xact_lock key of seiflow's writers

KEYS_DDL = ("CREATE TABLE IF NOT EXISTS label_keys (structure_hash TEXT NOT NULL, "
            "settings_hash TEXT NOT NULL, status TEXT NOT NULL, owner TEXT NOT NULL, "
            "since DOUBLE PRECISION, row_id INTEGER, "
            "PRIMARY KEY (structure_hash, settings_hash))")
INSERT_KEY = ("INSERT INTO label_keys (structure_hash, settings_hash, status, owner, since, "
              "row_id) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING")
FINISH_KEY = ("UPDATE label_keys SET status = 'done', owner = ?, since = ?, row_id = ? "
              "WHERE structure_hash = ? AND settings_hash = ? AND (status = 'claimed' OR NOT "
              "EXISTS (SELECT 1 FROM systems WHERE systems.id = label_keys.row_id))")
TAKE_KEY = ("UPDATE label_keys SET status = 'claimed', owner = ?, since = ?, row_id = NULL "
            "WHERE structure_hash = ? AND settings_hash = ? AND status = ? AND owner = ?")


@dataclass
class Origin:
    """Where a structure came from; None fields are not stored."""

    group: str = "default"
    builder: str | None = None
    iteration: int | None = None
    trajectory: str | None = None
    grade: float | None = None
    temperature_K: float | None = None  # of the MD the frame was taken from
    step: int | None = None  # its MD step

    def pairs(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None}


def structure_hash(atoms: Atoms) -> str:
    """Identity of a structure: species, positions and cell to 1e-5 Å, periodicity."""
    h = Fingerprint(np.asarray(atoms.numbers, dtype=np.int64))
    h.update(np.round(atoms.positions, 5).astype(np.float64), b"|")
    h.update(np.round(atoms.cell.array, 5).astype(np.float64), b"|")
    h.update(np.asarray(atoms.pbc, dtype=np.int8))
    return h.hex(24)


class _Lost(Exception):
    """Another process committed this (structure, settings) first: roll back."""


class LabelStore:
    """Typed access to the ASE database of labels, with claims and the unique key."""

    def __init__(self, url: str | Path, lock_timeout_s: float = LOCK_TIMEOUT_S,
                 claim_timeout_s: float = CLAIM_TIMEOUT_S):
        self.url = str(url)
        self.is_pg = "://" in self.url
        self.lock_timeout_s, self.claim_timeout_s = lock_timeout_s, claim_timeout_s
        if not self.is_pg:
            path = Path(self.url)
            if path.suffix != ".db":
                raise SeiflowError(f"label store {path}: use a .db file or a postgresql:// URL")
            path.parent.mkdir(parents=True, exist_ok=True)
        self.db = ase.db.connect(self.url)
        if not self.is_pg:  # ASE's lock file, but one a dead process cannot leave for ever
            self.db.lock = StoreLock(str(self.db.filename) + ".lock", lock_timeout_s)
        self._touched = time.time()
        self._setup()

    # --- reading -------------------------------------------------------------------------

    def is_labelled(self, atoms: Atoms, settings_hash: str) -> bool:
        """True if this structure already has a row (ok or failed) for these settings."""
        return self.db.count(structure_hash=structure_hash(atoms),
                             settings_hash=settings_hash) > 0

    def labelled(self, settings_hash: str) -> set[str]:
        """Structure hashes that have a row (ok or failed) for these settings."""
        return {r.get("structure_hash") for r in
                self.db.select(settings_hash=settings_hash, columns=["id", "key_value_pairs"])}

    def claims(self) -> list[tuple[str, str, str]]:
        """(structure hash, settings hash, owner) of every open claim."""
        con = self._connect()
        try:
            cur = self._sql(con, "SELECT structure_hash, settings_hash, owner FROM label_keys "
                                 "WHERE status = 'claimed'")
            return [tuple(r) for r in cur.fetchall()]
        finally:
            con.close()

    def count(self, **filters) -> int:
        return self.db.count(**filters)

    def rows(self, **filters) -> Iterator:
        yield from self.db.select(**filters)

    def frames(self, **filters) -> list[Atoms]:
        """Labelled structures (status ok) with their single-point results and origin in info."""
        out = []
        for row in self.db.select(status="ok", **filters):
            atoms = row.toatoms(add_additional_information=False)
            atoms.info.update(row.key_value_pairs)
            atoms.info["id"] = row.id
            atoms.info["source"] = row.data.get("source", f"{self.url} row {row.id}")
            out.append(atoms)
        return out

    def failures(self) -> list[dict]:
        return [{"id": r.id, "formula": r.formula, "group": r.get("group"),
                 "failure": r.data.get("failure")} for r in self.db.select(status="failed")]

    # --- claims --------------------------------------------------------------------------

    def claim(self, key: str, settings_hash: str) -> str:
        """Take (structure hash, settings hash) for this process before labelling it.

        Returns "new" or "taken" (from a dead owner, or a silent one on another host): this
        process labels it; "done": the store has its row; "busy": a live process holds it.
        """
        me, now = owner_id(), time.time()
        with self._transaction() as con:
            if self._sql(con, INSERT_KEY, (key, settings_hash, "claimed", me, now,
                                           None)).rowcount == 1:
                return "done" if self._adopt_row(con, key, settings_hash) else "new"
            status, owner, since, row_id = self._sql(
                con, "SELECT status, owner, since, row_id FROM label_keys WHERE "
                     "structure_hash = ? AND settings_hash = ?", (key, settings_hash)).fetchone()
            if status == "done" and (self._row_exists(con, row_id)
                                     or self._adopt_row(con, key, settings_hash)):
                return "done"
            if status == "claimed" and owner == me:
                return "new"
            if status == "claimed" and not self._expired(owner, since, now):
                return "busy"
            cur = self._sql(con, TAKE_KEY, (me, now, key, settings_hash, status, owner))
            return "taken" if cur.rowcount == 1 else "busy"

    def release(self, key: str, settings_hash: str) -> None:
        """Give back a claim of this process (its labelling failed)."""
        with self._transaction() as con:
            self._sql(con, "DELETE FROM label_keys WHERE structure_hash = ? AND "
                           "settings_hash = ? AND owner = ? AND status = 'claimed'",
                      (key, settings_hash, owner_id()))

    def release_claims(self) -> None:
        """Give back every claim this process still holds."""
        with self._transaction() as con:
            self._sql(con, "DELETE FROM label_keys WHERE owner = ? AND status = 'claimed'",
                      (owner_id(),))

    def touch_claims(self, every_s: float | None = None) -> None:
        """Refresh the time of this process's claims (at most once per ``every_s``), so
        workers on other hosts do not take them over while it works."""
        every_s = self.claim_timeout_s / 10 if every_s is None else every_s
        if time.time() - self._touched < every_s:
            return
        with self._transaction() as con:
            self._sql(con, "UPDATE label_keys SET since = ? WHERE owner = ? AND "
                           "status = 'claimed'", (time.time(), owner_id()))
        self._touched = time.time()

    def _expired(self, owner: str, since: float | None, now: float) -> bool:
        alive = owner_alive(owner)
        if alive is None:  # another host: only time tells
            return now - (since or 0.0) > self.claim_timeout_s
        return not alive

    # --- writing -------------------------------------------------------------------------

    def add(self, atoms: Atoms, label: Label, labeler: str, settings_hash: str,
            origin: Origin | None = None) -> int:
        """Commit one label (or failure) and return its row id. One line if the store already
        has this structure with these settings (the unique key)."""
        row_id = self._commit(atoms, label, labeler, settings_hash, origin, claimed=False)
        if row_id is None:
            raise SeiflowError(f"{atoms.get_chemical_formula()} (structure "
                               f"{structure_hash(atoms)}) is already in {self.url} with "
                               f"settings {settings_hash}")
        return row_id

    def commit_claimed(self, atoms: Atoms, label: Label, labeler: str, settings_hash: str,
                       origin: Origin | None = None) -> int | None:
        """Commit a label this process claimed; None (nothing written) when another process
        committed the same structure and settings first."""
        return self._commit(atoms, label, labeler, settings_hash, origin, claimed=True)

    def _commit(self, atoms: Atoms, label: Label, labeler: str, settings_hash: str,
                origin: Origin | None, claimed: bool) -> int | None:
        key, me = structure_hash(atoms), owner_id()
        kvp = {"structure_hash": key, "settings_hash": settings_hash, "labeler": labeler,
               "status": "ok" if label.ok else "failed",
               "wall_time": round(float(label.wall_time), 4), **(origin or Origin()).pairs()}
        weight = fit_weight(atoms)
        if weight != 1.0:
            kvp[FIT_WEIGHT] = weight
        data = {"failure": label.failure, **label.extra} if not label.ok else {}
        if atoms.info.get("source"):
            data["source"] = str(atoms.info["source"])
        try:
            with self._transaction() as con:
                if not claimed:
                    self._sql(con, INSERT_KEY, (key, settings_hash, "claimed", me, time.time(),
                                                None))
                row_id = self.db.write(label.attach(atoms), key_value_pairs=kvp, data=data)
                cur = self._sql(con, FINISH_KEY, (me, time.time(), row_id, key, settings_hash))
                if cur.rowcount != 1:
                    raise _Lost
        except _Lost:
            return None
        return row_id

    def set_split(self, ids: list[int], split: str, by: str | None = None) -> None:
        """Mark rows ``split``; ``by`` records who chose it (``import``: a data set's own
        split, which ``data split`` does not replace unasked), None forgets that."""
        with self._transaction():
            for i in ids:
                if by:
                    self.db.update(i, split=split, split_by=by)
                else:
                    self.db.update(i, delete_keys=["split_by"], split=split)

    # --- connection, transactions, schema ------------------------------------------------

    def _connect(self):
        con = self.db._connect()
        return getattr(con, "con", con)  # ase-db-backends wraps psycopg2's connection

    def _sql(self, con, statement: str, args: tuple = ()):
        cur = con.cursor()
        cur.execute(statement.replace("?", "%s") if self.is_pg else statement, args)
        return cur

    @contextmanager
    def _transaction(self):
        """One write transaction that ASE's own writes join (same connection): all of it is
        committed or none. Seiflow's writers of one store take turns."""
        with self.db.lock or nullcontext():
            wrapped = self.db._connect()
            con = getattr(wrapped, "con", wrapped)
            self.db.connection, self.db.change_count = wrapped, 0
            try:
                self._begin(con)
                yield con
                con.commit()
            except BaseException:
                con.rollback()
                raise
            finally:
                self.db.connection = None
                con.close()

    def _begin(self, con) -> None:
        try:
            if self.is_pg:
                self._sql(con, f"SET LOCAL lock_timeout = {int(self.lock_timeout_s * 1000)}")
                self._sql(con, "SELECT pg_advisory_xact_lock(?)", (PG_LOCK_KEY,))
            else:
                con.execute("BEGIN IMMEDIATE")
        except Exception as exc:
            if "lock" not in str(exc).lower():
                raise
            raise SeiflowError(f"label store {self.url} stayed locked by another writer for "
                               f"over {self.lock_timeout_s:.0f} s (SEIFLOW_STORE_TIMEOUT): "
                               f"{str(exc).strip().splitlines()[0]}") from None

    def _setup(self) -> None:
        """ASE's tables and ``label_keys`` (filled from the rows of an older store), once."""
        con = self._connect()
        try:
            ready = self._has_keys(con)
        finally:
            con.close()
        if ready:
            return
        with self._transaction():
            with self.db.managed_connection():  # ASE creates its tables on first use
                pass
        with self._transaction() as con:
            if not self._has_keys(con):
                self._sql(con, KEYS_DDL)
                self._backfill(con)

    def _has_keys(self, con) -> bool:
        if self.is_pg:
            return self._sql(con, "SELECT to_regclass('label_keys') IS NOT NULL").fetchone()[0]
        return self._sql(con, "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND "
                              "name = 'label_keys'").fetchone()[0] > 0

    def _backfill(self, con) -> None:
        rows = [(r.id, r.get("structure_hash"), r.get("settings_hash"))
                for r in self.db.select(columns=["id", "key_value_pairs"])]
        extra = 0
        for row_id, key, settings in rows:
            if key and settings:
                extra += self._sql(con, INSERT_KEY, (key, settings, "done", "", None,
                                                     row_id)).rowcount == 0
        if extra:
            log.warning("label store %s: %d rows repeat a (structure, settings) pair of an "
                        "earlier row (written before the unique key); kept", self.url, extra)

    def _row_exists(self, con, row_id: int | None) -> bool:
        return row_id is not None and self._sql(
            con, "SELECT COUNT(*) FROM systems WHERE id = ?", (row_id,)).fetchone()[0] > 0

    def _adopt_row(self, con, key: str, settings_hash: str) -> bool:
        """Mark the pair done if the store has a row for it (written without a key: by an older
        seiflow or another tool, or its key's row was deleted and another row remains)."""
        ids = [r.id for r in self.db.select(structure_hash=key, settings_hash=settings_hash,
                                            columns=["id"])]
        if ids:
            self._sql(con, "UPDATE label_keys SET status = 'done', row_id = ? WHERE "
                           "structure_hash = ? AND settings_hash = ?", (min(ids), key,
                                                                        settings_hash))
        return bool(ids)
