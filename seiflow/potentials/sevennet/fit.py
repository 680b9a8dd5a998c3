"""Fine-tuning a SevenNet on labelled structures through sevenn's own training API.

1. Data: every frame becomes sevenn's graph (``sevenn.train.dataload.atoms_to_graph``, cutoff
   of the network) with its labels in sevenn's convention (``sevenn_stress``); a seeded
   ``valid_fraction`` of the frames is held back to pick the best epoch.
2. Start: the shipped checkpoint (built once per process by ``sevenn.util.
   model_from_checkpoint``, then copied) or a copy of ``start``. With ``refit_shift`` the
   per-element energy offsets (``rescale_atomic_energy.shift``, not trained by gradient, as in
   sevenn's recipe) are first moved by the least-squares fit of the training energies'
   residuals on the composition: a reference with another energy zero per element (other
   code, pseudopotentials, settings) is absorbed exactly, changing energies only, never forces
   or stresses. The same fit after the epochs removes the mean energy bias that training the
   weights left (on mlearn Li after one epoch: 6.5 meV/atom).
3. Loop: ``sevenn.train.trainer.Trainer`` with sevenn's ``PerAtomEnergyLoss``, ``ForceLoss``
   and ``StressLoss`` (kbar), Adam and ExponentialLR; one ``run_one_epoch`` per epoch so that
   seiflow shows progress and stops at ``max_time``. The weights of the epoch with the lowest
   validation loss are kept.

Random numbers: the shuffling draws from a local ``torch.Generator`` seeded with ``seed +
epoch``, and building the network from a checkpoint runs under ``torch.random.fork_rng``, so
a fine-tune is reproducible and leaves the process's global generators as they were.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Sequence

import numpy as np
import torch
from ase import Atoms
from ase.data import atomic_numbers, chemical_symbols

from seiflow.core.errors import SeiflowError
from seiflow.core.progress import progress_bar
from seiflow.data.labels import Label
from seiflow.potentials.base import check_species
from seiflow.potentials.sevennet.model import SevenNetModel, foundation_network, species_of
from seiflow.potentials.sevennet.settings import FOUNDATIONS, SevenNetSettings
from seiflow.reference.chgnet import resolve_device


class SevenNetFitError(SeiflowError):
    """Training data or settings a SevenNet fine-tune cannot use, or a diverged run."""


def sevenn_stress(stress) -> np.ndarray:
    """An ASE stress (Voigt xx yy zz yz xz xy, eV/Å³, tensile positive) as sevenn's label
    (xx yy zz xy yz zx, eV/Å³, compressive positive): what ``sevenn.train.dataload.
    _set_atoms_y`` does with a calculator's stress."""
    return -np.asarray(stress, dtype=float).reshape(6)[[0, 1, 2, 5, 3, 4]]


def to_graphs(frames: Sequence[Atoms], cutoff: float) -> list:
    """sevenn's ``AtomGraphData`` of each labelled frame (periodic, as the calculator)."""
    from sevenn.atom_graph_data import AtomGraphData
    from sevenn.train.dataload import atoms_to_graph

    graphs = []
    for k, atoms in enumerate(frames):
        where = atoms.info.get("source", f"training structure {k}")
        if atoms.cell.rank < 3:
            raise SevenNetFitError(f"{where}: SevenNet needs a 3D cell (a vacuum box)")
        label = Label.from_atoms(atoms)
        if label.energy is None or label.forces is None:
            raise SevenNetFitError(f"{where} has no energy or forces label")
        work = Atoms(atoms.numbers, atoms.positions, cell=atoms.cell, pbc=True)
        work.info["y_energy"] = float(label.energy)
        work.arrays["y_force"] = np.asarray(label.forces, dtype=float)
        if label.stress is not None and bool(atoms.pbc.all()):
            work.info["y_stress"] = sevenn_stress(label.stress)
        graphs.append(AtomGraphData.from_numpy_dict(
            atoms_to_graph(work, cutoff, transfer_info=False, y_from_calc=False)))
    return graphs


def _finite_only(criterion):
    """``criterion`` over the finite reference values (sevenn marks a missing stress NaN)."""
    def masked(pred: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
        keep = torch.isfinite(ref)
        if not bool(keep.any()):
            return pred.sum() * 0.0
        return criterion(pred[keep], ref[keep])
    return masked


def loss_functions(s: SevenNetSettings) -> list:
    """sevenn's loss definitions with seiflow's weights: [(LossDefinition, weight)]."""
    from sevenn.train.loss import ForceLoss, PerAtomEnergyLoss, StressLoss
    from sevenn.train.optim import loss_dict

    crit = loss_dict[s.loss](**({"delta": s.huber_delta} if s.loss == "huber" else {}))
    w = s.weights
    return [(PerAtomEnergyLoss(criterion=crit), w.energy), (ForceLoss(criterion=crit), w.forces),
            (StressLoss(criterion=_finite_only(crit)), w.stress)]


class LossMeter:
    """Duck-typed sevenn error recorder (``Trainer.run_one_epoch`` calls ``update``): the
    weighted loss and the energy (meV/atom) and force (eV/Å) RMSEs over an epoch."""

    def __init__(self, losses: list):
        self.losses = losses
        self.loss, self.n, self.se_e, self.se_f, self.n_f = 0.0, 0, 0.0, 0.0, 0

    def update(self, out) -> None:
        import sevenn._keys as KEY

        with torch.no_grad():
            total = sum(float(d.get_loss(out)) * w for d, w in self.losses)
            n_graphs = int(out[KEY.NUM_ATOMS].numel())
            de = (out[KEY.PRED_TOTAL_ENERGY] - out[KEY.ENERGY]) / out[KEY.NUM_ATOMS]
            df = out[KEY.PRED_FORCE] - out[KEY.FORCE]
        self.loss += total * n_graphs
        self.n += n_graphs
        self.se_e += float((de.double() ** 2).sum())
        self.se_f += float((df.double() ** 2).sum())
        self.n_f += int(df.numel())

    def result(self) -> dict:
        return {"loss": self.loss / max(self.n, 1),
                "rmse_e_meV_per_atom": 1000 * float(np.sqrt(self.se_e / max(self.n, 1))),
                "rmse_f_eV_per_A": float(np.sqrt(self.se_f / max(self.n_f, 1)))}


def loader(graphs: list, batch_size: int, shuffle: bool = False, seed: int = 0):
    from torch_geometric.loader import DataLoader

    # a generator even unshuffled: a DataLoader without one draws a seed from torch's global one
    return DataLoader(graphs, batch_size=batch_size, shuffle=shuffle,
                      generator=torch.Generator().manual_seed(seed))


def evaluate(net, graphs: list, losses: list, device: str, batch_size: int = 4) -> dict:
    """Loss and RMSEs of ``net`` (eval mode) on ``graphs``."""
    net.eval()
    net.set_is_batch_data(True)
    meter = LossMeter(losses)
    for batch in loader(graphs, batch_size):
        meter.update(net(batch.to(device)))
    return meter.result()


def energy_offsets(net, graphs: list, device: str, batch_size: int = 4) -> dict[str, float]:
    """The per-element energy offsets (eV/atom) that fit the residuals (label - prediction,
    eV) of ``graphs`` best in the least-squares sense, from the element counts."""
    import sevenn._keys as KEY

    net.eval()
    net.set_is_batch_data(True)
    residual = []
    for batch in loader(graphs, batch_size):
        out = net(batch.to(device))
        residual.extend((out[KEY.ENERGY] - out[KEY.PRED_TOTAL_ENERGY]).detach().cpu().tolist())
    zs = sorted({int(z) for g in graphs for z in g[KEY.ATOMIC_NUMBERS]})
    counts = np.array([[float((g[KEY.ATOMIC_NUMBERS] == z).sum()) for z in zs] for g in graphs])
    delta = np.linalg.lstsq(counts, np.array(residual), rcond=None)[0]  # minimum norm
    return {chemical_symbols[z]: float(d) for z, d in zip(zs, delta, strict=True)}


def apply_offsets(net, config: dict, offsets: dict[str, float]) -> None:
    """Add ``offsets`` (eV/atom per element) to the network's per-element energy shift."""
    import sevenn._keys as KEY

    shift = net.rescale_atomic_energy.shift
    with torch.no_grad():
        for symbol, d in offsets.items():
            shift[config[KEY.TYPE_MAP][atomic_numbers[symbol]]] += float(d)
    config[KEY.SHIFT] = shift.detach().cpu().tolist()


def _split(n: int, fraction: float, seed: int) -> tuple[list[int], list[int]]:
    order = np.random.default_rng(seed).permutation(n)
    n_valid = min(max(int(round(fraction * n)), 1), n - 1) if fraction > 0 else 0
    return sorted(order[n_valid:].tolist()), sorted(order[:n_valid].tolist())


def _start(s: SevenNetSettings, start: SevenNetModel | None) -> tuple[object, dict, str]:
    if start is not None:
        if not isinstance(start, SevenNetModel):
            raise SevenNetFitError(f"a SevenNet continues from a SevenNet, not a "
                                   f"{start.backend} model")
        net, config = copy.deepcopy(start.net).cpu(), copy.deepcopy(start.config)
        return net, config, start.record.get("checkpoint", "a SevenNet model")
    return (*foundation_network(s.foundation), FOUNDATIONS.get(s.foundation, s.foundation))


def fine_tune(s: SevenNetSettings, train: Sequence[Atoms], progress: bool = True,
              start: SevenNetModel | None = None) -> SevenNetModel:
    """A SevenNet fine-tuned on the labelled ``train`` frames (see the module docstring)."""
    import sevenn

    t0 = time.perf_counter()
    if len(train) < 2:
        raise SevenNetFitError(f"a SevenNet fine-tune needs at least 2 labelled structures, "
                               f"got {len(train)}")
    device = resolve_device(s.device)
    if device == "cuda" and not torch.cuda.is_available():
        raise SevenNetFitError("device cuda was asked for, but torch sees no GPU")
    net, config, origin = _start(s, start)
    known = species_of(config)
    for atoms in train:
        check_species(atoms, known, f"SevenNet ({origin})")
    graphs = to_graphs(train, float(config["cutoff"]))
    tr, va = _split(len(graphs), s.valid_fraction, s.seed)
    net = net.to(device)
    shifts = energy_offsets(net, [graphs[i] for i in tr], device, s.batch_size) \
        if s.refit_shift else {}
    apply_offsets(net, config, shifts)
    history = train_loop(net, s, [graphs[i] for i in tr], [graphs[i] for i in va], device,
                         progress, t0)
    after = energy_offsets(net, [graphs[i] for i in tr], device, s.batch_size) \
        if s.refit_shift else {}
    apply_offsets(net, config, after)
    history.update(structures=len(train), train_structures=len(tr), valid_structures=len(va),
                   start=origin, device=device,
                   energy_shift_eV_per_atom={k: round(v, 6) for k, v in shifts.items()},
                   energy_shift_after_eV_per_atom={k: round(v, 6) for k, v in after.items()},
                   wall_time_s=round(time.perf_counter() - t0, 2))
    record = {"checkpoint": f"{origin}, fine-tuned", "sevenn_version": sevenn.__version__,
              "settings": s.model_dump(mode="json"), "training": history}
    return SevenNetModel(net=net.cpu(), config=config, record=record, device=device)


def train_loop(net, s: SevenNetSettings, train: list, valid: list, device: str,
               progress: bool, t0: float) -> dict:
    """Epochs of sevenn's Trainer; keeps the weights of the best epoch (validation loss, or
    the training loss without validation frames). Returns the per-epoch history."""
    from sevenn.train.trainer import Trainer

    losses = loss_functions(s)
    for p in net.parameters():
        p.requires_grad_(True)
    net.rescale_atomic_energy.requires_grad_(False)  # sevenn's recipe: shift/scale fixed
    trainer = Trainer(net, losses, torch.optim.Adam, {"lr": s.lr},
                      torch.optim.lr_scheduler.ExponentialLR, {"gamma": s.lr_decay},
                      device=device)
    history = {"epoch": [], "lr": [], "train_loss": [], "valid_loss": [],
               "valid_rmse_e_meV_per_atom": [], "valid_rmse_f_eV_per_A": [], "wall_s": []}
    check = valid or train  # without validation frames: the training frames, after the epoch
    start = evaluate(net, check, losses, device, s.batch_size)
    best = {"loss": start["loss"], "epoch": -1, "state": _state(net)}  # never worse than start
    history.update(stop="epochs", start_valid_loss=start["loss"])
    with progress_bar(progress) as bar:
        task = bar.add_task("SevenNet fine-tune", total=s.epochs)
        for epoch in range(s.epochs):
            meter = LossMeter(losses)
            history["lr"].append(trainer.get_lr())
            trainer.run_one_epoch(loader(train, s.batch_size, True, s.seed + epoch), True, meter)
            trainer.scheduler_step()
            val = evaluate(net, check, losses, device, s.batch_size)
            if not (np.isfinite(meter.result()["loss"]) and np.isfinite(val["loss"])):
                raise SevenNetFitError(f"SevenNet fine-tuning diverged (NaN loss) in epoch "
                                       f"{epoch + 1}; lower lr")
            _record(history, epoch, meter.result(), val, time.perf_counter() - t0)
            if val["loss"] < best["loss"]:
                best = {"loss": val["loss"], "epoch": epoch, "state": _state(net)}
            bar.update(task, advance=1, description=f"SevenNet fine-tune (valid loss "
                       f"{val['loss']:.3g})")
            if s.max_time is not None and time.perf_counter() - t0 > s.max_time:
                history["stop"] = f"time budget {s.max_time:g} s reached at epoch {epoch + 1}"
                break
    net.load_state_dict(best["state"])
    history.update(best_epoch=best["epoch"], best_valid_loss=best["loss"])
    net.requires_grad_(False)
    return history


def _state(net) -> dict:
    return {k: v.detach().clone() for k, v in net.state_dict().items()}


def _record(history: dict, epoch: int, train: dict, val: dict, wall: float) -> None:
    history["epoch"].append(epoch)
    history["train_loss"].append(train["loss"])
    history["valid_loss"].append(val["loss"])
    history["valid_rmse_e_meV_per_atom"].append(val["rmse_e_meV_per_atom"])
    history["valid_rmse_f_eV_per_A"].append(val["rmse_f_eV_per_A"])
    history["wall_s"].append(round(wall, 2))
