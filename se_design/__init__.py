"""se-design: exact cost, search and export of CNNs with Squeeze-and-Excitation blocks."""

from se_design.cost import cost
from se_design.spec import SE, Arch, load_config, save_config, with_se
from se_design.zoo import get_arch

__all__ = ["SE", "Arch", "build_model", "cost", "get_arch", "load_config", "save_config",
           "with_se"]


def __getattr__(name):
    if name == "build_model":  # imports torch: only when asked, so costing stays torch-free
        from se_design.build import build_model

        return build_model
    raise AttributeError(f"module 'se_design' has no attribute {name!r}")
