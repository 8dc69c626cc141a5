"""The event-camera emulation and event binning, checked on images whose events are known."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from minaction.data.events import (
    OFF,
    ON,
    EmulationParams,
    bin_events,
    emulate_events,
    frames_to_events,
    saccade_offsets,
    shift_images,
)


def square(size: int = 16, value: float = 1.0) -> np.ndarray:
    """A bright square in the middle of a black image, (1, size, size)."""
    image = np.zeros((1, size, size), dtype=np.float32)
    image[0, 5:11, 5:11] = value
    return image


def test_a_still_image_makes_no_events():
    events = emulate_events(square(), EmulationParams(amplitude=0.0))

    assert events.shape == (1, 6, 2, 16, 16) and events.sum() == 0


def test_a_moving_image_makes_events_in_every_bin():
    events = emulate_events(square(), EmulationParams(amplitude=2.0))

    assert events.shape == (1, 6, 2, 20, 20)  # padded by ceil(2) on each side
    assert (events.sum(axis=(2, 3, 4)) > 0).all()


def test_more_contrast_makes_more_events():
    params = EmulationParams()
    faint = emulate_events(square(value=0.2), params).sum()
    strong = emulate_events(square(value=1.0), params).sum()

    # log(1 + eps) - log(eps) = 2.40 against log(0.2 + eps) - log(eps) = 1.10: about twice as
    # many thresholds are crossed at each edge.
    assert strong > 1.5 * faint > 0


def test_polarity_follows_the_sign_of_the_change():
    frames = torch.zeros(1, 4, 1, 3)  # (N, S + 1, H, W)
    frames[0, :, 0, 0] = torch.tensor([0.1, 0.5, 0.5, 0.5])  # brightens at step 1
    frames[0, :, 0, 1] = torch.tensor([0.5, 0.5, 0.5, 0.1])  # darkens at step 3
    frames[0, :, 0, 2] = 0.3  # constant

    counts = frames_to_events(frames, threshold=0.2, bins=3, eps=0.1)  # (1, 3, 2, 1, 3)

    # log(0.6 / 0.2) = 1.099 → 5 thresholds of 0.2 crossed, as ON at step 1; the reverse as OFF.
    assert counts[0, 0, ON, 0].tolist() == [5, 0, 0]
    assert counts[0, 2, OFF, 0].tolist() == [0, 5, 0]
    assert counts.sum() == 10


def test_the_leading_edge_brightens_and_the_trailing_edge_darkens():
    # The first saccade moves the image to the right (+x).
    events = emulate_events(square(), EmulationParams(amplitude=2.0, steps=10, bins=3))
    first = events[0, 0]  # (2, H, W) during the first saccade
    columns = np.arange(first.shape[-1])
    centre = 2 + 8  # the square's centre column after padding

    on_x = (first[ON].sum(axis=0) * columns).sum() / first[ON].sum()
    off_x = (first[OFF].sum(axis=0) * columns).sum() / first[OFF].sum()
    assert on_x > centre > off_x


def test_saccades_trace_a_closed_triangle():
    offsets = saccade_offsets(amplitude=3.0, steps=4)

    assert offsets.shape == (13, 2)
    assert np.allclose(offsets[0], offsets[-1])  # back where it started
    legs = np.linalg.norm(offsets[[4, 8, 12]] - offsets[[0, 4, 8]], axis=1)
    assert np.allclose(legs, 3.0)  # equilateral, side = amplitude
    assert np.allclose(offsets.mean(axis=0), 0.0, atol=0.3)


def test_whole_pixel_shift_moves_pixels_exactly():
    image = torch.arange(25, dtype=torch.float32).reshape(1, 5, 5)

    moved = shift_images(image, 1.0, 0.0)

    assert torch.allclose(moved[0, :, 1:], image[0, :, :-1], atol=1e-5)
    assert torch.allclose(moved[0, :, 0], torch.zeros(5), atol=1e-5)


def test_bin_events_counts_by_time_polarity_and_place():
    x = np.array([0, 1, 1, 3, 9])
    y = np.array([0, 2, 2, 1, 0])  # the last event lies outside the 4 × 4 sensor
    polarity = np.array([1, 0, 0, 1, 1])
    time = np.array([0, 99, 150, 10_000, 5])

    frames = bin_events(x, y, polarity, time, (4, 4), bins=2, duration=200)

    assert frames.shape == (2, 2, 4, 4) and frames.sum() == 4
    assert frames[0, 1, 0, 0] == 1 and frames[0, 0, 2, 1] == 1 and frames[1, 0, 2, 1] == 1
    assert frames[1, 1, 1, 3] == 1  # after the duration: the last bin


@pytest.mark.parametrize("bad", [{"threshold": 0}, {"bins": 0}, {"amplitude": -1}])
def test_bad_emulation_settings_are_refused(bad):
    with pytest.raises(ValueError):
        EmulationParams(**bad)


def test_pad_is_the_ceiling_of_the_amplitude():
    assert EmulationParams(amplitude=1.5).pad == math.ceil(1.5) == 2
