"""Grid files: what they resolve to, and every kind of mistake reported with its file and key."""

import re

import pytest

from minaction.cli import main
from minaction.errors import ConfigError
from minaction.grid.config import load_grid
from minaction.train import RunSpec

from .conftest import grid_text


def test_a_grid_resolves_to_one_spec_per_cell_seeds_outermost(write_grid):
    config = load_grid(write_grid(lambdas=[0, 1e-5, 1e-4], seeds=2))
    specs = config.specs()
    assert len(specs) == len(config) == 6
    assert [(s.seed, s.lam) for s in specs] == [
        (0, 0.0), (0, 1e-5), (0, 1e-4), (1, 0.0), (1, 1e-5), (1, 1e-4)
    ]  # fmt: skip
    assert len({s.run_id for s in specs}) == 6
    assert all(s.epochs == 1 and s.width == 16 and s.limit_train == 200 for s in specs)


def test_run_ids_are_those_of_the_runspec_and_stable(write_grid):
    specs = load_grid(write_grid(seeds=[3], lambdas=[1e-3])).specs()
    direct = RunSpec(model="mlp", dataset="digits", lam=1e-3, seed=3, epochs=1, width=16,
                     limit_train=200, limit_test=100)  # fmt: skip
    assert [s.run_id for s in specs] == [direct.run_id]


def test_seed_list_and_integer_lambdas(write_grid):
    config = load_grid(write_grid(seeds=[4, 7], lambdas=[0, 1]))
    assert config.seeds == (4, 7) and config.lambdas == (0.0, 1.0)


def test_overrides_apply_dataset_then_model(write_grid):
    extra = "[overrides.dataset.digits]\nepochs = 3\nlr = 0.01\n[overrides.model.mlp]\nlr = 0.005\n"
    config = load_grid(write_grid(extra=extra))
    assert {(s.epochs, s.lr, s.width) for s in config.specs()} == {(3, 0.005, 16)}


def _error(path) -> str:
    with pytest.raises(ConfigError) as caught:
        load_grid(path)
    return str(caught.value)


@pytest.mark.parametrize(
    ("fields", "key", "words"),
    [
        ({"colour": "red"}, "colour", "unknown key"),
        ({"architectures": ["mlp", "nope"]}, "architectures[1]", "unknown model 'nope'"),
        ({"datasets": ["nope"]}, "datasets[0]", "unknown dataset 'nope'"),
        ({"architectures": []}, "architectures", "is empty"),
        ({"datasets": []}, "datasets", "is empty"),
        ({"lambdas": []}, "lambdas", "is empty"),
        ({"lambdas": [0, "1e-3"]}, "lambdas[1]", "without quotes"),
        ({"lambdas": [0, -1e-3]}, "lambdas[1]", "non-negative"),
        ({"lambdas": [1e-3, 0.001]}, "lambdas", "more than once"),
        ({"seeds": 0}, "seeds", "positive integer N"),
        ({"seeds": -2}, "seeds", "positive integer N"),
        ({"seeds": 2.5}, "seeds", "positive integer N"),
        ({"seeds": []}, "seeds", "positive integer N"),
        ({"seeds": [0, "1"]}, "seeds[1]", "integer ≥ 0"),
        ({"seeds": [1, 1]}, "seeds", "more than once"),
        ({"train": {"epoch": 2}}, "train.epoch", "unknown setting"),
        ({"train": {"epochs": 0}}, "train.epochs", "positive integer"),
        ({"train": {"lr": -1.0}}, "train.lr", "positive number"),
        ({"train": {"norm": "l3"}}, "train.norm", "one of l2, l1"),
        ({"train": {"lam": 0.1}}, "train.lam", "list it in `lambdas`"),
        ({"extra": "[overrides.dataset.mnist]\nepochs = 2\n"}, "overrides.dataset.mnist",
         "not in `datasets`"),
        ({"extra": "[overrides.model.mlp]\nwidth = 0\n"}, "overrides.model.mlp.width",
         "positive integer"),
        ({"extra": "[overrides.layer.x]\nepochs = 2\n"}, "overrides.layer", "dataset, model"),
        ({"imports": ["no_such_module_here"]}, "imports[0]", "cannot import"),
        ({"batch_seeds": "no"}, "batch_seeds", "must be true or false"),
    ],
)  # fmt: skip
def test_each_mistake_names_the_file_and_the_key(write_grid, fields, key, words):
    path = write_grid(**fields)
    message = _error(path)
    assert message.startswith(f"{path}: {key}: "), message
    assert words in message


def test_a_missing_factor_is_named(tmp_path):
    path = tmp_path / "grid.toml"
    path.write_text(grid_text().replace("lambdas = [0, 0.001]\n", ""))
    assert _error(path).startswith(f"{path}: lambdas: missing")


def test_a_file_that_is_not_toml_or_not_there(tmp_path):
    path = tmp_path / "grid.toml"
    path.write_text("name = \n")
    assert _error(path).startswith(f"{path}: not valid TOML")
    assert "does not exist" in _error(tmp_path / "absent.toml")


def test_the_command_line_prints_one_line_and_exits_2_before_running(write_grid, capsys):
    path = write_grid(lambdas=[0, "1e-3"])
    db = path.parent / "runs.sqlite"
    assert main(["grid", "run", str(path), "--db", str(db)]) == 2
    err = capsys.readouterr().err
    assert re.fullmatch(rf"minaction: error: {re.escape(str(path))}: lambdas\[1\]: .*\n", err)
    assert not db.exists()


def test_batch_seeds_is_on_unless_the_file_turns_it_off(write_grid):
    assert load_grid(write_grid()).batch_seeds is True
    config = load_grid(write_grid(batch_seeds=False))
    assert config.batch_seeds is False and config.to_dict()["batch_seeds"] is False
