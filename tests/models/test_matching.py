"""Parameter matching: every model can be sized to another's parameter count within 10%."""

import pytest
import torch

from minaction.data import dataset_info
from minaction.errors import ConfigError
from minaction.models import match_width, model_entry, model_names, parameter_count

from .synthetic import INFOS


@pytest.mark.parametrize("name", model_names())
def test_every_model_matches_the_mlp_within_ten_percent(name):
    info = dataset_info("digits")
    target = parameter_count("mlp", info)
    width = match_width(name, info, target)
    assert width % model_entry(name).width_multiple == 0
    assert abs(parameter_count(name, info, width=width) - target) <= 0.10 * target


@pytest.mark.parametrize("name", model_names())
def test_matching_works_on_token_inputs(name):
    info = INFOS["tokens"]
    target = parameter_count("mlp", info, width=64)
    width = match_width(name, info, target)
    assert abs(parameter_count(name, info, width=width) - target) <= 0.10 * target


def test_matching_leaves_the_global_random_state_alone():
    torch.manual_seed(0)
    expected = torch.rand(1)
    torch.manual_seed(0)
    match_width("cnn", dataset_info("digits"), 20_000)
    assert torch.equal(torch.rand(1), expected)


def test_unreachable_target_is_an_error():
    with pytest.raises(ConfigError, match="within"):
        match_width("mlp", dataset_info("digits"), 5)
    with pytest.raises(ConfigError, match="positive integer"):
        match_width("mlp", dataset_info("digits"), 0)
