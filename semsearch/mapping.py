"""The 2-D map of the documents: a projection (UMAP or PCA) and a PNG drawn with matplotlib."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .clustering import NOISE, PROJECTIONS, pca_reduce, umap_reduce
from .errors import SemsearchError


def project_2d(vectors: np.ndarray, projection: str, seed: int) -> np.ndarray:
    """2-D coordinates for the map: UMAP (cosine, min_dist 0.1) or PCA."""
    if projection not in PROJECTIONS:
        raise SemsearchError(f"unknown projection {projection!r}: use umap or pca")
    n = len(vectors)
    if n < 3:
        coords = np.zeros((n, 2), dtype=np.float32)
        coords[:, 0] = np.arange(n)
        return coords
    if projection == "umap" and n >= 5:
        return umap_reduce(vectors, 2, seed, min_dist=0.1)
    return pca_reduce(vectors, 2, seed)


LEGEND_MAX = 20


def check_plot_path(path: str | Path) -> Path:
    """Refuse, before any work, a plot file that cannot be written as a PNG."""
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise SemsearchError(f"the plot is written as PNG: give a file name ending in .png, not {path.name!r}")
    if not path.parent.is_dir():
        raise SemsearchError(f"cannot write the plot {path}: no directory {path.parent}")
    return path


def plot_map(
    coords: np.ndarray,
    labels: np.ndarray,
    titles: dict[int, str],
    path: str | Path,
    heading: str = "",
) -> int:
    """Draw the documents coloured by cluster (noise light grey) to a PNG; returns the points drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = check_plot_path(path)
    n = len(coords)
    size = float(np.clip(25_000 / max(n, 1), 0.8, 40))  # marker area: small for many points
    alpha = float(np.clip(60 / max(n, 1) ** 0.5, 0.3, 0.9))
    found = [label for label in sorted(np.unique(labels).tolist()) if label != NOISE]
    # Qualitative colours without their greys, which belong to noise.
    palette = [c for i, c in enumerate(plt.get_cmap("tab10").colors) if i != 7]
    if len(found) > len(palette):
        palette = [c for i, c in enumerate(plt.get_cmap("tab20").colors) if i not in (14, 15)]
    colours = {label: palette[i % len(palette)] for i, label in enumerate(found)}
    fig, ax = plt.subplots(figsize=(11, 7.5), dpi=110)
    drawn = 0
    noise = labels == NOISE
    if noise.any():
        ax.scatter(coords[noise, 0], coords[noise, 1], s=size, c="#d0d0d0", alpha=alpha, linewidths=0,
                   label=f"noise ({int(noise.sum())})", rasterized=True)
        drawn += int(noise.sum())
    for label in found:
        mask = labels == label
        legend = f"{label}: {titles.get(label, '')} ({int(mask.sum())})" if len(found) <= LEGEND_MAX or \
            label < LEGEND_MAX else None
        ax.scatter(coords[mask, 0], coords[mask, 1], s=size, color=colours[label], alpha=alpha, linewidths=0,
                   label=legend if legend else "_nolegend_", rasterized=True)
        drawn += int(mask.sum())
        centre = np.median(coords[mask], axis=0)
        ax.annotate(str(label), centre, ha="center", va="center", fontsize=9, weight="bold",
                    bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": colours[label], "alpha": 0.8})
    ax.set_xticks([])
    ax.set_yticks([])
    title = heading or "documents by cluster"
    if len(found) > LEGEND_MAX:
        title += f" (legend: the {LEGEND_MAX} largest of {len(found)} clusters)"
    ax.set_title(title, fontsize=11)
    legend = ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False,
                       markerscale=max(1.0, (30 / size) ** 0.5), handletextpad=0.3)
    for handle in legend.legend_handles:
        handle.set_alpha(1.0)
    fig.tight_layout()
    try:
        fig.savefig(path, format="png")
    except OSError as exc:
        raise SemsearchError(f"cannot write the plot to {path}: {exc.strerror or exc}") from None
    finally:
        plt.close(fig)
    return drawn
