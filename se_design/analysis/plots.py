"""PNG plots of excitation statistics in the style of the SE paper's Figures 6 and 7."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from se_design.analysis.excitation import HIGH, LOW, BlockStats

CHANNELS = 50  # the paper plots 50 uniformly sampled channels
# tab10 with its cyan, which reads as the blue of class 0, replaced by black (the thin
# solid line; "all images" is thick and dashed)
CLASS_COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
                "#7f7f7f", "#bcbd22", "#000000"]


def default_blocks(stats: list[BlockStats]) -> list[str]:
    """The last SE block of each stage, and the first of the last stage (the paper's SE_5_1
    next to SE_5_3)."""
    last = {s.block.split(".")[0]: s.block for s in stats}
    first_of_last = next(s.block for s in stats if s.block.split(".")[0] == list(last)[-1])
    chosen = list(last.values())
    return chosen[:-1] + [b for b in (first_of_last, chosen[-1]) if b not in chosen[:-1]]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def classes_grid(stats: list[BlockStats], blocks: list[str], classes: list[str], path: Path,
                 title: str) -> Path:
    """Per chosen block: mean excitation of CHANNELS uniformly spaced channels, one line per
    class, under the mean of all images (dashed black)."""
    plt = _pyplot()
    by = {s.block: s for s in stats}
    cols = min(2, len(blocks))
    rows = -(-len(blocks) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(6.5 * cols, 3.2 * rows), squeeze=False,
                             sharey=True)
    colors = plt.get_cmap("viridis")
    for ax, block in zip(axes.flat, blocks):
        s = by[block]
        idx = np.unique(np.linspace(0, s.channels - 1, min(CHANNELS, s.channels)).round()).astype(int)
        # drawn last (zorder), thick and dashed: the classes' lines would hide it
        ax.plot(idx, s.channel_mean[idx], color="k", lw=2.2, ls=(0, (4, 2)), zorder=3,
                alpha=0.6, label="all images")
        for k, name in enumerate(classes):
            ax.plot(idx, s.class_mean[k, idx], lw=1, alpha=0.85,
                    color=CLASS_COLORS[k] if len(classes) <= 10
                    else colors(k / max(1, len(classes) - 1)),
                    label=name)
        ax.set_title(f"{block}: class-specificity {s.specificity:.2f}, "
                     f"{s.saturated_high:.0%} of gates > {HIGH}", fontsize=9)
        ax.set_xlabel(f"channel index ({len(idx)} of {s.channels})", fontsize=8)
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
    for ax in axes[:, 0]:
        ax.set_ylabel("mean excitation")
    for ax in list(axes.flat)[len(blocks):]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(11, len(labels)), fontsize=8,
               frameon=False)
    fig.suptitle(f"Mean excitation per class: {title}", fontsize=10)
    fig.tight_layout(rect=(0, 0.06 if rows > 1 else 0.1, 1, 0.97))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def summary(stats: list[BlockStats], path: Path, title: str, images: int,
            classes: int) -> Path:
    """Class-specificity (with what a class-blind gate scores by chance, (K-1)/(N-1) for K
    classes and N images), saturation and mean gate by block depth; SE params per block."""
    plt = _pyplot()
    x = np.arange(len(stats))
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(max(6.5, 0.55 * len(stats) + 2), 5.6),
                                      sharex=True, gridspec_kw={"height_ratios": [3, 2]})
    top.plot(x, [s.specificity for s in stats], "o-", label="class-specificity")
    # hollow markers: where both shares are 0 the two lines overlap and both stay visible
    top.plot(x, [s.saturated_high for s in stats], "s-", mfc="none", ms=8,
             label=f"share of gates > {HIGH}")
    top.plot(x, [s.saturated_low for s in stats], "v--", mfc="none",
             label=f"share of gates < {LOW}")
    top.plot(x, [s.mean for s in stats], "d:", color="grey", label="mean gate")
    chance = (classes - 1) / (images - 1)
    top.axhline(chance, color="tab:blue", lw=0.8, ls=(0, (1, 2)),
                label=f"class-specificity by chance, (K-1)/(N-1) = {chance:.3f}")
    top.set_ylim(-0.02, 1.02)
    top.set_ylabel("class-specificity,\nshare of gates, mean gate", fontsize=9)
    top.grid(alpha=0.3)
    top.legend(fontsize=8, ncol=2, loc="lower center", bbox_to_anchor=(0.5, 1.0),
               frameon=False)  # above the axes: it covers no point
    params = [s.se_params for s in stats]
    bars = bottom.bar(x, params, color="tab:purple", alpha=0.7)
    bottom.bar_label(bars, labels=[f"{p:,}" for p in params], fontsize=7)
    bottom.set_ylabel("SE params")
    bottom.set_ylim(0, max(params) * 1.25)
    bottom.set_xticks(x, [s.block for s in stats], rotation=45, ha="right", fontsize=8)
    bottom.set_xlabel("SE block, by depth")
    fig.suptitle(f"SE blocks by depth: {title}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
