"""A seeded mutator of YAML configs: the same (text, seed) always gives the same mutant.

A mutant is one to three *structural* mutations of the parsed mapping (delete a key, a wrong
type, a bad number, an empty list, a reversed range, an unknown key) and, for some seeds, a
*textual* one of the dumped YAML (non-UTF-8 bytes, a truncated file, broken syntax).

Each mutation says whether it always makes a config invalid (``must_reject``: a wrong type, NaN
or infinity, an unknown key, bytes that are not UTF-8) or may leave it valid (a deleted key with
a default, a negative pressure, an empty optional list...). The last mutation of a mutant is the
one that counts: a later deletion could otherwise remove an earlier wrong type.
"""

from __future__ import annotations

import copy
import math
import random
from dataclasses import dataclass, field
from typing import Any

import yaml

BAD_NUMBERS = (-1, 0, -1e9, 1e300, 10**30, -0.0, 1e-300, 2**63, -(2**63) - 1)
NON_FINITE = (math.nan, math.inf, -math.inf)
UNKNOWN_KEYS = ("colour", "unknown_option", "extra", "temprature", "__class__", "0")
BROKEN_SYNTAX = (": :\n", "{", "[", "\t- x", "key: 'unclosed", "*alias",
                 "!!python/object:os.system x", "? [a]\n: b", "%YAML 9.9\n---\n")
STRUCTURAL = ("delete_key", "wrong_type", "bad_number", "non_finite", "empty_list",
              "reversed_range", "unknown_key")
TEXTUAL = ("non_utf8", "truncate", "broken_syntax")
MUST_REJECT = frozenset({"wrong_type", "non_finite", "unknown_key", "non_utf8"})


@dataclass
class Mutant:
    """The mutated file's bytes and what was done to it."""

    data: bytes
    steps: list[str] = field(default_factory=list)
    must_reject: bool = False

    def describe(self) -> str:
        return "; ".join(self.steps)


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path (tuple of keys / list indices) below ``node``, parents before children."""
    out = []
    items = node.items() if isinstance(node, dict) else \
        enumerate(node) if isinstance(node, list) else ()
    for key, value in items:
        out.append(prefix + (key,))
        out += _paths(value, prefix + (key,))
    return out


def _get(node: Any, path: tuple) -> Any:
    for key in path:
        node = node[key]
    return node


def _set(node: Any, path: tuple, value: Any) -> None:
    _get(node, path[:-1])[path[-1]] = value


def _show(path: tuple) -> str:
    return ".".join(str(p) for p in path) or "(top)"


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _wrong_type(value: Any, rng: random.Random) -> Any:
    """A value no field of ``value``'s type accepts."""
    if isinstance(value, (dict, list)):
        return rng.choice([{"not": "this"}, "not-a-mapping-or-list", 3.5]) \
            if isinstance(value, list) else rng.choice([["not", "a", "mapping"], "nope", 7])
    if isinstance(value, str) or value is None:  # None: the field may be `str | None`
        return rng.choice([{"a": 1}, [{"b": 2}]])
    return rng.choice([{"a": 1}, [[1, 2]], "not-a-number"])


def _structural(data: dict, kind: str, rng: random.Random) -> str | None:
    """Apply one structural mutation in place; its description, or None if not applicable."""
    paths = _paths(data)
    if kind == "unknown_key":
        maps = [()] + [p for p in paths if isinstance(_get(data, p), dict)]
        where = rng.choice(maps)
        key = rng.choice(UNKNOWN_KEYS)
        target = _get(data, where)
        if key in target:
            return None
        target[key] = rng.choice([1, "x", [1], {"y": 2}])
        return f"unknown_key {_show(where + (key,))}"
    if kind == "delete_key":
        keys = [p for p in paths if isinstance(_get(data, p[:-1]), dict)]
        if not keys:
            return None
        path = rng.choice(keys)
        del _get(data, path[:-1])[path[-1]]
        return f"delete_key {_show(path)}"
    if kind == "wrong_type":
        path = rng.choice(paths) if paths else None
        if path is None:
            return None
        _set(data, path, _wrong_type(_get(data, path), rng))
        return f"wrong_type {_show(path)}"
    return _numeric(data, paths, kind, rng)


def _numeric(data: dict, paths: list[tuple], kind: str, rng: random.Random) -> str | None:
    if kind in ("bad_number", "non_finite"):
        nums = [p for p in paths if _is_number(_get(data, p))]
        if not nums:
            return None
        path = rng.choice(nums)
        value = rng.choice(BAD_NUMBERS if kind == "bad_number" else NON_FINITE)
        _set(data, path, value)
        return f"{kind} {_show(path)}={value!r}"
    lists = [p for p in paths if isinstance(_get(data, p), list)]
    if kind == "empty_list":
        if not lists:
            return None
        path = rng.choice(lists)
        _set(data, path, [])
        return f"empty_list {_show(path)}"
    ranges = [p for p in lists if len(_get(data, p)) >= 2
              and all(_is_number(v) for v in _get(data, p))]
    if not ranges:
        return None
    path = rng.choice(ranges)
    _set(data, path, list(reversed(_get(data, path))))
    return f"reversed_range {_show(path)}"


def _textual(raw: bytes, kind: str, rng: random.Random) -> tuple[bytes, str]:
    if kind == "non_utf8":
        at = rng.randrange(len(raw) + 1)
        junk = bytes(rng.choice([0x80, 0xC3, 0xFE, 0xE9, 0xC0]) for _ in range(rng.randint(0, 3)))
        junk += b"\xff"  # never valid in UTF-8, whatever surrounds it
        return raw[:at] + junk + raw[at:], f"non_utf8 at byte {at}"
    if kind == "truncate":
        at = rng.randrange(len(raw)) if raw else 0
        return raw[:at], f"truncate at byte {at} of {len(raw)}"
    lines = raw.split(b"\n")
    at = rng.randrange(len(lines))
    lines.insert(at, rng.choice(BROKEN_SYNTAX).encode())
    return b"\n".join(lines), f"broken_syntax at line {at + 1}"


def mutate(text: str, seed: int) -> Mutant:
    """The mutant of the YAML ``text`` for ``seed`` (deterministic)."""
    rng = random.Random(seed)
    data = copy.deepcopy(yaml.safe_load(text)) or {}
    steps, last = [], None
    for _ in range(rng.choice([1, 1, 2, 3])):
        for _attempt in range(10):
            kind = rng.choice(STRUCTURAL)
            done = _structural(data, kind, rng)
            if done:
                steps.append(done)
                last = kind
                break
    raw = yaml.safe_dump(data, sort_keys=False, allow_unicode=True).encode()
    if rng.random() < 0.3:
        kind = rng.choice(TEXTUAL)
        raw, done = _textual(raw, kind, rng)
        steps.append(done)
        last = kind
    return Mutant(raw, steps, last in MUST_REJECT)
