from pathlib import Path

import pytest

# CI clones the repository beside shared/, which holds real CIFAR-10 images.
CIFAR_SUBSET = Path(__file__).resolve().parents[2] / "shared/data/cifar10-subset"


@pytest.fixture(scope="session")
def cifar_dir() -> Path:
    if not CIFAR_SUBSET.is_dir():
        pytest.skip(f"the CIFAR-10 subset is not at {CIFAR_SUBSET}")
    return CIFAR_SUBSET
