"""A figure with one panel per label, saved as PNG through the Agg canvas."""

from __future__ import annotations

import math
from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

PANEL_SIZE = (3.6, 3.0)


def label_grid(n_panels: int, title: str, columns: int = 3) -> tuple[Figure, list[Axes]]:
    """A titled figure with ``n_panels`` axes in rows of ``columns``; spare axes are hidden."""
    columns = max(1, min(columns, n_panels))
    rows = math.ceil(n_panels / columns)
    width, height = PANEL_SIZE[0] * columns, PANEL_SIZE[1] * rows + 0.6
    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, columns, squeeze=False).ravel().tolist()
    # fixed margins: tight_layout costs ~0.5 s per figure on a busy 2-core CPU
    fig.subplots_adjust(
        left=0.75 / width,
        right=1 - 0.1 / width,
        bottom=0.6 / height,
        top=1 - 0.6 / height,
        wspace=0.35,
        hspace=0.55,
    )
    for spare in axes[n_panels:]:
        spare.set_visible(False)
    fig.suptitle(title)
    return fig, axes[:n_panels]


def save_png(fig: Figure, path: str | Path) -> Path:
    """Write the figure as PNG (atomically: tmp + rename) and return its path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fig.savefig(tmp, format="png", dpi=90)
    tmp.replace(path)
    return path


def note(ax: Axes, text: str) -> None:
    """A centred message in a panel that has nothing to draw."""
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, fontsize=9)
