"""``psi-teleop train``: fit the flow-matching action expert on recorded episodes.

    recorded episodes (Zarr)  ->  windows (images, state, instruction -> 30-action chunk)
        ->  action expert (MM-DiT, flow matching, training-time RTC)  ->  checkpoint DIR
        ->  ``psi-teleop rollout --checkpoint DIR``
"""

from __future__ import annotations

import argparse
import logging

from teleop.exceptions import MissingExtraError

EPILOG = """examples:
  psi-teleop demo --task pick_place --episodes 50 --dataset data/pick_place
  psi-teleop train --dataset data/pick_place --out runs/pick_place --steps 3000
  psi-teleop train --dataset data/pick_place --out runs/pick_place --steps 6000 --resume
  psi-teleop train --dataset data/pick_place --out runs/pp_cam --camera head --image-size 96 128
  psi-teleop train --dataset data/all --out runs/big --model gpu-500m --batch-size 256 --ema 0.999
  torchrun --nproc_per_node=4 -m teleop.cli train --dataset data/all --out runs/ddp --model gpu-500m

The checkpoint directory holds config.json, norm_stats.json, model.pt, train_state.pt and
metrics.jsonl (one JSON line per logged step; TensorBoard event files too when tensorboard
is installed, W&B when installed and WANDB_PROJECT is set).
"""


def configure(parser: argparse.ArgumentParser) -> None:
    from policies.config import MODEL_PRESETS

    parser.description = __doc__
    parser.epilog = EPILOG
    d = parser.add_argument_group("data")
    d.add_argument("--dataset", required=True, help="recorded dataset (directory or URL)")
    d.add_argument("--out", required=True, help="checkpoint directory to write")
    d.add_argument("--horizon", type=int, default=30, help="actions per chunk H (default 30)")
    d.add_argument("--camera", action="append", default=[], metavar="NAME",
                   help="camera input (repeat for several); none = state-only input")
    d.add_argument("--image-size", type=int, nargs=2, default=(96, 128), metavar=("H", "W"), help="image size [px]")
    d.add_argument("--image-crop", type=int, nargs=4, default=(), metavar=("TOP", "LEFT", "H", "W"),
                   help="cut this region [px of the recorded frame] out before resizing (default: whole frame)")
    d.add_argument("--image-shift", type=int, default=0, metavar="PX",
                   help="augmentation: shift training images randomly by up to PX pixels (default 0: off)")
    d.add_argument("--successful-only", action="store_true", help="only episodes annotated successful")
    d.add_argument("--task", action="append", default=[], metavar="NAME", help="only episodes of this task (repeatable)")
    d.add_argument("--segment", action="append", default=[], metavar="LABEL",
                   help="only rows inside annotated segments with this label (repeatable)")
    d.add_argument("--val-fraction", type=float, default=0.1, help="episodes held out for validation (default 0.1)")
    d.add_argument("--norm", choices=["mean_std", "quantile"], default="mean_std", help="normalisation")
    m = parser.add_argument_group("model")
    m.add_argument("--model", choices=MODEL_PRESETS, default="cpu-small", help="model size (default cpu-small)")
    o = parser.add_argument_group("optimisation")
    o.add_argument("--steps", type=int, default=3000, help="optimiser steps (default 3000)")
    o.add_argument("--batch-size", type=int, default=64)
    o.add_argument("--lr", type=float, default=3e-4)
    o.add_argument("--warmup", type=int, default=100, help="warm-up steps")
    o.add_argument("--ema", type=float, default=0.0, metavar="DECAY", help="EMA decay of the weights (0: off)")
    o.add_argument("--max-delay", type=int, default=10,
                   help="training-time RTC: committed prefix of up to MAX_DELAY-1 actions (0: off)")
    o.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    o.add_argument("--no-bf16", action="store_true", help="train in float32 on a GPU")
    o.add_argument("--threads", type=int, default=0,
                   help="CPU threads for torch (0: torch's default; use 1 on a busy machine, where more threads "
                        "can be many times slower)")
    o.add_argument("--seed", type=int, default=0)
    o.add_argument("--val-every", type=int, default=250)
    o.add_argument("--ckpt-every", type=int, default=500)
    o.add_argument("--time-limit", type=float, default=None, metavar="MIN", help="stop and save after MIN minutes")
    o.add_argument("--resume", action="store_true", help="continue the checkpoint in --out")


def run(args: argparse.Namespace) -> int:
    try:
        import torch  # noqa: F401
    except ImportError as exc:
        raise MissingExtraError("torch", "policies", "training a policy") from exc
    from policies.config import NormMode, TrainConfig, WindowConfig
    from policies.trainer import Trainer, model_for_window

    window = WindowConfig(
        horizon=args.horizon, cameras=tuple(args.camera), image_size=tuple(args.image_size),
        image_crop=tuple(args.image_crop),
        successful_only=args.successful_only, tasks=tuple(args.task), segment_labels=tuple(args.segment),
        val_fraction=args.val_fraction, split_seed=args.seed, norm_mode=NormMode(args.norm),
    )
    model = model_for_window(window, args.model)
    train = TrainConfig(
        steps=args.steps, batch_size=args.batch_size, lr=args.lr, warmup_steps=min(args.warmup, args.steps),
        ema_decay=args.ema, max_delay=args.max_delay, device=args.device, bf16=not args.no_bf16,
        num_threads=args.threads, seed=args.seed, val_every=args.val_every, ckpt_every=args.ckpt_every,
        log_every=min(25, args.steps), image_shift=args.image_shift,
    )
    logging.getLogger(__name__).info("window %s; model %s; training %s", window, model, train)
    result = Trainer(args.dataset, args.out, window, model, train, resume=args.resume,
                     time_limit_s=args.time_limit * 60.0 if args.time_limit else None).fit(progress=True)
    val = f"{result.val_loss:.4f}" if result.val_loss is not None else "n/a"
    print(f"trained {result.step} steps in {result.seconds / 60:.1f} min: loss {result.train_loss:.4f}, "
          f"validation loss {val}; checkpoint: {result.out_dir}")
    print(f"next: psi-teleop rollout --checkpoint {result.out_dir} --robot sim --episodes 20")
    return 0
