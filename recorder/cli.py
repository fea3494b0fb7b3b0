"""``psi-teleop dataset``: list, inspect, validate, recover, delete, merge and export datasets.

    recorded episodes (Zarr) ──► list / info          what is there, success rate, annotation coverage
                              ├► validate            exit 1 on any problem, says what and where
                              ├► recover             interrupted episodes -> recovered (last flush)
                              ├► delete [--undo]     soft delete, undoable
                              ├► merge DEST SRC...   copy episodes under new ids
                              └► export --format lerobot   LeRobotDataset v3 for LeRobot's tools
"""

from __future__ import annotations

import argparse
import json
import logging
import math
from pathlib import Path

from recorder.exceptions import RecorderError

log = logging.getLogger("psi-teleop.dataset")

_EPILOG = """examples:
  psi-teleop dataset list data/demo                 # episodes, status, task, success, duration
  psi-teleop dataset list data/demo --all           # include soft-deleted episodes
  psi-teleop dataset info data/demo                 # totals by task, success rate, annotation coverage
  psi-teleop dataset validate data/demo             # exit code 1 and a list of problems if anything is wrong
  psi-teleop dataset recover data/demo              # after a crash: keep interrupted episodes up to their last flush
  psi-teleop dataset delete data/demo episode_000003          # soft delete
  psi-teleop dataset delete data/demo episode_000003 --undo   # bring it back
  psi-teleop dataset merge data/all data/monday data/tuesday  # copy episodes into data/all
  psi-teleop dataset export data/demo --format lerobot --out data/demo_lerobot --repo-id lab/g1_pick
  psi-teleop dataset info s3://lab-bucket/g1/demo   # any fsspec URL zarr supports (s3:// needs s3fs)
"""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = __doc__
    parser.epilog = _EPILOG
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    fmt = parser.formatter_class

    p = sub.add_parser("list", help="list the episodes", formatter_class=fmt, epilog=_EPILOG)
    p.add_argument("path", help="dataset directory or fsspec URL")
    p.add_argument("--all", action="store_true", help="include soft-deleted episodes")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")

    p = sub.add_parser("info", help="dataset summary: durations, tasks, success rate, annotations",
                       formatter_class=fmt, epilog=_EPILOG)
    p.add_argument("path", help="dataset directory or fsspec URL")
    p.add_argument("--json", action="store_true", help="print JSON instead of tables")

    p = sub.add_parser("validate", help="check every episode; exit 1 on any problem", formatter_class=fmt,
                       epilog=_EPILOG)
    p.add_argument("path", help="dataset directory or fsspec URL")
    p.add_argument("--episode", action="append", help="only this episode (repeatable)")
    p.add_argument("--skip-frames", action="store_true", help="do not check each JPEG header (faster)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")

    p = sub.add_parser("recover", help="turn interrupted episodes into 'recovered' up to their last flush",
                       formatter_class=fmt, epilog=_EPILOG)
    p.add_argument("path", help="dataset directory or fsspec URL")
    p.add_argument("--dry-run", action="store_true", help="say what would be done, change nothing")
    p.add_argument("--force", action="store_true",
                   help="recover even an episode whose writer looks alive (use only if it is not)")

    p = sub.add_parser("delete", help="soft-delete episodes (undo with --undo)", formatter_class=fmt,
                       epilog=_EPILOG)
    p.add_argument("path", help="dataset directory or fsspec URL")
    p.add_argument("episodes", nargs="+", metavar="EPISODE_ID")
    p.add_argument("--undo", action="store_true", help="restore the episodes instead")

    p = sub.add_parser("merge", help="copy the episodes of SRC datasets into DEST", formatter_class=fmt,
                       epilog=_EPILOG)
    p.add_argument("path", metavar="DEST", help="destination dataset (created if missing)")
    p.add_argument("sources", nargs="+", metavar="SRC")
    p.add_argument("--include-discarded", action="store_true", help="also copy discarded episodes")

    p = sub.add_parser("export", help="export to another format (LeRobotDataset v3)", formatter_class=fmt,
                       epilog=_EPILOG)
    p.add_argument("path", help="dataset directory or fsspec URL")
    p.add_argument("--format", choices=["lerobot"], default="lerobot", help="target format")
    p.add_argument("--out", type=Path, required=True, help="output directory (must not exist)")
    p.add_argument("--repo-id", default="local/psi_teleop", help="LeRobot repo id written in the metadata")
    p.add_argument("--episode", action="append", help="only this episode (repeatable)")
    p.add_argument("--include-failed", action="store_true", help="also export episodes marked success=false")
    p.add_argument("--images", action="store_true",
                   help="store frames as images in the parquet files instead of encoding videos")


def _console():
    from teleop.cli import table_console

    return table_console()


def _fmt_s(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "-"
    m, s = divmod(seconds, 60.0)
    h, m = divmod(int(m), 60)
    return f"{h}:{m:02d}:{s:04.1f}" if h else f"{m}:{s:04.1f}"


def _success(value) -> str:
    return {True: "yes", False: "no", None: "-"}.get(value, str(value))


def _list(args) -> int:
    from rich.table import Table

    from recorder.reader import Dataset

    ds = Dataset.open(args.path, read_only=True)
    eps = ds.episodes(include_deleted=args.all)
    if args.json:
        print(json.dumps([{**{k: v for k, v in e.attrs.items() if k not in ("calibration", "config")},
                           "episode_id": e.episode_id} for e in eps], indent=2, default=str))
        return 0
    table = Table(title=f"{args.path}: {len(eps)} episodes")
    table.add_column("episode", no_wrap=True, min_width=14)
    for col in ("status", "task", "success", "rows", "duration", "segments", "tags", "operator"):
        table.add_column(col)
    for e in eps:
        status = e.status.value + (" (deleted)" if e.deleted else "")
        table.add_row(e.episode_id, status, e.task or "-", _success(e.success), str(e.n_rows),
                      _fmt_s(e.duration_s), str(len(e.segments)), ",".join(e.tags) or "-", e.operator or "-")
    _console().print(table)
    return 0


def _info(args) -> int:
    from rich.table import Table

    from recorder.reader import Dataset

    ds = Dataset.open(args.path, read_only=True)
    s = ds.summary()
    if args.json:
        print(json.dumps({"attrs": {k: v for k, v in ds.attrs.items() if not k.endswith("_names")}, **s},
                         indent=2, default=str))
        return 0
    con = _console()
    a = ds.attrs
    con.print(f"[bold]{args.path}[/]  robot {a.get('robot')}  schema v{a.get('schema_version')}  "
              f"{a.get('record_hz')} Hz  created {a.get('created_at', '-')}")
    rate = "-" if math.isnan(s["success_rate"]) else f"{100 * s['success_rate']:.0f}% of {s['judged']} judged"
    cov = "-" if math.isnan(s["segment_coverage"]) else f"{100 * s['segment_coverage']:.0f}% of recorded time"
    con.print(f"episodes: {s['episodes']} ({s['usable']} usable; by status {s['by_status']}; "
              f"{s['deleted']} deleted)")
    con.print(f"recorded: {_fmt_s(s['duration_s'])}   success rate: {rate}")
    con.print(f"annotations: {s['annotated_episodes']} episodes with segments/tags/notes; segments cover {cov}")
    table = Table(title="by task (usable episodes)")
    for col in ("task", "episodes", "duration", "success"):
        table.add_column(col)
    for task, t in sorted(s["by_task"].items()):
        succ = f"{t['success']}/{t['judged']}" if t["judged"] else "-"
        table.add_row(task, str(t["episodes"]), _fmt_s(t["duration_s"]), succ)
    con.print(table)
    return 0


def _validate(args) -> int:
    from dataclasses import asdict

    from rich.progress import Progress
    from rich.table import Table

    from recorder.reader import Dataset
    from recorder.validate import DatasetReport, validate_dataset, validate_episode

    ds = Dataset.open(args.path, read_only=True)
    if args.episode:
        report = DatasetReport(str(args.path))
        for eid in args.episode:
            report.episodes.append(validate_episode(ds.episode(eid), check_frames=not args.skip_frames))
    else:
        n = len(ds.episodes(include_deleted=True))
        with Progress(transient=True, disable=args.json) as bar:
            task = bar.add_task("validating episodes", total=n)
            report = validate_dataset(ds, check_frames=not args.skip_frames,
                                      progress=lambda _eid: bar.advance(task))
    if args.json:
        print(json.dumps({"ok": report.ok, "episodes": [asdict(e) for e in report.episodes]}, indent=2, default=str))
        return 0 if report.ok else 1
    con = _console()
    table = Table(title=f"validate {args.path}")
    table.add_column("episode", no_wrap=True, min_width=14)
    for col in ("status", "rows", "result", r"alignment max/p99 \[ms]", "no frame/repeated"):
        table.add_column(col)
    for e in report.episodes:
        align = "; ".join(f"{a.stream.split('/')[-1]} {a.max_ms:.1f}/{a.p99_ms:.1f}" for a in e.alignment) or "-"
        cams = "; ".join(f"{c.name} {c.invalid_rows}/{c.repeated_frames}" for c in e.cameras) or "-"
        result = "[green]ok[/]" if e.ok else f"[red]{len(e.problems)} problem(s)[/]"
        table.add_row(e.episode_id, e.status, str(e.n_rows), result, align, cams)
    con.print(table)
    for e in report.episodes:
        for p in e.problems:
            con.print(f"[red]problem[/] {e.episode_id}: {p}")
        for note in e.notes:
            con.print(f"[dim]note[/] {e.episode_id}: {note}")
    for p in report.problems:
        con.print(f"[red]problem[/] {p}")
    bad = sum(not e.ok for e in report.episodes)
    con.print(f"{len(report.episodes)} episodes checked: " + ("[green]all valid[/]" if report.ok else f"[red]{bad} with problems[/]"))
    return 0 if report.ok else 1


def _recover(args) -> int:
    from recorder.reader import Dataset
    from recorder.recover import recover_dataset

    ds = Dataset.open(args.path)
    results = recover_dataset(ds, dry_run=args.dry_run, force=args.force)
    con = _console()
    if not results:
        con.print("no interrupted episodes: nothing to recover")
        return 0
    verb = "would be" if args.dry_run else "was"
    for r in results:
        con.print(f"{r.episode_id} {verb} {r.status.value}: {r.rows_kept} rows kept ({_fmt_s(r.duration_s)}), "
                  f"{r.rows_cut} cut — {r.reason}")
    return 0


def _delete(args) -> int:
    from recorder.reader import Dataset
    from recorder.tools import set_deleted

    ds = Dataset.open(args.path)
    infos = set_deleted(ds, args.episodes, deleted=not args.undo)
    for info in infos:
        if args.undo:
            log.warning("restored %s", info.episode_id)
        else:
            log.warning("deleted %s (undo: psi-teleop dataset delete %s %s --undo)", info.episode_id, args.path,
                        info.episode_id)
    _console().print(f"{len(infos)} episode(s) {'restored' if args.undo else 'soft-deleted'}")
    return 0


def _merge(args) -> int:
    from rich.progress import Progress

    from recorder.tools import merge_datasets

    with Progress(transient=True) as bar:
        task = bar.add_task("copying episodes", total=None)
        merged = merge_datasets(args.sources, args.path, include_discarded=args.include_discarded,
                                progress=lambda name: bar.update(task, advance=1, description=f"copying {name}"))
    for m in merged:
        _console().print(f"{m.source}:{m.source_id} -> {m.episode_id} ({m.n_rows} rows)")
    _console().print(f"{len(merged)} episode(s) merged into {args.path}")
    return 0


def _export(args) -> int:
    from recorder.export_lerobot import export_lerobot

    result = export_lerobot(args.path, args.out, repo_id=args.repo_id, episode_ids=args.episode,
                            include_failed=args.include_failed, use_videos=not args.images)
    _console().print(f"exported {result.episodes} episodes ({result.frames} frames) to {result.root} "
                     f"as LeRobotDataset {result.codebase_version} in {result.seconds:.1f} s")
    return 0


_ACTIONS = {"list": _list, "info": _info, "validate": _validate, "recover": _recover, "delete": _delete,
            "merge": _merge, "export": _export}


def run(args: argparse.Namespace) -> int:
    try:
        return _ACTIONS[args.action](args)
    except RecorderError:
        raise
    except OSError as exc:
        raise RecorderError(
            f"`dataset {args.action}` failed on {args.path}: {exc}. Check the path and that the disk is reachable"
        ) from exc
