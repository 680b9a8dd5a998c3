"""Who holds what in the label store: process identity, liveness, and a lock file that a killed
process cannot leave behind for ever.

ASE's SQLite backend serialises writers with ``<db>.lock`` (``ase.utils.Lock``): an empty file
made with O_EXCL, removed after each write and waited for without limit (the sleep doubles each
time). A ``kill -9`` during a write leaves it, and every later write then waits for ever,
silently. ``StoreLock`` keeps the same file, so ASE's own tools still respect it, but writes its
owner into it (host, pid, process start time, time), breaks it with a warning when that owner
is dead (or, for an owner on another host or a lock without an owner, when the file is older
than ``stale_after_s``) and gives up after ``timeout_s`` with one line.

``RunLock`` is the same lock file as the single writer of a run folder (``seiflow md``,
``learn``, ``resume``, ``train``, ``validate``): held for the whole command, never waited for
(a second live process is refused at once, naming the holder), broken with a warning when its
owner is dead; an owner on another host is never presumed dead (no age limit).
"""

from __future__ import annotations

import fcntl
import logging
import math
import os
import socket
import threading
import time
from pathlib import Path

from seiflow.core.errors import SeiflowError

log = logging.getLogger(__name__)

LOCK_TIMEOUT_S = float(os.environ.get("SEIFLOW_STORE_TIMEOUT", 300))
STALE_AFTER_S = 120.0  # a write holds the lock for milliseconds


def _proc_stat(pid: int) -> tuple[str, str] | None:
    """(state, start time in clock ticks since boot) from /proc, or None if no such process."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return None
    except OSError:
        return ("?", "")
    fields = text.rsplit(")", 1)[1].split()  # the name in parentheses may hold spaces
    return fields[0], fields[19]


def owner_id(pid: int | None = None) -> str:
    """``host:pid:start``: names one process even after its pid is reused."""
    pid = os.getpid() if pid is None else pid
    stat = _proc_stat(pid)
    return f"{socket.gethostname()}:{pid}:{stat[1] if stat else ''}"


def owner_alive(owner: str) -> bool | None:
    """True or False for a process on this host; None when it cannot be known (another host,
    or not an owner string)."""
    try:
        host, pid_text, start = owner.rsplit(":", 2)
        pid = int(pid_text)
    except ValueError:
        return None
    if host != socket.gethostname():
        return None
    if not Path("/proc/self/stat").exists():  # no /proc: ask the kernel
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    stat = _proc_stat(pid)
    if stat is None or stat[0] in ("Z", "X"):  # gone, or a zombie nobody has reaped
        return False
    return not (start and stat[1] and stat[1] != start)  # a new process with the old pid


def describe(owner: str) -> str:
    try:
        host, pid, _ = owner.rsplit(":", 2)
    except ValueError:
        return "an unknown process"
    return f"pid {pid} on {host}"


class StoreLock:
    """Re-entrant lock file beside an SQLite store, compatible with ``ase.utils.Lock``."""

    what = "label store lock"  # in the warning when a stale lock is broken
    note = ""  # written after the owner and the time

    def __init__(self, path: str | Path, timeout_s: float = LOCK_TIMEOUT_S,
                 stale_after_s: float = STALE_AFTER_S):
        self.path = str(path)
        self.timeout_s, self.stale_after_s = timeout_s, stale_after_s
        self.depth = 0
        self.fd: int | None = None

    def acquire(self) -> None:
        if self.depth:
            self.depth += 1
            return
        t0, delay = time.monotonic(), 0.005
        while not self._create():
            holder = self._holder()
            if holder is None:  # released just now: try again at once
                continue
            if self._stale(*holder):
                self._break()
                continue
            if time.monotonic() - t0 >= self.timeout_s:
                self._give_up(holder[0])
            time.sleep(delay)
            delay = min(2 * delay, 0.2)
        self.depth = 1

    def _give_up(self, owner: str) -> None:
        who = describe(owner) if owner else "another process"
        raise SeiflowError(
            f"label store is locked by {who} ({self.path}); gave up after "
            f"{self.timeout_s:.0f} s (SEIFLOW_STORE_TIMEOUT): if nothing is writing "
            f"to the store, delete the lock file")

    def release(self) -> None:
        self.depth -= 1
        if self.depth == 0:
            mine = os.fstat(self.fd)
            os.close(self.fd)
            self.fd = None
            try:
                now = os.stat(self.path)
            except FileNotFoundError:  # broken by another process meanwhile
                return
            if (mine.st_ino, mine.st_dev) == (now.st_ino, now.st_dev):  # not someone else's
                os.remove(self.path)

    def __enter__(self) -> StoreLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    def _create(self) -> bool:
        """Take the lock file with its owner already in it: the owner is written to a private
        file first, which is then hard-linked to the lock path (fails if the lock exists, like
        O_EXCL). A process killed at any moment leaves either no lock or one naming it, never
        an empty one that only its age could break (a kill -9 between O_EXCL and the write
        left one: the rerun then waited ``stale_after_s``)."""
        tmp = f"{self.path}.{os.getpid()}.{threading.get_ident()}.tmp"
        fd = os.open(tmp, os.O_CREAT | os.O_TRUNC | os.O_WRONLY, 0o644)
        try:
            os.write(fd, self._owner_line())
            try:
                os.link(tmp, self.path)
            except FileExistsError:
                os.close(fd)
                return False
            except OSError:  # no hard links on this file system: O_EXCL, then the owner
                os.close(fd)
                return self._create_exclusive()
        finally:
            os.remove(tmp)
        self.fd = fd
        return True

    def _owner_line(self) -> bytes:
        return f"{owner_id()} {time.time():.3f} {self.note}".strip().encode() + b"\n"

    def _create_exclusive(self) -> bool:
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        os.write(fd, self._owner_line())
        self.fd = fd
        return True

    def _holder(self) -> tuple[str, float] | None:
        """(owner, age in s) of the lock file now there; None if it has just gone."""
        try:
            with open(self.path) as f:
                text, mtime = f.read(), os.fstat(f.fileno()).st_mtime
        except FileNotFoundError:
            return None
        return (text.split()[0] if text.split() else ""), time.time() - mtime

    def _stale(self, owner: str, age: float) -> bool:
        alive = owner_alive(owner) if owner else None
        return alive is False or (alive is None and age > self.stale_after_s)

    def _break(self) -> None:
        """Remove a stale lock file, unless another process replaced it meanwhile: breakers
        serialise on an flock of the file itself and check it is still the same file."""
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            mine, now = os.fstat(fd), os.stat(self.path)
            if (mine.st_ino, mine.st_dev) != (now.st_ino, now.st_dev):
                return
            text = os.read(fd, 4096).decode(errors="replace")
            owner = text.split()[0] if text.split() else ""
            if not self._stale(owner, time.time() - mine.st_mtime):
                return
            os.remove(self.path)
            why = "is no longer running" if owner_alive(owner) is False else \
                f"held it for {time.time() - mine.st_mtime:.0f} s"
            log.warning("%s %s: removed a stale lock (%s %s)", self.what, self.path,
                        describe(owner) if owner else "a process that wrote no owner", why)
        except FileNotFoundError:
            return
        finally:
            os.close(fd)


RUN_LOCK = ".seiflow.lock"


class RunLock(StoreLock):
    """The single writer of a run folder: ``RUN_LOCK`` in it, held while ``command`` runs.

    A second live process is refused at once (SeiflowError naming its pid, host and command);
    a lock whose owner is dead is broken with a warning. The folder is made if missing, and
    removed again on release if the command left it empty (it failed before writing).
    """

    what = "run folder lock"

    def __init__(self, folder: str | Path, command: str):
        self.folder, self.command = Path(folder), command
        super().__init__(self.folder / RUN_LOCK, timeout_s=0.0, stale_after_s=math.inf)
        self.note = command

    def acquire(self) -> None:
        self.made = not self.folder.exists()
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise SeiflowError(f"{self.folder}: not a folder (a file is in the way)") from None
        except OSError as exc:
            raise SeiflowError(f"{self.folder}: cannot make the folder: "
                               f"{exc.strerror or exc}") from None
        super().acquire()

    def release(self) -> None:
        super().release()
        if getattr(self, "made", False) and self.folder.is_dir() and \
                not any(self.folder.iterdir()):
            self.folder.rmdir()

    def _give_up(self, owner: str) -> None:
        try:
            text = Path(self.path).read_text().split(maxsplit=2)
        except OSError:
            text = []
        what = text[2].strip() if len(text) > 2 else "another command"
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(text[1]))) \
            if len(text) > 1 and _number(text[1]) else "?"
        raise SeiflowError(
            f"{self.folder} is in use by {describe(owner) if owner else 'another process'} "
            f"({what}, since {since}); wait for it to end or use another folder (if no such "
            f"process runs, delete {self.path})")


def _number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False
