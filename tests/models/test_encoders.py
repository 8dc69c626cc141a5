"""Modality encoders: the shapes each input kind becomes, and the errors for bad dataset info."""

import dataclasses

import pytest

from minaction.errors import ConfigError
from minaction.models import build_model, model_names
from minaction.models.encoders import FlatEncoder, StepEncoder

from .synthetic import INFOS, make_inputs


@pytest.mark.parametrize(
    ("kind", "features"),
    [("image", 36), ("sequence", 21), ("events", 200), ("tokens", 9 * 32)],
)
def test_flat_encoder_gives_one_vector_a_sample(kind, features):
    encoder = FlatEncoder(INFOS[kind])
    assert encoder.out_features == features
    assert encoder(make_inputs(INFOS[kind])).shape == (4, features)


@pytest.mark.parametrize(
    ("kind", "steps", "features"),
    [("image", 6, 6), ("sequence", 7, 3), ("events", 4, 50), ("tokens", 9, 32)],
)
def test_step_encoder_gives_steps(kind, steps, features):
    encoder = StepEncoder(INFOS[kind])
    assert (encoder.steps, encoder.out_features) == (steps, features)
    assert encoder(make_inputs(INFOS[kind])).shape == (4, steps, features)
    projected = StepEncoder(INFOS[kind], out_features=5)
    assert projected(make_inputs(INFOS[kind])).shape == (4, steps, 5)


def test_static_image_is_shown_at_every_step():
    encoder = StepEncoder(INFOS["image"], image_mode="static", static_steps=3)
    x = make_inputs(INFOS["image"])
    steps = encoder(x)  # (B, 3, 36)
    assert steps.shape == (4, 3, 36)
    assert (steps == x.reshape(4, 1, 36)).all()


@pytest.mark.parametrize("name", model_names())
def test_tokens_without_vocabulary_are_rejected(name):
    info = dataclasses.replace(INFOS["tokens"], vocab_size=None)
    with pytest.raises(ConfigError, match="vocab_size"):
        build_model(name, info, width=8)


@pytest.mark.parametrize("name", model_names())
def test_sample_shape_must_fit_the_kind(name):
    info = dataclasses.replace(INFOS["image"], input_shape=(6, 6))
    with pytest.raises(ConfigError, match="3-d samples"):
        build_model(name, info, width=8)


def test_width_must_be_a_multiple_of_the_heads():
    with pytest.raises(ConfigError, match="multiple of 4"):
        build_model("transformer", INFOS["image"], width=10)
