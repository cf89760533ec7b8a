"""The Squeeze-and-Excitation setting and its published conventions (the layers an SE expands
to are built in se_design.families.base).

Published SE modules differ in how the squeeze width d is computed and in their activations:

| preset        | d from                          | rounding            | inner | gate        |
|---------------|---------------------------------|---------------------|-------|-------------|
| paper         | C/r, C = channels the SE sees   | floor               | ReLU  | sigmoid     |
| efficientnet  | block input width / 4           | floor               | SiLU  | sigmoid     |
| regnet        | block input width / 4           | round               | ReLU  | sigmoid     |
| mobilenetv3   | channels the SE sees / 4        | make-divisible by 8 | ReLU  | hard-sigmoid|
"""

from __future__ import annotations

from typing import Literal

from pydantic import model_serializer, model_validator

from se_design.validated import PosInt, StrictModel


class SE(StrictModel):
    """Squeeze-and-Excitation setting of one block.

    Reduced width d from the reference width C (the channels the SE sees, or with
    width_of='input' the block's input width): floor(C / r) (at least 1), or round(C / r);
    with divisor > 1, C / r rounded to a multiple of divisor as timm's and torchvision's
    `make_divisible` do (never below divisor, never more than 10% below C / r).
    `preset` (paper, efficientnet, regnet, mobilenetv3) fills the other fields.
    """

    @model_serializer(mode="wrap")
    def _keep_r(self, handler):
        return {"r": self.r} | handler(self)

    @model_validator(mode="before")
    @classmethod
    def _preset(cls, data):
        if isinstance(data, dict) and "preset" in data:
            name = data["preset"]
            if name not in PRESETS:
                raise ValueError(f"unknown SE preset {name!r} (known: {', '.join(PRESETS)})")
            rest = {k: v for k, v in data.items() if k != "preset"}
            return PRESETS[name].model_dump() | rest
        return data

    r: PosInt = 16
    # standard: the family's published place (ResNet: after the block's last BN, before the
    # residual add; MBConv: after the depthwise conv's activation); pre: at the start of the
    # residual branch; post: after the add (and its ReLU); identity: on the shortcut branch;
    # 3x3: after the 3x3 conv's activation (depthwise 3x3 for dwsep blocks; RegNetY's place).
    variant: Literal["standard", "pre", "post", "identity", "3x3"] = "standard"
    # none = the paper's NoSqueeze: the two FCs become 1x1 convs at full resolution.
    squeeze: Literal["avg", "max", "none"] = "avg"
    gate: Literal["sigmoid", "hardsigmoid", "tanh", "relu"] = "sigmoid"
    divisor: PosInt = 1
    width_of: Literal["seen", "input"] = "seen"  # which width d = width / r is taken from
    rounding: Literal["floor", "round"] = "floor"  # when divisor is 1
    act: Literal["relu", "silu"] = "relu"  # between the two FCs
    bias: bool = True  # the FCs' biases (Caffe's and torchvision's SE have them)

    def reduced(self, channels: int) -> int:
        """d for reference width `channels`."""
        if self.divisor == 1:
            v = channels // self.r if self.rounding == "floor" else round(channels / self.r)
            return max(1, v)
        return make_divisible(channels / self.r, self.divisor)


def make_divisible(v: float, d: int = 8) -> int:
    """v rounded to a multiple of d, at least d and never more than 10% below v (timm's and
    torchvision's `_make_divisible`)."""
    out = max(d, int(v + d / 2) // d * d)
    return out + d if out < 0.9 * v else out


PRESETS: dict[str, SE] = {
    "paper": SE(),
    "efficientnet": SE(r=4, width_of="input", act="silu"),
    "regnet": SE(r=4, width_of="input", rounding="round"),
    "mobilenetv3": SE(r=4, divisor=8, gate="hardsigmoid"),
}

