"""The data-engine loop measured: does mining-selected labelling beat random and uncertainty labelling at the same
budget, on the rare hard cases that a data engine exists to find?

On proving-ground videos with rare hard conditions (an easy, nearly static scene for most of the footage, a few
percent of frames under a rare look, a lighting change, a long occlusion, motion blur or an object at the border;
exact truth and a condition label per frame) the real engine path runs end to end: ingest, mine, select, autolabel
with the strategy's current model, push a bundle, a simulated annotator answers its tasks from the truth, import,
build a dataset, fine-tune, evaluate on a fixed test split. A shared seed phase labels a small seed set plus a fixed
validation and test set and trains the seed model; it is then copied into one engine home per strategy. Each round
brings a new batch of pool videos:

- mining: the engine's own triggers with the current model and `select_batch` (trigger yields as the main job
  feeds them), under the round's budget;
- random: as many frames drawn uniformly from the same batch;
- uncertainty: as many of the least confident frames (the usual active-learning baseline: frames whose most
  uncertain box has a confidence nearest 0.5), through the engine's selection function (same near-duplicate
  suppression and spread over clips), topped up at random when too few frames hold a box.

All retrain from their previous model and are evaluated on the same frozen test split, overall and on its
rare-case slice (test frames under a hard condition; the test set takes every `hard_eval_every`-th frame of those
and every `eval_every`-th of the rest). `run_proving_ground_seeds` repeats the whole comparison per seed and
reports means with 95 % intervals (see `intervals`).
"""

from __future__ import annotations

import itertools
import json
import math
import os
import random
import shutil
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from data_engine.annotation import AnnotationRun, FrameAnswer, answer_bundle, review_metrics
from data_engine.annotation.history import review_history
from data_engine.annotation.metrics import ChangeSummary, ReviewMetrics
from data_engine.catalog import Catalog, Clip, ClipState
from data_engine.context import StageContext
from data_engine.datasets.build import DatasetConfig, DatasetVersion
from data_engine.datasets.splits import SplitConfig
from data_engine.detections import Detections
from data_engine.detectors.loading import load_detectors
from data_engine.errors import EngineError
from data_engine.evaluation import evaluate_model
from data_engine.evaluation.trigger_yield import YieldReport, trigger_yields
from data_engine.experiments.intervals import Interval, bootstrap_interval, t_interval
from data_engine.layout import features_key
from data_engine.mining.config import MiningConfig
from data_engine.mining.features import read_features
from data_engine.mining.model_triggers import detect_for_mining
from data_engine.mining.selection import ChosenFrame, FrameCandidate, select_frames
from data_engine.plots import learning_curves_png
from data_engine.registry import registry_for, run_candidate
from data_engine.runtime import Runtime, compute_backend
from data_engine.settings import Settings
from data_engine.stages.annotate import (
    bundle_run,
    import_answers,
    pushed_runs,
)
from data_engine.stages.ingest import ingest
from data_engine.stages.mine import record_chosen_frames
from data_engine.stages.pipeline import (
    BATCH_STEPS,
    FEATURES,
    INGEST_STEPS,
    PUSH,
    SELECTION,
    BatchStep,
    walk_batch,
)
from data_engine.stages.train import build_training_dataset
from data_engine.synthetic import SyntheticVideo, generate
from data_engine.synthetic.dataset import MIN_LABEL_VISIBILITY
from data_engine.synthetic.generator import CLASS_NAMES, HardCases
from data_engine.synthetic.truth import GroundTruth, load_truth
from data_engine.training.run import TrainingConfig
from data_engine.training.tiny import tiny_model_yaml
from data_engine.training.train import TrainingError

STRATEGIES = ("mining", "random", "uncertainty")
UNCERTAINTY = "uncertainty"
ANNOTATOR = "simulated-annotator"
REPORT_NAME = "report.json"
Say = Callable[[str], None]
"""Where the proving ground says how far it got, one line at a time (progress messages, not step counts)."""


class ProvingGroundError(EngineError):
    """The loop could not go on (a training run that left no weights, settings that cannot work)."""


@dataclass(frozen=True)
class ProvingGroundConfig:
    """Sizes of the experiment. Videos are `video_seconds` long at `size` with `hard_share` of their frames under a
    rare hard condition; each round brings `pool_videos` new videos of which `budget` frames may be labelled; the
    seed set is every `seed_every`-th frame of `seed_videos` videos, the fixed val set every `eval_every`-th frame
    of its videos, the test set that plus every `hard_eval_every`-th frame under a hard condition."""

    rounds: int = 3
    budget: int = 40
    seed: int = 0
    video_seconds: float = 8.0
    size: tuple[int, int] = (320, 240)
    clip_seconds: float = 2.0
    hard_share: float = 0.04
    seed_videos: int = 2
    seed_every: int = 3
    val_videos: int = 1
    test_videos: int = 3
    eval_every: int = 5
    hard_eval_every: int = 2
    pool_videos: int = 3
    seed_epochs: int = 60
    epochs: int = 5
    imgsz: int = 160
    batch: int = 8
    strategies: tuple[str, ...] = STRATEGIES

    def __post_init__(self) -> None:
        if self.rounds < 1 or self.budget < 1:
            raise ProvingGroundError(f"rounds and budget must be at least 1 (got {self.rounds}, {self.budget})")
        if self.strategies[:1] != ("mining",) or set(self.strategies) - set(STRATEGIES):
            raise ProvingGroundError(f"strategies must start with mining and be among {', '.join(STRATEGIES)}")
        HardCases(share=self.hard_share)

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "size": list(self.size), "strategies": list(self.strategies)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ProvingGroundConfig:
        return cls(**{**data, "size": tuple(data["size"]), "strategies": tuple(data["strategies"])})


@dataclass(frozen=True)
class RoundResult:
    """One strategy after one round: labels added so far (beyond the seed set) and how many of them were frames
    under a hard condition, test metrics overall and on the rare-case slice (`hard_`), and timings."""

    strategy: str
    round: int
    labels: int
    hard_labels: int
    map50: float
    map50_95: float
    hard_map50: float
    hard_map50_95: float
    train_s: float
    dataset_id: str
    weights: str


@dataclass(frozen=True)
class LoopReport:
    """One seed: every strategy's curve (round 0 is the shared seed model), what humans changed per trigger in each
    home (`reviews`: strategy -> trigger -> [frames, changed frames], "all" for every reviewed frame), seconds."""

    results: tuple[RoundResult, ...]
    seed_labels: int
    test_images: int
    hard_test_images: int
    duration_s: float
    config: ProvingGroundConfig
    reviews: dict[str, dict[str, list[int]]] = field(default_factory=dict)

    def curve(self, strategy: str) -> list[RoundResult]:
        return sorted((r for r in self.results if r.strategy == strategy), key=lambda r: r.round)

    def to_json(self) -> dict[str, Any]:
        return {
            "results": [asdict(result) for result in self.results],
            "seed_labels": self.seed_labels,
            "test_images": self.test_images,
            "hard_test_images": self.hard_test_images,
            "duration_s": self.duration_s,
            "config": self.config.to_json(),
            "reviews": self.reviews,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LoopReport:
        return cls(
            results=tuple(RoundResult(**result) for result in data["results"]),
            seed_labels=int(data["seed_labels"]),
            test_images=int(data["test_images"]),
            hard_test_images=int(data["hard_test_images"]),
            duration_s=float(data["duration_s"]),
            config=ProvingGroundConfig.from_json(data["config"]),
            reviews={key: dict(value) for key, value in data.get("reviews", {}).items()},
        )


def labels_to_reach(curve: Sequence[tuple[float, float]], target: float) -> float:
    """Labels (linear between rounds) at which a curve of (labels, metric) first reaches `target`; infinity when it
    never does."""
    if curve[0][1] >= target:
        return curve[0][0]
    for (labels_before, before), (labels_after, after) in itertools.pairwise(curve):
        if after >= target:
            return labels_before + (target - before) / (after - before) * (labels_after - labels_before)
    return math.inf


METRICS = {"map50_95": "mAP50-95", "hard_map50_95": "rare-case mAP50-95"}


@dataclass(frozen=True)
class SeedsReport:
    """The comparison repeated over seeds: per round and strategy the mean and 95 % t-interval of each metric, and
    the label efficiency of mining against random with a bootstrap interval over seeds."""

    seeds: tuple[int, ...]
    loops: tuple[LoopReport, ...]
    duration_s: float

    @property
    def config(self) -> ProvingGroundConfig:
        return self.loops[0].config

    @property
    def strategies(self) -> tuple[str, ...]:
        return self.config.strategies

    def labels(self) -> list[int]:
        """Labels added after each round (the same in every seed only when mining used the whole budget: the mean)."""
        rounds = len(self.loops[0].curve("mining"))
        return [round(float(np.mean([loop.curve("mining")[r].labels for loop in self.loops]))) for r in range(rounds)]

    def measured(self, metric: str) -> tuple[LoopReport, ...]:
        """The seeds that measure `metric`: a seed whose test split holds no frame under a hard condition has no
        rare-case figures (they would read 0) and is left out of them."""
        if metric.startswith("hard_map"):
            return tuple(loop for loop in self.loops if loop.hard_test_images > 0)
        return self.loops

    def interval(self, strategy: str, round_number: int, metric: str) -> Interval:
        return t_interval([getattr(loop.curve(strategy)[round_number], metric) for loop in self.measured(metric)])

    def paired(self, strategy: str, against: str, round_number: int, metric: str) -> Interval:
        """Mean per-seed difference `strategy - against` and its t-interval: the strategies of a seed share the seed
        model and the test split, so the difference is free of the seeds' large common spread."""
        return t_interval(
            [
                getattr(loop.curve(strategy)[round_number], metric) - getattr(loop.curve(against)[round_number], metric)
                for loop in self.measured(metric)
            ]
        )

    def labels_to_match(self, metric: str, against: str = "random") -> Interval:
        """Labels mining needs to reach `against`'s final `metric`, on the seeds' mean curves, with its bootstrap
        interval (upper bound infinity: some resamples never reach it)."""

        def statistic(loops: Sequence[object]) -> float:
            chosen = [loop for loop in loops if isinstance(loop, LoopReport)]
            rounds = len(chosen[0].curve("mining"))
            mean = {
                strategy: [
                    (
                        float(np.mean([loop.curve(strategy)[r].labels for loop in chosen])),
                        float(np.mean([getattr(loop.curve(strategy)[r], metric) for loop in chosen])),
                    )
                    for r in range(rounds)
                ]
                for strategy in ("mining", against)
            }
            return labels_to_reach(mean["mining"], mean[against][-1][1])

        return bootstrap_interval(self.measured(metric), statistic)

    def yields(self) -> YieldReport:
        """What humans changed per trigger in the mining homes, pooled over seeds; lift against the frames the
        random strategy drew (a true blind sample of the same pools)."""
        per_trigger: dict[str, ChangeSummary] = {}
        for loop in self.loops:
            for trigger, (frames, changed) in loop.reviews.get("mining", {}).items():
                if trigger != "all":
                    summary = per_trigger.setdefault(trigger, ChangeSummary())
                    summary.frames += frames
                    summary.changed_frames += changed
        blind = ChangeSummary()
        for loop in self.loops:
            frames, changed = loop.reviews.get("random", {}).get("all", [0, 0])
            blind.frames += frames
            blind.changed_frames += changed
        metrics = ReviewMetrics((), ChangeSummary(), per_trigger)
        return trigger_yields(metrics, blind, "the random strategy's frames")

    def table(self) -> str:
        """Per round: labels, each strategy's mean [95 % interval] of mAP50-95 overall and on the rare-case slice,
        hard frames among the labels; then label efficiency, the goal's verdict and the trigger yields."""
        config, first = self.config, self.loops[0]
        lines = [
            f"seeds: {', '.join(map(str, self.seeds))} ({len(self.seeds)}); per round: mean [95 % t-interval over "
            f"seeds]; test set {first.test_images} images, of them under a hard condition (rare-case slice) "
            f"{', '.join(str(loop.hard_test_images) for loop in self.loops)} per seed; seed set {first.seed_labels} "
            f"frames; budget {config.budget} frames/round from "
            f"{config.pool_videos} videos of {config.video_seconds:g} s ({config.hard_share:.0%} of frames hard); "
            f"{config.epochs} epochs/round at {config.imgsz} px",
        ]
        unmeasured = [str(seed) for seed, loop in zip(self.seeds, self.loops, strict=True) if not loop.hard_test_images]
        if unmeasured:
            lines.append(
                f"rare-case figures over {len(self.measured('hard_map50_95'))} seeds: the test split of seed(s) "
                f"{', '.join(unmeasured)} holds no frame under a hard condition"
            )
        header = ["round", "labels"]
        for metric in METRICS.values():
            header += [f"{strategy} {metric}" for strategy in self.strategies]
        header += [f"{strategy} hard labels" for strategy in self.strategies]
        lines += ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
        for round_number, labels in enumerate(self.labels()):
            cells = [str(round_number), str(labels)]
            for metric in METRICS:
                cells += [self.interval(s, round_number, metric).format() for s in self.strategies]
            cells += [self.interval(s, round_number, "hard_labels").format(1) for s in self.strategies]
            lines.append("| " + " | ".join(cells) + " |")
        lines += ["", "paired over seeds, mean difference [95 % t-interval]:", ""]
        pairs = [(a, b) for a, b in itertools.combinations(self.strategies, 2)]
        header = ["round"] + [f"{a} - {b} {name}" for name in METRICS.values() for a, b in pairs]
        lines += ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
        for round_number in range(1, len(self.labels())):
            cells = [str(round_number)]
            cells += [self.paired(a, b, round_number, metric).format() for metric in METRICS for a, b in pairs]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
        final_labels = self.labels()[-1]
        for metric, name in METRICS.items():
            for against in self.strategies[1:]:
                target = np.mean([getattr(loop.curve(against)[-1], metric) for loop in self.measured(metric)])
                needed = self.labels_to_match(metric, against)
                lines.append(
                    f"labels mining needs to reach {against}'s final {name} ({target:.3f} with {final_labels} labels): "
                    f"{needed.format(0)} (bootstrap 95 % interval over seeds)"
                )
        lines.append(self.goal())
        lines += ["", self.yields().markdown(), "", f"loop time: {self.duration_s:.0f} s for {len(self.seeds)} seeds"]
        return "\n".join(lines)

    def goal(self) -> str:
        """The goal's verdict: mining reaches random's final rare-case mAP with at most half the labels, and the
        last round's intervals do not overlap."""
        needed = self.labels_to_match("hard_map50_95", "random")
        final_labels = self.labels()[-1]
        last = len(self.labels()) - 1
        mining, randomly = (self.interval(s, last, "hard_map50_95") for s in ("mining", "random"))
        half = math.isfinite(needed.mean) and needed.mean <= final_labels / 2
        separate = not math.isnan(mining.low) and not mining.overlaps(randomly) and mining.mean > randomly.mean
        verdict = "met" if half and separate else "not met"
        return (
            f"goal (mining reaches random's final rare-case mAP50-95 with at most half the labels, last-round "
            f"intervals apart): {verdict}; labels needed {needed.format(0)} of {final_labels} "
            f"(ratio {needed.mean / final_labels:.2f}); last round mining {mining.format()} vs random "
            f"{randomly.format()}"
        )

    def write_plot(self, path: str | Path) -> Path:
        """Learning curves with 95 % t-intervals as bands: test mAP50-95 overall and on the rare-case slice."""
        labels = self.labels()
        panels = {
            f"test {name}": {
                strategy: [
                    (label, row.mean, row.low, row.high)
                    for label, row in zip(
                        labels, (self.interval(strategy, r, metric) for r in range(len(labels))), strict=True
                    )
                ]
                for strategy in self.strategies
            }
            for metric, name in METRICS.items()
        }
        return learning_curves_png(
            path,
            panels,
            xlabel=f"labels added beyond the seed set ({self.loops[0].seed_labels})",
            title=f"proving ground: {len(self.seeds)} seeds, mean and 95 % interval",
            bands=len(self.loops) > 1,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "seeds": list(self.seeds),
            "duration_s": self.duration_s,
            "loops": [loop.to_json() for loop in self.loops],
        }


@dataclass
class _Videos:
    """The generated videos by role, and the truth of each by file name."""

    seed: list[SyntheticVideo] = field(default_factory=list)
    val: list[SyntheticVideo] = field(default_factory=list)
    test: list[SyntheticVideo] = field(default_factory=list)
    pool: list[list[SyntheticVideo]] = field(default_factory=list)
    truth: dict[str, GroundTruth] = field(default_factory=dict)


def run_proving_ground_seeds(
    out_dir: str | Path,
    seeds: Sequence[int],
    config: ProvingGroundConfig | None = None,
    progress: Say | None = None,
) -> SeedsReport:
    """Run the whole comparison once per seed under `out_dir/seed-N`. A seed whose report is already there with
    the same settings is read back instead of run again, so an interrupted run resumes where it stopped."""
    config = config or ProvingGroundConfig()
    say = progress or (lambda _message: None)
    started = time.monotonic()
    loops = []
    for seed in seeds:
        folder = Path(out_dir) / f"seed-{seed}"
        seed_config = replace(config, seed=seed)
        done = _finished(folder, seed_config)
        if done is not None:
            say(f"seed {seed}: reusing the finished run in {folder}")
            loops.append(done)
            continue
        if folder.exists():
            shutil.rmtree(folder)
        report = run_proving_ground(folder, seed_config.rounds, seed_config.budget, seed, say, seed_config)
        _write_json(folder / REPORT_NAME, report.to_json())
        loops.append(report)
    return SeedsReport(tuple(seeds), tuple(loops), time.monotonic() - started)


def _finished(folder: Path, config: ProvingGroundConfig) -> LoopReport | None:
    try:
        report = LoopReport.from_json(json.loads((folder / REPORT_NAME).read_text()))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return report if report.config == config else None


def _write_json(path: Path, document: Mapping[str, Any]) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(document, indent=1))
    os.replace(temporary, path)


def run_proving_ground(
    out_dir: str | Path,
    rounds: int = 3,
    budget: int = 40,
    seed: int = 0,
    progress: Say | None = None,
    config: ProvingGroundConfig | None = None,
) -> LoopReport:
    """Run the seed phase and `rounds` rounds of every strategy under `out_dir`; returns the curves.

    `config` sets the sizes (its rounds/budget/seed are replaced by the arguments)."""
    config = replace(config or ProvingGroundConfig(), rounds=rounds, budget=budget, seed=seed)
    say = progress or (lambda _message: None)
    out_dir = Path(out_dir)
    started = time.monotonic()
    videos = _generate_videos(out_dir / "videos", config)
    say(f"seed {seed}: generated {sum(len(v) for v in (videos.seed, videos.val, videos.test, *videos.pool))} videos")

    seed_runtime = _runtime(out_dir / "homes" / "seed", config)
    fixed: list[tuple[list[SyntheticVideo], Callable[[bool, int], bool], str]] = [
        (videos.val, lambda _hard, frame: frame % config.eval_every == 0, "fixed"),
        (videos.test, _test_frame(config), "fixed"),
        (videos.seed, lambda _hard, frame: frame % config.seed_every == 0, "seed"),
    ]
    with _stage_context(seed_runtime, None) as context:  # a cold start: no model yet
        for role_videos, wanted, day in fixed:
            batch_key = _record_batch(context, role_videos)
            walk_batch(context, batch_key, (*INGEST_STEPS, FEATURES))
            _select_every(seed_runtime, batch_key, wanted, day, videos)
        _push_and_answer(context, videos)
    split = _split_config(seed_runtime.catalog, videos)
    dataset = build_training_dataset(seed_runtime.catalog, seed_runtime.store, DatasetConfig(split=split))
    say(f"seed {seed}: seed dataset {dataset.dataset_id}: {dataset.manifest.counts()}")
    seed_weights, seed_s = _train(seed_runtime, dataset, out_dir / "runs" / "seed", config, tiny_model_yaml(out_dir))
    subsets = _test_subsets(seed_runtime.catalog, dataset, videos)
    seed_eval = _evaluate(seed_weights, dataset, config, subsets)
    say(f"seed {seed}: seed model test mAP50-95 {seed_eval['map50_95']:.3f}, rare {seed_eval['hard_map50_95']:.3f}")

    results: list[RoundResult] = []
    homes: dict[str, Runtime] = {}
    weights: dict[str, Path] = {}
    for strategy in config.strategies:
        shutil.copytree(out_dir / "homes" / "seed", out_dir / "homes" / strategy)
        homes[strategy] = _runtime(out_dir / "homes" / strategy, config)
        weights[strategy] = seed_weights
        results.append(
            RoundResult(strategy, 0, 0, 0, **seed_eval, train_s=seed_s, dataset_id=dataset.dataset_id, weights="")
        )
    labels = 0
    hard_labels = dict.fromkeys(config.strategies, 0)
    for round_number in range(1, config.rounds + 1):
        chosen = 0
        for strategy in config.strategies:  # mining first: the others label as many frames as it selected
            runtime, model = homes[strategy], weights[strategy]
            batch_key, selected = _walk_round(runtime, strategy, model, chosen, videos, config, round_number)
            if strategy == "mining":
                chosen = selected
                labels += chosen
                say(f"seed {seed} round {round_number}: {chosen} frames selected by mining, as many by the others")
            hard_labels[strategy] += _hard_selected(runtime.catalog, batch_key, videos)
            version = build_training_dataset(runtime.catalog, runtime.store, DatasetConfig(split=split))
            run_dir = out_dir / "runs" / f"{strategy}-round{round_number}"
            weights[strategy], train_s = _train(runtime, version, run_dir, config)
            metrics = _evaluate(weights[strategy], version, config, _test_subsets(runtime.catalog, version, videos))
            results.append(
                RoundResult(
                    strategy,
                    round_number,
                    labels,
                    hard_labels[strategy],
                    **metrics,
                    train_s=train_s,
                    dataset_id=version.dataset_id,
                    weights=str(weights[strategy]),
                )
            )
            say(
                f"seed {seed} round {round_number} {strategy}: test mAP50-95 {metrics['map50_95']:.3f}, "
                f"rare {metrics['hard_map50_95']:.3f} ({hard_labels[strategy]} hard frames labelled)"
            )
    return LoopReport(
        tuple(results),
        seed_labels=len(dataset.manifest.frames_in("train")),
        test_images=len(dataset.manifest.frames_in("test")),
        hard_test_images=len(subsets["hard"]),
        duration_s=time.monotonic() - started,
        config=config,
        reviews={strategy: _reviews(runtime) for strategy, runtime in homes.items()},
    )


def _generate_videos(folder: Path, config: ProvingGroundConfig) -> _Videos:
    videos = _Videos()
    next_seed = iter(range(config.seed * 1000 + 1, config.seed * 1000 + 1000))
    hard = HardCases(share=config.hard_share)

    def make(count: int) -> list[SyntheticVideo]:
        made = [
            generate(folder, seed=next(next_seed), seconds=config.video_seconds, size=config.size, hard_cases=hard)
            for _ in range(count)
        ]
        for video in made:
            videos.truth[video.video_path.name] = load_truth(video.truth_path)
        return made

    videos.seed, videos.val, videos.test = make(config.seed_videos), make(config.val_videos), make(config.test_videos)
    videos.pool = [make(config.pool_videos) for _ in range(config.rounds)]
    return videos


def _runtime(home: Path, config: ProvingGroundConfig) -> Runtime:
    """A strategy's engine home: the synthetic videos' classes, the round's budget, work in process. The gate keeps
    the product's rules except the first model's quality floor: the seed model starts the loop whatever it scores."""
    settings = Settings(
        home=home,
        classes=tuple(CLASS_NAMES[class_id] for class_id in sorted(CLASS_NAMES)),
        detector_imgsz=160,
        compute="inprocess",
        workers=1,
        settle_seconds=0.0,
        clip_seconds=config.clip_seconds,
        batch_max_videos=1000,
        budget_per_day=config.budget,
        gate_min_map50=0.0,
    )
    return Runtime(settings)


@contextmanager
def _stage_context(runtime: Runtime, weights: Path | None, budget_day: str | None = None) -> Iterator[StageContext]:
    """The context the pipeline's steps run with: the strategy's current model (none in the seed phase, a cold
    start) and the round as the budget's day."""
    settings = runtime.settings
    detectors = load_detectors(replace(settings, detectors=(str(weights),))) if weights is not None else []
    with compute_backend(settings) as backend:
        yield StageContext(runtime.catalog, runtime.store, settings, backend, detectors, budget_day=budget_day)


def _record_batch(context: StageContext, videos: Sequence[SyntheticVideo]) -> str:
    """Record the videos as one new batch (the pipeline's steps bring them in) and return its key."""
    paths = [str(video.video_path) for video in videos]
    report = ingest(context.catalog, None, context.settings, paths, watch_inbox=False, origin="proving-ground")
    if len(report.new_batches) != 1:
        raise ProvingGroundError(f"expected the videos to form one new batch, got {len(report.new_batches)}")
    return report.new_batches[0]


def _walk_round(
    runtime: Runtime,
    strategy: str,
    weights: Path,
    count: int,
    videos: _Videos,
    config: ProvingGroundConfig,
    round_number: int,
) -> tuple[str, int]:
    """A strategy's round through the product's steps: the round's pool videos as a new batch, mined, selected by
    the strategy (`count` frames unless it is mining), autolabelled with its current model, pushed and answered.
    Returns the batch's key and how many frames were selected."""
    with _stage_context(runtime, weights, f"round-{round_number}") as context:
        batch_key = _record_batch(context, videos.pool[round_number - 1])
        walk_batch(context, batch_key, round_steps(strategy_selection(strategy, count, config, round_number)))
        selected = len(context.catalog.selected_frames(batch_key=batch_key))
        if selected == 0:
            raise ProvingGroundError(
                f"round {round_number}: {strategy} selected no frame; give a larger budget or pool"
            )
        _push_and_answer(context, videos)
    return batch_key, selected


def round_steps(selection: BatchStep[Any]) -> tuple[BatchStep[Any], ...]:
    """The product's per-batch steps (stages/pipeline.py) with the strategy's `selection` in place of its own."""
    return tuple(selection if step.name == SELECTION.name else step for step in BATCH_STEPS)


def strategy_selection(strategy: str, count: int, config: ProvingGroundConfig, round_number: int) -> BatchStep[Any]:
    """The strategy's selection step: the engine's own for mining (its triggers, trigger yields and budget), else
    `count` frames (as many as mining chose) drawn at random or by uncertainty under the current model."""
    if strategy == "mining":
        return SELECTION
    seed = config.seed * 1000 + round_number
    if strategy == "random":

        def run(context: StageContext, batch_key: str) -> None:
            _select_random(context, batch_key, count, seed)

    else:

        def run(context: StageContext, batch_key: str) -> None:
            _select_uncertain(context, batch_key, count, seed)

    return BatchStep(SELECTION.name, run, SELECTION.needs, f"{count} frames chosen by the {strategy} strategy")


def _truth_of(catalog: Catalog, clip: Clip, videos: _Videos) -> GroundTruth:
    video = catalog.get_video(clip.video_id)
    if video is None:
        raise ProvingGroundError(f"clip {clip.id} belongs to no registered video")
    return videos.truth[Path(video.source_uri).name]


def _test_frame(config: ProvingGroundConfig) -> Callable[[bool, int], bool]:
    def wanted(hard: bool, frame: int) -> bool:
        return frame % (config.hard_eval_every if hard else config.eval_every) == 0

    return wanted


def _select_every(
    runtime: Runtime, batch_key: str, wanted: Callable[[bool, int], bool], day: str, videos: _Videos
) -> None:
    """Select the frames of the batch's clips that `wanted(under a hard condition, video frame)` accepts (the seed
    set and the fixed val/test sets)."""
    catalog = runtime.catalog
    clips = catalog.clips(batch_key=batch_key, status=ClipState.EXTRACTED)
    rows = []
    for clip in clips:
        hard = _truth_of(catalog, clip, videos).hard_frames()
        features = read_features(runtime.store.fetch(features_key(clip)))
        for frame, phash in zip(features["frame_index"], features["phash"], strict=True):
            video_frame = clip.first_frame + int(frame)
            if wanted(video_frame in hard, video_frame):
                rows.append(_selected_row(clip.id, int(frame), int(phash), day, {"trigger": day}))
    record_chosen_frames(catalog, rows, detail={"set": day})


def _selected_row(clip_id: str, frame: int, phash: int, day: str, reasons: Mapping[str, Any]) -> dict[str, object]:
    return {"clip_id": clip_id, "frame": frame, "phash": phash, "reasons": dict(reasons), "budget_day": day}


def _pool_frames(context: StageContext, batch_key: str) -> list[tuple[Clip, int, int]]:
    """Every frame of the batch's mined clips with its phash: (clip, frame, phash)."""
    pool = []
    for clip in context.catalog.clips(batch_key=batch_key, status=ClipState.MINED):
        features = read_features(context.store.fetch(features_key(clip)))
        pool += [(clip, int(f), int(h)) for f, h in zip(features["frame_index"], features["phash"], strict=True)]
    return pool


def _select_random(context: StageContext, batch_key: str, count: int, seed: int) -> None:
    """`count` frames drawn uniformly from every frame of the batch (the same budget, no mining)."""
    pool = _pool_frames(context, batch_key)
    chosen = random.Random(seed).sample(pool, min(count, len(pool)))
    _record(context.catalog, [(clip.id, frame, phash) for clip, frame, phash in chosen], "random")


def _record(catalog: Catalog, frames: Sequence[tuple[str, int, int]], trigger: str) -> None:
    record_chosen_frames(
        catalog,
        [_selected_row(clip_id, frame, phash, trigger, {"trigger": trigger}) for clip_id, frame, phash in frames],
    )


def frame_uncertainty(detections: Detections) -> float:
    """Least-confidence uncertainty of a frame: 1 for a box at confidence 0.5, falling to 0 at 0 and 1; the frame
    counts as its most uncertain box (0 when it holds none)."""
    if not len(detections):
        return 0.0
    return float(np.max(1.0 - np.abs(2.0 * detections.confidence - 1.0)))


def _select_uncertain(context: StageContext, batch_key: str, count: int, seed: int) -> None:
    """The `count` least confident frames under the current model, through the engine's selection function (its
    near-duplicate suppression and spread over videos and clips); random frames top up when too few hold a box."""
    catalog, store = context.catalog, context.store
    mining = MiningConfig.from_settings(context.settings)
    (detector,) = context.detectors
    pool = _pool_frames(context, batch_key)
    phash = {(clip.id, frame): value for clip, frame, value in pool}
    candidates = []
    for clip in catalog.clips(batch_key=batch_key, status=ClipState.MINED):
        found = detect_for_mining(store.fetch(clip.path), detector, every=mining.detector_every)
        for frame, detections in found.items():
            score = frame_uncertainty(detections)
            if score > 0:
                candidates.append(
                    FrameCandidate(clip.id, clip.video_id, frame, phash[(clip.id, frame)], UNCERTAINTY, score)
                )
    existing = np.array([frame.phash for frame in catalog.selected_frames()], dtype=np.uint64)
    selection = select_frames(
        candidates,
        count,
        existing_hashes=existing,
        max_distance=mining.duplicate_distance,
        max_per_clip=mining.max_per_clip,
    )
    chosen = [(frame.clip_id, frame.frame, frame.phash) for frame in selection.frames]
    taken = {(clip_id, frame) for clip_id, frame, _ in chosen}
    rest = [(clip.id, frame, value) for clip, frame, value in pool if (clip.id, frame) not in taken]
    top_up = random.Random(seed).sample(rest, min(count - len(chosen), len(rest)))
    record_chosen_frames(
        catalog,
        [_uncertain_row(frame) for frame in selection.frames]
        + [_selected_row(clip_id, frame, value, "random", {"trigger": "random"}) for clip_id, frame, value in top_up],
    )


def _uncertain_row(frame: ChosenFrame) -> dict[str, object]:
    reasons = {"trigger": frame.trigger, "reasons": [reason.to_dict() for reason in frame.reasons]}
    return _selected_row(frame.clip_id, frame.frame, frame.phash, UNCERTAINTY, reasons)


def _hard_selected(catalog: Catalog, batch_key: str, videos: _Videos) -> int:
    """How many of the frames selected in the batch are under a hard condition."""
    hard = {
        clip.id: {frame - clip.first_frame for frame in _truth_of(catalog, clip, videos).hard_frames()}
        for clip in catalog.clips(batch_key=batch_key)
    }
    return sum(frame.frame in hard[frame.clip_id] for frame in catalog.selected_frames(batch_key=batch_key))


def _push_and_answer(context: StageContext, videos: _Videos) -> None:
    """The pipeline's push (autolabelled clips; selected ones in the seed phase, a cold start), then the simulated
    annotator answers every task from the ground truth and the answers are imported."""
    pushed = PUSH.run(context)
    if pushed.run_id is None:
        raise ProvingGroundError("nothing was selected, so there is nothing to annotate")
    run = _run(context.catalog, pushed.run_id)
    answered = _answer_from_truth(context.catalog, run, lambda source: videos.truth[Path(source).name])
    import_answers(context.catalog, context.store, answered)


def answer_bundle_from_truth(runtime: Runtime, run_id: str, truth: Mapping[str, GroundTruth]) -> Path:
    """The simulated annotator: answer every frame of bundle `run_id` with the true boxes (objects at least 40 %
    visible) of its frame, in the bundle's answer format; `truth` maps a video's file name to its ground truth.
    Returns the answered file, ready for `import_answers`."""
    catalog = runtime.catalog
    return _answer_from_truth(catalog, _run(catalog, run_id), lambda source: truth[Path(source).name])


def answer_bundle_from_truth_files(catalog: Catalog, bundle: Path, truth_dir: Path | None = None) -> AnswerReport:
    """The simulated annotator as a command (`proving-ground answer BUNDLE`), for demos and tests of the loop on
    synthetic videos: the pushed bundle (its folder or zip) is answered from the truth file `synth` wrote beside
    each video (`<video>.truth.json`, or in `truth_dir`), as a person would, in the bundle's answer format."""
    run = bundle_run(pushed_runs(catalog), bundle)
    if run is None:
        raise ProvingGroundError(f"{bundle} is not a bundle this engine pushed (`data-engine push` prints their paths)")
    truths: dict[str, GroundTruth] = {}

    def truth_of(source: str) -> GroundTruth:
        path = (truth_dir or Path(source).parent) / f"{Path(source).stem}.truth.json"
        if source not in truths:
            truths[source] = load_truth(path)
        return truths[source]

    return AnswerReport(_answer_from_truth(catalog, run, truth_of), len(run.frames))


@dataclass(frozen=True)
class AnswerReport:
    """The answer file the simulated annotator wrote and how many frames it answered."""

    path: Path
    frames: int


def _answer_from_truth(catalog: Catalog, run: AnnotationRun, truth_of: Callable[[str], GroundTruth]) -> Path:
    """Answer every frame of `run` with the true boxes of its frame; `truth_of(source_uri)` is a video's truth."""
    clips: dict[str, tuple[GroundTruth, int]] = {}
    answers = {}
    for frame in run.frames:
        if frame.clip_id not in clips:
            clip = catalog.get_clip(frame.clip_id)
            video = catalog.get_video(clip.video_id) if clip is not None else None
            if clip is None or video is None:
                raise ProvingGroundError(f"clip {frame.clip_id} of run {run.run_id} belongs to no registered video")
            clips[clip.id] = (truth_of(video.source_uri), clip.first_frame)
        video_truth, first_frame = clips[frame.clip_id]
        boxes = video_truth.boxes_at(first_frame + frame.frame, min_visibility=MIN_LABEL_VISIBILITY)
        answers[(frame.clip_id, frame.frame)] = FrameAnswer(_in_run_classes(boxes, run), annotator=ANNOTATOR)
    return answer_bundle(run, answers)


def _in_run_classes(boxes: Detections, run: AnnotationRun) -> Detections:
    """The true boxes with the bundle's class ids, matched by name: the annotator labels with the bundle's classes."""
    ids = {name: class_id for class_id, name in run.names.items()}
    missing = sorted({boxes.names[int(class_id)] for class_id in boxes.class_id} - set(ids))
    if missing:
        raise ProvingGroundError(
            f"the bundle's classes ({', '.join(run.names.values())}) lack {', '.join(missing)} of the synthetic "
            f"videos: push them with DATA_ENGINE_CLASSES={','.join(CLASS_NAMES.values())}"
        )
    class_id = np.array([ids[boxes.names[int(value)]] for value in boxes.class_id], dtype=boxes.class_id.dtype)
    return Detections(boxes.xyxy, boxes.confidence, class_id, boxes.track_id, boxes.provenance, run.names)


def _run(catalog: Catalog, run_id: str) -> AnnotationRun:
    for record in catalog.annotation_runs():
        if record.id == run_id:
            return AnnotationRun.from_json(record.record)
    raise ProvingGroundError(f"annotation run {run_id} is not in the catalog")


def _reviews(runtime: Runtime) -> dict[str, list[int]]:
    """Frames reviewed and frames changed per trigger ("all": every reviewed frame with pre-annotations)."""
    metrics = review_metrics(review_history(runtime.catalog, runtime.store))
    counts = {name: [s.frames, s.changed_frames] for name, s in metrics.per_trigger.items()}
    return {**counts, "all": [metrics.overall.frames, metrics.overall.changed_frames]}


def _split_config(catalog: Catalog, videos: _Videos) -> SplitConfig:
    """Everything selected goes to train; the fixed videos are assigned to val and test once and for all."""
    by_name = {Path(video.source_uri).name: video.id for video in catalog.videos()}
    val = {by_name[v.video_path.name] for v in videos.val}
    test = {by_name[v.video_path.name] for v in videos.test}
    return SplitConfig(fractions=(1.0, 0.0, 0.0), assign={**dict.fromkeys(val, "val"), **dict.fromkeys(test, "test")})


def _test_subsets(catalog: Catalog, dataset: DatasetVersion, videos: _Videos) -> dict[str, list[Any]]:
    """The test split's frames under a hard condition: the rare-case slice."""
    subsets: dict[str, list[Any]] = {"hard": []}
    clips: dict[str, Clip] = {}
    for frame in dataset.manifest.frames_in("test"):
        clip = clips.get(frame.clip_id) or catalog.get_clip(frame.clip_id)
        if clip is None:
            raise ProvingGroundError(f"test frame of unknown clip {frame.clip_id}")
        clips[clip.id] = clip
        if _truth_of(catalog, clip, videos).conditions_at(clip.first_frame + frame.frame):
            subsets["hard"].append(frame)
    return subsets


def _evaluate(
    weights: Path, dataset: DatasetVersion, config: ProvingGroundConfig, subsets: Mapping[str, Sequence[Any]]
) -> dict[str, float]:
    evaluation = evaluate_model(weights, dataset, imgsz=config.imgsz, split="test", subsets=subsets)
    hard = evaluation.per_slice.get("hard", {"map50": math.nan, "map50_95": math.nan})
    return {
        "map50": evaluation.map50,
        "map50_95": evaluation.map50_95,
        "hard_map50": hard["map50"],
        "hard_map50_95": hard["map50_95"],
    }


def _train(
    runtime: Runtime, dataset: DatasetVersion, run_dir: Path, config: ProvingGroundConfig, scratch: Path | None = None
) -> tuple[Path, float]:
    """Train a candidate as the product does, through the registry and its gate (the seed model from the `scratch`
    architecture, later ones fine-tuned from the champion); the champion's weights after the gate, and the seconds
    training took."""
    training = TrainingConfig(
        model=str(scratch or ""),
        epochs=config.seed_epochs if scratch else config.epochs,
        imgsz=config.imgsz,
        batch=config.batch,
        seed=config.seed,
        budget_s=1800.0,
        grace_s=60.0,
        options={
            "optimizer": "AdamW",
            "lr0": 0.004 if scratch else 0.002,
            "warmup_epochs": 1 if scratch else 0,
        },
    )
    registry = registry_for(runtime.catalog, runtime.store, runtime.settings)
    try:
        candidate = run_candidate(
            runtime.catalog, registry, dataset, training, run_dir, run_id=run_dir.name, from_champion=scratch is None
        )
    except TrainingError as error:
        raise ProvingGroundError(f"training on {dataset.dataset_id} failed: {error}") from error
    champion = registry.champion()
    if champion is None:
        raise ProvingGroundError(f"the gate left no champion after training run {run_dir.name}: {candidate.verdict}")
    return registry.weights_path(champion.id), candidate.training.duration_s
