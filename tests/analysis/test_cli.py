"""`minaction analyze` and `minaction report` end to end, on a database of real (tiny) runs
trained here and stored through the grid's Store, and every kind of bad input."""

import json
import sys

import pytest

from minaction.analysis.cli import format_efficiency
from minaction.analysis.efficiency import efficiency_analysis
from minaction.cli import main
from minaction.train import RunSpec
from tests.analysis.stored import train_into
from tests.analysis.synthetic import synthetic_runs


@pytest.fixture(scope="module")
def database(tmp_path_factory):
    """mlp and bimodal on digits, λ ∈ {0, 1e-2}, two seeds, two epochs on 150 samples."""
    specs = [
        RunSpec(model=model, dataset="digits", lam=lam, seed=seed, epochs=2, limit_train=150,
                limit_test=100, width=16).resolved()
        for model in ("mlp", "bimodal") for lam in (0.0, 1e-2) for seed in (0, 1)
    ]  # fmt: skip
    return train_into(tmp_path_factory.mktemp("e2e") / "runs.sqlite", specs)


def test_analyze_prints_the_three_parts(database, capsys):
    assert main(["analyze", "--db", str(database), "--bootstrap", "200"]) == 0
    out = capsys.readouterr().out
    assert "8 runs (8 completed)" in out
    assert "1. ANOVA of final test accuracy" in out
    assert "factors: architecture (2 levels), λ (2 levels)" in out
    assert "constant: dataset = digits" in out
    assert "Type II sums of squares, sum-to-zero coding, 8 runs" in out
    for term in ("architecture", "λ", "architecture × λ", "residual"):
        assert f"  {term}  " in out, term
    assert "2. λ-sweep" in out and "bimodal on digits" in out and "mlp on digits" in out
    assert "3. Training efficiency" in out and "vision: digits (λ = 0; target accuracy" in out
    assert "reference: architecture alone: partial η² = 0.001" in out


def test_analyze_json_type_iii(database, capsys):
    argv = ["analyze", "--db", str(database), "--ss-type", "3", "--json", "--bootstrap", "100"]
    assert main(argv) == 0
    data = json.loads(capsys.readouterr().out)
    table = data["anova"]["table"]
    assert table["ss_type"] == 3 and table["n_observations"] == 8
    assert [t["term"] for t in table["terms"]] == ["architecture", "lambda",
                                                   "architecture × lambda"]  # fmt: skip
    assert table["residual"]["df"] == 4  # 8 runs − 4 cells
    sweeps = {(s["model"], s["dataset"]): s for s in data["sweeps"]}
    assert [r["lam"] for r in sweeps["mlp", "digits"]["rows"]] == [0.0, 0.01]
    assert sweeps["mlp", "digits"]["rows"][0]["energy_ratio"] == 1.0
    (dataset,) = data["efficiency"]["datasets"]
    assert {c["model"] for c in dataset["costs"]} == {"mlp", "bimodal"}
    # Two epochs on 150 samples learn little, so a run may miss the target; then the gains are
    # missing and the notes say why, never silently.
    assert set(dataset["baselines"].values()) <= {"mlp"}
    if len(dataset["baselines"]) < 3:
        assert any("never reached the target" in note for note in dataset["notes"])


def test_report_writes_one_html_file(database, tmp_path, capsys):
    out = tmp_path / "sub" / "report.html"
    assert main(["report", "--db", str(database), "--out", str(out), "--bootstrap", "100"]) == 0
    assert f"report written to {out}" in capsys.readouterr().err
    page = out.read_text()
    images = page.count("<img ")
    assert images >= 3 and page.count("data:image/png;base64,") == images  # gains may be absent
    assert "Grid tiny" in page and "tiny.toml" in page  # provenance from the database
    assert "Library versions that trained the runs" in page


@pytest.mark.parametrize(
    "argv, message",
    [
        (["analyze", "--db", "/no/such.sqlite"], "results database /no/such.sqlite does not exist"),
        (["analyze", "--db", "x", "--ss-type", "1"], "invalid choice: 1"),
        (["analyze", "--db", "x", "--target-fraction", "1.5"], "expected a number in (0, 1]"),
        (["analyze", "--db", "x", "--bootstrap", "0"], "expected a positive integer"),
        (["analyze"], "the following arguments are required: --db"),
        (["report", "--db", "/no/such.sqlite"], "results database /no/such.sqlite does not exist"),
    ],
)
def test_bad_input_gives_one_clear_line_and_exit_2(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        sys.exit(main(argv))
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert message in err
    assert len(err.splitlines()) == 1 and "Traceback" not in err


def test_efficiency_lambda_that_is_not_there(database, capsys):
    assert main(["analyze", "--db", str(database), "--efficiency-lam", "0.5"]) == 2
    assert "no completed runs at λ = 0.5; λ present: 0, 0.01" in capsys.readouterr().err


def test_efficiency_table_marks_only_the_baseline():
    """mlp is the baseline in every measure; gru's seed 0 never reaches the target (its history
    is cut to a flat start), so gru's gains are n/a, not "baseline"."""
    runs = synthetic_runs(models=("mlp", "gru", "bimodal"), datasets=("digits",), lams=(0.0,),
                          seeds=2)  # fmt: skip
    index = runs.index[(runs["model"] == "gru") & (runs["seed"] == 0)][0]
    runs.at[index, "history"] = [{**e, "test_accuracy": 0.1} for e in runs.at[index, "history"]]
    (dataset,) = efficiency_analysis(runs, bootstrap=20).datasets
    lines = {line.split()[0]: line for line in format_efficiency(dataset).splitlines()[3:]}
    assert lines["mlp"].count("baseline") == 3
    assert "baseline" not in lines["gru"] and lines["gru"].count("n/a") == 6
    assert lines["bimodal"].count("%") == 9  # three gains with two interval ends each
