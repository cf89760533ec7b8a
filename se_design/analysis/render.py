"""Tables and JSON dicts of the excitation statistics and the removal advice."""

from __future__ import annotations

from se_design.analysis import intervals
from se_design.analysis.excitation import HIGH, LOW, BlockStats
from se_design.tables import Fitted

SPECIFICITY = ("class-specificity = sum_c sum_k n_k (m_kc - m_c)^2 / sum_c sum_i (x_ic - m_c)^2 "
               "(between-class over total variance of the excitation, pooled over channels c; "
               "0 for a constant gate)")


def excitation_dict(ckpt, stats: list[BlockStats], split: str, n: int, acc: float) -> dict:
    return {"arch": ckpt.arch.name, "split": split, "images": n, "accuracy": acc,
            "accuracy_ci95": list(intervals.over_images(acc, n)),
            "classes": ckpt.classes, "saturation": f"share of gate values < {LOW} or > {HIGH}",
            "class_specificity": SPECIFICITY, "training": ckpt.training,
            "blocks": [s.as_dict() for s in stats]}


def excitation_table(stats: list[BlockStats], title: str) -> Fitted:
    rows = [[s.block, str(s.channels), f"{s.se_params:,}", f"{s.mean:.3f}",
             f"{s.variance ** 0.5:.3f}", f"{s.saturated_low:.1%}", f"{s.saturated_high:.1%}",
             f"{s.specificity:.3f}"] for s in stats]
    return Fitted(title, ["block", "C", "SE params", "mean gate", "std", f"<{LOW}", f">{HIGH}",
                          "class-spec."], rows,
                  caption="class-spec.: between-class share of the excitation's variance (README)")


def fold_dict(ckpt, base: float, found, chosen, refused: dict, split: str, n: int,
              max_drop: float) -> dict:
    return {"arch": ckpt.arch.name, "split": split, "images": n, "accuracy": base,
            "accuracy_ci95": list(intervals.over_images(base, n)),
            "seeds": 1, "kept_seed": ckpt.training.get("kept_seed"),
            "steps": [s.as_dict() for s in found], "not_foldable": refused,
            "max_drop_points": max_drop, "chosen": chosen.removed if chosen else None}


def fold_table(found, base: float, n: int, title: str) -> Fitted:
    low, high = intervals.over_images(base, n)
    rows = [["0", "-", "0", "0", f"{base:.4f}", "-"]]
    rows += [[str(i), s.removed[-1], f"{s.params_saved:,}", f"{s.flops_saved:,}",
              f"{s.accuracy:.4f}", f"{s.change * 100:+.1f} ± {s.change_ci95 * 100:.1f} pt"]
             for i, s in enumerate(found, 1)]
    # a Fitted caption wraps left-aligned at the console's width: rich's Table centred it
    # under the table, leaving a lone word on a centred line
    return Fitted(title, ["step", "SE folded", "params saved", "FLOPs saved", "accuracy",
                          "change (95%)"], rows, text=(1,),
                  caption=(f"{n} images, one trained model; step 0's accuracy has the 95% "
                           f"interval {low:.3f}-{high:.3f} over images; the changes' are "
                           "paired (the same images before and after)"))


def interval_line(acc: dict | None, what: str) -> str:
    """A training record's accuracy with its 95% interval, in one line."""
    if acc is None:
        return f"{what}: the data has no test split"
    low, high = acc["ci95"]
    n = len(acc["per_seed"])
    # one seed's interval is over images only: say so, lest it be read as training noise too
    seeds = "1 seed: excludes seed-to-seed noise" if n == 1 else f"{n} seeds"
    return (f"{what} {acc['mean']:.4f} (95% interval {low:.4f}-{high:.4f} over "
            f"{acc['interval_over']}, {acc['images']} images, {seeds})")
