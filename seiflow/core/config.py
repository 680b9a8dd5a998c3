"""Config files (YAML or TOML) validated by pydantic; unknown keys are rejected by name."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from seiflow.core.errors import ConfigError, suggest

M = TypeVar("M", bound=BaseModel)


class StrictModel(BaseModel):
    """Base for every seiflow config: unknown keys are errors, values are validated."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


def read_mapping(path: str | Path) -> dict[str, Any]:
    """Read a YAML (.yaml/.yml) or TOML (.toml) file into a dict."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    text = path.read_text()
    try:
        if path.suffix == ".toml":
            data = tomllib.loads(text)
        elif path.suffix in (".yaml", ".yml"):
            data = yaml.safe_load(text)
        else:
            raise ConfigError(f"config {path}: use a .yaml, .yml or .toml file")
    except (yaml.YAMLError, tomllib.TOMLDecodeError) as exc:
        first = str(exc).strip().splitlines()[0]
        raise ConfigError(f"config {path}: cannot parse: {first}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"config {path}: the top level must be a mapping of keys to values")
    return data


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
        elif err["type"] == "union_tag_invalid":
            tag, valid = str(err["ctx"]["tag"]), str(err["ctx"]["expected_tags"])
            names = [v.strip(" '") for v in valid.split(",")]
            hints = suggest(tag, names)
            hint = f"; did you mean {hints[0]!r}?" if hints else ""
            lines.append(f"{loc}: unknown name {tag!r}{hint} (valid: {', '.join(names)})")
        else:
            lines.append(f"{loc}: {err['msg']}")
    return f"config {where}: " + "; ".join(lines)


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
