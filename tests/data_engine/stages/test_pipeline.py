"""`data-engine run` and the proving ground walk the declared pipeline: every step, in order, the autolabel step
per batch (so each batch gets its boxes table, as under Dagster; tests/dagster/test_pipeline_assets.py checks the
asset graph against the same declaration)."""

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from data_engine.detections import Detections, Provenance
from data_engine.experiments.proving_ground import STRATEGIES, ProvingGroundConfig, round_steps, strategy_selection
from data_engine.layout import autolabel_boxes_key
from data_engine.runtime import Runtime
from data_engine.settings import Settings
from data_engine.stages import main_job
from data_engine.stages.pipeline import PIPELINE, PUSH
from data_engine.synthetic import generate


class OneBox:
    """A detector that finds one car in the middle of every frame."""

    def __init__(self) -> None:
        self.model_id = "one-box"
        self.names = {0: "car"}

    @property
    def params(self) -> dict[str, Any]:
        return {"model": self.model_id}

    def predict(self, frames: Sequence[np.ndarray]) -> list[Detections]:
        found = []
        for frame in frames:
            height, width = frame.shape[:2]
            box = [width / 4, height / 4, width / 2, height / 2]
            found.append(
                Detections([box], [0.9], [0], provenance=[Provenance(models=(self.model_id,))], names=self.names)
            )
        return found


def test_the_main_job_walks_every_declared_step_and_writes_each_batch_boxes_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    video = generate(tmp_path / "videos", seed=31, seconds=2.0).video_path
    settings = Settings(home=tmp_path / "home", clip_seconds=1.0, settle_seconds=0.0, compute="inprocess", workers=1)
    monkeypatch.setattr(main_job, "detectors_in_use", lambda *_: [OneBox()])
    runtime = Runtime(settings)
    summary = main_job.run_main_job(runtime, [str(video)])
    assert summary.steps == list(PIPELINE)
    assert summary.clips_autolabelled > 0 and summary.tasks_pushed > 0
    (batch,) = summary.new_batches
    assert runtime.store.exists(autolabel_boxes_key(batch)), "the batch's autolabel boxes table"
    runtime.catalog.dispose()


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_every_proving_ground_strategy_walks_the_declared_steps(strategy: str) -> None:
    """Each strategy's round is the product's steps with only the selection swapped (then the push)."""
    steps = round_steps(strategy_selection(strategy, 4, ProvingGroundConfig(), 1))
    assert [*(step.name for step in steps), PUSH.name] == list(PIPELINE)
