"""Time `beam-ingest run --format images` against a plain Pillow + TFRecordWriter loop.

    .venv/bin/python benchmarks/compare_images.py --images 10000 [--repeats 3]

Workload: N JPEGs (default 10,000) of 256x256 RGB, quality 90, in 10 class
folders class_0..class_9 (image i in class_{i % 10}), each a colour gradient with
Gaussian noise and a few random shapes, seeded by (--seed, i) so the bytes are
the same on every machine with the same Pillow. Written once under
benchmarks/work/data/images_<N>/ and reused while its `.complete` marker matches.

Each repeat runs, in this order, each as a whole process under `/usr/bin/time -v`:

1. beam-ingest, 2 workers: `beam-ingest run --format images --input 'ROOT/**'
   --output DIR --overwrite -- --direct_num_workers 2
   --direct_running_mode multi_processing`;
2. beam-ingest, in process: the same without the Beam options (DirectRunner's
   defaults: one worker, in the CLI's process);
3. `benchmarks/images_loop.py ROOT DIR`: a sorted loop, Pillow header only, the
   same features, one gzip TFRecord file, no splits.

GNU time's maximum RSS is the largest single process of the tree, which under
multi_processing is not the run's memory. So while each run goes, a thread
reads /proc every 0.1 s and sums VmRSS (and Pss) over every process below
this script except /usr/bin/time itself; the table shows the maximum of that
sum. RSS double-counts pages the worker processes share (libraries); PSS
splits them, so the PSS sum is the closer figure for the memory the run holds.

After each run the examples are counted by reading the gzip TFRecords back
(beam-ingest: every Split-*; its ingest_report.json must agree); every run must
hold N. Report: printed and written to benchmarks/work/compare_images_<N>.md
(raw numbers in compare_images_<N>.json). Exit status 1 if a count is wrong,
2 if a run fails.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shlex
import shutil
import statistics
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from multiprocessing import Pool
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from compare_csv import (  # benchmarks/ is not a package
    GNU_TIME,
    Timing,
    count_splits,
    count_tfrecords,
    display_path,
    environment_lines,
    markdown_table,
    package_versions,
    timed_run,
)

BENCH_DIR = Path(__file__).resolve().parent
WORK_DIR = BENCH_DIR / "work"
VENV_BIN = Path(sys.executable).parent
SIZE = 256
CLASSES = 10
QUALITY = 90
BEAM_2 = "beam-ingest, 2 workers (multi_processing)"
BEAM_1 = "beam-ingest, in process"
LOOP = "plain loop (Pillow + TFRecordWriter)"
TARGET_SPEEDUP = 1.5
TARGET_RSS_MB = 600


# ---------------------------------------------------------------- workload


def make_image(seed: int, index: int) -> bytes:
    """One seeded 256x256 RGB JPEG: gradient, noise, shapes."""
    import io

    import numpy as np
    from PIL import Image, ImageDraw

    rng = np.random.default_rng([seed, index])
    ramp = np.linspace(0.0, 1.0, SIZE, dtype=np.float32)
    start, end = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
    mix = (ramp[:, None] + ramp[None, :])[..., None] / 2
    pixels = start * (1 - mix) + end * mix + rng.normal(0, 12, (SIZE, SIZE, 3))
    img = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(img)
    for _ in range(int(rng.integers(3, 8))):
        x0, y0 = (int(v) for v in rng.integers(0, SIZE - 16, 2))
        x1, y1 = x0 + int(rng.integers(16, 128)), y0 + int(rng.integers(16, 128))
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        shape = (draw.ellipse, draw.rectangle)[int(rng.integers(0, 2))]
        shape((x0, y0, x1, y1), fill=colour)
    out = io.BytesIO()
    img.save(out, format="JPEG", quality=QUALITY)
    return out.getvalue()


def _write_one(job: tuple[Path, int, int]) -> int:
    root, seed, index = job
    path = root / f"class_{index % CLASSES}" / f"img_{index:06d}.jpg"
    data = make_image(seed, index)
    path.write_bytes(data)
    return len(data)


def make_workload(images: int, seed: int, data_root: Path) -> tuple[Path, int]:
    """The image folder (written unless its marker matches) and its total bytes."""
    root = data_root / f"images_{images}"
    marker = root / ".complete"
    expected = {"images": images, "seed": seed, "size": SIZE, "quality": QUALITY}
    if marker.is_file():
        done = json.loads(marker.read_text())
        if {k: done.get(k) for k in expected} == expected:
            return root, done["bytes"]
    shutil.rmtree(root, ignore_errors=True)
    for label in range(CLASSES):
        (root / f"class_{label}").mkdir(parents=True)
    started = time.monotonic()
    with Pool(len(os.sched_getaffinity(0))) as pool:
        sizes = pool.map(_write_one, [(root, seed, i) for i in range(images)], chunksize=64)
    total = sum(sizes)
    print(
        f"generated {images:,} JPEGs, {total / 1e6:,.1f} MB, in {time.monotonic() - started:.0f} s"
    )
    marker.write_text(json.dumps({**expected, "bytes": total}) + "\n")
    return root, total


# ---------------------------------------------------------------- memory of a process tree


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry.name}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rpartition(")")[2].split()[1])  # the comm may hold spaces or ')'
        children.setdefault(ppid, []).append(int(entry.name))
    return children


def _status_kb(pid: int, file: str, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/{file}").read_text().splitlines():
            if line.startswith(field):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def tree_memory_kb(root_pid: int) -> tuple[int, int, int]:
    """(summed VmRSS kB, summed Pss kB, processes) of every process below root_pid,
    except root_pid's direct children (here: /usr/bin/time, whose child is the tool)."""
    children = _children_map()
    pids, stack = (
        [],
        [grandchild for c in children.get(root_pid, []) for grandchild in children.get(c, [])],
    )
    while stack:
        pid = stack.pop()
        pids.append(pid)
        stack += children.get(pid, [])
    rss = sum(_status_kb(pid, "status", "VmRSS:") for pid in pids)
    pss = sum(_status_kb(pid, "smaps_rollup", "Pss:") for pid in pids)
    return rss, pss, len(pids)


class TreeSampler:
    """A thread summing the memory of this process's descendants every `interval` s."""

    def __init__(self, interval: float = 0.1) -> None:
        self.interval = interval
        self.max_rss_kb = self.max_pss_kb = self.max_processes = self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        me = os.getpid()
        while not self._stop.is_set():
            rss, pss, processes = tree_memory_kb(me)
            self.max_rss_kb = max(self.max_rss_kb, rss)
            self.max_pss_kb = max(self.max_pss_kb, pss)
            self.max_processes = max(self.max_processes, processes)
            self.samples += 1
            self._stop.wait(self.interval)

    def __enter__(self) -> TreeSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


# ---------------------------------------------------------------- the three tools


@dataclass(frozen=True)
class RunResult:
    tool: str
    repeat: int
    timing: Timing
    tree_rss_kb: int
    tree_pss_kb: int
    processes: int
    examples: int
    splits: dict[str, int]


def beam_command(root: Path, output: Path, workers: int) -> list[str]:
    command = [str(VENV_BIN / "beam-ingest"), "run", "--format", "images"]
    command += ["--input", f"{root}/**", "--output", str(output), "--overwrite"]
    if workers > 1:
        command += ["--", "--direct_num_workers", str(workers)]
        command += ["--direct_running_mode", "multi_processing"]
    return command


def beam_counts(output: Path) -> dict[str, int]:
    splits = count_splits(output)
    report = json.loads((output / "ingest_report.json").read_text())
    reported = {name: split["examples"] for name, split in report["splits"].items()}
    if reported != splits or report["examples"] != sum(splits.values()):
        raise RuntimeError(
            f"{output}: report says {report['examples']} {reported}, files hold {splits}"
        )
    return splits


def loop_command(root: Path, output: Path) -> list[str]:
    return [sys.executable, str(BENCH_DIR / "images_loop.py"), str(root), str(output)]


def loop_counts(output: Path) -> dict[str, int]:
    return {"all": count_tfrecords(output / "examples.tfrecord.gz")}


Tool = tuple[str, Callable[[Path, Path], list[str]], Callable[[Path], dict[str, int]]]
TOOLS: dict[str, Tool] = {
    BEAM_2: ("beam2", lambda root, out: beam_command(root, out, 2), beam_counts),
    BEAM_1: ("beam1", lambda root, out: beam_command(root, out, 1), beam_counts),
    LOOP: ("loop", loop_command, loop_counts),
}


def run_all(root: Path, runs_dir: Path, repeats: int, keep: bool) -> list[RunResult]:
    results = []
    total = repeats * len(TOOLS)
    for repeat in range(1, repeats + 1):
        for tool, (slug, command_for, counter) in TOOLS.items():
            run_dir = runs_dir / f"{slug}-{repeat}"
            shutil.rmtree(run_dir, ignore_errors=True)
            output = run_dir / "output"
            with TreeSampler() as sampler:
                timing = timed_run(command_for(root, output), run_dir / "logs")
            splits = counter(output)
            result = RunResult(
                tool,
                repeat,
                timing,
                sampler.max_rss_kb,
                sampler.max_pss_kb,
                sampler.max_processes,
                sum(splits.values()),
                splits,
            )
            results.append(result)
            print(
                f"[{len(results)}/{total}] {tool} #{repeat}: {timing.wall_s:.1f} s, "
                f"summed RSS {result.tree_rss_kb / 1024:,.0f} MiB "
                f"(PSS {result.tree_pss_kb / 1024:,.0f}, {result.processes} processes, "
                f"GNU time {timing.max_rss_kb / 1024:,.0f}), CPU {timing.cpu_percent}, "
                f"splits {splits}",
                flush=True,
            )
            if not keep:
                shutil.rmtree(output)
    return results


# ---------------------------------------------------------------- report


def summary(results: list[RunResult], images: int) -> dict[str, dict[str, float]]:
    out = {}
    for tool in TOOLS:
        runs = [r for r in results if r.tool == tool]
        wall = statistics.median(r.timing.wall_s for r in runs)
        out[tool] = {
            "wall_s": wall,
            "images_per_s": images / wall,
            "rss_mib": max(max(r.tree_rss_kb, r.timing.max_rss_kb) for r in runs) / 1024,
            "pss_mib": max(r.tree_pss_kb for r in runs) / 1024,
            "gnu_rss_mib": max(r.timing.max_rss_kb for r in runs) / 1024,
            "processes": max(r.processes for r in runs),
        }
    for tool in TOOLS:
        out[tool]["ratio"] = out[tool]["images_per_s"] / out[LOOP]["images_per_s"]
    return out


def render_report(
    root: Path, data_bytes: int, images: int, results: list[RunResult], problems: list[str],
    command: str,
) -> str:  # fmt: skip
    stats = summary(results, images)
    repeats = max(r.repeat for r in results)
    beam2 = stats[BEAM_2]
    met_speed = beam2["ratio"] >= TARGET_SPEEDUP
    met_rss = beam2["rss_mib"] * 1024**2 < TARGET_RSS_MB * 1e6
    parts = [
        f"# beam-ingest --format images vs a plain loop: {images:,} JPEGs",
        "",
        f"`{command}` on {dt.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}.",
        "",
        f"Workload: `{display_path(root)}`, {images:,} JPEGs of {SIZE}x{SIZE} RGB, quality "
        f"{QUALITY}, in {CLASSES} class folders, {data_bytes / 1e6:,.1f} MB "
        f"({data_bytes / images / 1e3:.1f} kB per image). {repeats} run(s) per tool, "
        "alternating; medians of wall time, maxima of memory.",
        "",
        markdown_table(
            [
                "tool",
                "median wall s",
                "images/s",
                "peak RSS MiB (summed)",
                "peak PSS MiB (summed)",
                "processes",
                "images/s vs loop",
                "wall s per run",
            ],
            [
                [
                    tool,
                    f"{s['wall_s']:.1f}",
                    f"{s['images_per_s']:,.0f}",
                    f"{s['rss_mib']:,.0f}",
                    f"{s['pss_mib']:,.0f}",
                    str(s["processes"]),
                    f"{s['ratio']:.2f}x",
                    ", ".join(f"{r.timing.wall_s:.1f}" for r in results if r.tool == tool),
                ]
                for tool, s in stats.items()
            ],
        ),
        "",
        f"Target (beam-ingest with 2 workers): at least {TARGET_SPEEDUP}x the loop's "
        f"images/s: {'met' if met_speed else 'MISSED'} ({beam2['ratio']:.2f}x); "
        f"peak RSS under {TARGET_RSS_MB} MB: {'met' if met_rss else 'MISSED'} "
        f"({beam2['rss_mib'] * 1024**2 / 1e6:,.0f} MB summed RSS, "
        f"{beam2['pss_mib'] * 1024**2 / 1e6:,.0f} MB summed PSS).",
        "",
        "Counts: " + (f"every run wrote {images:,} examples." if not problems else "PROBLEMS"),
        *(f"- {problem}" for problem in problems),
        "",
        "Runs:",
        "",
        markdown_table(
            [
                "#",
                "tool",
                "wall s",
                "summed RSS MiB",
                "summed PSS MiB",
                "GNU time RSS MiB",
                "user s",
                "sys s",
                "CPU",
                "splits",
            ],
            [
                [
                    str(r.repeat),
                    r.tool,
                    f"{r.timing.wall_s:.2f}",
                    f"{r.tree_rss_kb / 1024:,.0f}",
                    f"{r.tree_pss_kb / 1024:,.0f}",
                    f"{r.timing.max_rss_kb / 1024:,.0f}",
                    f"{r.timing.user_s:.1f}",
                    f"{r.timing.system_s:.1f}",
                    r.timing.cpu_percent,
                    ", ".join(f"{k} {v:,}" for k, v in r.splits.items()),
                ]
                for r in results
            ],
        ),
        "",
        *environment_lines({k: v for k, v in package_versions().items() if k != "tfx"}),
        "Whole processes under `/usr/bin/time -v` (interpreter start-up and imports "
        "included). Peak RSS: the largest sum of VmRSS over the run's process tree, "
        "sampled every 0.1 s from /proc (or GNU time's maximum if larger); it counts "
        "shared pages once per process, PSS shares them out. beam-ingest writes "
        "Split-train and Split-eval (hash split 2:1); the loop writes one file.",
        "",
    ]
    return "\n".join(parts)


# ---------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=10_000, help="JPEGs (default 10000)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per tool (default 3)")
    parser.add_argument("--seed", type=int, default=4, help="workload seed (default 4)")
    parser.add_argument("--work-dir", type=Path, default=WORK_DIR, help="data and outputs")
    parser.add_argument(
        "--keep-outputs", action="store_true", help="keep every run's outputs, not only logs"
    )
    args = parser.parse_args(argv)
    if args.images < 1 or args.repeats < 1:
        parser.error("--images and --repeats must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    for required in (GNU_TIME, VENV_BIN / "beam-ingest"):
        if not required.exists():
            sys.exit(f"missing {required}; run with the project's .venv/bin/python")
    work_dir = args.work_dir.resolve()
    root, data_bytes = make_workload(args.images, args.seed, work_dir / "data")
    print(f"workload: {root} ({args.images:,} images, {data_bytes / 1e6:,.1f} MB)", flush=True)
    runs_dir = work_dir / f"compare_images_{args.images}"
    try:
        results = run_all(root, runs_dir, args.repeats, args.keep_outputs)
    except (RuntimeError, ValueError, FileNotFoundError) as error:
        print(f"run failed: {error}\nlogs: {runs_dir}", file=sys.stderr)
        return 2
    problems = [
        f"{r.tool} #{r.repeat}: {r.examples:,} examples, expected {args.images:,}"
        for r in results
        if r.examples != args.images
    ]
    cli_args = sys.argv[1:] if argv is None else argv
    command = shlex.join([".venv/bin/python", "benchmarks/compare_images.py", *cli_args])
    report = render_report(root, data_bytes, args.images, results, problems, command)
    report_file = work_dir / f"compare_images_{args.images}.md"
    report_file.write_text(report)
    raw = {
        "workload": {"root": str(root), "images": args.images, "bytes": data_bytes},
        "summary": summary(results, args.images),
        "runs": [asdict(result) for result in results],
    }
    report_file.with_suffix(".json").write_text(json.dumps(raw, indent=2) + "\n")
    print("\n" + report)
    print(f"written to {report_file}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
