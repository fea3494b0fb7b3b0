"""The trainer: flow matching with training-time RTC on recorded episodes.

    dataset (Zarr) -> WindowDataset (train / val split by episode) -> ActionExpert
        -> AdamW, warm-up + cosine LR, gradient clipping, optional EMA, bf16 autocast on GPU
        -> checkpoint dir (policies.checkpoint) + metrics.jsonl (+ TensorBoard / W&B if installed)

The loss is :func:`policies.flow.flow_loss` (its docstring has the math). The learning
rate at step k is

    lr_k = lr * k / warmup                                       k < warmup
    lr_k = lr * (r + (1 - r) (1 + cos(pi (k - warmup) / (K - warmup))) / 2)   otherwise

with K the total steps and r = ``min_lr_ratio``.

Multi-GPU: launch with ``torchrun --nproc_per_node=N -m teleop.cli train ...``; when
``WORLD_SIZE > 1`` each process joins the process group (NCCL on GPUs, Gloo on CPUs),
wraps the model in DistributedDataParallel, draws its own batches (seeded by rank) and
only rank 0 writes checkpoints and logs.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import os
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from policies.checkpoint import (
    METRICS_FILE,
    TRAIN_STATE_FILE,
    CheckpointMeta,
    load_weights,
    read_meta,
    save_checkpoint,
)
from policies.config import ModelConfig, TrainConfig, WindowConfig
from policies.exceptions import CheckpointError
from policies.windows import WindowDataset, open_dataset, select_episodes, split_episodes

log = logging.getLogger(__name__)

#: Validation windows evaluated at each validation (a fixed, evenly spaced subset).
VAL_WINDOWS = 512


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Learning rate of step ``step`` (warm-up then cosine; formula in the module docstring)."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    span = max(1, cfg.steps - cfg.warmup_steps)
    progress = min(1.0, (step - cfg.warmup_steps) / span)
    return cfg.lr * (cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


@dataclass(frozen=True)
class TrainResult:
    """Outcome of :meth:`Trainer.fit`."""

    out_dir: Path
    step: int
    train_loss: float
    val_loss: float | None
    seconds: float  # [s] wall time of this run
    n_parameters: int
    n_train_windows: int


class _MetricsLog:
    """JSONL metrics, plus TensorBoard and W&B when those are installed (and W&B configured)."""

    def __init__(self, out_dir: Path, enabled: bool):
        self.enabled = enabled
        self.path = out_dir / METRICS_FILE
        self._tb = None
        self._wandb = None
        if not enabled:
            return
        try:
            from torch.utils.tensorboard import SummaryWriter

            self._tb = SummaryWriter(str(out_dir / "tensorboard"))
        except ImportError:
            pass
        if os.environ.get("WANDB_PROJECT"):
            try:
                import wandb

                self._wandb = wandb.init(project=os.environ["WANDB_PROJECT"], dir=str(out_dir))
            except ImportError:
                log.info("WANDB_PROJECT is set but wandb is not installed; logging to %s only", self.path)

    def write(self, step: int, metrics: dict[str, float]) -> None:
        if not self.enabled:
            return
        with self.path.open("a") as f:
            f.write(json.dumps({"step": step, **metrics}) + "\n")
        if self._tb is not None:
            for k, v in metrics.items():
                self._tb.add_scalar(k, v, step)
        if self._wandb is not None:
            self._wandb.log(metrics, step=step)

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()
        if self._wandb is not None:
            self._wandb.finish()


class Trainer:
    """Train (or resume training) a policy on a recorded dataset.

    Args:
        dataset: path or URL of a recorder dataset.
        out_dir: checkpoint directory (created; with ``resume`` an existing one is continued).
        window, model, train: configurations; ``model.horizon`` and ``model.cameras`` must
            match ``window.horizon`` and ``window.cameras`` (use :func:`model_for_window`).
        resume: continue from ``out_dir``'s last checkpoint when it has one.
    """

    def __init__(self, dataset: str | Path, out_dir: str | Path, window: WindowConfig, model: ModelConfig,
                 train: TrainConfig, resume: bool = False, time_limit_s: float | None = None):
        from teleop.exceptions import ConfigError

        if model.horizon != window.horizon or tuple(model.cameras) != tuple(window.cameras):
            raise ConfigError(
                f"ModelConfig (horizon={model.horizon}, cameras={model.cameras}) must match WindowConfig "
                f"(horizon={window.horizon}, cameras={window.cameras}); build it with model_for_window()"
            )
        if model.image_size != window.image_size and window.cameras:
            raise ConfigError(f"ModelConfig.image_size={model.image_size} != WindowConfig.image_size={window.image_size}")
        self.dataset_location = str(dataset)
        self.out_dir = Path(out_dir)
        self.window, self.model_config, self.config = window, model, train
        self.resume = resume
        self.time_limit_s = time_limit_s

    # ------------------------------------------------------------------ setup
    def _device(self):
        import torch

        if self.config.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        return torch.device(self.config.device)

    def _datasets(self) -> tuple[WindowDataset, WindowDataset | None, list[str], list[str]]:
        ds = open_dataset(self.dataset_location)
        ids = [i.episode_id for i in select_episodes(ds, self.window)]
        if self.resume and (self.out_dir / "config.json").is_file():
            meta = read_meta(self.out_dir)
            train_ids, val_ids = list(meta.train_episodes), list(meta.val_episodes)
        else:
            train_ids, val_ids = split_episodes(ids, self.window.val_fraction, self.window.split_seed)
        buckets = self.model_config.instruction_buckets
        train_ds = WindowDataset(ds, train_ids, self.window, instruction_buckets=buckets)
        val_ds = WindowDataset(ds, val_ids, self.window, stats=train_ds.stats, instruction_buckets=buckets) if val_ids else None
        return train_ds, val_ds, train_ids, val_ids

    # ------------------------------------------------------------------ training
    def fit(self, progress: bool = True) -> TrainResult:
        """Run the optimisation; write checkpoints and metrics into ``out_dir``."""
        import torch

        from policies.flow import flow_loss
        from policies.model import ActionExpert, count_parameters
        from policies.vision import random_shift

        cfg = self.config
        world = int(os.environ.get("WORLD_SIZE", "1"))
        rank = int(os.environ.get("RANK", "0"))
        device = self._device()
        if world > 1:
            import torch.distributed as dist

            if device.type == "cuda":
                device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
                torch.cuda.set_device(device)
            if not dist.is_initialized():
                dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
        if cfg.num_threads:
            torch.set_num_threads(cfg.num_threads)
        is_main = rank == 0
        torch.manual_seed(cfg.seed)
        t_start = time.perf_counter()
        train_ds, val_ds, train_ids, val_ids = self._datasets()
        model = ActionExpert(self.model_config).to(device)
        ema = copy.deepcopy(model).requires_grad_(False) if cfg.ema_decay > 0 else None
        decay, no_decay = [], []
        for name, p in model.named_parameters():
            (no_decay if p.ndim < 2 or name.endswith("_pos") or "ctx_type" in name else decay).append(p)
        opt = torch.optim.AdamW(
            [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
            lr=cfg.lr, betas=(0.9, 0.95), fused=device.type == "cuda",
        )
        step = 0
        if self.resume and (self.out_dir / TRAIN_STATE_FILE).is_file():
            weights = load_weights(self.out_dir, map_location=str(device))
            state = torch.load(self.out_dir / TRAIN_STATE_FILE, map_location=str(device), weights_only=True)
            try:
                model.load_state_dict(weights["model"])
                if ema is not None and weights.get("ema") is not None:
                    ema.load_state_dict(weights["ema"])
                opt.load_state_dict(state["optimizer"])
            except (RuntimeError, ValueError, KeyError) as exc:
                raise CheckpointError(
                    f"cannot resume from {self.out_dir}: it was trained with another model config ({exc}); "
                    "use a new --out directory or the same --model options"
                ) from exc
            step = int(state["step"])
            log.info("resuming %s at step %d of %d", self.out_dir, step, cfg.steps)
        net = model
        if world > 1:
            from torch.nn.parallel import DistributedDataParallel

            net = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
        n_params = count_parameters(model)
        meta = CheckpointMeta(
            model=self.model_config, window=self.window, train=cfg, dataset=self.dataset_location,
            train_episodes=tuple(train_ids), val_episodes=tuple(val_ids), instructions=tuple(train_ds.instructions),
            tasks=tuple(train_ds.tasks), step=step, extra={"n_parameters": n_params, "world_size": world,
                                                           "camera_shapes": {c: list(hw) for c, hw in
                                                                             train_ds.camera_shapes.items()}},
        )
        if is_main:
            log.info(
                "training a %.2fM-parameter policy on %d windows from %d episodes (%d held out for validation), "
                "%s, %d steps of %d, training-time RTC %s",
                n_params / 1e6, len(train_ds), len(train_ids), len(val_ids), device, cfg.steps, cfg.batch_size,
                f"up to {cfg.max_delay - 1} committed actions" if cfg.max_delay > 1 else "off",
            )
        metrics = _MetricsLog(self.out_dir, is_main)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        autocast = torch.autocast("cuda", dtype=torch.bfloat16) if (cfg.bf16 and device.type == "cuda") else None
        val_index = None
        if val_ds is not None:
            val_index = np.linspace(0, len(val_ds) - 1, min(VAL_WINDOWS, len(val_ds))).astype(np.int64)
        bar = None
        if progress and is_main:
            from tqdm.auto import tqdm

            bar = tqdm(total=cfg.steps, initial=step, desc="training", unit="step", dynamic_ncols=True)
        gen = torch.Generator(device=device)
        loss_ema = None
        val_loss = None
        t_last, samples = time.perf_counter(), 0

        def save() -> None:
            if not is_main:
                return
            save_checkpoint(
                self.out_dir, replace(meta, step=step), train_ds.stats, model.state_dict(),
                ema.state_dict() if ema is not None else None,
                {"optimizer": opt.state_dict(), "step": step},
            )

        def validate() -> float | None:
            if val_ds is None:
                return None
            eval_model = ema if ema is not None else model
            eval_model.eval()
            g = torch.Generator(device=device).manual_seed(12345)
            total, n = 0.0, 0
            with torch.no_grad():
                for chunk in np.array_split(val_index, max(1, len(val_index) // cfg.batch_size)):
                    b = val_ds.batch(chunk, device)
                    total += float(flow_loss(eval_model, b, cfg.max_delay, g)) * len(chunk)
                    n += len(chunk)
            model.train()
            return total / max(n, 1)

        model.train()
        try:
            while step < cfg.steps:
                if self.time_limit_s is not None and time.perf_counter() - t_start > self.time_limit_s:
                    log.warning("time limit of %.0f s reached at step %d; saving and stopping", self.time_limit_s, step)
                    break
                lr = lr_at(step, cfg)
                for group in opt.param_groups:
                    group["lr"] = lr
                rng = np.random.default_rng((cfg.seed, rank, step))
                batch = train_ds.batch(rng.integers(0, len(train_ds), cfg.batch_size), device)
                gen.manual_seed(cfg.seed * 1_000_003 + rank * 7919 + step)
                if cfg.image_shift and "images" in batch:
                    batch["images"] = random_shift(batch["images"], cfg.image_shift, gen)
                if autocast is not None:
                    with autocast:
                        loss = flow_loss(net, batch, cfg.max_delay, gen)
                else:
                    loss = flow_loss(net, batch, cfg.max_delay, gen)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip if cfg.grad_clip > 0 else float("inf"))
                opt.step()
                if ema is not None:
                    with torch.no_grad():
                        torch._foreach_lerp_(list(ema.parameters()), list(model.parameters()), 1.0 - cfg.ema_decay)
                step += 1
                samples += cfg.batch_size
                lv = float(loss.detach())
                if not math.isfinite(lv):
                    raise CheckpointError(
                        f"the training loss became {lv} at step {step}; lower --lr (now {cfg.lr}) or check the dataset "
                        "for NaN actions; the last good checkpoint is kept in the output directory"
                    )
                loss_ema = lv if loss_ema is None else 0.95 * loss_ema + 0.05 * lv
                if step % cfg.log_every == 0 or step == cfg.steps:
                    now = time.perf_counter()
                    m = {"loss": lv, "loss_smooth": loss_ema, "lr": lr, "grad_norm": float(grad_norm),
                         "samples_per_s": samples / max(now - t_last, 1e-9), "elapsed_s": now - t_start}
                    t_last, samples = now, 0
                    if step % cfg.val_every == 0 or step == cfg.steps:
                        val_loss = validate()
                        if val_loss is not None:
                            m["val_loss"] = val_loss
                    metrics.write(step, m)
                if step % cfg.ckpt_every == 0:
                    save()
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(loss=f"{loss_ema:.4f}", val=f"{val_loss:.4f}" if val_loss is not None else "-")
        finally:
            if bar is not None:
                bar.close()
            metrics.close()
        if val_loss is None or step % cfg.log_every != 0:
            val_loss = validate()
        save()
        seconds = time.perf_counter() - t_start
        if is_main:
            log.info("trained %d steps in %.0f s; final loss %.4f, validation loss %s; checkpoint in %s", step, seconds,
                     loss_ema or float("nan"), f"{val_loss:.4f}" if val_loss is not None else "n/a", self.out_dir)
        if world > 1:
            import torch.distributed as dist

            dist.barrier()
        return TrainResult(self.out_dir, step, float(loss_ema or float("nan")), val_loss, seconds, n_params, len(train_ds))


def model_for_window(window: WindowConfig, preset: str = "cpu-small", **overrides) -> ModelConfig:
    """A model config of size ``preset`` whose horizon, cameras and image size match ``window``."""
    return ModelConfig.preset(preset, horizon=window.horizon, cameras=window.cameras, image_size=window.image_size,
                              **overrides)
