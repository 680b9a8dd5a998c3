"""A SevenNet network (Park et al., J. Chem. Theory Comput. 20, 4857 (2024)) as a seiflow
potential: the shipped SevenNet-0 or a fine-tuned copy, its ASE calculator, save and load.

Saved as a folder: ``sevennet.pth`` (sevenn's own checkpoint layout, ``{"model_state_dict",
"config"}``: ``sevenn.calculator.SevenNetCalculator(path)``, ``sevenn_get_model`` (LAMMPS
deployment) and ``sevenn.util.model_from_checkpoint`` read it too) and ``model.json``
(backend, species, settings, training record).

Conventions as the SevenNet labeler (reference/sevennet.py): energies eV, forces eV/Å, stress
eV/Å³ with ASE's sign; every cell is treated as periodic (a molecule needs a vacuum box); the
network runs in float32. Not ``Gradable``: a single network has no extrapolation grade (a
committee of fine-tuned copies has one).
"""

from __future__ import annotations

import copy
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from ase import Atoms
from ase.calculators.calculator import all_changes
from ase.data import chemical_symbols

from seiflow.core.atomic import atomic_path
from seiflow.core.fingerprint import fingerprint
from seiflow.potentials.base import ModelError, check_species, read_model_json, write_model_json
from seiflow.reference.chgnet import resolve_device
from seiflow.reference.sevennet import SevenNetASECalculator

WEIGHTS_FILE = "sevennet.pth"


def _sevenn_ready() -> None:
    # e3nn 0.4.4 torch.loads its constants at import (see reference/sevennet.py)
    os.environ.setdefault("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")


def _arch_key(config: dict) -> str:
    """What decides a network's modules: its config less the energy shift and scale (values
    in the state dict; ``shift``, ``scale``, ``shift_cp``, ...)."""
    kept = sorted((k, repr(v)) for k, v in config.items() if not k.startswith(("shift", "scale")))
    return fingerprint(repr(kept), length=None)


_SKELETONS: dict[str, tuple[Any, dict]] = {}  # architecture key -> (network, patched config)


def build_network(checkpoint: str | Path) -> tuple[Any, dict]:
    """sevenn's network and config from a checkpoint file. The first network of an
    architecture is built by ``sevenn.util.model_from_checkpoint`` (~8 s on one core: e3nn
    compiles its TorchScript modules); later ones are copies of it with the file's weights
    (``load_state_dict``, strict). Building draws initial weights from torch's global
    generator before the stored ones replace them; ``fork_rng`` puts its state back."""
    _sevenn_ready()
    import torch
    from sevenn.util import model_from_checkpoint

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cp = torch.load(str(checkpoint), map_location="cpu", weights_only=False)
        key = _arch_key(cp["config"])
        if key in _SKELETONS:
            net, config = (copy.deepcopy(x) for x in _SKELETONS[key])
            try:
                net.load_state_dict(cp["model_state_dict"])
                config.update({k: v for k, v in cp["config"].items()
                               if k.startswith(("shift", "scale"))})
                return net, config
            except RuntimeError:  # parameter names of an older sevenn: build it as sevenn does
                pass
        with torch.random.fork_rng(devices=[]):
            net, config = model_from_checkpoint(copy.deepcopy(cp))
        _SKELETONS.setdefault(key, (copy.deepcopy(net), copy.deepcopy(config)))
    return net, config


def foundation_network(name: str) -> tuple[Any, dict]:
    """A fresh copy of a shipped (or local) checkpoint's network and config."""
    return build_network(foundation_path(name))


def foundation_path(name: str) -> str:
    """The file of a shipped checkpoint (``sevennet-0``, ...) or a local checkpoint path."""
    _sevenn_ready()
    from sevenn.util import pretrained_name_to_path

    return name if Path(name).is_file() else pretrained_name_to_path(name)


def species_of(config: dict) -> tuple[str, ...]:
    """The elements the network has an embedding for, by atomic number."""
    import sevenn._keys as KEY

    return tuple(chemical_symbols[int(z)] for z in sorted(config[KEY.TYPE_MAP]))


@dataclass
class SevenNetModel:
    """A SevenNet network (``sevenn.nn.sequential.AtomGraphSequential``) and its config."""

    backend: ClassVar[str] = "sevennet"
    net: Any
    config: dict
    species: tuple[str, ...] = ()
    record: dict = field(default_factory=dict)
    device: str = "cpu"

    def __post_init__(self):
        self.species = self.species or species_of(self.config)
        self.net = self.net.to(self.device).eval()
        self.net.set_is_batch_data(False)
        self.net.requires_grad_(False)  # forces and stress are gradients of the inputs only

    @classmethod
    def foundation(cls, name: str = "sevennet-0", device: str = "auto") -> SevenNetModel:
        """A shipped SevenNet as it comes (read from the sevenn package)."""
        import sevenn

        net, config = foundation_network(name)
        return cls(net=net, config=config, device=resolve_device(device),
                   record={"checkpoint": f"{name} (shipped with sevenn {sevenn.__version__})"})

    @property
    def cutoff(self) -> float:
        """The graph cutoff, Å."""
        import sevenn._keys as KEY

        return float(self.config[KEY.CUTOFF])

    def calculator(self, grade: bool = True) -> SevenNetModelCalculator:
        """ASE calculator: energy, free_energy (eV), forces (eV/Å), stress (eV/Å³, ASE sign).
        No extrapolation grade: ``grade`` adds nothing."""
        _sevenn_ready()
        from sevenn.calculator import SevenNetCalculator

        engine = SevenNetCalculator(self.net, file_type="model_instance", device=self.device)
        return SevenNetModelCalculator(engine, self.species)

    def grade(self, atoms: Atoms) -> None:
        """No uncertainty measure for a single network (train a committee): None."""
        return None

    def checkpoint(self) -> dict:
        """sevenn's checkpoint layout of this network (tensors on the CPU)."""
        state = {k: v.detach().cpu().clone() for k, v in self.net.state_dict().items()}
        return {"model_state_dict": state, "config": copy.deepcopy(self.config)}

    def save(self, path: str | Path) -> Path:
        import torch

        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        with atomic_path(path / WEIGHTS_FILE) as tmp:
            torch.save(self.checkpoint(), tmp)
        write_model_json(path, {"backend": self.backend, "species": list(self.species),
                                **self.record})
        return path

    @classmethod
    def load(cls, path: str | Path, device: str = "auto") -> SevenNetModel:
        path = Path(path)
        meta = read_model_json(path)
        weights = path / WEIGHTS_FILE
        if not weights.is_file():
            raise ModelError(f"{weights} is missing: the SevenNet weights of this model")
        try:
            net, config = build_network(weights)
        except Exception as exc:  # noqa: BLE001 - any failure here means an unusable file
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise ModelError(f"{weights} is not a readable sevenn checkpoint ({first[:200]})") \
                from None
        record = {k: v for k, v in meta.items() if k not in ("backend", "species")}
        return cls(net=net, config=config, species=tuple(meta["species"]), record=record,
                   device=resolve_device(device))


class SevenNetModelCalculator(SevenNetASECalculator):
    """The SevenNet calculator with seiflow's model errors: an element without an embedding
    or a cell that is not 3D is a one-line ModelError."""

    def __init__(self, engine: Any, species: tuple[str, ...], **kwargs):
        super().__init__(engine, **kwargs)
        self.species = tuple(species)

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        if atoms is not None:
            check_species(atoms, self.species, "SevenNet")
            if atoms.cell.rank < 3:
                where = atoms.info.get("source", atoms.get_chemical_formula())
                raise ModelError(f"{where}: SevenNet needs a 3D cell (put a molecule or slab "
                                 "in a vacuum box with > 5 Å of vacuum)")
        super().calculate(atoms, properties, system_changes)
