"""Training runs in a child process: SIGKILL after the first checkpoint and a re-run resumes from last.pt; the
time budget stops a run gracefully inside and kills it from outside; what cannot train fails before it starts."""

import json
import os
import signal
import sys
import threading
import time

import pytest

from data_engine.training import TrainingError
from data_engine.training.run import TrainingConfig, run_guarded, run_training
from data_engine.training.tiny import tiny_model_yaml
from tests.model_fixtures import TINY_IMGSZ


def _config(tmp_path, **changes):
    settings = {
        "model": str(tiny_model_yaml(tmp_path)),
        "epochs": 3,
        "imgsz": TINY_IMGSZ,
        "batch": 8,
        "device": "cpu",
        "price_per_hour": 3.6,
        "options": {"optimizer": "AdamW", "lr0": 0.004, "warmup_epochs": 1},
    }
    return TrainingConfig(**(settings | changes))


def test_a_run_killed_after_its_first_checkpoint_resumes_from_last_pt(tmp_path, proving_ground):
    config = _config(tmp_path)
    run_dir = tmp_path / "run"
    pids, outcome = [], {}
    worker = threading.Thread(
        target=lambda: outcome.setdefault(
            "first", run_training(proving_ground.data_yaml, run_dir, config, on_start=pids.append)
        )
    )
    worker.start()
    last = run_dir / "train" / "weights" / "last.pt"
    deadline = time.monotonic() + 120
    while not last.is_file() and worker.is_alive() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert last.is_file(), "the first epoch wrote a checkpoint"
    time.sleep(0.3)
    os.kill(pids[0], signal.SIGKILL)
    worker.join()
    first = outcome["first"]
    assert (first.status, first.best_weights, first.attempts) == ("failed", None, 1)
    assert "exited with code -9" in first.error
    assert first.epochs_completed < config.epochs

    progress: list[tuple[int, int]] = []
    second = run_training(proving_ground.data_yaml, run_dir, config, progress=lambda *done: progress.append(done))
    assert second.status == "finished" and second.best_weights is not None and second.best_weights.is_file()
    assert progress[-1] == (config.epochs, config.epochs) and progress == sorted(progress), "epochs as they finish"
    assert second.resumed_from_epoch is not None and 1 <= second.resumed_from_epoch < config.epochs
    assert "Resuming training" in (run_dir / "train.log").read_text()
    epochs = [int(float(row.split(",")[0])) for row in (run_dir / "train" / "results.csv").read_text().splitlines()[1:]]
    assert epochs == list(range(1, config.epochs + 1)), "every epoch once: resumed, not restarted"
    assert second.epochs_completed == config.epochs and second.attempts == 2
    assert second.duration_s > first.duration_s and second.estimated_cost == pytest.approx(second.duration_s / 1000)
    assert second.device == "cpu"

    again = run_training(proving_ground.data_yaml, run_dir, config)
    assert (again.status, again.attempts, again.best_weights) == ("finished", 2, second.best_weights), "no retraining"


def test_the_budget_stops_a_run_inside_and_the_guard_kills_it_outside(tmp_path, proving_ground):
    stopped = run_training(proving_ground.data_yaml, tmp_path / "short", _config(tmp_path, epochs=50, budget_s=0.5))
    assert stopped.status == "stopped_by_budget" and stopped.best_weights is not None
    assert stopped.epochs_completed == 1, "the epoch in progress is finished, validated and saved, then it stops"

    log = tmp_path / "sleep.log"
    started = time.monotonic()
    code, overran = run_guarded([sys.executable, "-c", "import time; time.sleep(60)"], log, limit_s=1.0)
    assert overran and code == -signal.SIGTERM and time.monotonic() - started < 30

    spent = tmp_path / "spent"
    spent.mkdir()
    (spent / "attempts.json").write_text(json.dumps([{"duration_s": 10.0, "returncode": -9, "device": "cpu"}]))
    result = run_training(proving_ground.data_yaml, spent, _config(tmp_path, budget_s=5.0))
    assert result.status == "killed_over_budget" and "budget of 5 s is spent" in result.error


def test_what_cannot_train_fails_before_starting(tmp_path, proving_ground):
    with pytest.raises(TrainingError, match="does not exist; build a dataset version first"):
        run_training(tmp_path / "missing.yaml", tmp_path / "run", _config(tmp_path))
    with pytest.raises(TrainingError, match="do not exist locally"):
        run_training(proving_ground.data_yaml, tmp_path / "run", _config(tmp_path, model=str(tmp_path / "none.pt")))
    with pytest.raises(TrainingError, match="multiple of 32"):
        _config(tmp_path, imgsz=100)
