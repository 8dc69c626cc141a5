"""Grid plugins for the tests, loaded through a grid's `imports = ["tests.grid.plugins"]`.

- dataset `broken-digits`: digits whose loader always raises, so its cells fail in the worker;
- model `sleepy-mlp`: the mlp, pausing 50 ms at each training batch, so that a cell lasts a
  known time however busy the machine is (sleeping takes no CPU from the other tests).
"""

import time
from dataclasses import replace

from torch import nn

from minaction.data import DataContext, dataset_info, register_dataset
from minaction.models import build_model, register_model

PAUSE_SECONDS = 0.05

BROKEN = replace(dataset_info("digits"), name="broken-digits", description="always fails")


@register_dataset(BROKEN)
def load_broken(ctx: DataContext):
    raise RuntimeError("this loader fails on purpose")


class Pause(nn.Module):
    def forward(self, x):
        if self.training:
            time.sleep(PAUSE_SECONDS)
        return x


@register_model("sleepy-mlp", "the mlp, slowed down for tests", default_width=16, default_depth=1)
def build_sleepy_mlp(info, width, depth):
    return nn.Sequential(Pause(), build_model("mlp", info, width=width, depth=depth))
