"""Training a MACE on labelled structures with mace-torch's modules, loss and data classes.

1. Data: every frame becomes mace's AtomicData (neighbour graph + labels); a seeded
   ``valid_fraction`` of the frames is held back for the learning-rate schedule and the choice
   of the best epoch.
2. Model: a new ScaleShiftMACE (E0s by least squares over the training compositions, scale =
   RMS force, shift = mean interaction energy per atom, as mace-torch's defaults), or a copy of
   ``start`` (continue training), or the ``foundation`` file (fine-tuning: the foundation's
   E0s are corrected by least squares to the new reference, mace's
   ``estimate_e0s_from_foundation``, then every weight is trained: "naive" fine-tuning).
3. Loop: Adam (AMSGrad) on mace's WeightedEnergyForcesStressLoss, gradient clipping, EMA of
   the weights, ReduceLROnPlateau; from ``stage_two_start`` of the epochs the loss weights and
   learning rate switch to stage two (mace's "SWA" stage). The EMA weights of the epoch with
   the lowest validation loss of the last stage are kept; a fit from a start model (continued
   or fine-tuned) keeps the start instead where the start's loss is lower: a fit never returns
   a model worse than its start.
   The record says why the fit stopped and whether it converged: all epochs run and the last
   stage's best validation loss fell by less than ``plateau_tol`` over its last
   ``plateau_epochs`` epochs (a time budget, or a loss still falling, is not converged).
4. A checkpoint file (``checkpoint``) is written after every epoch, so a killed fit resumes at
   the epoch it reached.
5. The feature active set (potentials/mace/features.py) is built from the training frames.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from ase import Atoms
from ase.data import chemical_symbols
from mace import modules
from mace.data.utils import compute_average_E0s, estimate_e0s_from_foundation
from mace.modules.utils import compute_avg_num_neighbors, compute_mean_rms_energy_forces
from mace.tools import torch_geometric
from mace.tools.train import evaluate
from mace.tools.utils import AtomicNumberTable
from torch_ema import ExponentialMovingAverage

from seiflow.core.atomic import atomic_path
from seiflow.core.errors import SeiflowError
from seiflow.core.fingerprint import Fingerprint
from seiflow.core.progress import progress_bar
from seiflow.data.labels import Label
from seiflow.potentials.active import ActiveSet
from seiflow.potentials.base import check_species
from seiflow.potentials.mace.model import (MACEModel, configuration, graphs, load_module,
                                           pick_device, species_of)
from seiflow.potentials.mace.settings import MACESettings
from seiflow.potentials.seeding import global_rngs_seeded, torch_default_dtype

log = logging.getLogger(__name__)
_OUTPUTS = {"energy": True, "forces": True, "virials": False, "stress": True}


class MACEFitError(SeiflowError):
    """Training data or a start model that a MACE fit cannot use."""


def _loader(data, batch_size: int, shuffle: bool, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    return torch_geometric.dataloader.DataLoader(data, batch_size=batch_size, shuffle=shuffle,
                                                 drop_last=False, generator=gen)


def _loss(w) -> torch.nn.Module:
    return modules.WeightedEnergyForcesStressLoss(energy_weight=w.energy,
                                                  forces_weight=w.forces, stress_weight=w.stress)


def _check_frames(train: Sequence[Atoms]) -> None:
    if len(train) < 2:
        raise MACEFitError(f"a MACE fit needs at least 2 labelled structures, got {len(train)}")
    for k, atoms in enumerate(train):
        label = Label.from_atoms(atoms)
        if label.energy is None or label.forces is None:
            where = atoms.info.get("source", f"training structure {k}")
            raise MACEFitError(f"{where} has no energy or forces label")


def _new_module(s: MACESettings, zs: list[int], train_data, configs) -> torch.nn.Module:
    from e3nn import o3  # after mace: mace lets torch unpickle e3nn's constants

    z_table = AtomicNumberTable(zs)
    e0 = compute_average_E0s(configs, z_table)
    e0s = np.array([e0[z] for z in zs])
    loader = _loader(train_data, s.batch_size, shuffle=False)
    avg_nn = compute_avg_num_neighbors(loader)
    mean, rms = compute_mean_rms_energy_forces(loader, e0s.reshape(1, -1))
    inter = modules.interaction_classes["RealAgnosticResidualInteractionBlock"]
    with warnings.catch_warnings():  # e3nn's TorchScript notes on every block built
        warnings.filterwarnings("ignore", message="The TorchScript type system")
        return modules.ScaleShiftMACE(
            r_max=s.r_max, num_bessel=s.num_bessel,
            num_polynomial_cutoff=s.num_polynomial_cutoff, max_ell=s.max_ell,
            interaction_cls=inter, interaction_cls_first=inter,
            num_interactions=s.num_interactions, num_elements=len(zs),
            hidden_irreps=o3.Irreps(s.hidden_irreps), MLP_irreps=o3.Irreps(s.mlp_irreps),
            atomic_energies=e0s, avg_num_neighbors=avg_nn, atomic_numbers=zs,
            correlation=s.correlation, gate=torch.nn.functional.silu,
            radial_MLP=s.radial_mlp, atomic_inter_scale=float(np.ravel(rms)[0]),
            atomic_inter_shift=float(np.ravel(mean)[0]))


def _refit_e0s(module: torch.nn.Module, configs, zs_train: list[int]) -> dict:
    """Shift the foundation's E0s so that its energies match the new reference on average."""
    zs_model = [int(z) for z in module.atomic_numbers]
    table = module.atomic_energies_fn.atomic_energies  # [elements], or [heads, elements]
    view = table if table.dim() == 2 else table.unsqueeze(0)
    old = {z: float(view[0, zs_model.index(z)]) for z in zs_train}
    new = estimate_e0s_from_foundation(module, old, configs, AtomicNumberTable(zs_train))
    with torch.no_grad():
        for z, e in new.items():
            view[:, zs_model.index(z)] = float(e)
    return {chemical_symbols[int(z)]: float(e) for z, e in new.items()}


def _split(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.random.default_rng(seed).permutation(n)
    n_valid = int(round(fraction * n)) if fraction > 0 else 0
    n_valid = min(max(n_valid, 1 if fraction > 0 else 0), n - 1)
    return np.sort(order[n_valid:]), np.sort(order[:n_valid])


def fit_mace(train: Sequence[Atoms], s: MACESettings, progress: bool = True,
             start: MACEModel | None = None, checkpoint: Path | None = None) -> MACEModel:
    _check_frames(train)
    device = pick_device(s.device)
    dtype = getattr(torch, s.dtype)
    zs_train = sorted({int(z) for a in train for z in a.numbers})
    configs = [configuration(a, Label.from_atoms(a)) for a in train]
    origin = "new"
    with torch_default_dtype(dtype), global_rngs_seeded(s.seed):
        if start is not None:
            for atoms in train:
                check_species(atoms, start.species, "the start model")
            module, origin = copy.deepcopy(start.module).to("cpu"), "continued"
        elif s.foundation is not None:
            module, origin = load_module(Path(s.foundation)), f"fine-tuned {s.foundation}"
            for atoms in train:
                check_species(atoms, species_of(module), f"foundation model {s.foundation}")
        else:
            module = None
        z_table = AtomicNumberTable([int(z) for z in module.atomic_numbers] if module is not None
                                    else zs_train)
        r_max = float(module.r_max) if module is not None else s.r_max
        data = graphs(configs, z_table, r_max, dtype)
        tr, va = _split(len(data), s.valid_fraction, s.seed)
        if module is None:
            module = _new_module(s, zs_train, [data[i] for i in tr], [configs[i] for i in tr])
        module = module.to(dtype=dtype)
        fine_tuning = start is None and s.foundation is not None
        e0_refit = _refit_e0s(module, configs, zs_train) if fine_tuning else None
        module = module.to(device).train()
        for p in module.parameters():
            p.requires_grad_(True)
        key = _fit_key(configs, s, origin)
        initial = None if origin == "new" else _snapshot(module)
        train_data, valid_data = [data[i] for i in tr], [data[i] for i in va]
        history = _train_loop(module, s, train_data, valid_data, device, progress, checkpoint,
                              key)
        if initial is not None:  # judged on the frames that chose the best epoch
            _keep_start_if_better(module, initial, s, valid_data or train_data, device, history)
        elif not np.isfinite(history["best_valid_loss"]):
            raise MACEFitError("the MACE fit diverged: no epoch of its last stage has a finite "
                               "validation loss (lower lr, or turn clip_grad on)")
        history["stop"], history["converged"] = plateau_state(history, s)
    model = MACEModel(module=module.to("cpu"), species=species_of(module), device=device)
    model.active_set = ActiveSet.from_matrix(np.vstack([model.rows(a) for a in train]))
    n_params = sum(p.numel() for p in module.parameters())
    model.record = {"settings": s.model_dump(mode="json"), "origin": origin,
                    "parameters": n_params, "training": history,
                    "train_structures": len(tr), "valid_structures": len(va)}
    if e0_refit is not None:
        model.record["e0_refit_eV"] = e0_refit
    if not model.active_set.complete:
        log.warning("the training features do not span every direction: the grade will call "
                    "some training-like neighbourhoods extrapolations (add data)")
    return model


def _fit_key(configs, s: MACESettings, origin: str) -> str:
    """What a checkpoint must match to be resumed: settings (not the convergence criterion,
    which changes no epoch), start and training data."""
    h = Fingerprint(s.model_dump_json(exclude={"plateau_epochs", "plateau_tol"}), origin)
    for c in configs:
        h.update(np.asarray(c.positions), str(c.properties["energy"]))
        if c.weight != 1.0:
            h.update(repr(c.weight))
    return h.hex()


def _train_loop(module, s: MACESettings, train_data, valid_data, device, progress: bool,
                checkpoint: Path | None, key: str) -> dict:
    optimizer = torch.optim.Adam(module.parameters(), lr=s.lr, amsgrad=True,
                                 weight_decay=s.weight_decay)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=0.8,
                                                           patience=s.scheduler_patience)
    ema = ExponentialMovingAverage(module.parameters(), decay=s.ema_decay) \
        if s.ema_decay else None
    stage_two = (int(s.stage_two_start * s.epochs) if s.stage_two_start is not None
                 else s.epochs)
    history = {key: [] for key in ("epoch", "stage", "train_loss", "valid_loss", "lr",
                                   "valid_rmse_e_meV_per_atom", "valid_rmse_f_eV_per_A",
                                   "wall_s")}
    best = {"loss": np.inf, "state": None, "stage": 1}
    epoch0 = 0
    ck = _load_checkpoint(checkpoint, key, device)
    if ck is not None:
        _restore(ck, module, optimizer, scheduler, ema)
        history, best, epoch0 = ck["history"], ck["best"], ck["epoch"] + 1
        log.info("MACE fit resumed at epoch %d from %s", epoch0, checkpoint)
    eval_loader = _loader(valid_data or train_data, s.batch_size, shuffle=False)
    t0 = time.perf_counter() - (history["wall_s"][-1] if history["wall_s"] else 0.0)
    with progress_bar(progress) as bar:
        task = bar.add_task("MACE fit", total=s.epochs, completed=epoch0)
        for epoch in range(epoch0, s.epochs):
            stage = 2 if epoch >= stage_two else 1
            weights = s.stage_two_weights if stage == 2 else s.weights
            loss_fn = _loss(weights).to(device)
            if stage == 2 and best["stage"] == 1:  # entering stage two
                best = {"loss": np.inf, "state": None, "stage": 2}
                for group in optimizer.param_groups:
                    group["lr"] = s.stage_two_lr
            loader = _loader(train_data, s.batch_size, shuffle=True, seed=s.seed + epoch)
            train_loss = _epoch(module, loader, loss_fn, optimizer, ema, s.clip_grad, device)
            valid_loss, metrics = _validate(module, ema, loss_fn, eval_loader, device, best)
            if stage == 1:
                scheduler.step(valid_loss)
            _append(history, epoch=epoch, stage=stage, train_loss=train_loss,
                    valid_loss=valid_loss, lr=optimizer.param_groups[0]["lr"],
                    valid_rmse_e_meV_per_atom=1000 * float(metrics.get("rmse_e_per_atom",
                                                                       np.nan)),
                    valid_rmse_f_eV_per_A=float(metrics.get("rmse_f", np.nan)),
                    wall_s=round(time.perf_counter() - t0, 2))
            if checkpoint is not None:
                _save_checkpoint(checkpoint, key, module, optimizer, scheduler, ema, history,
                                 best, epoch)
            bar.update(task, advance=1, description=f"MACE fit (valid loss {valid_loss:.3g})")
            if s.max_time is not None and time.perf_counter() - t0 > s.max_time:
                history["stopped"] = f"time budget {s.max_time:g} s reached at epoch {epoch}"
                break
    if best["state"] is not None:  # None: no finite validation loss in the last stage
        module.load_state_dict(best["state"])
    history["best_valid_loss"] = best["loss"]
    if checkpoint is not None:
        Path(checkpoint).unlink(missing_ok=True)  # the fit is complete
    return history


def plateau_state(history: dict, s: MACESettings) -> tuple[str, bool]:
    """Why a fit stopped and whether it converged (the module docstring's criterion)."""
    if "stopped" in history:
        return history["stopped"], False
    if history.get("start_kept"):
        return f"all {s.epochs} epochs; the start model's loss stayed lower (start kept)", True
    stage = history["stage"][-1]
    losses = [v for st, v in zip(history["stage"], history["valid_loss"]) if st == stage]
    w = s.plateau_epochs
    if len(losses) <= w:
        return (f"all {s.epochs} epochs; the last stage ran {len(losses)} epochs, too few to "
                f"see a plateau over {w}"), False
    before = min(losses[:-w])
    drop = (before - min(losses)) / before
    return (f"all {s.epochs} epochs; the best validation loss fell {100 * drop:.2g} % over the "
            f"last {w} (converged below {100 * s.plateau_tol:g} %)"), bool(drop < s.plateau_tol)


def _keep_start_if_better(module, initial: dict, s: MACESettings, data, device,
                          history: dict) -> None:
    """Load ``initial`` (the start's weights) into ``module`` where its loss under the last
    stage's weights is below the trained model's on ``data``."""
    last = history["stage"][-1] if history["stage"] else 1
    loss_fn = _loss(s.stage_two_weights if last == 2 else s.weights).to(device)
    loader = _loader(data, s.batch_size, shuffle=False)
    trained = _snapshot(module)
    module.load_state_dict(initial)
    start_loss = float(evaluate(module, loss_fn, loader, _OUTPUTS, device)[0])
    history["start_valid_loss"] = start_loss
    if not history["best_valid_loss"] < start_loss:  # also where the fit diverged (inf)
        history["start_kept"] = True
        log.warning("the MACE fit did not improve on its start model (loss %.4g vs %.4g): "
                    "the start is kept", start_loss, history["best_valid_loss"])
    else:
        module.load_state_dict(trained)


def _snapshot(module) -> dict:
    """A copy of the module's weights (its state dict), unaffected by later training."""
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _validate(module, ema, loss_fn, loader, device, best: dict) -> tuple[float, dict]:
    """The validation loss and metrics (with the EMA weights when there are any); ``best``
    keeps the lowest loss and its weights."""
    with ema.average_parameters() if ema is not None else contextlib.nullcontext():
        valid_loss, metrics = evaluate(module, loss_fn, loader, _OUTPUTS, device)
        valid_loss = float(valid_loss)
        if valid_loss < best["loss"]:
            best["loss"] = valid_loss
            best["state"] = _snapshot(module)
    return valid_loss, metrics


def _restore(ck: dict, module, optimizer, scheduler, ema) -> None:
    module.load_state_dict(ck["module"])
    optimizer.load_state_dict(ck["optimizer"])
    scheduler.load_state_dict(ck["scheduler"])
    if ema is not None:
        ema.load_state_dict(ck["ema"])


def _append(history: dict, **row) -> None:
    for key, value in row.items():
        history[key].append(value)


def _epoch(module, loader, loss_fn, optimizer, ema, clip: float | None, device) -> float:
    total, n = 0.0, 0
    for batch in loader:
        batch = batch.to(device)
        optimizer.zero_grad(set_to_none=True)
        out = module(batch.to_dict(), training=True, compute_force=True, compute_virials=False,
                     compute_stress=True)
        loss = loss_fn(pred=out, ref=batch)
        loss.backward()
        if clip is not None:
            torch.nn.utils.clip_grad_norm_(module.parameters(), max_norm=clip)
        optimizer.step()
        if ema is not None:
            ema.update()
        total += float(loss.detach()) * batch.num_graphs
        n += batch.num_graphs
    return total / max(n, 1)


def _load_checkpoint(path: Path | None, key: str, device) -> dict | None:
    """The checkpoint of this very fit, if one was left by a killed run."""
    if path is None or not Path(path).exists():
        return None
    try:
        ck = torch.load(path, map_location=device, weights_only=False)
    except Exception as exc:  # noqa: BLE001 - a half-written file: start again
        log.warning("ignoring unreadable MACE checkpoint %s (%s)", path, exc)
        return None
    if ck.get("key") != key:
        log.warning("ignoring MACE checkpoint %s: it belongs to another fit", path)
        return None
    return ck


def _save_checkpoint(path: Path, key: str, module, optimizer, scheduler, ema, history, best,
                     epoch: int) -> None:
    with atomic_path(path) as tmp:
        torch.save({"key": key, "module": module.state_dict(),
                    "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                    "ema": ema.state_dict() if ema is not None else None,
                    "history": history, "best": best, "epoch": epoch}, tmp)
