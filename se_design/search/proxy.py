"""The proxy a search trains: its data (the held-out split is the study's), its device,
and the settings that say what its accuracies mean."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from se_design.errors import UserError
from se_design.search.space import Problem


def data_source(problem: Problem, data: str | None) -> tuple[str, str | None]:
    """(source, path) of the proxy's data: --data (as `train` takes it: a built-in name,
    KIND:DIR, or a folder whose contents say what it is) over the space's."""
    from se_design.data import BUILT_IN, parse  # torch: imported only when data is used

    if data:
        source, path = parse(data)
        return source, path and str(Path(path).resolve())
    cfg = problem.space.proxy.data
    if cfg.source not in BUILT_IN and cfg.path is None:
        raise UserError(f"space {problem.space.name!r} trains its proxy on {cfg.source} data, "
                        "which is not bundled: pass --data DIR (CIFAR python batches or an image "
                        "folder).")
    return cfg.source, cfg.path and str(Path(cfg.path).resolve())


def load_proxy_data(problem: Problem, source: str, path: str | None, seed: int):
    """(train, val): the proxy's training data with a held-out validation split."""
    from se_design.data import holdout, load_data

    cfg = problem.space.proxy.data
    # the test split is never used here; built-in sets are drawn at the proxy's resolution
    train, _ = load_data(source, path, cfg.size or problem.proxy().resolution)
    if cfg.size:
        train = train.resized(cfg.size)
    train, val = holdout(train, cfg.val_fraction, seed)
    if cfg.max_train and cfg.max_train < len(train):
        train, _ = holdout(train, 1 - cfg.max_train / len(train), seed)
    return train, val


def proxy_settings(problem: Problem, where: tuple[str, str | None], cfg) -> dict:
    """What a study's accuracies mean: the proxy, its data (`where`) and its training (all
    of `cfg` but the seed); runs under other settings are not comparable."""
    source, path = where
    data = problem.space.proxy.data
    settings = {"data": path or source, "val_fraction": data.val_fraction,
                "max_train": data.max_train, "size": data.size,
                "proxy": problem.proxy().name, "resolution": problem.proxy().resolution}
    return settings | {k: v for k, v in asdict(cfg).items() if k != "seed"}
