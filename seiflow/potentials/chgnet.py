"""CHGNet (Deng et al., Nat. Mach. Intell. 5, 1031 (2023)) as a potential backend: the shipped
pretrained model as an offline foundation baseline, and fine-tuning it on seiflow's labels.

Saved as a folder: ``chgnet.pt`` (chgnet's own checkpoint layout, ``{"model": {"state_dict",
"model_args"}}``, which ``chgnet.model.CHGNet.from_file`` also reads) and ``model.json``
(backend, species, settings, training record).

Units. seiflow labels are total energies (eV), forces (eV/Å) and stresses in eV/Å³ with ASE's
sign (tensile positive). CHGNet trains on energies per atom (eV/atom), forces (eV/Å) and
stresses in GPa; its network predicts the stress with ASE's sign, but its dataset class
(``chgnet.data.dataset.StructureData``) takes VASP's convention — kBar, compressive positive —
and multiplies by -0.1. So a label σ (eV/Å³) enters it as -10 σ / ``ase.units.GPa``
(``chgnet_stress_input``), and the loss then compares σ/GPa with the prediction, both in GPa.

Fine-tuning (``CHGNetSettings.fit``) uses chgnet's own ``StructureData``,
``get_train_val_test_loader`` and ``Trainer`` (Adam, cosine learning-rate decay, MSE loss on
energy/force/stress, no magnetic moments). Two steps are seiflow's own:

* ``refit_atomref``: before training, CHGNet's per-element reference energies (its AtomRef
  composition model, frozen during training) are shifted by a least-squares fit of the
  training energies' residuals per atom on the composition. A reference method other than
  MPtrj's PBE(+U) (another code, pseudopotentials, xTB, EMT) has its own energy zero per
  element; this absorbs it exactly and changes energies only, never forces or stresses.
  Learning a shift of eV/atom through the network with Adam would take many epochs.
* ``freeze``: which pretrained layers stay fixed (see ``FREEZE``).
"""

from __future__ import annotations

import tempfile
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
from ase import Atoms, units
from pydantic import Field

from seiflow.core.atomic import atomic_path
from seiflow.core.config import StrictModel
from seiflow.core.errors import SeiflowError
from seiflow.core.progress import progress_bar
from seiflow.data.labels import Label
from seiflow.potentials.base import ModelError, check_species, read_model_json, write_model_json
from seiflow.potentials.seeding import global_rngs_seeded
from seiflow.reference.chgnet import (CHGNET_ELEMENTS, CHGNetCalculator, cell_problem,
                                      load_pretrained, quiet, resolve_device, to_structure)

WEIGHTS_FILE = "chgnet.pt"
PRETRAINED = "0.3.0"  # the shipped MPtrj checkpoint fine-tuning starts from

# Which parameter groups stay trainable under each ``freeze`` choice (AtomRef, the composition
# model, is never trained by gradient; ``site_wise`` predicts magnetic moments, not trained).
FREEZE = {
    "none": None,  # every layer trains
    # element embedding and the radial/angular bases and their first projections stay fixed
    "embeddings": ("atom_conv_layers", "bond_conv_layers", "angle_layers", "readout_norm",
                   "mlp"),
    # as CHGNet's fine-tuning example: only the last interaction block and the readout train
    "all-but-readout": ("atom_conv_layers.{last}", "readout_norm", "mlp"),
}


class CHGNetFitError(SeiflowError):
    """Training data or settings the CHGNet fine-tuning cannot use, or a diverged run."""


class CHGNetWeights(StrictModel):
    """Weights of the mean squared errors in chgnet's loss: energy per atom (eV/atom), force
    components (eV/Å) and stress components (GPa). chgnet's defaults: 1, 1, 0.1."""

    energy: float = Field(1.0, ge=0)
    forces: float = Field(1.0, ge=0)
    stress: float = Field(0.1, ge=0)


class CHGNetSettings(StrictModel):
    """Fine-tuning of the pretrained CHGNet (see docs/potentials.md)."""

    backend: Literal["chgnet"] = "chgnet"
    epochs: int = Field(50, ge=1, description="passes over the training structures")
    learning_rate: float = Field(1e-3, gt=0, description="Adam's initial learning rate; "
                                 "cosine decay over the run")
    batch_size: int = Field(8, ge=1, description="structures per optimizer step")
    weights: CHGNetWeights = CHGNetWeights()
    freeze: Literal["none", "embeddings", "all-but-readout"] = Field(
        "all-but-readout", description="pretrained layers kept fixed: none; embeddings (element "
        "embedding, bond/angle bases); all-but-readout (all but the last interaction block and "
        "the readout MLP, as CHGNet's fine-tuning example)")
    refit_atomref: bool = Field(True, description="shift the per-element reference energies "
                                "by least squares to the training energies first (energies only)")
    validation_fraction: float = Field(0.1, ge=0, lt=1, description="share of the structures "
                                       "held out to report validation errors each epoch")
    seed: int = 0
    device: Literal["cpu", "cuda", "auto"] = Field("auto", description="auto: cuda if available")
    max_time: float | None = Field(None, gt=0, description="time budget, s (checked per epoch)")

    def describe(self) -> str:
        return f"CHGNet {PRETRAINED} fine-tuned (frozen: {self.freeze})"

    def fit(self, train: Sequence[Atoms], progress: bool = True,
            start: CHGNetModel | None = None, checkpoint: Path | None = None) -> CHGNetModel:
        """Fine-tune on ``train`` (labels from each structure's calc), starting from ``start``
        or, if None, from the pretrained CHGNet. ``checkpoint`` is not used: fine-tuning runs
        are short, and a killed one starts again."""
        return fine_tune(self, train, progress=progress, start=start)


def chgnet_stress_input(stress: np.ndarray) -> np.ndarray:
    """An ASE stress (Voigt or 3×3, eV/Å³, tensile positive) as chgnet's ``StructureData``
    takes it: 3×3 in VASP's convention (kBar, compressive positive)."""
    s = np.asarray(stress, dtype=float)
    if s.shape == (6,):
        xx, yy, zz, yz, xz, xy = s
        s = np.array([[xx, xy, xz], [xy, yy, yz], [xz, yz, zz]])
    return -10.0 * s / units.GPa


@dataclass
class CHGNetModel:
    """A CHGNet network (pretrained or fine-tuned); ``net`` is a ``chgnet.model.CHGNet``."""

    backend: ClassVar[str] = "chgnet"
    net: Any
    species: tuple[str, ...] = CHGNET_ELEMENTS
    record: dict = field(default_factory=dict)  # checkpoint, settings and training history

    @classmethod
    def pretrained(cls, device: str = "auto") -> CHGNetModel:
        """The shipped MPtrj-pretrained CHGNet 0.3.0 (read from the chgnet package)."""
        import chgnet

        net = load_pretrained(PRETRAINED, device)
        return cls(net=net, record={"checkpoint": f"CHGNet {PRETRAINED} (MPtrj, pretrained)",
                                    "chgnet_version": chgnet.__version__})

    @property
    def cutoff(self) -> float:
        """The atom-graph cutoff (Å)."""
        return float(self.net.graph_converter.atom_graph_cutoff)

    def calculator(self, grade: bool = True) -> CHGNetModelCalculator:
        """ASE calculator: energy, free_energy (eV), forces (eV/Å), stress (eV/Å³, ASE sign).
        CHGNet has no extrapolation grade: ``grade`` adds nothing."""
        return CHGNetModelCalculator(self.net, self.species)

    def grade(self, atoms: Atoms) -> None:
        """No uncertainty measure for a single CHGNet (use a committee): not ``Gradable``;
        None for callers that ask any potential."""
        return None

    def save(self, path: str | Path) -> Path:
        import torch

        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        state = self.net.as_dict()
        state["state_dict"] = {k: v.detach().cpu() for k, v in state["state_dict"].items()}
        with atomic_path(path / WEIGHTS_FILE) as tmp:
            torch.save({"model": state}, tmp)
        meta = {"backend": self.backend, "species": list(self.species), **self.record}
        write_model_json(path, meta)
        return path

    @classmethod
    def load(cls, path: str | Path, device: str = "auto") -> CHGNetModel:
        import torch

        path = Path(path)
        meta = read_model_json(path)
        weights = path / WEIGHTS_FILE
        if not weights.is_file():
            raise ModelError(f"{weights} is missing: the CHGNet weights of this model")
        try:
            # plain tensors and numbers only: no pickled code is executed
            state = torch.load(weights, map_location="cpu", weights_only=True)
            with quiet(), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                from chgnet.model.model import CHGNet

                net = CHGNet.from_dict(state["model"])
        except Exception as exc:  # noqa: BLE001 - any failure here means an unusable file
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ModelError(f"{weights} is not a readable CHGNet checkpoint ({first[:200]})") \
                from None
        net = net.to(resolve_device(device))
        net.eval()
        net.requires_grad_(False)  # inference: forces and stress are gradients of the inputs
        record = {k: v for k, v in meta.items() if k not in ("backend", "species")}
        return cls(net=net, species=tuple(meta["species"]), record=record)



class CHGNetModelCalculator(CHGNetCalculator):
    """The CHGNet calculator with seiflow's model errors: an element outside the model's
    species (CHGNet: H-Pu) or a cell that is not 3D is a ModelError."""

    def __init__(self, net: Any, species: tuple[str, ...] = CHGNET_ELEMENTS, **kwargs):
        super().__init__(net, **kwargs)
        self.species = tuple(species)

    def check(self, atoms: Atoms) -> None:
        check_species(atoms, self.species, "CHGNet")
        problem = cell_problem(atoms)
        if problem:
            raise ModelError(problem)


# ---------------------------------------------------------------------------------------------
# fine-tuning


def _set_trainable(net, freeze: str) -> int:
    """Mark which parameters train; returns how many scalars do."""
    keep = FREEZE[freeze]
    if keep is not None:
        keep = tuple(k.format(last=len(net.atom_conv_layers) - 1) for k in keep)
    n = 0
    for name, param in net.named_parameters():
        train = not name.startswith("composition_model.") and not name.startswith("site_wise.")
        if keep is not None:
            train = train and any(name == k or name.startswith(k + ".") for k in keep)
        param.requires_grad = train
        n += param.numel() if train else 0
    return n


def _refit_atomref(net, graphs, energies_per_atom: np.ndarray) -> dict[str, float]:
    """Shift AtomRef's per-element energies by the least-squares fit of the residuals
    (label - prediction, eV/atom) on the composition fractions. Returns the shifts (eV)."""
    import torch

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Converting a tensor with requires_grad")
        pred = net.predict_graph(list(graphs), task="e", batch_size=16)
    pred = [pred] if isinstance(pred, dict) else pred
    residual = energies_per_atom - np.array([float(p["e"]) for p in pred])
    z = sorted({int(x) for g in graphs for x in g.atomic_number})
    frac = np.array([[float((g.atomic_number == zi).sum()) / len(g.atomic_number) for zi in z]
                     for g in graphs])
    shift = np.linalg.lstsq(frac, residual, rcond=None)[0]  # minimum norm if underdetermined
    fc = net.composition_model.fc
    with torch.no_grad():
        for zi, dz in zip(z, shift, strict=True):
            fc.weight[0, zi - 1] += float(dz)
    return {CHGNET_ELEMENTS[zi - 1]: round(float(dz), 6) for zi, dz in zip(z, shift, strict=True)}


def fine_tune(settings: CHGNetSettings, train: Sequence[Atoms], progress: bool = True,
              start: CHGNetModel | None = None) -> CHGNetModel:
    """A CHGNet fine-tuned on the labelled ``train`` structures (see the module docstring)."""
    import chgnet
    import torch

    with quiet(), warnings.catch_warnings():
        # chgnet.data.dataset runs warnings.filterwarnings("ignore") at import, which would
        # silence every warning of the process; catch_warnings restores the filters
        from chgnet.data.dataset import StructureData

    if not train:
        raise CHGNetFitError("no training structures")
    t0 = time.perf_counter()
    device = resolve_device(settings.device)
    if device == "cuda" and not torch.cuda.is_available():
        raise CHGNetFitError("device cuda was asked for, but torch sees no GPU")
    data = _chgnet_labels(train)
    # a batch without any stress label gives chgnet's loss a NaN, so stress is trained only
    # when every structure has one
    use_stress = settings.weights.stress > 0 and all(s is not None for s in data.stresses)
    targets = "efs" if use_stress else "ef"

    # reproducible: chgnet's split and sampler draw from Python's and torch's global generators
    with global_rngs_seeded(settings.seed):
        net, origin = _start_net(start)
        graphs = _graphs(net, data.structures, train)
        shifts = (_refit_atomref(net, graphs, np.array(data.energies))
                  if settings.refit_atomref else {})
        n_trainable = _set_trainable(net, settings.freeze)
        loaders, n_val = _loaders(net, data, use_stress, settings)
        trainer = _trainer(net, targets, settings, device)
        try:
            stop = _train_epochs(trainer, loaders, settings, progress, t0)
        finally:
            # StructureData.__getitem__ is functools.cache'd on the class: every graph of
            # every data set would stay in memory for the life of the process (refits)
            StructureData.__getitem__.cache_clear()
    net.eval()
    net.requires_grad_(False)  # inference only from here (forces use input gradients)

    hist = trainer.training_history
    history = {split: {key: [float(v) for v in hist[key][split]] for key in targets}
               for split in ("train", "val")}
    n = len(train)
    record = {
        "checkpoint": f"{origin}, fine-tuned",
        "chgnet_version": chgnet.__version__,
        "settings": settings.model_dump(),
        "training": {
            "structures": n, "train_structures": n - n_val, "validation_structures": n_val,
            "atoms": int(sum(len(a) for a in train)), "targets": targets,
            "start": origin, "device": device, "trainable_parameters": n_trainable,
            "atomref_shift_eV": shifts, "epochs_run": len(history["train"]["e"]),
            "stop": stop, "wall_time_s": round(time.perf_counter() - t0, 2),
            "mae_units": {"e": "eV/atom", "f": "eV/Å", "s": "GPa"},
            "mae": history,  # per epoch; val = train structures when none are held out
        },
    }
    return CHGNetModel(net=net, species=CHGNET_ELEMENTS, record=record)


@dataclass
class _Labels:
    """Training labels in chgnet's units (see the module docstring)."""

    structures: list = field(default_factory=list)
    energies: list = field(default_factory=list)  # eV/atom
    forces: list = field(default_factory=list)  # eV/Å
    stresses: list = field(default_factory=list)  # chgnet's input convention, or None


def _chgnet_labels(train: Sequence[Atoms]) -> _Labels:
    data = _Labels()
    for k, atoms in enumerate(train):
        where = atoms.info.get("source", f"training structure {k}")
        check_species(atoms, CHGNET_ELEMENTS, "CHGNet (H-Pu)")
        if cell_problem(atoms):
            raise CHGNetFitError(cell_problem(atoms))
        label = Label.from_atoms(atoms)
        if label.energy is None or label.forces is None:
            raise CHGNetFitError(f"{where} has no energy or forces label")
        data.structures.append(to_structure(atoms))
        data.energies.append(label.energy / len(atoms))
        data.forces.append(label.forces)
        periodic = bool(all(atoms.pbc))
        data.stresses.append(chgnet_stress_input(label.stress)
                             if periodic and label.stress is not None else None)
    return data


def _start_net(start: CHGNetModel | None):
    """The network fine-tuning starts from (a copy of ``start``, or the shipped model)."""
    from chgnet.model.model import CHGNet

    with quiet(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if start is not None:
            net = CHGNet.from_dict(start.net.as_dict())
            origin = start.record.get("checkpoint", "a CHGNet model")
        else:
            net = load_pretrained(PRETRAINED, "cpu")
            origin = f"CHGNet {PRETRAINED} (MPtrj, pretrained)"
    net.eval()
    return net, origin


def _graphs(net, structures, train: Sequence[Atoms]) -> list:
    """Every structure's graph (chgnet's dataset would silently swap in another one)."""
    graphs = []
    for k, s in enumerate(structures):
        try:
            graphs.append(net.graph_converter(s, graph_id=k))
        except Exception as exc:  # noqa: BLE001 - isolated atoms and the like
            where = train[k].info.get("source", f"training structure {k}")
            raise CHGNetFitError(f"{where}: CHGNet cannot build its graph ({exc})") from None
    return graphs


def _loaders(net, data: _Labels, use_stress: bool, settings: CHGNetSettings):
    """chgnet's train and validation loaders, and the number of validation structures."""
    from chgnet.data.dataset import StructureData, get_train_val_test_loader

    n = len(data.structures)
    n_val = int(round(settings.validation_fraction * n))
    if settings.validation_fraction > 0:
        n_val = max(1, n_val)
    n_val = min(n_val, n - 1)
    with quiet():
        dataset = StructureData(structures=data.structures, energies=data.energies,
                                forces=data.forces,
                                stresses=data.stresses if use_stress else None,
                                graph_converter=net.graph_converter, shuffle=False)
        # chgnet sizes the split with int(ratio * n); +0.5 makes that exactly n - n_val, n_val
        train_loader, val_loader = get_train_val_test_loader(
            dataset, batch_size=settings.batch_size, train_ratio=(n - n_val + 0.5) / n,
            val_ratio=(n_val + 0.5) / n, return_test=False, pin_memory=False)
    if n_val == 0:  # validate on the training structures (in eval mode) rather than none
        val_loader = train_loader
    return (train_loader, val_loader), n_val


def _trainer(net, targets: str, settings: CHGNetSettings, device: str):
    from chgnet.trainer import Trainer

    w = settings.weights
    with quiet():
        return Trainer(model=net, targets=targets, energy_loss_ratio=w.energy,
                       force_loss_ratio=w.forces, stress_loss_ratio=w.stress,
                       mag_loss_ratio=0.0, optimizer="Adam", scheduler="CosLR",
                       criterion="MSE", epochs=settings.epochs,
                       learning_rate=settings.learning_rate, print_freq=10**9,
                       torch_seed=settings.seed, use_device=device)


def _train_epochs(trainer, loaders, settings: CHGNetSettings, progress: bool, t0: float) -> str:
    """One epoch per ``Trainer.train`` call (same trainer, optimizer and cosine schedule over
    all epochs), so that seiflow can show progress and stop at max_time: chgnet's Trainer has
    no time budget. Its per-epoch checkpoints go to a temporary folder. Returns why it
    stopped."""
    with progress_bar(progress) as bar, tempfile.TemporaryDirectory() as scratch:
        job = bar.add_task("CHGNet fine-tune", total=settings.epochs)
        for epoch in range(settings.epochs):
            trainer.starting_epoch, trainer.epochs = epoch, epoch + 1
            with quiet(), warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="Converting a tensor with requires")
                trainer.train(*loaders, save_dir=scratch)
            hist = trainer.training_history
            if len(hist["e"]["train"]) <= epoch or not np.isfinite(hist["e"]["train"][-1]) \
                    or not np.isfinite(hist["e"]["val"][-1]):
                raise CHGNetFitError(f"CHGNet fine-tuning diverged (NaN loss) in epoch "
                                     f"{epoch + 1}; lower learning_rate")
            bar.update(job, completed=epoch + 1, description=(
                f"CHGNet fine-tune val e {1000 * hist['e']['val'][-1]:.1f} meV/atom "
                f"f {hist['f']['val'][-1]:.3f} eV/Å"))
            if settings.max_time is not None and time.perf_counter() - t0 > settings.max_time:
                return "time limit"
    return "epochs"
