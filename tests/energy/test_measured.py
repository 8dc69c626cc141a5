"""Measured joules from a fixture directory laid out like the Linux powercap sysfs tree.

intel-rapl:0        name=package-0   energy_uj  max_energy_range_uj = 1,000,000
intel-rapl:0:0      name=core
intel-rapl:0:1      name=dram
"""

from pathlib import Path

import pytest

from minaction.energy.measured import EnergyCounters, discover_rapl


def _zone(root: Path, key: str, name: str, energy: int, max_range: int = 1_000_000) -> Path:
    zone = root / f"intel-rapl:{key}"
    zone.mkdir(parents=True)
    (zone / "name").write_text(name + "\n")
    (zone / "energy_uj").write_text(f"{energy}\n")
    (zone / "max_energy_range_uj").write_text(f"{max_range}\n")
    return zone


@pytest.fixture
def powercap(tmp_path):
    root = tmp_path / "powercap"
    zones = {
        "package": _zone(root, "0", "package-0", 100_000),
        "core": _zone(root, "0:0", "core", 50_000),
        "dram": _zone(root, "0:1", "dram", 900_000),
    }
    return root, zones


def test_zones_are_discovered_with_their_names(powercap):
    root, _ = powercap
    zones, reason = discover_rapl(root)
    assert reason is None
    assert [z.label for z in zones] == ["rapl:package-0", "rapl:package-0/core",
                                        "rapl:package-0/dram"]  # fmt: skip


def test_joules_are_the_counter_differences(powercap):
    root, zones = powercap
    counters = EnergyCounters(root, use_nvml=False)
    with counters:
        (zones["package"] / "energy_uj").write_text("350000\n")  # +250,000 µJ
        (zones["core"] / "energy_uj").write_text("150000\n")  # +100,000 µJ
        (zones["dram"] / "energy_uj").write_text("100000\n")  # wrapped: 1,000,000 − 900,000
        #                                                       + 100,000 = 200,000 µJ
    result = counters.result
    assert result.reason is None
    assert result.joules == pytest.approx(
        {"rapl:package-0": 0.25, "rapl:package-0/core": 0.1, "rapl:package-0/dram": 0.2}
    )
    # Core lies inside the package: the total is package + DRAM only.
    assert result.total == pytest.approx(0.45)


def test_missing_powercap_gives_none_with_the_reason(tmp_path):
    counters = EnergyCounters(tmp_path / "absent", use_nvml=False)
    with counters:
        pass
    assert counters.result.joules is None
    assert counters.result.total is None
    assert "no powercap interface" in counters.result.reason


def test_empty_powercap_tree_gives_a_reason(tmp_path):
    (tmp_path / "powercap").mkdir()
    counters = EnergyCounters(tmp_path / "powercap", use_nvml=False)
    assert counters.stop().reason.startswith("no RAPL zone")


def test_unreadable_counter_is_named(powercap, monkeypatch):
    root, _ = powercap
    original = Path.read_text

    def deny(self, *args, **kwargs):
        if self.name == "energy_uj" and self.parent.name == "intel-rapl:0:1":
            raise PermissionError(13, "Permission denied")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", deny)
    found, _ = discover_rapl(root)
    assert "rapl:package-0/dram" not in [z.label for z in found]

    def deny_all(self, *args, **kwargs):
        if self.name == "energy_uj":
            raise PermissionError(13, "Permission denied")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", deny_all)
    found, reason = discover_rapl(root)
    assert found == []
    assert "is not readable" in reason


def test_the_root_comes_from_the_environment_when_not_given(powercap, monkeypatch):
    root, zones = powercap
    monkeypatch.setenv("MINACTION_POWERCAP_ROOT", str(root))
    counters = EnergyCounters(use_nvml=False)
    with counters:
        (zones["package"] / "energy_uj").write_text("110000\n")  # +10,000 µJ
    assert counters.result.joules["rapl:package-0"] == pytest.approx(0.01)


def test_a_counter_that_vanishes_gives_a_reason_not_an_exception(powercap):
    root, zones = powercap
    counters = EnergyCounters(root, use_nvml=False)
    counters.start()
    (zones["dram"] / "energy_uj").unlink()
    result = counters.stop()
    assert result.joules is None and "could not be read" in result.reason


def test_an_ensembles_joules_are_shared_between_its_members(powercap):
    root, zones = powercap
    counters = EnergyCounters(root, use_nvml=False)
    with counters:
        (zones["package"] / "energy_uj").write_text("400000\n")  # +300,000 µJ
    share = counters.result.divided(3)
    assert share.joules["rapl:package-0"] == pytest.approx(0.1)
    assert share.total == pytest.approx(counters.result.total / 3)
