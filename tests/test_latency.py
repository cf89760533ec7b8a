"""Latency: the median's distribution-free interval and the two-sample test by hand, and both
backends measuring a small net."""

import importlib.util
import random

import pytest
import torch

from se_design import spec as s
from se_design.errors import UserError
from se_design.latency import Interval, latency_ms, measure, median_interval, told_apart
from se_design.spec import SE


def test_median_interval_of_15_by_hand():
    """P(B <= 3) = (1 + 15 + 105 + 455) / 2**15 = 0.0176 <= 0.025 < P(B <= 4) = 0.0592, so
    the 4th and 12th of 15 order statistics, coverage 1 - 2 * 576 / 32768."""
    values = list(range(1, 16))
    random.Random(0).shuffle(values)
    assert median_interval(values) == Interval(4, 12, 1 - 2 * 576 / 32768)


def test_median_interval_of_10_and_of_too_few_by_hand():
    """n = 10: P(B <= 1) = 11/1024 <= 0.025 < P(B <= 2) = 56/1024: the 2nd and 9th. n = 5:
    even the whole range covers only 1 - 2/32 < 95%."""
    assert median_interval([10 * v for v in range(1, 11)]) == Interval(20, 90, 1 - 22 / 1024)
    assert median_interval([5, 1, 4, 2, 3]) == Interval(1, 5, 1 - 2 / 32)


def test_told_apart():
    assert told_apart(range(1, 9), range(11, 19))  # no overlap: p = 2 / C(16, 8)
    assert not told_apart(range(1, 16, 2), range(2, 17, 2))  # interleaved


def tiny():
    return s.Arch(name="tiny", resolution=16, num_classes=3, stages=(s.Stage(name="a", blocks=(
        s.Conv(out=8, stride=2, se=SE(r=2)), s.Basic(out=8)),),))


@pytest.mark.parametrize("backend", [
    "torch",
    pytest.param("onnxruntime", marks=pytest.mark.skipif(
        importlib.util.find_spec("onnxruntime") is None, reason="the onnx extra is missing"))])
def test_backends_measure_and_leave_torch_threads_as_they_were(backend):
    before = torch.get_num_threads()
    lat = measure(tiny(), backend, rounds=6, per_round=2, threads=1)
    assert len(lat.rounds) == 6 and all(t > 0 for t in lat.rounds)
    assert lat.interval.lo <= lat.median <= lat.interval.hi
    assert backend in str(lat) and torch.get_num_threads() == before


def test_latency_ms_keeps_the_search_signature():
    assert latency_ms(tiny(), "cpu", 1, 3) > 0


def test_unknown_backend_and_ort_off_cpu_are_one_sentence():
    with pytest.raises(UserError, match="unknown latency backend 'tvm'"):
        latency_ms(tiny(), backend="tvm")
    with pytest.raises(UserError, match="runs on the CPU"):
        latency_ms(tiny(), "cuda", backend="onnxruntime")
