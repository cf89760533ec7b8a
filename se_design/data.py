"""Image classification data as uint8 tensors (N x C x H x W): CIFAR pickles, image folders
and scikit-learn's bundled digits (real images that need no download)."""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

from se_design.errors import UserError

SOURCES = ("cifar10", "cifar100", "folder", "digits")
BUILT_IN = ("digits",)  # ship inside an installed package: no path, no download
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}


@dataclass
class Dataset:
    x: torch.Tensor  # uint8, N x C x H x W
    y: torch.Tensor  # int64, N
    classes: list[str]

    def __len__(self) -> int:
        return len(self.y)

    def subset(self, idx: torch.Tensor) -> Dataset:
        return Dataset(self.x[idx], self.y[idx], self.classes)

    def resized(self, size: int, chunk: int = 4096) -> Dataset:
        """The images resampled to size x size (antialiased bilinear), in chunks so that the
        float copy stays small."""
        if tuple(self.x.shape[2:]) == (size, size):
            return self
        parts = [F.interpolate(x.float(), size=(size, size), mode="bilinear", antialias=True,
                               align_corners=False).round_().clamp_(0, 255).to(torch.uint8)
                 for x in self.x.split(chunk)]
        return Dataset(torch.cat(parts), self.y, self.classes)


def load_data(source: str, path: str | None = None,
              size: int = 32) -> tuple[Dataset, Dataset | None]:
    """(train, test) for a source in SOURCES; test is None where the source has none. Built-in
    sets are rendered at `size` x `size`; files keep their own size."""
    if source not in SOURCES:
        raise UserError(f"unknown data source {source!r}: expected one of {', '.join(SOURCES)}.")
    if source == "digits":
        return _digits(size)
    if path is None:
        raise UserError(f"data source {source!r} needs a path.")
    if source == "folder":
        return _folder(Path(path))
    return _cifar(source, Path(path))


def parse(text: str) -> tuple[str, str | None]:
    """'digits', 'KIND:PATH' (KIND in cifar10, cifar100, folder) or a directory, whose kind
    is recognised from its files (the same --data for train, search and calibrate)."""
    if text in BUILT_IN:
        return text, None
    kind, sep, path = text.partition(":")
    if sep and kind in SOURCES:
        return kind, path
    if not Path(text).is_dir():
        raise UserError(f"--data {text!r} is neither {' or '.join(BUILT_IN)}, KIND:DIR (KIND "
                        "cifar10, cifar100 or folder) nor an existing data folder.")
    return detect(text), text


def detect(path: str) -> str:
    """What a --data directory holds: CIFAR-10 or CIFAR-100 python batches, or an image folder."""
    where = Path(path)
    if not where.is_dir():
        raise UserError(f"--data {path!r} is neither a built-in data set "
                        f"({', '.join(BUILT_IN)}) nor an existing folder.")
    for source, lay in CIFAR.items():
        if any((d / lay.meta).is_file() for d in (where, where / lay.subdir)):
            return source
    if any(d.is_dir() for d in where.iterdir()):
        return "folder"
    raise UserError(f"'{path}' holds neither CIFAR-10/100 python batches nor an image folder "
                    "(one subfolder of images per class).")


class CifarLayout(NamedTuple):
    title: str
    subdir: str  # the name of the unpacked archive
    train: list[str]
    test: list[str]
    meta: str
    expected: str  # the file list, for the error message
    label_key: bytes
    names_key: bytes


CIFAR = {
    "cifar10": CifarLayout("CIFAR-10", "cifar-10-batches-py",
                           [f"data_batch_{i}" for i in range(1, 6)], ["test_batch"],
                           "batches.meta", "data_batch_1..5, test_batch and batches.meta",
                           b"labels", b"label_names"),
    "cifar100": CifarLayout("CIFAR-100", "cifar-100-python", ["train"], ["test"], "meta",
                            "train, test and meta", b"fine_labels", b"fine_label_names"),
}


def _cifar(source: str, path: Path) -> tuple[Dataset, Dataset]:
    lay = CIFAR[source]
    files = lay.train + lay.test + [lay.meta]
    root = next((d for d in (path, path / lay.subdir)
                 if all((d / f).is_file() for f in files)), None)
    if root is None:
        raise UserError(f"no {lay.title} batches in '{path}': expected {lay.expected} there "
                        f"or in {lay.subdir}/.")
    meta = _unpickle(root / lay.meta)
    if lay.names_key not in meta:
        raise UserError(f"'{root / lay.meta}' has no {lay.names_key.decode()} list.")
    classes = [n.decode() for n in meta[lay.names_key]]
    return tuple(_cifar_batches([root / f for f in fs], lay.label_key, classes)
                 for fs in (lay.train, lay.test))


def _unpickle(file: Path) -> dict:
    # CIFAR is distributed as pickles; garbage in one raises any of many exception types
    try:
        with open(file, "rb") as f:
            obj = pickle.load(f, encoding="bytes")
    except Exception as e:  # noqa: BLE001
        raise UserError(f"'{file}' is not a readable CIFAR pickle ({type(e).__name__}).") from None
    if not isinstance(obj, dict):
        raise UserError(f"'{file}' is not a CIFAR pickle: it holds no dict.")
    return obj


def _cifar_batches(files: list[Path], label_key: bytes, classes: list[str]) -> Dataset:
    xs, ys = [], []
    for file in files:
        batch = _unpickle(file)
        try:
            xs.append(np.asarray(batch[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
            ys.append(np.asarray(batch[label_key], dtype=np.int64))
        except (KeyError, TypeError, ValueError):
            raise UserError(f"'{file}' is not a CIFAR batch: expected 'data' as N x 3072 "
                            f"uint8 and '{label_key.decode()}'.") from None
        if len(xs[-1]) != len(ys[-1]) or ys[-1].min(initial=0) < 0 \
                or ys[-1].max(initial=0) >= len(classes):
            raise UserError(f"'{file}' has labels that do not match its images and classes.")
    return Dataset(torch.from_numpy(np.concatenate(xs)), torch.from_numpy(np.concatenate(ys)),
                   classes)


def _folder(path: Path) -> tuple[Dataset, Dataset | None]:
    """Class-per-subfolder images; path/train and path/test, if both exist, are the split."""
    if (path / "train").is_dir() and (path / "test").is_dir():
        train = _image_folder(path / "train")
        test = _image_folder(path / "test", train.classes, tuple(train.x.shape[2:]))
        return train, test
    return _image_folder(path), None


def _image_folder(path: Path, classes: list[str] | None = None,
                  size: tuple[int, int] | None = None) -> Dataset:
    """Every image is converted to RGB and resized to `size` (default: the first image's)."""
    from PIL import Image, UnidentifiedImageError

    found = sorted(d.name for d in path.iterdir() if d.is_dir()) if path.is_dir() else []
    if not found:
        raise UserError(f"no image folder at '{path}': expected one subfolder of images per "
                        "class.")
    if len(found) < 2:  # one class: every prediction is right, every design scores 1.0
        raise UserError(f"'{path}' has one class ({found[0]}): classification needs at least "
                        "two class folders.")
    if classes is not None and found != classes:
        raise UserError(f"the classes in '{path}' differ from the training classes.")
    xs, ys = [], []
    for label, name in enumerate(found):
        files = sorted(f for f in (path / name).iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
        for file in files:
            try:
                with Image.open(file) as img:
                    img = img.convert("RGB")
            except (UnidentifiedImageError, OSError):
                raise UserError(f"'{file}' is not a readable image.") from None
            size = size or (img.height, img.width)
            if (img.height, img.width) != size:
                img = img.resize(size[::-1], Image.BILINEAR)
            xs.append(torch.from_numpy(np.asarray(img).copy()).permute(2, 0, 1))
            ys.append(label)
    if not xs:
        raise UserError(f"no images in the class folders of '{path}'.")
    return Dataset(torch.stack(xs), torch.tensor(ys, dtype=torch.int64), found)


def _digits(size: int = 32, test_fraction: float = 0.2) -> tuple[Dataset, Dataset]:
    """sklearn's 1797 8x8 digits (0..16 grey) as 3 x size x size uint8, so CIFAR models run
    on them unchanged; the last test_fraction is the test set."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = torch.from_numpy(digits.images).float()[:, None] * (255 / 16)
    x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    x = x.round().clamp(0, 255).to(torch.uint8).expand(-1, 3, -1, -1).contiguous()
    ds = Dataset(x, torch.from_numpy(digits.target).long(), [str(c) for c in range(10)])
    cut = len(ds) - round(test_fraction * len(ds))
    return ds.subset(torch.arange(cut)), ds.subset(torch.arange(cut, len(ds)))


def holdout(ds: Dataset, fraction: float, seed: int = 0) -> tuple[Dataset, Dataset]:
    """Stratified, seeded (train, validation) split of a training set: `fraction` of each
    class goes to validation, so search ranks candidates without touching the test set."""
    if not 0 < fraction < 1:
        raise UserError(f"the validation fraction must be between 0 and 1, not {fraction}.")
    gen = torch.Generator().manual_seed(seed)
    train_idx, val_idx = [], []
    for c in ds.y.unique():
        idx = (ds.y == c).nonzero().flatten()
        idx = idx[torch.randperm(len(idx), generator=gen)]
        k = round(fraction * len(idx))
        val_idx.append(idx[:k])
        train_idx.append(idx[k:])
    train_idx, val_idx = torch.cat(train_idx).sort().values, torch.cat(val_idx).sort().values
    if not len(train_idx) or not len(val_idx):
        raise UserError(f"a validation fraction of {fraction} leaves an empty split of "
                        f"{len(ds)} images.")
    return ds.subset(train_idx), ds.subset(val_idx)


def synthetic(n: int, classes: int = 10, size: int = 32, seed: int = 0) -> Dataset:
    """Random images and labels, for throughput benchmarks only."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 256, (n, 3, size, size), generator=gen, dtype=torch.uint8)
    y = torch.randint(0, classes, (n,), generator=gen)
    return Dataset(x, y, [str(c) for c in range(classes)])
