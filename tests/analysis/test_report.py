"""The HTML report: self-contained, every section and figure present, and, when Chromium is
installed, rendered headless with every figure loaded, no console error and no sideways
scrolling on a laptop-width window. The screenshot is kept in artifacts/ at the repository
root (git-ignored)."""

import html
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from minaction.analysis.analyze import analyze
from minaction.analysis.load import load_metadata, load_runs
from minaction.analysis.report import library_versions, pareto_front, render_report, write_report
from tests.analysis.stored import write_runs
from tests.analysis.synthetic import synthetic_runs

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts"
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip
LAPTOP_WIDTH = 1280


def _status(model, dataset, lam, seed):
    if model == "gru" and lam == 1e-2 and seed == 0:
        return "diverged"
    if model == "lagrangian" and dataset == "fortunes" and lam == 1e-2:
        return "failed"
    return "completed"


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """A report of a synthetic study of every figure's kind, stored and read back like a real
    one: five architectures, three datasets of three modalities, three λ, three seeds."""
    frame = synthetic_runs(models=("mlp", "cnn", "gru", "bimodal", "lagrangian"),
                           datasets=("digits", "fortunes", "dvs-digits"), seeds=3,
                           status=_status)  # fmt: skip
    db = write_runs(tmp_path_factory.mktemp("report") / "runs.sqlite", frame)
    runs = load_runs(db)
    analysis = analyze(runs, bootstrap=200, source=str(db))
    ARTIFACTS.mkdir(exist_ok=True)
    return write_report(analysis, runs, ARTIFACTS / "report.html", metadata=load_metadata(db))


def test_sections_tables_and_figures(report):
    page = report.read_text()
    for heading in (
        "The three findings",
        "1. ANOVA of final test accuracy",
        "2. λ-sweep",
        "Energy against accuracy",
        "3. Training efficiency",
        "What produced this",
    ):
        assert f"<h2>{heading}</h2>" in page, heading  # fmt: skip
    images = re.findall(r"<img [^>]*src='([^']*)'", page)
    assert len(images) == 4 and all(src.startswith("data:image/png;base64,") for src in images)
    assert "architecture × dataset" in page and "partial η²" in page
    assert "gru" in page and "1 diverged" in page  # left-out runs are shown in the sweep table
    assert "Grid synthetic" in page and "t.toml" in page
    assert f"<td>numpy</td><td>{library_versions()['numpy']}</td>" in page


def test_self_contained(report):
    page = report.read_text()
    assert not re.search(r"(src|href)=['\"](https?:|//|file:)", page)
    assert "<link" not in page and "<script" not in page


def test_empty_figures_say_why():
    runs = synthetic_runs(models=("bimodal",), datasets=("digits",), lams=(0.0,), seeds=2)
    page = render_report(analyze(runs, bootstrap=10), runs)
    assert page.count("<img ") == 2  # interaction and Pareto; no sweep, no gains
    assert page.count("(no figure: too few runs for it)") == 2


def test_pareto_front_by_hand():
    """(cost, accuracy): (1, .5) and (2, .7) and (4, .9) are on the front; (3, .6) is beaten by
    (2, .7), (2, .65) by (2, .7) at equal cost, and (5, .9) by (4, .9)."""
    cost = np.array([3, 1, 2, 4, 2, 5, np.nan])
    accuracy = np.array([0.6, 0.5, 0.7, 0.9, 0.65, 0.9, 0.99])
    assert pareto_front(cost, accuracy).tolist() == [[1, 0.5], [2, 0.7], [4, 0.9]]
    assert pareto_front(np.array([]), np.array([])).shape == (0, 2)


# -- rendered in a browser ----------------------------------------------------------------------

_CHECK_SCRIPT = """<script>
(function () {
  var errors = [];
  window.addEventListener("error", function (event) {
    var target = event.target;
    errors.push(target && target.tagName ? "could not load <" + target.tagName + ">"
                                          : String(event.message));
  }, true);
  var consoleError = console.error;
  console.error = function () {
    errors.push("console.error: " + Array.prototype.join.call(arguments, " "));
    consoleError.apply(console, arguments);
  };
  window.addEventListener("load", function () {
    var images = Array.prototype.slice.call(document.images);
    var result = {
      images: images.length,
      loaded: images.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length,
      errors: errors,
      scrollWidth: document.documentElement.scrollWidth,
      innerWidth: window.innerWidth,
      height: document.documentElement.scrollHeight
    };
    var out = document.createElement("pre");
    out.id = "minaction-check";
    out.textContent = JSON.stringify(result);
    document.body.appendChild(out);
  });
})();
</script>"""


def _chromium() -> str | None:
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def _run_chromium(binary: str, profile: Path, *args: str) -> subprocess.CompletedProcess:
    command = [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def _check_page(binary: str, page: Path, tmp_path: Path) -> tuple[dict, list[str]]:
    """Load a copy of `page` with the check script, laptop-wide; return what the script
    recorded and the console lines Chromium logged."""
    checked = tmp_path / "checked.html"
    checked.write_text(page.read_text().replace("<head>", "<head>" + _CHECK_SCRIPT, 1))
    done = _run_chromium(binary, tmp_path / "profile", "--enable-logging=stderr", "--v=0",
                         f"--window-size={LAPTOP_WIDTH},900", "--virtual-time-budget=10000",
                         "--dump-dom", checked.as_uri())  # fmt: skip
    found = re.search(r'<pre id="minaction-check">(.*?)</pre>', done.stdout, flags=re.S)
    assert found, f"the check did not run; chromium said:\n{done.stderr[-3000:]}"
    result = json.loads(html.unescape(found.group(1)))
    console = [line for line in done.stderr.splitlines() if ":CONSOLE" in line]
    return result, console


needs_chromium = pytest.mark.skipif(
    _chromium() is None, reason="needs Chromium (Debian: apt-get install chromium)"
)


@needs_chromium
def test_the_browser_check_catches_a_broken_page(tmp_path):
    """The check itself: a missing image, a script error and a console error are all seen."""
    page = tmp_path / "broken.html"
    page.write_text(
        "<!DOCTYPE html><html><head></head><body><img src='data:image/png;base64,AA'>"
        "<script>console.error('boom'); notDefined();</script></body></html>"
    )
    result, console = _check_page(_chromium(), page, tmp_path)
    assert result["images"] == 1 and result["loaded"] == 0
    assert any("could not load <IMG>" in e for e in result["errors"])
    assert any("console.error: boom" in e for e in result["errors"])
    assert any("notDefined" in line for line in console)


@needs_chromium
def test_renders_in_headless_chromium(report, tmp_path):
    binary = _chromium()
    result, console = _check_page(binary, report, tmp_path)
    assert result["images"] == 4
    assert result["loaded"] == result["images"], result
    assert result["errors"] == [], result["errors"]
    assert console == [], console
    assert result["scrollWidth"] <= result["innerWidth"], "the page scrolls sideways"

    screenshot = ARTIFACTS / "report.png"
    height = min(int(result["height"]) + 40, 16000)
    shot = _run_chromium(binary, tmp_path / "profile-shot", "--hide-scrollbars",
                         f"--window-size={LAPTOP_WIDTH},{height}",
                         f"--screenshot={screenshot}", report.as_uri())  # fmt: skip
    assert screenshot.is_file() and screenshot.stat().st_size > 10_000, shot.stderr[-2000:]
    print(f"report: {report}\nscreenshot: {screenshot}")
