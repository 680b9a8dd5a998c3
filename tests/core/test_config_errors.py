import pytest

from seiflow.core.config import StrictModel, load_config
from seiflow.core.elements import check_element
from seiflow.core.errors import ConfigError, UnknownNameError
from seiflow.core.registry import Registry


class Inner(StrictModel):
    pressure_kbar: float = 50.0


class Outer(StrictModel):
    name: str
    inner: Inner = Inner()
    items: list[Inner] = []


def test_unknown_element_names_it_and_suggests():
    with pytest.raises(UnknownNameError) as e:
        check_element("Lj")
    msg = str(e.value)
    assert "'Lj'" in msg and "did you mean" in msg and "Li" in msg
    assert "\n" not in msg
    assert check_element("Li") == 3


def test_registry_suggests_nearest():
    reg: Registry[int] = Registry("labeler")
    reg.register("gpaw")(1)
    reg.register("xtb")(2)
    assert reg.get("xtb") == 2
    with pytest.raises(UnknownNameError, match="did you mean 'gpaw'"):
        reg.get("gpw")
    with pytest.raises(ValueError):
        reg.register("xtb")(3)


@pytest.mark.parametrize("suffix,text", [
    (".yaml", "name: a\ninner:\n  presure_kbar: 3\n"),
    (".toml", 'name = "a"\n[inner]\npresure_kbar = 3\n'),
])
def test_unknown_key_is_named_with_suggestion(tmp_path, suffix, text):
    path = tmp_path / f"c{suffix}"
    path.write_text(text)
    with pytest.raises(ConfigError) as e:
        load_config(path, Outer)
    msg = str(e.value)
    assert "inner.presure_kbar" in msg and "did you mean 'pressure_kbar'" in msg


def test_nested_list_unknown_key_and_bad_type(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("name: a\nitems:\n  - pressure_kbar: x\n  - bogus: 1\n")
    with pytest.raises(ConfigError) as e:
        load_config(path, Outer)
    msg = str(e.value)
    assert "items.0.pressure_kbar" in msg and "items.1.bogus" in msg


def test_valid_config_and_file_errors(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("name: a\ninner: {pressure_kbar: 10}\n")
    assert load_config(path, Outer).inner.pressure_kbar == 10
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.yaml", Outer)
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(ConfigError, match="cannot parse"):
        load_config(bad, Outer)
    other = tmp_path / "c.json"
    other.write_text("{}")
    with pytest.raises(ConfigError, match="yaml"):
        load_config(other, Outer)
