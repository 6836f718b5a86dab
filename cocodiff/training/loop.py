"""The training loop: epochs of SGD over a seeded batch order, evaluation, checkpoints, resume.

Reproducibility, which `--resume` and multi-process training rely on:

- the batch order of epoch e is a permutation drawn from (seed, e) alone; the last incomplete
  batch is dropped, so every step sees a full global batch;
- a sample's augmentation is seeded by (seed, epoch, index) (`cocodiff.data.dataset`);
- the torch generator (dropout) is reseeded from (seed, step, rank) before every step, and the
  learning rate is a function of the step (`schedule`), so neither carries hidden state;
- every evaluation writes each validation clip's logits to `val_logits.npz` (clip order as in
  the split), so two runs can be compared clip by clip (a paired test) and not only by top-1;
- `last.pt` records the position inside the epoch, the optimiser (momentum buffers) and the
  epoch's running sums, so a resumed run skips the batches already done and goes on exactly as
  the uninterrupted run would (bit for bit on CPU with the same thread count).

With N processes, each global batch is cut into N equal consecutive slices, one per process; DDP
averages the gradients and batch norm pools its statistics (`distributed`), so the update is the
one-process update on the whole batch.
"""

from __future__ import annotations

import sys
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from cocodiff.atomic import atomic_open
from cocodiff.checkpoint import save_checkpoint
from cocodiff.config import TrainConfig, config_to_dict
from cocodiff.data.dataset import DataSplits, SkeletonDataset
from cocodiff.data.pipelines import InferencePipeline, train_pipeline
from cocodiff.errors import CocodiffError
from cocodiff.method.build import build_auxiliary
from cocodiff.models import build_recognizer
from cocodiff.training.deployment import backbone_options, training_contract
from cocodiff.training.distributed import Dist, all_reduce_sum, all_reduce_tensor, convert_batchnorm
from cocodiff.training.metrics import MetricsLog
from cocodiff.training.objective import Objective
from cocodiff.training.schedule import learning_rate, set_learning_rate

_ORDER_STREAM, _TORCH_STREAM = 4241, 4243
_LOSS_TERMS = ("ce", "diff", "gen", "sem", "drift")  # per-term epoch means, logged when the auxiliary runs


@dataclass
class Position:
    """Where a run stands: whole epochs done, batches done in the next one, steps overall."""

    epoch: int = 0
    batch: int = 0
    step: int = 0
    running: dict[str, float] = field(default_factory=lambda: {"loss": 0.0, "correct": 0.0, "seen": 0.0, "time": 0.0})
    best_top1: float = -1.0
    best_epoch: int = 0


@dataclass
class RunResult:
    epochs: int
    steps: int
    stopped: bool  # ended by stop_after_steps (as if killed)
    last_val: dict[str, Any] | None
    best_top1: float
    best_epoch: int


def batch_order(seed: int, epoch: int, num_samples: int, batch_size: int) -> list[list[int]]:
    """The global batches of one epoch: a seeded permutation cut into full batches."""
    order = np.random.default_rng([seed, _ORDER_STREAM, epoch]).permutation(num_samples)
    full = num_samples // batch_size
    return [order[i * batch_size:(i + 1) * batch_size].tolist() for i in range(full)]


def _collate(items):
    return torch.stack([x for x, _ in items]), torch.tensor([y for _, y in items])


class Trainer:
    """One run: the model (plain and, with several processes, DDP-wrapped), the optimiser, the
    two datasets and the position. `fit` trains to `optim.epochs`; `load_train_state` resumes."""

    def __init__(self, config: TrainConfig, data: DataSplits, run_dir: Path, info: Dist, device: torch.device):
        self.config, self.data, self.run_dir, self.info, self.device = config, data, Path(run_dir), info, device
        optim = config.optim
        if optim.batch_size % info.world_size:
            raise CocodiffError(f"optim.batch_size={optim.batch_size} does not split into {info.world_size} processes")
        self.steps_per_epoch = len(data.train) // optim.batch_size
        if self.steps_per_epoch == 0:
            raise CocodiffError(f"the train split has {len(data.train)} clips, fewer than one batch "
                                f"(optim.batch_size={optim.batch_size})")
        if config.precision == "fp16" and device.type != "cuda":
            raise CocodiffError("precision=fp16 needs a CUDA device; on CPU use precision=bf16 or fp32")
        self.contract = training_contract(config, data)
        torch.manual_seed(config.seed)
        self.dtype = torch.float64 if config.precision == "fp64" else torch.float32
        model = build_recognizer(config.model.backbone, data.layout, data.in_channels, len(data.classes),
                               **backbone_options(config)).to(device, self.dtype)
        if config.channels_last:
            model = model.to(memory_format=torch.channels_last)
        if info.enabled:
            model = convert_batchnorm(model, device)
        self.model = model  # the plain module: what is saved, evaluated and exported
        # CoCoDiff (None when method.enabled is false): training only, saved apart as `auxiliary`.
        self.auxiliary = build_auxiliary(config.method, data.layout, feature_dim=model.encoder.out_channels,
                                         classes=data.classes, dataset=data.dataset)
        if self.auxiliary is not None:
            self.auxiliary.to(device, self.dtype)
        self.train_model = Objective(model, self.auxiliary, loss_dtype=self.dtype)
        if info.enabled:
            ids = [device.index] if device.type == "cuda" else None
            self.train_model = torch.nn.parallel.DistributedDataParallel(
                self.train_model, device_ids=ids)
        self.optimizer = torch.optim.SGD(model.parameters(), lr=optim.lr, momentum=optim.momentum,
                                         nesterov=optim.nesterov, weight_decay=optim.weight_decay)
        self.aux_optimizer = None
        if self.auxiliary is not None:  # a transformer: AdamW, on the backbone's lr schedule
            self.aux_optimizer = torch.optim.AdamW(self.auxiliary.parameters(), lr=config.method.lr,
                                                   weight_decay=config.method.weight_decay)
        self.scaler = torch.amp.GradScaler(device.type, enabled=config.precision == "fp16")
        dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(config.precision)
        self.autocast = (lambda: torch.autocast(device.type, dtype=dtype)) if dtype else nullcontext
        self.train_set = SkeletonDataset(data.train, train_pipeline(config.data, data.layout),
                                         seed=config.seed, augment=True)
        self.val_set = SkeletonDataset(data.val, InferencePipeline(self.contract))
        self.position = Position()
        self.history: list[dict[str, Any]] = []
        self.val_logits: np.ndarray | None = None

    # ---- checkpoints ----------------------------------------------------------------------
    def train_state(self) -> dict[str, Any]:
        p = self.position
        return {"epoch": p.epoch, "batch": p.batch, "step": p.step, "running": dict(p.running),
                "best_top1": p.best_top1, "best_epoch": p.best_epoch, "history": [dict(h) for h in self.history],
                "optimizer": self.optimizer.state_dict(), "scaler": self.scaler.state_dict(),
                "aux_optimizer": self.aux_optimizer.state_dict() if self.aux_optimizer else {},
                "steps_per_epoch": self.steps_per_epoch}

    def load_train_state(self, checkpoint: dict[str, Any], source: str) -> None:
        state = checkpoint.get("train_state") or {}
        if "optimizer" not in state:
            raise CocodiffError(f"{source}: holds no training state to resume (use last.pt, not best.pt)")
        try:
            self.model.load_state_dict(checkpoint["model"])
            self.optimizer.load_state_dict(state["optimizer"])
            saved_auxiliary = checkpoint.get("auxiliary") or {}
            if (self.auxiliary is None) != (not saved_auxiliary):
                raise CocodiffError(f"{source}: was trained {'with' if saved_auxiliary else 'without'} the CoCoDiff "
                                    f"auxiliary; resume it with method.enabled={str(bool(saved_auxiliary)).lower()}")
            if self.auxiliary is not None:
                self.auxiliary.load_state_dict(saved_auxiliary)
                self.aux_optimizer.load_state_dict(state["aux_optimizer"])
        except (RuntimeError, ValueError, KeyError, TypeError) as error:
            lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()] or ["mismatch"]
            reason = lines[1] if len(lines) > 1 and lines[0].startswith("Error(s) in loading") else lines[0]
            raise CocodiffError(f"{source}: does not fit this config's model or method ({reason[:200]})") from None
        if state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        if state.get("steps_per_epoch") != self.steps_per_epoch:
            raise CocodiffError(f"{source}: was saved with {state.get('steps_per_epoch')} steps per epoch, this config "
                                f"gives {self.steps_per_epoch} (different data or batch size)")
        self.position = Position(state["epoch"], state["batch"], state["step"], dict(state["running"]),
                                 state["best_top1"], state["best_epoch"])
        self.history = [dict(h) for h in state["history"]]

    def save(self, name: str, with_state: bool = True) -> Path:
        path = self.run_dir / name
        if self.info.is_main:
            state = self.train_state() if with_state else {"epoch": self.position.epoch, "step": self.position.step}
            auxiliary = {} if self.auxiliary is None else \
                {k: v.detach().cpu() for k, v in self.auxiliary.state_dict().items()}
            save_checkpoint(path, model={k: v.detach().cpu() for k, v in self.model.state_dict().items()},
                            auxiliary=auxiliary, contract=self.contract, config=config_to_dict(self.config),
                            train_state=state)
        return path

    # ---- one epoch --------------------------------------------------------------------------
    def _local(self, batch: list[int]) -> list[int]:
        size = len(batch) // self.info.world_size
        return batch[self.info.rank * size:(self.info.rank + 1) * size]

    def _step(self, x: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
        """One update; returns batch sums over all processes: loss, correct, seen and each loss term."""
        p, config = self.position, self.config
        seed = np.random.SeedSequence([config.seed, _TORCH_STREAM, p.step, self.info.rank]).generate_state(1)[0]
        torch.manual_seed(int(seed))
        rate = learning_rate(p.step, self.steps_per_epoch, config.optim)
        set_learning_rate(self.optimizer, rate)
        if self.aux_optimizer is not None:
            set_learning_rate(self.aux_optimizer, config.method.lr * rate / config.optim.lr)
        x, y = x.to(self.device, self.dtype, non_blocking=True), y.to(self.device, non_blocking=True)
        with self.autocast():
            loss, logits, terms = self.train_model(x, y, self._auxiliary_ramp())
        if not torch.isfinite(loss):
            raise CocodiffError(f"the training loss became {loss.item()} at step {p.step + 1}: "
                                "lower optim.lr or use precision=fp32")
        optimizers = [self.optimizer] + ([self.aux_optimizer] if self.aux_optimizer else [])
        for optimizer in optimizers:
            optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        for optimizer in optimizers:
            self.scaler.step(optimizer)
        self.scaler.update()
        names = ["loss", "correct", "seen", *terms]
        values = [loss.item() * len(y), (logits.argmax(1) == y).sum().item(), len(y),
                  *(value.item() * len(y) for value in terms.values())]
        return dict(zip(names, all_reduce_sum(self.info, values, self.device)))

    def _auxiliary_ramp(self) -> float:
        """The auxiliary's warm-up: 0 to 1 over method.warmup_epochs, from the step (resume-safe)."""
        warmup_steps = self.config.method.warmup_epochs * self.steps_per_epoch
        return 1.0 if warmup_steps <= 0 else min(1.0, self.position.step / warmup_steps)

    def train_epoch(self, progress) -> bool:
        """Train from the current position to the end of the epoch; False if stopped early."""
        p, config = self.position, self.config
        batches = batch_order(config.seed, p.epoch, len(self.train_set), config.optim.batch_size)
        batches = batches[:self.steps_per_epoch]
        keys = [[(p.epoch, i) for i in self._local(batch)] for batch in batches[p.batch:]]
        loader = DataLoader(self.train_set, batch_sampler=keys, num_workers=config.data.workers,
                            collate_fn=_collate, pin_memory=self.device.type == "cuda")
        self.train_model.train()
        bar = progress(total=self.steps_per_epoch, initial=p.batch, desc=f"epoch {p.epoch + 1}/{config.optim.epochs}")
        start = time.perf_counter()
        for x, y in loader:
            sums = self._step(x, y)
            p.step += 1
            p.batch += 1
            for name, value in sums.items():
                p.running[name] = p.running.get(name, 0.0) + value
            seen = sums["seen"]
            bar.update(1)
            bar.set_postfix(loss=f"{sums['loss'] / seen:.3f}", lr=f"{self.optimizer.param_groups[0]['lr']:.3g}")
            if p.step % 20 == 0 and self.info.is_main:
                terms = {name: value / seen for name, value in sums.items() if name not in ("correct", "seen")}
                self.metrics.step(p.step, {**terms, "lr": self.optimizer.param_groups[0]["lr"]})
            last_batch = p.batch == self.steps_per_epoch
            if config.save_every_steps and p.step % config.save_every_steps == 0 and not last_batch:
                p.running["time"] += time.perf_counter() - start
                start = time.perf_counter()
                self.save("last.pt")
            if config.stop_after_steps and p.step >= config.stop_after_steps:
                bar.close()
                return False
        bar.close()
        p.running["time"] += time.perf_counter() - start
        return True

    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        """Validation loss, top-1 and top-5; every clip's logits are kept in `self.val_logits`."""
        indices = list(range(self.info.rank, len(self.val_set), self.info.world_size))
        size = self.config.optim.batch_size
        keys = [indices[i:i + size] for i in range(0, len(indices), size)]
        loader = DataLoader(self.val_set, batch_sampler=keys, num_workers=self.config.data.workers,
                            collate_fn=_collate)
        self.model.eval()
        totals = [0.0, 0.0, 0.0, 0.0]  # loss, top-1, top-5, count
        clip_logits = torch.zeros(len(self.val_set), len(self.data.classes), dtype=torch.float64, device=self.device)
        for batch, (x, y) in zip(keys, loader):
            x, y = x.to(self.device, self.dtype), y.to(self.device)
            with self.autocast():
                logits = self.model(x).to(self.dtype)
            clip_logits[batch] = logits.double()
            top = logits.topk(min(5, logits.shape[1]), dim=1).indices
            totals[0] += F.cross_entropy(logits, y, reduction="sum").item()
            totals[1] += (top[:, 0] == y).sum().item()
            totals[2] += (top == y[:, None]).any(1).sum().item()
            totals[3] += len(y)
        loss, top1, top5, count = all_reduce_sum(self.info, totals, self.device)
        self.val_logits = all_reduce_tensor(self.info, clip_logits).float().cpu().numpy()
        return {"val_loss": loss / count, "val_top1": 100.0 * top1 / count, "val_top5": 100.0 * top5 / count}

    def save_val_logits(self, epoch: int) -> None:
        """`val_logits.npz`: logits (clips, classes), labels and clip names, of this epoch."""
        if not self.info.is_main:
            return
        labels = np.array([int(sample["label"]) for sample in self.data.val], dtype=np.int64)
        names = np.array([str(sample.get("frame_dir", i)) for i, sample in enumerate(self.data.val)])
        with atomic_open(self.run_dir / "val_logits.npz") as handle:
            np.savez(handle, logits=self.val_logits, labels=labels, names=names, epoch=np.int64(epoch))

    # ---- the run ----------------------------------------------------------------------------
    def fit(self, progress, report=print) -> RunResult:
        config, p = self.config, self.position
        self.metrics = MetricsLog(self.run_dir, enabled=self.info.is_main, history=self.history)
        last_val = next((h for h in reversed(self.history) if "val_top1" in h), None)
        try:
            while p.epoch < config.optim.epochs:
                if not self.train_epoch(progress):
                    return RunResult(p.epoch, p.step, True, last_val, p.best_top1, p.best_epoch)
                run = p.running
                entry: dict[str, Any] = {
                    "epoch": p.epoch + 1, "step": p.step, "lr": self.optimizer.param_groups[0]["lr"],
                    "train_loss": run["loss"] / run["seen"], "train_top1": 100.0 * run["correct"] / run["seen"],
                    "epoch_time_s": round(run["time"], 3),
                    "samples_per_s": round(run["seen"] / max(run["time"], 1e-9), 2)}
                if self.auxiliary is not None:
                    entry.update({f"train_{n}": run[n] / run["seen"] for n in _LOSS_TERMS if n in run})
                final = p.epoch + 1 == config.optim.epochs
                if (p.epoch + 1) % config.eval_every == 0 or final:
                    start = time.perf_counter()
                    entry.update(self.evaluate())
                    entry["eval_time_s"] = round(time.perf_counter() - start, 3)
                    self.save_val_logits(entry["epoch"])
                    last_val = entry
                p.epoch, p.batch = p.epoch + 1, 0
                p.running = Position().running
                self.history.append(entry)
                self.metrics.epoch(entry)
                if "val_top1" in entry and entry["val_top1"] > p.best_top1:
                    p.best_top1, p.best_epoch = entry["val_top1"], entry["epoch"]
                    self.save("best.pt", with_state=False)
                self.save("last.pt")
                if self.info.is_main:
                    report(_summary_line(entry, config.optim.epochs))
        finally:
            self.metrics.close()
        return RunResult(p.epoch, p.step, False, last_val, p.best_top1, p.best_epoch)


def _summary_line(entry: dict[str, Any], epochs: int) -> str:
    text = (f"epoch {entry['epoch']}/{epochs}  loss {entry['train_loss']:.4f}  train {entry['train_top1']:.1f}%  "
            f"lr {entry['lr']:.3g}  {entry['epoch_time_s']:.1f}s ({entry['samples_per_s']:.0f} clips/s)")
    if "val_top1" in entry:
        text += f"  val top-1 {entry['val_top1']:.1f}% top-5 {entry['val_top5']:.1f}%"
    return text


def make_progress(enabled: bool):
    """A tqdm factory on stderr (silent where `enabled` is false or stderr is not a terminal)."""
    from tqdm import tqdm

    def progress(**kwargs):
        return tqdm(file=sys.stderr, leave=False, dynamic_ncols=True,
                    disable=not (enabled and sys.stderr.isatty()), **kwargs)

    return progress
