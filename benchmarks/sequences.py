"""tf.SequenceExample figures (issue 20): sequences against flat output and a pandas loop.

    .venv/bin/python benchmarks/sequences.py data            # the two inputs, once
    .venv/bin/python benchmarks/sequences.py bench [--repeat 3] [--workload taxi|clicks]
                                                   [--contenders flat,sequence,...]
    .venv/bin/python benchmarks/sequences.py pandas WORKLOAD INPUT OUT   # the baseline

Workloads (Parquet, so that reading is cheap and the grouping shows):

- taxi: the 1,500,200 taxi rows of the harness (`_workloads.make_taxi_csv`) with
  a `taxi_id` column added: the sample the tfx wheel ships has none. Ids are
  drawn for 4,000 taxis with lognormal weights (seed 20), so a few taxis have
  tens of thousands of trips. Sequences: `taxi_id`, ordered by
  `trip_start_timestamp`; also with `--max-sequence-length 512`.
- clicks: 1,500,000 events in 100,000 sessions (lengths 1 + Poisson(14), seed
  21) of 30,000 users; events interleaved in time order, as logs are; columns
  session_id, user_id, ts, event, page, price (70% NULL), dwell_ms.
  Sequences: `session_id`, ordered by `ts`, context `user_id`.

Contenders, each run alternately `--repeat` times under `_measure.timed_run`
(wall time and peak RSS of the process tree): `flat` (`beam-ingest run`, one
tf.Example per row), `sequence` (the same with the sequence options),
`sequence_cap512` (taxi) and `pandas`: pandas reads the file, sorts by key and
order (stable), `groupby`, and builds one `tf.train.SequenceExample` per group
with a Python loop over every value (what users write today), split by TFX's
rule on the key's Feature bytes, written with `tf.io.TFRecordWriter` (GZIP).
Prints a Markdown table of medians and one of issue 20's targets (within 2x
of flat, at least 5x the pandas loop, peak RSS under 1 GB); writes
work/sequences.json. Exit status 1 if the sequence contenders and the pandas
loop wrote different numbers of sequences.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import statistics
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
WORK = BENCH / "work"
DATA = WORK / "data"
PYTHON = sys.executable
BEAM_INGEST = str(Path(PYTHON).parent / "beam-ingest")
ROWS = 1_500_200

WORKLOADS = {
    "taxi": {
        "path": DATA / "seq_taxi_1500200" / "taxi.parquet",
        "key": "taxi_id", "order": "trip_start_timestamp", "context": None,
    },
    "clicks": {
        "path": DATA / "seq_clicks_1500000" / "clicks.parquet",
        "key": "session_id", "order": "ts", "context": "user_id",
    },
}  # fmt: skip


def make_data() -> None:
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pa_csv
    import pyarrow.parquet as pq
    from _workloads import make_taxi_csv

    taxi = WORKLOADS["taxi"]["path"]
    if not taxi.is_file():
        table = pa_csv.read_csv(make_taxi_csv(ROWS, DATA))
        rng = np.random.default_rng(20)
        weights = rng.lognormal(0, 1.5, 4000)
        ids = rng.choice(4000, table.num_rows, p=weights / weights.sum())
        taxi.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table.append_column("taxi_id", pa.array(ids, pa.int64())), taxi)
    clicks = WORKLOADS["clicks"]["path"]
    if not clicks.is_file():
        rng = np.random.default_rng(21)
        lengths = 1 + rng.poisson(14, 100_000)
        extra = int(lengths.sum()) - 1_500_000  # exactly 1.5M events
        if extra > 0:
            lengths[np.flatnonzero(lengths > 1)[:extra]] -= 1
        else:
            lengths[-1] -= extra
        n = int(lengths.sum())
        session = np.repeat(np.arange(100_000), lengths)
        start = rng.integers(0, 86_400_000, 100_000)
        gaps = rng.exponential(30_000, n).astype(np.int64)
        first = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        within = np.cumsum(gaps) - np.repeat(np.cumsum(gaps)[first] - gaps[first], lengths)
        ts = np.repeat(start, lengths) + within
        order = np.argsort(ts, kind="stable")  # logs are in time order: sessions interleave
        price = rng.integers(100, 100_000, n) / 100
        table = pa.table({
            "session_id": pa.array([f"s{i:06d}" for i in session[order]]),
            "user_id": pa.array((session * 7919 % 30_000)[order], pa.int64()),
            "ts": pa.array(ts[order], pa.int64()),
            "event": pa.array(np.array(["view", "click", "cart", "buy", "search", "scroll"])[
                rng.integers(0, 6, n)]),
            "page": pa.array([f"/p/{i}" for i in rng.integers(0, 5000, n)]),
            "price": pa.array(price, mask=rng.random(n) < 0.7),
            "dwell_ms": pa.array(rng.integers(0, 60_000, n), pa.int64()),
        })  # fmt: skip
        clicks.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, clicks)
    print(f"data: {taxi}, {clicks}")


def command(contender: str, workload: str, out: Path) -> list[str]:
    w = WORKLOADS[workload]
    if contender == "pandas":
        return [PYTHON, str(Path(__file__)), "pandas", workload, str(w["path"]), str(out)]
    cmd = [BEAM_INGEST, "run", "--format", "parquet", "--input", str(w["path"]),
           "--output", str(out)]  # fmt: skip
    if contender != "flat":
        cmd += ["--sequence-key", w["key"], "--sequence-order", w["order"]]
        cmd += ["--context", w["context"]] if w["context"] else []
    if contender == "sequence_cap512":
        cmd += ["--max-sequence-length", "512"]
    return cmd


PLAN = {"taxi": ["flat", "sequence", "sequence_cap512", "pandas"],
        "clicks": ["flat", "sequence", "pandas"]}  # fmt: skip


def bench(repeat: int, workloads: list[str] | None = None, only: list[str] | None = None) -> int:
    from _measure import timed_run

    plan = {w: [c for c in PLAN[w] if not only or c in only] for w in workloads or PLAN}
    results: dict = {}
    for workload, contenders in plan.items():
        for r in range(repeat):
            for contender in contenders:  # alternately
                out = WORK / "seq_runs" / workload / contender / "out"
                shutil.rmtree(out, ignore_errors=True)
                m = timed_run(command(contender, workload, out), out.parent / f"log{r}")
                written = _examples(out)
                results.setdefault(workload, {}).setdefault(contender, []).append(
                    {"wall_s": m.wall_s, "peak_rss_mb": m.peak_rss_kb / 1024, "examples": written}
                )
                mb = m.peak_rss_kb / 1024
                print(f"{workload} {contender} run {r}: {m.wall_s:.1f} s, {mb:.0f} MB, "
                      f"{written:,} examples", flush=True)  # fmt: skip
    name = "sequences.json" if plan == PLAN else f"sequences_{'_'.join(plan)}.json"
    (WORK / name).write_text(json.dumps(results, indent=2))
    print("\n| workload | contender | examples | wall s (median) | peak RSS MB (median) |")
    print("| --- | --- | ---: | ---: | ---: |")
    for workload, by in results.items():
        for contender, runs in by.items():
            wall = statistics.median(r["wall_s"] for r in runs)
            rss = statistics.median(r["peak_rss_mb"] for r in runs)
            print(
                f"| {workload} | {contender} | {runs[0]['examples']:,} | {wall:.1f} | {rss:.0f} |"
            )
    return targets(results)


def targets(results: dict) -> int:
    """Prints issue 20's targets for each sequence contender (medians); 1 if
    the sequence contenders and the pandas loop wrote different numbers of
    sequences, else 0."""
    median = {w: {c: (statistics.median(r["wall_s"] for r in runs),
                      statistics.median(r["peak_rss_mb"] for r in runs))
                  for c, runs in by.items()} for w, by in results.items()}  # fmt: skip
    print("\n| workload | contender | / flat (target <= 2) | pandas / it (target >= 5) "
          "| peak RSS MB (target < 1024) |")  # fmt: skip
    print("| --- | --- | ---: | ---: | ---: |")
    failed = 0
    for workload, by in median.items():
        counts = {r["examples"] for c, runs in results[workload].items() if c != "flat"
                  for r in runs}  # fmt: skip
        if len(counts) > 1:
            print(f"{workload}: the sequence outputs differ in size: {sorted(counts)}")
            failed = 1
        for contender, (wall, rss) in by.items():
            if contender in ("flat", "pandas"):
                continue
            flat = f"{wall / by['flat'][0]:.2f}" if "flat" in by else "-"
            pandas = f"{by['pandas'][0] / wall:.2f}" if "pandas" in by else "-"
            print(f"| {workload} | {contender} | {flat} | {pandas} | {rss:.0f} |")
    return failed


def _examples(out: Path) -> int:
    report = out / "ingest_report.json"
    if report.is_file():
        return json.loads(report.read_text())["examples"]
    return json.loads((out / "counts.json").read_text())["examples"]


# --- the pandas baseline --------------------------------------------------------------


def pandas_loop(workload: str, path: Path, out: Path) -> None:
    import pandas as pd
    import pyarrow as pa
    import tensorflow as tf

    w = WORKLOADS[workload]
    key, order = w["key"], w["order"]
    context = [key] + ([w["context"]] if w["context"] else [])
    frame = pd.read_parquet(path, dtype_backend="pyarrow")
    frame = frame.sort_values([key, order], kind="stable", na_position="last")
    schema = pa.Schema.from_pandas(frame.head(1), preserve_index=False)
    kinds = {f.name: "int" if pa.types.is_integer(f.type) else "float"
             if pa.types.is_floating(f.type) else "bytes" for f in schema}  # fmt: skip
    lists = [c for c in frame.columns if c not in context]

    def put(feature, kind, value) -> None:
        if kind == "int":
            target = feature.int64_list
            if value is not None and value is not pd.NA:
                target.value.append(int(value))
        elif kind == "float":
            target = feature.float_list
            if value is not None and value is not pd.NA:
                target.value.append(float(value))
        else:
            target = feature.bytes_list
            if value is not None and value is not pd.NA:
                target.value.append(str(value).encode())
        feature.SetInParent()
        target.SetInParent()

    out.mkdir(parents=True)
    writers = {}
    for name in ("train", "eval"):
        (out / f"Split-{name}").mkdir()
        writers[name] = tf.io.TFRecordWriter(
            str(out / f"Split-{name}" / "data_tfrecord-00000-of-00001.gz"), "GZIP"
        )
    count = 0
    for _, group in frame.groupby(key, sort=False):
        sequence = tf.train.SequenceExample()
        for name in context:
            put(sequence.context.feature[name], kinds[name], group[name].iloc[0])
        for name in lists:
            feature_list = sequence.feature_lists.feature_list[name]
            for value in group[name].tolist():
                put(feature_list.feature.add(), kinds[name], value)
        split_key = sequence.context.feature[key].SerializeToString(deterministic=True)
        bucket = int(hashlib.sha256(split_key).hexdigest(), 16) % 3
        writers["train" if bucket < 2 else "eval"].write(
            sequence.SerializeToString(deterministic=True)
        )
        count += 1
    for writer in writers.values():
        writer.close()
    (out / "counts.json").write_text(json.dumps({"examples": count}))


if __name__ == "__main__":
    sys.path.insert(0, str(BENCH))
    action = sys.argv[1] if len(sys.argv) > 1 else "--help"
    if action == "data":
        make_data()
    elif action == "bench":

        def _option(name: str) -> str | None:
            return sys.argv[sys.argv.index(name) + 1] if name in sys.argv else None

        repeat = int(_option("--repeat") or 3)
        workloads = _option("--workload")
        contenders = _option("--contenders")
        unknown = set((workloads or "taxi").split(",")) - set(PLAN)
        if unknown or "--help" in sys.argv:
            raise SystemExit(__doc__)
        sys.exit(
            bench(repeat, workloads and workloads.split(","), contenders and contenders.split(","))
        )
    elif action == "pandas":
        pandas_loop(sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4]))
    else:
        raise SystemExit(__doc__)
