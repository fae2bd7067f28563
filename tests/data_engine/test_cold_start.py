"""Cold start is a normal state: without a detector the main job mines with image-level triggers and a diversity
sample and pushes frames without pre-annotations; once those are answered (by the simulated annotator) the first
model is trained and becomes champion, and the next run mines and autolabels with it."""

import json
import shutil
from pathlib import Path

import tests.model_fixtures  # noqa: F401  (sets YOLO_OFFLINE and a private Ultralytics config folder)
from data_engine.annotation import AnnotationRun
from data_engine.annotation.bundle import ANSWER_FILES
from data_engine.catalog import ClipState
from data_engine.datasets import build_dataset
from data_engine.experiments.proving_ground import answer_bundle_from_truth
from data_engine.mining.model_triggers import DETECTION_TRIGGERS
from data_engine.registry import ModelRegistry, run_candidate
from data_engine.runtime import Runtime
from data_engine.settings import Settings
from data_engine.stages.annotate import import_answers
from data_engine.stages.main_job import run_main_job
from data_engine.synthetic import generate
from data_engine.synthetic.truth import load_truth
from data_engine.training.run import TrainingConfig

CLASSES = ("car", "person")


def _settings(home: Path, detectors: tuple[str, ...] = ()) -> Settings:
    return Settings(
        home=home,
        classes=CLASSES,
        clip_seconds=1.0,
        settle_seconds=0.0,
        compute="inprocess",
        workers=1,
        detectors=detectors,
        detector_imgsz=160,
        budget_per_day=60,
    )


def test_cold_start_then_the_first_model_takes_over_mining_and_autolabelling(
    tmp_path: Path, tiny_detector_weights: Path
) -> None:
    videos = [generate(tmp_path / "videos", seed=seed, seconds=3.0) for seed in (71, 72, 73, 74, 75)]
    truth = {video.video_path.name: load_truth(video.truth_path) for video in videos}
    home = tmp_path / "home"
    inbox = home / "inbox"
    inbox.mkdir(parents=True)
    for video in videos[:3]:
        shutil.copy(video.video_path, inbox)

    cold = Runtime(_settings(home))
    first = run_main_job(cold)
    assert first.cold_start and first.model_in_use == "none (cold start)"
    assert any("cold start" in note for note in first.notes)
    assert first.frames_selected > 0 and first.tasks_pushed == first.frames_selected
    assert first.clips_autolabelled == 0
    (record,) = cold.catalog.annotation_runs()
    run = AnnotationRun.from_json(record.record)
    tasks = json.loads((Path(run.project_url) / ANSWER_FILES["labelstudio"]).read_text())
    assert tasks and not any("predictions" in task for task in tasks), "cold-start tasks carry no pre-annotations"

    answered = answer_bundle_from_truth(cold, run.run_id, truth)
    review = import_answers(cold.catalog, cold.store, answered).report
    assert review.frames_reviewed == first.tasks_pushed
    dataset = build_dataset(cold.catalog, cold.store)
    registry = ModelRegistry(cold.catalog, cold.store)
    config = TrainingConfig(
        model=str(tiny_detector_weights),  # starting weights, as a team would start from a pretrained model
        epochs=3,
        imgsz=160,
        batch=8,
        options={"optimizer": "AdamW", "lr0": 0.004, "warmup_epochs": 1},
    )
    candidate = run_candidate(cold.catalog, registry, dataset, config, tmp_path / "train", run_id="first")
    champion = registry.champion()
    assert candidate.model is not None and champion is not None and champion.id == candidate.model.id

    for video in videos[3:]:
        shutil.copy(video.video_path, inbox)
    warm = Runtime(_settings(home))
    second = run_main_job(warm)
    assert not second.cold_start, "the champion takes over without any configuration"
    assert second.model_in_use.endswith(champion.sha256[:8]), "mining and autolabelling use the champion's weights"
    model_triggers = set(DETECTION_TRIGGERS) & {t for t, n in second.hits_per_trigger.items() if n}
    assert model_triggers, f"no model-level trigger fired: {second.hits_per_trigger}"
    assert second.clips_autolabelled > 0
    new_clips = [c for c in warm.catalog.clips() if c.status != ClipState.IN_DATASET]
    kinds = {version.kind for clip in new_clips for version in warm.catalog.label_versions(clip.id)}
    assert "autolabel" in kinds
