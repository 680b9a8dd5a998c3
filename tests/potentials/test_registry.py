"""The backend table: one register_backend line per backend, the discriminated settings union
built from it, capabilities read from the model classes, and a learn config whose potential
cannot grade refused when it is loaded."""

import pytest
from pydantic import BaseModel, TypeAdapter

from seiflow.core.config import parse_config
from seiflow.core.errors import ConfigError, UnknownNameError
from seiflow.potentials.backends import settings_union
from seiflow.potentials.base import Gradable, implements
from seiflow.potentials.registry import (BACKEND_NAMES, BACKENDS, CHGNetSettings,
                                         CommitteeSettings, MACESettings, MTPSettings,
                                         PotentialSettings, SevenNetSettings,
                                         require_gradable)


def test_every_backend_registered_once_in_order():
    assert BACKEND_NAMES == ("mtp", "mace", "chgnet", "sevennet", "committee")
    for name in BACKEND_NAMES:
        cls = BACKENDS.get(name).model_class()
        assert cls.backend == name
        assert callable(cls.load) and callable(cls.calculator) and callable(cls.save)
    assert [BACKENDS.get(n).gradable for n in BACKEND_NAMES] == [True, True, False, False, True]
    with pytest.raises(UnknownNameError, match="did you mean 'mace'"):
        BACKENDS.get("macee")


def test_union_picks_the_settings_class_by_backend():
    ta = TypeAdapter(PotentialSettings)
    assert type(ta.validate_python({})) is MTPSettings  # no backend: an MTP, as before
    assert type(ta.validate_python({"backend": "mace"})) is MACESettings
    assert type(ta.validate_python({"backend": "chgnet"})) is CHGNetSettings
    made = ta.validate_python({"backend": "committee", "member": {"backend": "mtp", "level": 6}})
    assert type(made) is CommitteeSettings and made.member.level == 6
    assert type(ta.validate_python({"backend": "sevennet"})) is SevenNetSettings
    member = ta.validate_python({"backend": "committee", "member": {"backend": "sevennet"}})
    assert type(member.member) is SevenNetSettings  # committees take every other backend
    with pytest.raises(ValueError, match="'mtp', 'mace', 'chgnet', 'sevennet', 'committee'"):
        ta.validate_python({"backend": "nonesuch"})

    class Only(BaseModel):
        potential: settings_union(exclude=("chgnet", "committee"))

    with pytest.raises(ValueError, match="'mtp', 'mace'"):
        Only(potential={"backend": "chgnet"})


def test_gradable_capability_is_checked_on_the_class():
    from seiflow.potentials.chgnet import CHGNetModel
    from seiflow.potentials.committee import CommitteeModel
    from seiflow.potentials.mtp.model import MTPModel

    assert implements(MTPModel, Gradable) and implements(CommitteeModel, Gradable)
    assert not implements(CHGNetModel, Gradable)
    require_gradable(MTPSettings())
    with pytest.raises(ValueError, match="'chgnet' has no extrapolation grade"):
        require_gradable(CHGNetSettings())


def test_learn_config_with_an_ungradable_potential_is_refused_on_load(tmp_path):
    from seiflow.workflows.learn import LearnConfig

    cfg = {"run_dir": str(tmp_path / "run"),
           "structures": {"formats": ["extxyz"],
                          "amorphous": [{"name": "c", "composition": {"LiF": 2}}]},
           "potential": {"backend": "chgnet"}}
    with pytest.raises(ConfigError) as err:
        parse_config(cfg, LearnConfig)
    message = str(err.value)
    assert "'chgnet' has no extrapolation grade" in message and "mtp, mace, committee" in message
    assert "\n" not in message.strip()
    assert not (tmp_path / "run").exists()
    committee = {"backend": "committee", "member": {"backend": "mtp"}}
    good = parse_config({**cfg, "potential": committee}, LearnConfig)
    assert good.potential.backend == "committee"
