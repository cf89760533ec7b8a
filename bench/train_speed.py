"""How fast is the proxy trainer, against plain PyTorch training loops?

Run: python bench/train_speed.py   (CPU, or CUDA when available; synthetic images)

On every device: se.train's images/s vs a plain loop (DataLoader over a TensorDataset, the same
augmentation per batch, same se_cifar_resnet20, batch 128, SGD, fp32). On CUDA also: vs a
naive loop with per-image transforms in the Dataset, and the training-step time of
se_resnet50 vs resnet50 at 224.
"""

from __future__ import annotations

import os
import platform
import statistics
import time

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset, TensorDataset

from se_design import build_model, get_arch
from se_design.data import synthetic
from se_design.train import TrainConfig, augment, train

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
CUDA = DEVICE == "cuda"
BATCH = 128
N_TRAIN = BATCH * (200 if CUDA else 10)  # images per epoch
EPOCHS, REPS = 2, 5
TARGET_PLAIN, TARGET_NAIVE, TARGET_SE50 = 1.0, 3.0, 1.10


def model():
    torch.manual_seed(0)
    return build_model(get_arch("se_cifar_resnet20"))


def sync():
    if CUDA:
        torch.cuda.synchronize()


def trainer_rate(data, val) -> float:
    cfg = TrainConfig(epochs=EPOCHS, batch_size=BATCH)
    return train(model(), data, val, cfg, device=DEVICE, progress=False).images_per_s


def loop_rate(loader, per_batch_augment: bool) -> float:
    """images/s of a textbook loop: batches from a DataLoader, moved to the device, fp32."""
    net = model().to(DEVICE).train()
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9, nesterov=True,
                          weight_decay=5e-4)
    gen = torch.Generator(DEVICE).manual_seed(0)
    seen, t = 0, time.perf_counter()
    for _ in range(EPOCHS):
        for x, y in loader:
            x, y = x.to(DEVICE, non_blocking=True), y.to(DEVICE, non_blocking=True)
            if per_batch_augment:
                x = augment(x, 4, True, gen)
            loss = F.cross_entropy(net(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            seen += len(y)
    sync()
    return seen / (time.perf_counter() - t)


class PerImage(Dataset):
    """The naive pipeline: normalise, pad, crop and flip one image at a time in __getitem__."""

    def __init__(self, x, y):
        self.x, self.y = x, y

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        img = F.pad(self.x[i].float() / 255, (4, 4, 4, 4))
        dy, dx = torch.randint(0, 9, (2,)).tolist()
        img = img[:, dy:dy + 32, dx:dx + 32]
        return (img.flip(2) if torch.rand(()) < 0.5 else img), self.y[i]


def normalised(x: torch.Tensor) -> torch.Tensor:
    x = x.float()
    return (x - x.mean((0, 2, 3), keepdim=True)) / x.std((0, 2, 3), keepdim=True)


def vs_loops(data, val) -> None:
    plain = DataLoader(TensorDataset(normalised(data.x), data.y), batch_size=BATCH,
                       shuffle=True, drop_last=True, pin_memory=CUDA)
    runs = {"se.train": [], "plain": []}
    for _ in range(REPS):  # interleaved, so drifts in machine speed hit both alike
        runs["se.train"].append(trainer_rate(data, val))
        runs["plain"].append(loop_rate(plain, per_batch_augment=True))
    if CUDA:
        naive = DataLoader(PerImage(data.x, data.y), batch_size=BATCH, shuffle=True,
                           drop_last=True, num_workers=4, pin_memory=True)
        runs["naive"] = [loop_rate(naive, per_batch_augment=False) for _ in range(REPS)]
    rate = {k: statistics.median(v) for k, v in runs.items()}
    print(f"se_cifar_resnet20, batch {BATCH}, {N_TRAIN} images x {EPOCHS} epochs, "
          f"median of {REPS} runs (images/s):")
    for k, v in runs.items():
        print(f"  {k:<9} {rate[k]:8.0f}   runs: {', '.join(f'{r:.0f}' for r in v)}")
    targets = [("plain", TARGET_PLAIN)] + ([("naive", TARGET_NAIVE)] if CUDA else [])
    for k, target in targets:
        ratio = rate["se.train"] / rate[k]
        print(f"  se.train / {k:<6} {ratio:5.2f}x   target >= {target:.1f}x: "
              f"{'PASS' if ratio >= target else 'MISS'}")


def step_time(name: str, batch: int = 64, reps: int = 20) -> float:
    """Median training-step time at 224 as the trainer runs it: bf16, channels_last."""
    torch.manual_seed(0)
    net = build_model(get_arch(name)).to(DEVICE, memory_format=torch.channels_last).train()
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9, nesterov=True)
    x = torch.randn(batch, 3, 224, 224, device=DEVICE).contiguous(
        memory_format=torch.channels_last)
    y = torch.randint(0, 1000, (batch,), device=DEVICE)
    times = []
    for i in range(reps + 5):  # 5 warm-up steps
        sync()
        t = time.perf_counter()
        with torch.autocast("cuda", torch.bfloat16):
            loss = F.cross_entropy(net(x).float(), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sync()
        if i >= 5:
            times.append(time.perf_counter() - t)
    return statistics.median(times)


def se_overhead() -> None:
    base, se = step_time("resnet50"), step_time("se_resnet50")
    ratio = se / base
    print(f"training step at 224, batch 64, bf16: resnet50 {base * 1e3:.1f} ms, "
          f"se_resnet50 {se * 1e3:.1f} ms, ratio {ratio:.3f}x   target <= {TARGET_SE50:.2f}x: "
          f"{'PASS' if ratio <= TARGET_SE50 else 'MISS'}")


def machine() -> None:
    where = torch.cuda.get_device_name() if CUDA else f"CPU ({torch.get_num_threads()} threads)"
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"python {platform.python_version()}, torch {torch.__version__}; device {where}")


if __name__ == "__main__":
    machine()
    vs_loops(synthetic(N_TRAIN), synthetic(256, seed=1))
    if CUDA:
        se_overhead()
