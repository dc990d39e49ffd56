"""The chart of benchmarks/run.py (results.png): wall time and peak memory of the
largest table workloads and the images, and the CSV scaling series.
"""

from __future__ import annotations

from pathlib import Path

from _plan import TABLE_FORMATS


def draw_chart(
    path: Path, summaries: dict, main_rows: list[int], scaling_rows: list[int] | None
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colours = {
        "beam1": "#1f77b4",
        "beam2": "#17becf",
        "tfx": "#d62728",
        "pandas": "#ff7f0e",
        "floor": "#2ca02c",
    }
    names = {
        "beam1": "beam-ingest, 1 worker",
        "beam2": "beam-ingest, 2 workers",
        "tfx": "TFX ExampleGen",
        "pandas": "pandas / Pillow loop",
        "floor": "floor",
    }
    largest = max(main_rows) if main_rows else None
    groups = [(f, n) for (f, n, _) in summaries if n == largest and f in TABLE_FORMATS]
    groups += [(f, n) for (f, n, _) in summaries if f == "images"]
    groups = list(dict.fromkeys(groups))
    nrows = 2 if scaling_rows else 1
    fig, axes = plt.subplots(nrows, 2, figsize=(14, 5.5 * nrows), squeeze=False)
    tools = [t for t in colours if any(k[2] == t for k in summaries)]
    width = 0.8 / max(1, len(tools))
    for ax, metric, ylabel in (
        (axes[0][0], "wall_s", "median wall time, s (log)"),
        (axes[0][1], "peak_mb", "median peak RSS, MB"),
    ):
        for i, tool in enumerate(tools):
            xs, ys = [], []
            for g, (fmt, n) in enumerate(groups):
                if (fmt, n, tool) in summaries:
                    xs.append(g + (i - (len(tools) - 1) / 2) * width)
                    ys.append(getattr(summaries[(fmt, n, tool)], metric))
            ax.bar(xs, ys, width, label=names[tool], color=colours[tool])
        ax.set_xticks(range(len(groups)))
        ax.set_xticklabels([f"{f}\n{n:,}" for f, n in groups])
        ax.set_ylabel(ylabel)
        if metric == "wall_s":
            ax.set_yscale("log")
        ax.grid(axis="y", alpha=0.3)
    axes[0][0].set_title(f"Wall time ({largest:,} rows; images)" if largest else "Wall time")
    axes[0][1].set_title("Peak memory (summed over processes)")
    axes[0][0].legend(fontsize=8)
    if scaling_rows:
        for ax, metric, ylabel in (
            (axes[1][0], "wall_s", "median wall time, s"),
            (axes[1][1], "peak_mb", "median peak RSS, MB"),
        ):
            for tool in tools:
                points = [
                    (n, getattr(summaries[("csv", n, tool)], metric))
                    for n in scaling_rows
                    if ("csv", n, tool) in summaries
                ]
                if points:
                    ax.plot(
                        *zip(*points, strict=True),
                        marker="o",
                        label=names[tool],
                        color=colours[tool],
                    )
            ax.set_xscale("log")
            if metric == "wall_s":
                ax.set_yscale("log")
            ax.set_xlabel("CSV rows (log)")
            ax.set_ylabel(ylabel)
            ax.grid(alpha=0.3)
        axes[1][0].set_title("Scaling: time (linear is a slope of 1 once start-up is amortised)")
        axes[1][1].set_title("Scaling: memory (flat is bounded)")
        axes[1][0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
