"""Run one InfoMax configuration on built-in or given views and write its history (JSON, CSV) and a plot."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from infomix.core.io import atomic_file, atomic_write_json, atomic_write_text
from infomix.mi.representation.datasets import GaussianViews, load_views
from infomix.mi.representation.train import InfoMaxConfig, InfoMaxHistory, train_infomax


def run_infomax(
    config: InfoMaxConfig,
    data: str = "digits",
    data_params: dict[str, Any] | None = None,
    out: str | Path | None = None,
) -> InfoMaxHistory:
    """Train `config` on the built-in views `data`; with `out`, write history.json, history.csv, history.png."""
    views = load_views(data, **(data_params or {}))
    if isinstance(views, tuple):
        train, test = views
        true_mi = train.mutual_information if isinstance(train, GaussianViews) else None
        history, _ = train_infomax(config, train, test, name=data, true_mi=true_mi)
    else:
        history, _ = train_infomax(config, views.train, views.test, name=data)
    if out is not None:
        write_history(history, out)
    return history


def write_history(history: InfoMaxHistory, out: str | Path) -> dict[str, Path]:
    """Write the history as history.json and history.csv in folder `out`, plus history.png when matplotlib is
    installed; return the paths written."""
    out = Path(out)
    paths = {"json": atomic_write_json(out / "history.json", history.to_dict())}
    buf = io.StringIO()
    rows = history.rows()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]) if rows else ["step"])
    writer.writeheader()
    writer.writerows(rows)
    paths["csv"] = atomic_write_text(out / "history.csv", buf.getvalue())
    png = plot_histories([history], out / "history.png")
    if png is not None:
        paths["png"] = png
    return paths


def plot_histories(
    histories: Sequence[InfoMaxHistory], path: str | Path, labels: Sequence[str] | None = None, title: str = ""
) -> Path | None:
    """Test bound and probe accuracy against the training step, one line per history; None without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    labels = list(labels) if labels is not None else [h.config["critic"] for h in histories]
    has_probe = any(a is not None for h in histories for a in h.probe_accuracy)
    fig, axes = plt.subplots(1, 2 if has_probe else 1, figsize=(11 if has_probe else 6, 4), squeeze=False)
    ax = axes[0][0]
    for h, label in zip(histories, labels, strict=True):
        ax.plot(h.step, h.test_bound, marker=".", label=label)
    first = histories[0]
    if first.true_mi is not None:
        ax.axhline(first.true_mi, color="k", linestyle="--", linewidth=1, label=f"true MI {first.true_mi:.4f}")
    ax.set_xlabel("training step")
    bounds = {h.bound for h in histories}
    ax.set_ylabel(f"test I_{first.bound.upper()} (nats)" if len(bounds) == 1 else "test bound (nats)")
    ax.legend(fontsize=7)
    if has_probe:
        ax = axes[0][1]
        for h, label in zip(histories, labels, strict=True):
            acc = [math.nan if a is None else a for a in h.probe_accuracy]
            ax.plot(h.step, acc, marker=".", label=label)
        pixel = [h.pixel_accuracy for h in histories if h.pixel_accuracy is not None]
        if pixel:
            ax.axhline(sum(pixel) / len(pixel), color="k", linestyle="--", linewidth=1, label="pixels")
        ax.set_xlabel("training step")
        ax.set_ylabel("linear probe test accuracy")
        ax.legend(fontsize=7)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    path = Path(path)
    with atomic_file(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    return path
