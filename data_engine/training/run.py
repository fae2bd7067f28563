"""Training runs with a hard time budget, resume after a kill, and a record of what each run cost.

The training itself runs in a child process (`python -m data_engine.training.worker`), so that a run that hangs
or overruns can be killed without taking the caller down. Two limits guard the budget:

- inside the child, a callback asks Ultralytics to stop at the first batch past the budget; the epoch is then
  validated and saved as usual (Ultralytics' own `time=` argument is not used: it re-plans the number of epochs
  to fill the whole budget, so a 5-epoch run with a 4-hour budget would train for 4 hours);
- outside, the parent kills the child's process group when it is still running `grace_s` after the budget.

A run lives in its own folder. Re-running the same folder after a kill resumes from Ultralytics' `last.pt`
(`resume=True`); a finished run is not trained again. Each attempt's wall time is appended to `attempts.json`,
and the budget and the cost cover all attempts together.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from data_engine.detectors.device import pick_device
from data_engine.store import atomic_path
from data_engine.training.tiny import TINY_MODEL, tiny_model_yaml
from data_engine.training.train import TrainingError

SPEC_FILE = "spec.json"
STATUS_FILE = "status.json"
ATTEMPTS_FILE = "attempts.json"
LOG_FILE = "train.log"
PID_FILE = "worker.pid"
TrainingStatus = Literal["finished", "stopped_by_budget", "killed_over_budget", "failed"]
EpochProgress = Callable[[int, int], None]
"""`(epochs_done, epochs)`: how far a training run is."""


@dataclass(frozen=True)
class TrainingConfig:
    """What to train and within which limits.

    `model`: an architecture `.yaml` (from scratch) or local starting weights `.pt` (fine-tuning). `device`: None
    picks CUDA when present, else CPU. `budget_s`: wall time the whole run (all attempts) may use; `grace_s`: how
    long past it the child may take to stop on its own before it is killed. `price_per_hour`: what one hour on
    the device costs, for the cost estimate. `fraction`: the share of the train split to use. `options`: further
    Ultralytics training arguments (optimizer, lr0, ...)."""

    model: str = "yolo11n.yaml"
    epochs: int = 50
    imgsz: int = 640
    batch: int = 16
    device: str | None = None
    seed: int = 0
    workers: int = 0
    fraction: float = 1.0
    budget_s: float = 4 * 3600.0
    grace_s: float = 120.0
    price_per_hour: float = 0.0
    options: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise TrainingError(f"epochs must be at least 1, got {self.epochs}")
        if self.imgsz < 32 or self.imgsz % 32:
            raise TrainingError(f"imgsz must be a multiple of 32 and at least 32, got {self.imgsz}")
        if self.budget_s <= 0 or self.grace_s < 0:
            raise TrainingError(f"budget_s must be positive and grace_s not negative ({self.budget_s}, {self.grace_s})")
        if not 0 < self.fraction <= 1:
            raise TrainingError(f"fraction must lie in (0, 1], got {self.fraction}")

    def params(self) -> dict[str, Any]:
        """JSON-ready parameters, as recorded with the run."""
        return {**asdict(self), "options": dict(self.options)}


@dataclass(frozen=True)
class TrainingResult:
    """How a run (all its attempts so far) went.

    `best_weights` is None unless the run produced weights. `resumed_from_epoch` is the number of epochs the last
    attempt found done in `last.pt` (None when it started afresh). `duration_s` and `estimated_cost` cover every
    attempt."""

    run_dir: Path
    status: TrainingStatus
    best_weights: Path | None
    device: str
    epochs_completed: int
    resumed_from_epoch: int | None
    attempts: int
    duration_s: float
    estimated_cost: float
    error: str | None = None

    @property
    def device_hours(self) -> float:
        return self.duration_s / 3600.0


def run_training(
    data_yaml: str | Path,
    run_dir: str | Path,
    config: TrainingConfig,
    *,
    on_start: Callable[[int], None] | None = None,
    progress: EpochProgress | None = None,
) -> TrainingResult:
    """Train in a child process under the time budget; re-running a killed run's folder resumes it.

    `on_start(pid)` is called with the child's process id once it runs; `progress(epochs_done, epochs)` about
    every second while it trains (the child's own output goes to its log file). Returns the result also when the
    run failed or was killed (see `status`); raises `TrainingError` for what cannot start at all."""
    data_yaml = Path(data_yaml).resolve()
    run_dir = Path(run_dir).resolve()
    if not data_yaml.is_file():
        raise TrainingError(f"dataset description {data_yaml} does not exist; build a dataset version first")
    if config.model.endswith(".pt") and not Path(config.model).is_file():
        raise TrainingError(f"starting weights {config.model} do not exist locally; give a local .pt or a .yaml")
    run_dir.mkdir(parents=True, exist_ok=True)
    if config.model == TINY_MODEL and not Path(TINY_MODEL).is_file():
        config = replace(config, model=str(tiny_model_yaml(run_dir)))
    previous = _read_json(run_dir / STATUS_FILE)
    attempts = _read_json(run_dir / ATTEMPTS_FILE) or []
    if previous and previous.get("status") in ("finished", "stopped_by_budget"):
        return _result(run_dir, previous, attempts, config)
    used = sum(float(attempt["duration_s"]) for attempt in attempts)
    remaining = config.budget_s - used
    if remaining <= 0:
        status = {"status": "killed_over_budget", "error": f"the budget of {config.budget_s:.0f} s is spent"}
        return _result(run_dir, previous or status, attempts, config)
    device = config.device or pick_device()
    spec = {"data": str(data_yaml), "config": config.params(), "device": device, "budget_s": remaining}
    with atomic_path(run_dir / SPEC_FILE) as temporary:
        temporary.write_text(json.dumps(spec, indent=2))
    (run_dir / STATUS_FILE).unlink(missing_ok=True)
    started = time.monotonic()

    def started_child(pid: int) -> None:
        (run_dir / PID_FILE).write_text(str(pid))
        if on_start is not None:
            on_start(pid)

    def report_epochs() -> None:
        if progress is not None:
            progress(epochs_done(run_dir), config.epochs)

    returncode, overran = run_guarded(
        [sys.executable, "-m", "data_engine.training.worker", str(run_dir)],
        run_dir / LOG_FILE,
        remaining + config.grace_s,
        on_start=started_child,
        on_poll=report_epochs,
    )
    report_epochs()
    duration = time.monotonic() - started
    attempts.append({"duration_s": round(duration, 3), "returncode": returncode, "device": device})
    with atomic_path(run_dir / ATTEMPTS_FILE) as temporary:
        temporary.write_text(json.dumps(attempts, indent=2))
    status = _read_json(run_dir / STATUS_FILE)
    if status is None or returncode != 0:
        reason = (
            f"killed {config.grace_s:.0f} s after its budget ran out"
            if overran
            else f"the training process exited with code {returncode}; see {run_dir / LOG_FILE}"
        )
        status = {
            "status": "killed_over_budget" if overran else "failed",
            "error": reason,
            "device": device,
            **_checkpoint_progress(run_dir),
        }
        with atomic_path(run_dir / STATUS_FILE) as temporary:
            temporary.write_text(json.dumps(status, indent=2))
    return _result(run_dir, status, attempts, config)


def run_guarded(
    command: Sequence[str],
    log_path: Path,
    limit_s: float,
    *,
    on_start: Callable[[int], None] | None = None,
    on_poll: Callable[[], None] | None = None,
    poll_s: float = 1.0,
) -> tuple[int, bool]:
    """Run `command` in its own process group with its output appended to `log_path`; kill the group when it runs
    past `limit_s` (SIGTERM, then SIGKILL 5 s later); call `on_poll()` every `poll_s` while it runs. Returns (exit
    code, whether it was killed for overrunning)."""
    deadline = time.monotonic() + limit_s
    with open(log_path, "ab") as log:
        child = subprocess.Popen(list(command), stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            if on_start is not None:
                on_start(child.pid)
            while True:
                try:
                    return child.wait(timeout=max(0.0, min(poll_s, deadline - time.monotonic()))), False
                except subprocess.TimeoutExpired:
                    if time.monotonic() >= deadline:
                        raise
                    if on_poll is not None:
                        on_poll()
        except subprocess.TimeoutExpired:
            _kill_group(child, signal.SIGTERM)
            try:
                child.wait(timeout=5)
            except subprocess.TimeoutExpired:
                _kill_group(child, signal.SIGKILL)
                child.wait()
            return child.returncode, True
        finally:
            if child.poll() is None:
                _kill_group(child, signal.SIGKILL)
                child.wait()


def _kill_group(child: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(child.pid, sig)


def epochs_done(run_dir: Path) -> int:
    """Epochs finished so far according to Ultralytics' `results.csv` (one row per finished epoch)."""
    results = run_dir / "train" / "results.csv"
    try:
        return len(results.read_text().splitlines()[1:])
    except FileNotFoundError:
        return 0


def _checkpoint_progress(run_dir: Path) -> dict[str, Any]:
    """Epochs done, for runs that died."""
    return {"epochs_completed": epochs_done(run_dir)}


def _result(
    run_dir: Path, status: Mapping[str, Any], attempts: list[dict[str, Any]], config: TrainingConfig
) -> TrainingResult:
    duration = sum(float(attempt["duration_s"]) for attempt in attempts)
    best = status.get("best_weights")
    return TrainingResult(
        run_dir=run_dir,
        status=status["status"],
        best_weights=Path(best) if best and Path(best).is_file() else None,
        device=str(status.get("device") or (attempts[-1]["device"] if attempts else config.device or "")),
        epochs_completed=int(status.get("epochs_completed", 0)),
        resumed_from_epoch=status.get("resumed_from_epoch"),
        attempts=len(attempts),
        duration_s=duration,
        estimated_cost=duration / 3600.0 * config.price_per_hour,
        error=status.get("error"),
    )


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
