"""Config files that are not what they claim: not UTF-8, a directory, nested too deeply,
NaN or infinite numbers, a section that is not a mapping. Each is one ConfigError line."""

import pytest

from seiflow.core.config import StrictModel, load_config, mapping_at, parse_config, read_mapping
from seiflow.core.errors import ConfigError


class Settings(StrictModel):
    pressure_kbar: float = 50.0
    temperatures_K: list[float] = [300.0]
    shift: tuple[float, float] = (0.0, 1.0)
    charges: dict[str, float] = {}


def one_line(exc) -> str:
    msg = str(exc.value)
    assert "\n" not in msg
    return msg


def test_non_utf8_config_names_the_byte_and_line(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_bytes(b"pressure_kbar: 5\n# caf\xe9\n")
    with pytest.raises(ConfigError) as e:
        read_mapping(path)
    assert "not UTF-8" in one_line(e) and "0xe9" in one_line(e) and "line 2" in one_line(e)


def test_a_directory_or_a_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="it is a directory"):
        read_mapping(tmp_path)
    with pytest.raises(ConfigError, match="config file not found"):
        read_mapping(tmp_path / "none.toml")


@pytest.mark.parametrize("text", ["[" * 5000, "a: " + "[" * 5000 + "]" * 5000, "- " * 3000 + "x"])
def test_deeply_nested_yaml_is_one_line(tmp_path, text):
    path = tmp_path / "deep.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as e:
        read_mapping(path)
    assert "cannot parse" in one_line(e) or "top level" in one_line(e)


@pytest.mark.parametrize("data, where", [
    ({"pressure_kbar": float("nan")}, "pressure_kbar"),
    ({"pressure_kbar": "inf"}, "pressure_kbar"),
    ({"temperatures_K": [300, float("-inf")]}, "temperatures_K.1"),
    ({"shift": [float("nan"), 1]}, "shift.0"),
    ({"charges": {"Li": float("nan")}}, "charges.Li"),
])
def test_nan_and_infinity_are_refused_everywhere(data, where):
    with pytest.raises(ConfigError) as e:
        parse_config(data, Settings, "c.yaml")
    assert where in one_line(e) and "finite" in one_line(e)


def test_yaml_nan_spelling(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("pressure_kbar: .nan\n")
    with pytest.raises(ConfigError, match="finite"):
        load_config(path, Settings)


def test_mapping_at():
    data = {"engine": None, "potential": 5}
    assert mapping_at(data, "engine", "c.yaml") == {} and data["engine"] == {}
    assert mapping_at(data, "missing", "c.yaml") == {} and data["missing"] == {}
    with pytest.raises(ConfigError) as e:
        mapping_at(data, "potential", "c.yaml", "potential")
    assert "potential must be a mapping" in one_line(e) and "int 5" in one_line(e)
