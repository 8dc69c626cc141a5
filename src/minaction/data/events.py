"""Event streams: emulated from static images by saccades, and binned into frames.

    params = EmulationParams(threshold=0.2, steps=10, bins=6, amplitude=2.0)
    frames = emulate_events(images, params)    # (N, H, W) in [0, 1] → (N, T, 2, H', W') counts

The emulated sensor works as a dynamic vision sensor does. The image moves along three saccades,
the edges of an equilateral triangle of side `amplitude` pixels (the motion N-MNIST used with a
real sensor), in `steps` sub-pixel steps per saccade, resampled bilinearly. Each pixel remembers
the log intensity log(I + eps) at its last event; when the current log intensity differs from
it by `threshold` or more, the pixel fires floor(|Δ| / threshold) events of the sign of Δ and
moves its memory by that many thresholds. Events are counted per time bin: T = `bins` equal
bins over the 3·`steps` steps. Polarity channel 0 holds OFF events (darker), channel 1 ON
(brighter), as the polarity bit of N-MNIST files does. The image is padded by ceil(amplitude)
pixels on each side so that it stays inside the sensor while it moves.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F

OFF, ON = 0, 1


@dataclass(frozen=True)
class EmulationParams:
    """Settings of the emulated sensor.

    Attributes:
        threshold: contrast threshold, in natural-log units of intensity.
        steps: sub-pixel steps per saccade (three saccades in all).
        bins: time bins T of the output frames; the 3·steps steps are spread evenly over them.
        amplitude: side of the saccade triangle, in pixels; 0 keeps the image still.
        eps: added to intensities in [0, 1] before the log, so black is log(eps), not -inf.
    """

    threshold: float = 0.2
    steps: int = 10
    bins: int = 6
    amplitude: float = 2.0
    eps: float = 0.1

    def __post_init__(self):
        if not self.threshold > 0:
            raise ValueError(f"threshold must be positive, got {self.threshold}")
        if self.steps < 1 or self.bins < 1:
            raise ValueError(f"steps and bins must be at least 1, got {self.steps}, {self.bins}")
        if self.amplitude < 0 or not self.eps > 0:
            raise ValueError(f"need amplitude ≥ 0 and eps > 0, got {self.amplitude}, {self.eps}")

    @property
    def pad(self) -> int:
        return math.ceil(self.amplitude)

    def as_dict(self) -> dict:
        return asdict(self)


def saccade_offsets(amplitude: float, steps: int) -> np.ndarray:
    """Image offsets (dx, dy) in pixels at each of the 3·steps + 1 instants, (3·steps + 1, 2).

    The path runs around an equilateral triangle of side `amplitude`, centred on the rest
    position, and ends where it started.
    """
    corners = amplitude * np.array([[0.0, 0.0], [1.0, 0.0], [0.5, math.sqrt(3) / 2]])
    corners -= corners.mean(axis=0)
    path = [corners[0]]
    for start, end in zip(corners, np.roll(corners, -1, axis=0), strict=True):
        for k in range(1, steps + 1):
            path.append(start + (end - start) * k / steps)
    return np.asarray(path)


def shift_images(images: torch.Tensor, dx: float, dy: float) -> torch.Tensor:
    """Move images (N, H, W) by (dx, dy) pixels, bilinearly, with black coming in at the edges."""
    n, h, w = images.shape
    # Output pixel (x, y) samples the input at (x - dx, y - dy); grid coordinates span [-1, 1].
    # The images ride as channels of one picture, so a single sampling grid serves them all.
    theta = torch.tensor(
        [[[1.0, 0.0, -2.0 * float(dx) / w], [0.0, 1.0, -2.0 * float(dy) / h]]], dtype=images.dtype
    )
    grid = F.affine_grid(theta, [1, n, h, w], align_corners=False)  # (1, H, W, 2)
    return F.grid_sample(images[None], grid, mode="bilinear", align_corners=False)[0]


class _Pixels:
    """The per-pixel memory of an event sensor: log intensity at each pixel's last event."""

    def __init__(self, first_frame: torch.Tensor, threshold: float, eps: float):
        self.threshold = threshold
        self.eps = eps
        self.reference = torch.log(first_frame + eps)  # (N, H, W)

    def fire(self, frame: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """ON and OFF event counts (N, H, W) int32 as the sensor sees `frame`."""
        change = torch.log(frame + self.eps).sub_(self.reference)
        # Signed event count: whole thresholds crossed, rounded toward zero. The small factor
        # keeps a change of exactly k thresholds from losing an event to rounding in the log.
        signed = change.div_(self.threshold).mul_(1 + 1e-6).trunc_()
        self.reference.add_(signed, alpha=self.threshold)
        signed = signed.to(torch.int32)
        return signed.clamp(min=0), signed.neg_().clamp_(min=0)


def frames_to_events(frames: torch.Tensor, threshold: float, bins: int, eps: float) -> torch.Tensor:
    """Event counts (N, bins, 2, H, W) from intensity frames (N, S + 1, H, W).

    Frame 0 sets each pixel's reference; steps 1..S are spread evenly over the bins.
    """
    n, instants, h, w = frames.shape
    steps = instants - 1
    counts = torch.zeros(n, bins, 2, h, w, dtype=torch.int32)
    pixels = _Pixels(frames[:, 0], threshold, eps)
    for step in range(1, instants):
        on, off = pixels.fire(frames[:, step])
        b = (step - 1) * bins // steps
        counts[:, b, ON] += on
        counts[:, b, OFF] += off
    return counts


def emulate_events(images: np.ndarray, params: EmulationParams, chunk: int = 4096) -> np.ndarray:
    """Event counts (N, T, 2, H + 2·pad, W + 2·pad) uint16 from images (N, H, W) in [0, 1].

    NOTE: about 1.5 ms an image on two busy CPU cores (two minutes for all of Fashion-MNIST),
    mostly the bilinear resampling; it runs once and is cached. The sensor is ideal: no noise
    events, no refractory period, no threshold mismatch between pixels.
    """
    offsets = saccade_offsets(params.amplitude, params.steps)
    steps = len(offsets) - 1
    pad = params.pad
    n, h, w = np.shape(images)
    out = np.zeros((n, params.bins, 2, h + 2 * pad, w + 2 * pad), dtype=np.uint16)
    for start in range(0, n, chunk):
        batch = torch.as_tensor(np.asarray(images[start : start + chunk], dtype=np.float32))
        batch = F.pad(batch, (pad, pad, pad, pad))  # (n, H', W')
        counts = torch.zeros(len(batch), params.bins, 2, *batch.shape[1:], dtype=torch.int32)
        pixels = _Pixels(shift_images(batch, *offsets[0]), params.threshold, params.eps)
        for step in range(1, steps + 1):
            on, off = pixels.fire(shift_images(batch, *offsets[step]))
            b = (step - 1) * params.bins // steps
            counts[:, b, ON] += on
            counts[:, b, OFF] += off
        out[start : start + len(batch)] = counts.clamp_(max=np.iinfo(np.uint16).max).numpy()
    return out


def bin_events(
    x: np.ndarray,
    y: np.ndarray,
    polarity: np.ndarray,
    time: np.ndarray,
    shape: tuple[int, int],
    bins: int,
    duration: float,
) -> np.ndarray:
    """Count events into frames (bins, 2, H, W) uint16.

    Time runs over [0, duration) in `bins` equal bins; later events go to the last bin. Events
    outside the H × W sensor are dropped.
    """
    h, w = shape
    keep = (x >= 0) & (x < w) & (y >= 0) & (y < h)
    x, y, polarity, time = x[keep], y[keep], polarity[keep], time[keep]
    b = np.clip(
        (np.asarray(time, dtype=np.float64) * bins / duration).astype(np.int64), 0, bins - 1
    )
    flat = ((b * 2 + polarity.astype(np.int64)) * h + y.astype(np.int64)) * w + x.astype(np.int64)
    counts = np.bincount(flat, minlength=bins * 2 * h * w)
    return counts.reshape(bins, 2, h, w).astype(np.uint16)
