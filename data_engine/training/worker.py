"""The training child process: `python -m data_engine.training.worker RUN_DIR` trains what `RUN_DIR/spec.json`
says, resuming from `RUN_DIR/train/weights/last.pt` when an earlier attempt left one, and writes
`RUN_DIR/status.json` when it ends (see data_engine.training.run)."""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from data_engine.store import atomic_path
from data_engine.training.run import SPEC_FILE, STATUS_FILE, epochs_done
from data_engine.training.train import TrainingError


def train_from_spec(run_dir: Path) -> dict[str, Any]:
    """Train (or resume) the run in `run_dir`; returns the status written to status.json."""
    os.environ.setdefault("YOLO_CONFIG_DIR", tempfile.mkdtemp(prefix="data-engine-yolo-"))
    from ultralytics import YOLO

    spec = json.loads((run_dir / SPEC_FILE).read_text())
    config, device, budget_s = spec["config"], spec["device"], float(spec["budget_s"])
    last = run_dir / "train" / "weights" / "last.pt"
    resumed_from = _unfinished_epochs(last) if last.is_file() else None
    started, over_budget = time.monotonic(), []

    def stop_when_over_budget(trainer: Any) -> None:
        if time.monotonic() - started > budget_s:
            trainer.stop = True
            over_budget.append(True)

    if resumed_from is not None:
        model = YOLO(str(last))
        model.add_callback("on_train_batch_end", stop_when_over_budget)
        model.train(resume=True, device=device, workers=config["workers"])
    else:
        model = YOLO(config["model"])
        model.add_callback("on_train_batch_end", stop_when_over_budget)
        settings = {
            "data": spec["data"],
            "epochs": config["epochs"],
            "imgsz": config["imgsz"],
            "batch": config["batch"],
            "device": device,
            "seed": config["seed"],
            "deterministic": True,
            "workers": config["workers"],
            "fraction": config["fraction"],
            "plots": False,
            "amp": device.startswith("cuda"),
            "project": str(run_dir),
            "name": "train",
            "exist_ok": True,
            "verbose": False,
        }
        model.train(**(settings | dict(config["options"])))
    trainer = model.trainer
    if trainer is None:
        raise TrainingError(f"training in {run_dir} did not start: Ultralytics made no trainer")
    best = Path(trainer.best) if Path(trainer.best).is_file() else Path(trainer.last)
    return {
        "status": "stopped_by_budget" if over_budget else "finished",
        "best_weights": str(best) if best.is_file() else None,
        "device": device,
        "epochs_completed": epochs_done(run_dir),
        "resumed_from_epoch": resumed_from,
    }


def _unfinished_epochs(last: Path) -> int | None:
    """Epochs completed in an unfinished checkpoint; None when the checkpoint is finished or unreadable (an
    unreadable one, e.g. cut short by a kill while it was written, is moved aside and training starts afresh)."""
    import torch

    try:
        epoch = int(torch.load(last, map_location="cpu", weights_only=False).get("epoch", -1))
    except Exception:  # a torn checkpoint raises whatever the unpickler hits first
        last.parent.parent.rename(last.parent.parent.with_name(f"train.broken-{int(time.time())}"))
        return None
    return epoch + 1 if epoch >= 0 else None


def main() -> None:
    run_dir = Path(sys.argv[1])
    status = train_from_spec(run_dir)
    with atomic_path(run_dir / STATUS_FILE) as temporary:
        temporary.write_text(json.dumps(status, indent=2))


if __name__ == "__main__":
    main()
