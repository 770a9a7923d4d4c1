"""Settings a user gets wrong are one line naming the key, from the command line too; a
``data.max_length`` longer than the encoder's position embeddings is caught when the model
meets the data, not by a traceback at the first long batch."""

from __future__ import annotations

import pytest

from src.errors import TextlabError
from src.runs.lifecycle import Run
from src.train import train
from tests.conftest import TINY, run_module
from tests.faults.conftest import assert_one_line

BAD = [
    ("trainer.max_epochs=abc", "trainer.max_epochs must be an integer, got 'abc'"),
    ("model.optimizer.lr=-1", "model.optimizer.lr must be a number >= 0, got -1.0"),
    ("model.optimizer.lr=abc", "model.optimizer.lr must be a number, got 'abc'"),
    ("seed=abc", "seed must be an integer, got 'abc'"),
    ("model.scheduler.warmup_ratio=5", "model.scheduler.warmup_ratio must be a number in"),
    ("data=wnut17 model=token_tagger model.mix_layers=0", "model.mix_layers must be an integer >="),
]


@pytest.mark.parametrize(("override", "message"), BAD, ids=[b[0] for b in BAD])
def test_a_bad_setting_is_one_line_naming_its_key(make_cfg, override: str, message: str) -> None:
    with pytest.raises(TextlabError) as err:
        Run(make_cfg(*override.split()))
    assert message in str(err.value) and "\n" not in str(err.value)


@pytest.mark.slow
def test_a_bad_setting_on_the_command_line_is_one_line(tmp_path) -> None:
    done = run_module(
        "src.train", *TINY, "trainer.max_epochs=abc", f"paths.log_dir={tmp_path / 'logs'}"
    )
    assert done.returncode == 2
    assert_one_line(done.stderr, "trainer.max_epochs must be an integer, got 'abc'")


def test_max_length_beyond_the_encoders_positions_is_one_line(make_cfg) -> None:
    with pytest.raises(TextlabError) as err:
        train(make_cfg("data.max_length=100000", "trainer.max_epochs=1"))
    message = str(err.value)
    assert "\n" not in message
    assert "data.max_length=100000 is more than the 512 token positions" in message
    assert "set data.max_length=512 or less" in message
