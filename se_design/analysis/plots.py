"""PNG plots of excitation statistics in the style of the SE paper's Figures 6 and 7."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from se_design.analysis.excitation import HIGH, LOW, BlockStats

CHANNELS = 50  # the paper plots 50 uniformly sampled channels
# Every class line a clear hue, and no grey or black: the "all images" line is the only
# colourless one (black, thick, dashed), and a grey class differed from it in lightness
# alone, which thin lines crossing it do not show. tab10 without its grey; its brown, dull
# enough to pass for dark grey, swapped for ColorBrewer Set1's; its cyan (read as the blue
# of class 0) replaced; then xkcd's topaz and hot purple, the two hues farthest (CIELAB)
# from the other eight. tests/test_plots.py checks the distances.
CLASS_COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#a65628", "#e377c2",
                "#13bbaf", "#bcbd22", "#cb00f5"]
ALL_IMAGES = {"color": "black", "lw": 2.2, "ls": (0, (4, 2)), "alpha": 0.6}


def default_blocks(stats: list[BlockStats]) -> list[str]:
    """The last SE block of each stage, and the first of the last stage (the paper's SE_5_1
    next to SE_5_3)."""
    last = {s.block.split(".")[0]: s.block for s in stats}
    first_of_last = next(s.block for s in stats if s.block.split(".")[0] == list(last)[-1])
    chosen = list(last.values())
    return chosen[:-1] + [b for b in (first_of_last, chosen[-1]) if b not in chosen[:-1]]


def default_classes(stats: list[BlockStats], blocks: list[str]) -> list[int]:
    """Every class if they fit CLASS_COLORS; else the ones whose mean excitation departs most
    from all images' in the plotted blocks (mean squared departure over their channels), in
    class order: the SE paper's Figure 6 shows a few classes, a hundred lines show none."""
    by = {s.block: s for s in stats}
    shown = [by[b] for b in blocks]
    k = shown[0].class_mean.shape[0]
    if k <= len(CLASS_COLORS):
        return list(range(k))
    departure = sum(((s.class_mean - s.channel_mean) ** 2).mean(axis=1) for s in shown)
    return sorted(np.argsort(-departure, kind="stable")[:len(CLASS_COLORS)].tolist())


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    fig.savefig(path, dpi=110)
    _pyplot().close(fig)
    return path


def classes_grid(stats: list[BlockStats], blocks: list[str], classes: list[str],
                 shown: list[int], path: Path, title: str) -> Path:
    """classes_figure, written to `path`."""
    return _save(classes_figure(stats, blocks, classes, shown, title), path)


def classes_figure(stats: list[BlockStats], blocks: list[str], classes: list[str],
                   shown: list[int], title: str):
    """Per chosen block: mean excitation of CHANNELS uniformly spaced channels, one line per
    shown class (indices into `classes`, at most one per colour of CLASS_COLORS), under the
    mean of all images (dashed black)."""
    plt = _pyplot()
    by = {s.block: s for s in stats}
    cols = min(2, len(blocks))
    rows = -(-len(blocks) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(6.5 * cols, 3.2 * rows), squeeze=False,
                             sharey=True)
    for ax, block in zip(axes.flat, blocks):
        s = by[block]
        idx = np.unique(np.linspace(0, s.channels - 1, min(CHANNELS, s.channels)).round()).astype(int)
        # drawn last (zorder), thick and dashed: the classes' lines would hide it
        ax.plot(idx, s.channel_mean[idx], zorder=3, label="all images", **ALL_IMAGES)
        for i, k in enumerate(shown):  # one colour each: at most len(CLASS_COLORS)
            ax.plot(idx, s.class_mean[k, idx], lw=1, alpha=0.85, color=CLASS_COLORS[i],
                    label=classes[k])
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
    of = f" ({len(shown)} of {len(classes)} classes)" if len(shown) < len(classes) else ""
    fig.suptitle(f"Mean excitation per class{of}: {title}", fontsize=10)
    fig.tight_layout(rect=(0, 0.06 if rows > 1 else 0.1, 1, 0.97))
    return fig


def summary(stats: list[BlockStats], path: Path, title: str, images: int,
            classes: int) -> Path:
    """summary_figure, written to `path`."""
    return _save(summary_figure(stats, title, images, classes), path)


SERIES_GAP = 0.2  # of a block's slot on x: the top panel's four series side by side


def summary_figure(stats: list[BlockStats], title: str, images: int, classes: int):
    """Class-specificity (with what a class-blind gate scores by chance, (K-1)/(N-1) for K
    classes and N images), saturation and mean gate by block depth; SE params per block."""
    plt = _pyplot()
    x = np.arange(len(stats))
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(max(6.5, 0.55 * len(stats) + 2), 5.6),
                                      sharex=True, gridspec_kw={"height_ratios": [3, 2]})
    series = [([s.specificity for s in stats], "o-", {"label": "class-specificity"}),
              ([s.saturated_high for s in stats], "s-", {"label": f"share of gates > {HIGH}"}),
              ([s.saturated_low for s in stats], "v--", {"label": f"share of gates < {LOW}"}),
              ([s.mean for s in stats], "d:", {"color": "grey", "label": "mean gate"})]
    # each series a little to the side within its block, in the legend's order: equal values
    # (both shares 0 in most networks) would otherwise hide one another; opaque markers above
    # the chance line, which the shares at 0 would otherwise sit on
    for k, (ys, fmt, style) in enumerate(series):
        top.plot(x + SERIES_GAP * (k - (len(series) - 1) / 2), ys, fmt, mfc="white", ms=6,
                 mew=1.3, zorder=3, **style)
    chance = (classes - 1) / (images - 1)
    top.axhline(chance, color="tab:blue", lw=0.8, ls=(0, (1, 2)), zorder=2,
                label=f"class-specificity by chance, (K-1)/(N-1) = {chance:.3f}")
    top.set_ylim(-0.04, 1.04)
    top.set_ylabel("class-specificity,\nshare of gates, mean gate", fontsize=9)
    top.grid(alpha=0.3)
    top.legend(fontsize=8, ncol=2, loc="lower center", bbox_to_anchor=(0.5, 1.0),
               frameon=False, title="per block, left to right:", title_fontsize=8)
    params = [s.se_params for s in stats]
    bars = bottom.bar(x, params, color="tab:purple", alpha=0.7)
    bottom.bar_label(bars, labels=[f"{p:,}" for p in params], fontsize=7)
    bottom.set_ylabel("SE params")
    bottom.set_ylim(0, max(params) * 1.25)
    bottom.set_xticks(x, [s.block for s in stats], rotation=45, ha="right", fontsize=8)
    bottom.set_xlabel("SE block, by depth")
    fig.suptitle(f"SE blocks by depth: {title}", fontsize=10)
    fig.tight_layout()
    return fig
