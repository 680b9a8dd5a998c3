"""Config files (YAML or TOML) validated by pydantic; unknown keys are rejected by name."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from seiflow.core.errors import ConfigError, suggest

M = TypeVar("M", bound=BaseModel)

# Sane limits of sizes in configs: beyond them a value is a typo, and the work would hang or
# exhaust memory long before it failed on its own (e.g. a 1e6 Å supercell width).
MAX_WIDTH_A = 200.0  # supercell widths, Å (a 200 Å cube of Li is ~400,000 atoms)
MAX_ATOMS = 200_000  # atoms a config may ask to build in one structure
MAX_COUNT = 10_000  # structures, copies, layers a config may ask for
MAX_TEMPERATURE_K = 100_000.0
MAX_PRESSURE_BAR = 1.0e7  # |p| up to 1 TPa


class StrictModel(BaseModel):
    """Base for every seiflow config: unknown keys are errors, values are validated, and no
    number may be NaN or infinite (a NaN compares false with every bound)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)


def read_mapping(path: str | Path) -> dict[str, Any]:
    """Read a YAML (.yaml/.yml) or TOML (.toml) file into a dict."""
    path = Path(path)
    if path.is_file() and path.suffix not in (".toml", ".yaml", ".yml"):
        raise ConfigError(f"config {path}: use a .yaml, .yml or .toml file")
    text = read_text(path, "config")
    try:
        data = tomllib.loads(text) if path.suffix == ".toml" else yaml.safe_load(text)
    except (yaml.YAMLError, tomllib.TOMLDecodeError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ConfigError(f"config {path}: cannot parse: {first}") from None
    except RecursionError:
        raise ConfigError(f"config {path}: cannot parse: nested too deeply") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"config {path}: the top level must be a mapping of keys to values")
    return data


def mapping_at(data: dict[str, Any], key: str, where: str, name: str | None = None
               ) -> dict[str, Any]:
    """``data[key]`` as a dict that command-line options can be merged into: created empty
    when missing or null; ConfigError naming ``name`` (default ``key``) when it is anything
    else than a mapping."""
    value = data.get(key)
    if value is None:
        value = data[key] = {}
    if not isinstance(value, dict):
        shown = repr(value)
        shown = shown if len(shown) <= 60 else shown[:57] + "..."
        raise ConfigError(f"config {where}: {name or key} must be a mapping of keys to values, "
                          f"not {type(value).__name__} {shown}")
    return value


def read_text(path: Path, what: str = "file") -> str:
    """The UTF-8 text of ``path``; ConfigError (one line) if it is missing, not a file,
    unreadable or not UTF-8 (naming the first bad byte and its line)."""
    if not path.is_file():
        raise ConfigError(f"{what} file not found: {path}"
                          + (" (it is a directory)" if path.is_dir() else ""))
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{what} {path}: cannot read: {exc.strerror or exc}") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise ConfigError(f"{what} {path}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at "
                          f"offset {exc.start}, line {line}); save it as UTF-8") from None


def format_validation_error(exc: ValidationError, model: type[BaseModel], where: str) -> str:
    """One line per problem, naming the key path; suggestions for misspelt keys."""
    lines = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
        if err["type"] == "extra_forbidden":
            key = str(err["loc"][-1])
            allowed = _allowed_keys(model, err["loc"][:-1])
            hints = suggest(key, allowed) if allowed else []
            hint = f"; did you mean {hints[0]!r}?" if hints else ""
            lines.append(f"unknown key {loc!r}{hint}")
        elif err["type"] == "union_tag_not_found":
            lines.append(_tag_not_found(loc, err))
        elif err["type"] == "union_tag_invalid":
            tag, valid = str(err["ctx"]["tag"]), str(err["ctx"]["expected_tags"])
            names = [v.strip(" '") for v in valid.split(",")]
            hints = suggest(tag, names)
            hint = f"; did you mean {hints[0]!r}?" if hints else ""
            lines.append(f"{loc}: unknown name {tag!r}{hint} (valid: {', '.join(names)})")
        else:
            lines.append(f"{loc}: {err['msg'].removeprefix('Value error, ')}")
    return f"config {where}: " + "; ".join(lines)


def _tag_not_found(loc: str, err: dict) -> str:
    """A discriminated union given no tag: a missing ``name:`` key, or (a callable
    discriminator, which returns None then) a value that is not a mapping at all."""
    disc = str(err.get("ctx", {}).get("discriminator", ""))
    if isinstance(err.get("input"), dict) and disc.startswith("'"):
        return f"{loc}: the key {disc} is missing"
    return f"{loc}: must be a mapping of keys to values, not {type(err.get('input')).__name__}"


def _allowed_keys(model: type[BaseModel], loc: tuple) -> list[str]:
    """Field names of the (sub)model at ``loc``, best effort, for suggestions."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        fields = getattr(current, "model_fields", None)
        if not fields or part not in fields:
            return []
        current = _model_of(fields[part].annotation)
        if current is None:
            return []
    return list(getattr(current, "model_fields", {}))


def _model_of(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _model_of(arg)
        if found is not None:
            return found
    return None


def parse_config(data: dict[str, Any], model: type[M], where: str = "<dict>") -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, model, where)) from None


def load_config(path: str | Path, model: type[M]) -> M:
    """Load and validate a config file; raises ConfigError with one readable line."""
    return parse_config(read_mapping(path), model, where=str(path))
