"""Acceptance: every architecture reaches 85% test accuracy on digits in 10 epochs at λ = 0
with its default sizes (the same run as `minaction train --model M --dataset digits`)."""

import pytest

from minaction import RunSpec, train
from minaction.data import load_dataset
from minaction.models import model_names

ACCURACY = 0.85


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


@pytest.mark.slow
@pytest.mark.parametrize("name", model_names())
def test_reaches_target_accuracy_on_digits(name, digits):
    result = train(RunSpec(model=name, dataset="digits", epochs=10, lam=0.0, seed=0), data=digits)
    assert result.accuracy >= ACCURACY, f"{name}: {result.accuracy:.3f}"
