"""Data loading: real CIFAR-10 and digits images, image folders, the validation split."""

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from se_design.data import Dataset, holdout, load_data, synthetic
from se_design.errors import UserError


@pytest.fixture(scope="module")
def cifar(cifar_dir):
    return load_data("cifar10", str(cifar_dir))


def test_cifar_subset_loads_with_documented_counts(cifar):
    train, test = cifar
    assert (len(train), len(test)) == (5085, 1017)
    assert train.x.shape == (5085, 3, 32, 32) and test.x.shape == (1017, 3, 32, 32)
    assert train.x.dtype == torch.uint8 and train.y.dtype == torch.int64
    assert train.classes[:2] == ["airplane", "automobile"] and len(train.classes) == 10
    assert train.y.unique().tolist() == list(range(10)) == test.y.unique().tolist()
    assert 50 < train.x.float().mean() < 200 and train.x.float().std() > 30  # real photos


def test_cifar_dir_itself_and_its_parent_load_the_same(cifar, cifar_dir):
    train, _ = load_data("cifar10", str(cifar_dir / "cifar-10-batches-py"))
    assert torch.equal(train.x, cifar[0].x) and torch.equal(train.y, cifar[0].y)


@pytest.mark.parametrize("source,expected", [("cifar10", "data_batch_1..5"),
                                             ("cifar100", "train, test and meta")])
def test_missing_cifar_dir_names_path_and_expected_files(tmp_path, source, expected):
    with pytest.raises(UserError) as err:
        load_data(source, str(tmp_path / "nope"))
    message = str(err.value)
    assert str(tmp_path / "nope") in message and expected in message and "\n" not in message


def test_corrupt_cifar_batch_raises_user_error(tmp_path, cifar_dir):
    src = cifar_dir / "cifar-10-batches-py"
    for f in src.iterdir():
        (tmp_path / f.name).write_bytes(f.read_bytes())
    (tmp_path / "data_batch_3").write_bytes(b"not a pickle")
    with pytest.raises(UserError, match="data_batch_3") as err:
        load_data("cifar10", str(tmp_path))
    assert "\n" not in str(err.value)


def test_unknown_source_and_missing_path_raise_user_error():
    with pytest.raises(UserError, match="unknown data source 'mnist'"):
        load_data("mnist", None)
    with pytest.raises(UserError, match="needs a path"):
        load_data("cifar10", None)


def test_digits_are_real_images_split_into_train_and_test():
    train, test = load_data("digits", None)
    assert len(train) + len(test) == 1797 and len(test) == 359
    assert train.x.shape[1:] == (3, 32, 32) and train.x.dtype == torch.uint8
    assert train.classes == [str(d) for d in range(10)]
    assert train.y.unique().tolist() == list(range(10)) == test.y.unique().tolist()
    assert train.x.max() == 255 and train.x.min() == 0  # ink on paper, not noise
    assert torch.equal(train.x[:, 0], train.x[:, 2])  # grey


def _png(path: Path, colour: int, size=(12, 10)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((size[1], size[0], 3), colour, np.uint8)).save(path)


def test_image_folder_resizes_to_first_image_and_uses_train_test(tmp_path):
    for split in ("train", "test"):
        _png(tmp_path / split / "cat" / "a.png", 10)
        _png(tmp_path / split / "dog" / "b.png", 200, size=(24, 20))
    (tmp_path / "train" / "dog" / "notes.txt").write_text("ignored")
    train, test = load_data("folder", str(tmp_path))
    assert train.classes == test.classes == ["cat", "dog"]
    assert train.x.shape == test.x.shape == (2, 3, 10, 12)
    assert train.y.tolist() == [0, 1] and train.x[1].float().mean() == 200

    only, none = load_data("folder", str(tmp_path / "train"))
    assert none is None and len(only) == 2


def test_unreadable_image_raises_user_error(tmp_path):
    _png(tmp_path / "dog" / "b.png", 200)
    (tmp_path / "cat").mkdir()
    (tmp_path / "cat" / "a.png").write_bytes(b"garbage")
    with pytest.raises(UserError, match="a.png' is not a readable image"):
        load_data("folder", str(tmp_path))


def test_holdout_is_disjoint_covering_stratified_and_seeded(cifar):
    train = cifar[0]
    n = len(train)
    tagged = Dataset(torch.arange(n).view(n, 1, 1, 1), train.y, train.classes)  # x = index
    a, b = holdout(tagged, 0.2, seed=1)
    ia, ib = set(a.x.flatten().tolist()), set(b.x.flatten().tolist())
    assert not ia & ib and ia | ib == set(range(n)) and len(ia) + len(ib) == n
    assert torch.equal(b.y, train.y[b.x.flatten()])  # labels travel with their images
    share = b.y.bincount() / train.y.bincount()
    assert torch.allclose(share, torch.full((10,), 0.2), atol=0.01)
    again, other = holdout(tagged, 0.2, seed=1)[1], holdout(tagged, 0.2, seed=2)[1]
    assert torch.equal(again.x, b.x) and not torch.equal(other.x, b.x)


@pytest.mark.parametrize("fraction", [0, 1, 1.5, 0.00001])
def test_holdout_rejects_fractions_leaving_an_empty_split(cifar, fraction):
    with pytest.raises(UserError, match="fraction"):
        holdout(cifar[0], fraction, seed=0)


def test_synthetic_shapes():
    ds = synthetic(5, classes=3, size=16)
    assert ds.x.shape == (5, 3, 16, 16) and ds.x.dtype == torch.uint8
    assert ds.y.max() < 3 and len(ds.classes) == 3


def test_resized_antialiases_and_keeps_labels():
    # a one-pixel checkerboard halved: with antialiasing every pixel is near the mean (127.5);
    # plain bilinear sampling would alias it to stripes of 0 and 255
    board = ((torch.arange(32).view(-1, 1) + torch.arange(32)) % 2 * 255).to(torch.uint8)
    ds = Dataset(board.expand(3, 3, 32, 32).clone(), torch.tensor([0, 1, 2]), ["a", "b", "c"])
    small = ds.resized(16)
    assert small.x.shape == (3, 3, 16, 16) and small.x.dtype == torch.uint8
    assert small.x.min() >= 100 and small.x.max() <= 155
    assert small.y.tolist() == [0, 1, 2] and ds.resized(32) is ds


def test_proxy_data_size_resizes_files_and_built_ins(tmp_path):
    from conftest import write_space

    from se_design.search.proxy import load_proxy_data
    from se_design.search.space import load_space

    for i in range(6):
        _png(tmp_path / "imgs" / ("cat", "dog")[i % 2] / f"{i}.png", 40 * i, size=(24, 24))
    data = {"source": "folder", "path": str(tmp_path / "imgs"), "val_fraction": 0.5, "size": 8}
    problem = load_space(write_space(tmp_path, proxy__data=data))
    train, val = load_proxy_data(problem, "folder", data["path"], 0)
    assert train.x.shape[1:] == val.x.shape[1:] == (3, 8, 8) and len(train) + len(val) == 6
    problem = load_space(write_space(tmp_path, proxy__data={"source": "digits", "size": 8}))
    assert load_proxy_data(problem, "digits", None, 0)[0].x.shape[2:] == (8, 8)
