"""Joules measured from hardware counters: RAPL through Linux powercap, NVML for NVIDIA GPUs.

    with EnergyCounters() as counters:
        train(...)
    counters.result.joules        # {"rapl:package-0": 812.4, "rapl:package-0/dram": 95.1} or None
    counters.result.reason        # why nothing was measured, when joules is None

A counter that does not exist or cannot be read gives no number and says why; nothing here ever
falls back to an estimate. RAPL counters are cumulative microjoules that wrap around at
`max_energy_range_uj`; a reading taken across one wrap is corrected, more than one wrap between
two readings cannot be seen (runs of hours on a busy package can hit that: sample more often).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

POWERCAP_ROOT = Path("/sys/class/powercap")
# Set to another directory laid out like the powercap tree (tests, containers that mount it
# elsewhere); EnergyCounters reads it when no root is given.
POWERCAP_ROOT_ENV = "MINACTION_POWERCAP_ROOT"


def default_powercap_root() -> Path:
    """The powercap tree to read: $MINACTION_POWERCAP_ROOT when set, else /sys/class/powercap."""
    return Path(os.environ.get(POWERCAP_ROOT_ENV) or POWERCAP_ROOT)


@dataclass(frozen=True)
class RaplZone:
    """One powercap zone: `name` as the kernel calls it (package-0, core, uncore, dram, psys)."""

    label: str  # counter name reported to the user, e.g. "rapl:package-0/dram"
    path: Path
    max_range_uj: int | None
    top_level: bool

    def read_uj(self) -> int:
        return int((self.path / "energy_uj").read_text().strip())


def discover_rapl(root: Path = POWERCAP_ROOT) -> tuple[list[RaplZone], str | None]:
    """Readable RAPL zones under `root`, or an empty list and the reason."""
    root = Path(root)
    if not root.is_dir():
        return [], f"no powercap interface at {root} (kernel without RAPL support, or a VM)"
    zones = []
    problems = []
    for directory in sorted(root.glob("intel-rapl:*")):
        parts = directory.name.split(":")
        top_level = len(parts) == 2
        name_file, energy_file = directory / "name", directory / "energy_uj"
        if not energy_file.exists():
            continue
        try:
            name = name_file.read_text().strip() if name_file.exists() else directory.name
            int(energy_file.read_text().strip())
        except PermissionError:
            problems.append(f"{energy_file} is not readable (run as root or grant read access)")
            continue
        except (OSError, ValueError) as err:
            problems.append(f"{energy_file} cannot be read ({err})")
            continue
        max_file = directory / "max_energy_range_uj"
        try:
            max_range = int(max_file.read_text().strip()) if max_file.exists() else None
        except (OSError, ValueError):
            max_range = None
        if top_level:
            label = f"rapl:{name}"
        else:
            parent = root / ":".join(parts[:2]) / "name"
            parent_name = parent.read_text().strip() if parent.exists() else ":".join(parts[:2])
            label = f"rapl:{parent_name}/{name}"
        zones.append(RaplZone(label, directory, max_range, top_level))
    if zones:
        return zones, None
    if problems:
        return [], "; ".join(problems)
    return [], f"no RAPL zone under {root}"


def _delta_uj(start: int, end: int, max_range: int | None) -> int:
    if end >= start:
        return end - start
    if max_range is None:
        raise ValueError("counter went backwards and its wrap-around range is unknown")
    return end + max_range - start


@dataclass
class MeasuredEnergy:
    """Joules per counter over a measured interval, or None with the reason.

    `total` adds the counters that do not overlap: every package, DRAM zones and GPUs. Core and
    uncore lie inside their package and psys covers the whole platform, so they are left out.
    """

    joules: dict[str, float] | None
    reason: str | None = None
    counters: list[str] = field(default_factory=list)

    @property
    def total(self) -> float | None:
        if not self.joules:
            return None
        return sum(
            value
            for label, value in self.joules.items()
            if label.startswith(("rapl:package", "nvml:"))
            and (label.count("/") == 0 or label.endswith("/dram"))
        )

    def divided(self, parts: int) -> MeasuredEnergy:
        """Each counter's joules divided by `parts`: one member's share of an ensemble."""
        if self.joules is None:
            return MeasuredEnergy(None, self.reason, list(self.counters))
        shares = {label: value / parts for label, value in self.joules.items()}
        return MeasuredEnergy(shares, self.reason, list(self.counters))

    def to_dict(self) -> dict:
        return {
            "joules": self.joules,
            "joules_total": self.total,
            "counters": self.counters,
            "reason": self.reason,
        }


class _Nvml:
    """Cumulative GPU energy from NVML (millijoules), when the library and a GPU are present."""

    def __init__(self):
        self.handles = []
        self.reason: str | None = None
        try:
            import pynvml  # provided by the nvidia-ml-py package
        except ImportError:
            self.reason = "nvidia-ml-py is not installed"
            return
        try:
            pynvml.nvmlInit()
            count = pynvml.nvmlDeviceGetCount()
            self.handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(count)]
            for handle in self.handles:
                pynvml.nvmlDeviceGetTotalEnergyConsumption(handle)
        except Exception as err:  # NVML raises its own error types for every failure
            self.handles = []
            self.reason = f"NVML energy counter not readable ({err})"
            return
        self._nvml = pynvml
        if not self.handles:
            self.reason = "no NVIDIA GPU"

    def read_mj(self) -> list[int]:
        return [self._nvml.nvmlDeviceGetTotalEnergyConsumption(h) for h in self.handles]


class EnergyCounters:
    """Context manager that reads every available energy counter at entry and exit.

    Args:
        powercap_root: where the powercap sysfs tree is; default `default_powercap_root()`:
            $MINACTION_POWERCAP_ROOT or /sys/class/powercap (a fixture directory in tests).
        use_nvml: also read NVIDIA GPUs through NVML.
    """

    def __init__(self, powercap_root: Path | str | None = None, use_nvml: bool = True):
        root = default_powercap_root() if powercap_root is None else Path(powercap_root)
        self.zones, self._rapl_reason = discover_rapl(root)
        self._nvml = _Nvml() if use_nvml else None
        self._start: dict[str, int] = {}
        self._read_error: str | None = None
        self.result: MeasuredEnergy | None = None

    def _read(self) -> dict[str, int]:
        readings = {zone.label: zone.read_uj() for zone in self.zones}
        if self._nvml is not None and self._nvml.handles:
            for i, mj in enumerate(self._nvml.read_mj()):
                readings[f"nvml:gpu{i}"] = mj * 1000  # to microjoules
        return readings

    def start(self) -> None:
        try:
            self._start = self._read()
        except (OSError, ValueError) as err:  # a counter vanished or changed since discovery
            self._start = {}
            self._read_error = f"energy counters could not be read at the start ({err})"

    def stop(self) -> MeasuredEnergy:
        """The joules since `start`; never raises for a counter that cannot be read, but gives
        None and says why."""
        if self._read_error is not None:
            self.result = MeasuredEnergy(None, self._read_error, [])
            return self.result
        ranges = {zone.label: zone.max_range_uj for zone in self.zones}
        try:
            end = self._read()
            joules = {
                label: _delta_uj(self._start[label], end[label], ranges.get(label)) * 1e-6
                for label in end
                if label in self._start
            }
        except (OSError, ValueError) as err:
            self.result = MeasuredEnergy(None, f"energy counters could not be read ({err})", [])
            return self.result
        if joules:
            self.result = MeasuredEnergy(joules, None, sorted(joules))
        else:
            reasons = [self._rapl_reason or "no RAPL counter"]
            if self._nvml is not None and self._nvml.reason:
                reasons.append(self._nvml.reason)
            self.result = MeasuredEnergy(None, "; ".join(reasons), [])
        return self.result

    def __enter__(self) -> EnergyCounters:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
