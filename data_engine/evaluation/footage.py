"""The engine measured on real footage with labels made by people (MOTChallenge ground truth).

The configured detectors run over the video as the autolabel stage runs them (`autolabel_clip`: streamed
detection, then hindsight tracking, gap filling and fusion), and both their raw per-frame boxes and the hindsight
labels are scored against the ground truth; a MOTChallenge result file of any other tool can be scored instead.

Scoring follows MOTChallenge's rules as TrackEval applies them: ground-truth boxes marked 0 are ignored, only the
pedestrian class (or every box, in files without a class column) is evaluated, and a predicted box that matches a
distractor class (person on a vehicle, static person, distractor, reflection) or a box less visible than
`min_visibility` (IoU >= 0.5) is dropped rather than counted as a false positive. Then:

- detection: precision, recall and F1 at IoU 0.5 (one-to-one Hungarian matching per frame), and AP50 from the
  boxes' confidences (pycocotools' COCOeval; boxes without a confidence count as 1);
- tracking: HOTA, MOTA, IDF1 (and MOTP, ID switches) from TrackEval's metric classes;
- triggers: the engine's triggers run on the same frames and detections; a trigger's error rate is the share of
  the frames it flags where the labels are wrong (a missed or a false box at IoU 0.5), its lift that rate over
  the error rate of all frames.
"""

from __future__ import annotations

import configparser
import contextlib
import io
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np

from data_engine.autolabel import HindsightParams, autolabel_clip
from data_engine.autolabel.evaluation import Metrics
from data_engine.detections import Detections, box_iou, match_boxes
from data_engine.detectors import Detector
from data_engine.errors import EngineError
from data_engine.evaluation.mot import DISTRACTOR_CLASSES, PEDESTRIAN, MotTable, read_mot
from data_engine.mining.features import compute_features
from data_engine.mining.triggers import Hit, run_triggers

IOU = 0.5
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
Progress = Callable[[str], None]


class FootageError(EngineError, ValueError):
    """Footage or settings the evaluator cannot use; the message says what to give instead."""


@dataclass(frozen=True)
class DetectionScores:
    """Boxes against the ground truth at IoU 0.5 (`counts`: precision, recall, F1); `ap50` None when there is no
    ground truth to rank against."""

    counts: Metrics
    ap50: float | None

    def to_json(self) -> dict[str, Any]:
        return {**self.counts.as_dict(), "ap50": None if self.ap50 is None else round(self.ap50, 4)}


@dataclass(frozen=True)
class TrackingScores:
    """TrackEval's figures for one set of tracks (HOTA averaged over its IoU thresholds)."""

    hota: float
    deta: float
    assa: float
    mota: float
    motp: float
    idf1: float
    id_switches: int

    def to_json(self) -> dict[str, Any]:
        return {key: round(value, 4) if isinstance(value, float) else value for key, value in asdict(self).items()}


@dataclass(frozen=True)
class TriggerLift:
    """Frames a trigger flags, the share of them where each set of labels is wrong, and that share over the error
    rate of all frames (`lift` None when no frame at all is wrong)."""

    trigger: str
    frames: int
    error_rate: dict[str, float]
    lift: dict[str, float | None]


@dataclass(frozen=True)
class FootageReport:
    """Everything `data-engine evaluate` prints, per label source ("raw <model>", "hindsight", "predictions")."""

    source: str
    ground_truth: str
    frames: int
    gt_boxes: int
    evaluated_class: str
    detection: dict[str, DetectionScores]
    tracking: dict[str, TrackingScores]
    base_error_rate: dict[str, float]
    triggers: tuple[TriggerLift, ...]
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "ground_truth": self.ground_truth,
            "frames": self.frames,
            "gt_boxes": self.gt_boxes,
            "evaluated_class": self.evaluated_class,
            "detection": {name: scores.to_json() for name, scores in self.detection.items()},
            "tracking": {name: scores.to_json() for name, scores in self.tracking.items()},
            "base_error_rate": {name: round(rate, 4) for name, rate in self.base_error_rate.items()},
            "triggers": [asdict(row) for row in self.triggers],
            "notes": list(self.notes),
        }

    def lines(self) -> list[str]:
        """The report as a person reads it: three small tables and the notes."""
        out = [
            f"{self.source}: {self.frames} frames, {self.gt_boxes} ground-truth boxes ({self.ground_truth}), "
            f"evaluated: {self.evaluated_class}",
            "",
            "| labels | precision | recall | F1 | mAP50 | TP | FP | FN |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for name, scores in self.detection.items():
            ap, counts = "n/a" if scores.ap50 is None else f"{scores.ap50:.3f}", scores.counts
            out.append(
                f"| {name} | {counts.precision:.3f} | {counts.recall:.3f} | {counts.f1:.3f} | {ap} | "
                f"{counts.true_positives} | {counts.false_positives} | {counts.false_negatives} |"
            )
        out += ["", "| tracks | HOTA | DetA | AssA | MOTA | MOTP | IDF1 | ID switches |", "| --- |" + " --- |" * 7]
        for name, track in self.tracking.items():
            out.append(
                f"| {name} | {track.hota:.3f} | {track.deta:.3f} | {track.assa:.3f} | {track.mota:.3f} | "
                f"{track.motp:.3f} | {track.idf1:.3f} | {track.id_switches} |"
            )
        sources = list(self.base_error_rate)
        header = " | ".join(f"{name} error rate | lift" for name in sources)
        out += ["", f"| trigger | frames | {header} |", "| --- | --- |" + " --- | --- |" * len(sources)]
        base = " | ".join(f"{self.base_error_rate[name]:.3f} | 1.00" for name in sources)
        out.append(f"| (all frames) | {self.frames} | {base} |")
        for row in self.triggers:
            cells = " | ".join(
                f"{row.error_rate[name]:.3f} | " + ("-" if row.lift[name] is None else f"{row.lift[name]:.2f}")
                for name in sources
            )
            out.append(f"| {row.trigger} | {row.frames} | {cells} |")
        return out + [f"note: {note}" for note in self.notes]


# ---- footage ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Footage:
    """Where the frames and the ground truth of an evaluation come from."""

    video: Path | None
    frame_count: int | None
    ground_truth: Path | None


def locate(source: str | Path | None, ground_truth: str | Path | None) -> Footage:
    """Resolve what the user gave: a video file, a folder of frames, or a MOTChallenge sequence folder (seqinfo.ini,
    img1/, gt/gt.txt); the ground truth defaults to the sequence's gt/gt.txt. Frames of a folder are read later by
    `frames_video`."""
    if source is None:
        if ground_truth is None:
            raise FootageError("give the footage (a video, a folder of frames or a sequence folder) and/or --gt FILE")
        given = Path(ground_truth)
        return Footage(None, _seqinfo_length(given.parent.parent), given)
    path = Path(source)
    if not path.exists():
        raise FootageError(f"{path} does not exist; give a video file, a folder of frames or a sequence folder")
    gt_path = Path(ground_truth) if ground_truth is not None else None
    if path.is_file():
        return Footage(path, None, gt_path)
    info = _seqinfo(path)
    frames_dir = path / info.get("imdir", "img1") if (path / "seqinfo.ini").is_file() else path
    if gt_path is None and (path / "gt" / "gt.txt").is_file():
        gt_path = path / "gt" / "gt.txt"
    if not _images(frames_dir):
        raise FootageError(f"{frames_dir} holds no frames ({', '.join(IMAGE_SUFFIXES)} files)")
    return Footage(frames_dir, len(_images(frames_dir)), gt_path)


def _seqinfo(folder: Path) -> dict[str, str]:
    parser = configparser.ConfigParser()
    if not (folder / "seqinfo.ini").is_file():
        return {}
    parser.read(folder / "seqinfo.ini")
    return dict(parser["Sequence"]) if parser.has_section("Sequence") else {}


def _seqinfo_length(folder: Path) -> int | None:
    length = _seqinfo(folder).get("seqlength")
    return int(length) if length and length.isdigit() else None


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES) if folder.is_dir() else []


@contextmanager
def frames_video(path: Path) -> Iterator[Path]:
    """A video file of the footage: the file itself, or a folder's frames (in name order) encoded losslessly
    (FFV1) into a temporary file, so the engine's video readers see exactly the annotated pixels."""
    if path.is_file():
        yield path
        return
    images = _images(path)
    with tempfile.TemporaryDirectory(prefix="data-engine-evaluate-") as scratch:
        video = Path(scratch) / "frames.mkv"
        first = cv2.imread(str(images[0]))
        if first is None:
            raise FootageError(f"{images[0]} is not an image OpenCV can read")
        height, width = first.shape[:2]
        with av.open(str(video), "w") as container:
            stream = container.add_stream("ffv1", rate=Fraction(25))
            stream.width, stream.height, stream.pix_fmt = width, height, "bgr0"
            for image_path in images:
                image = cv2.imread(str(image_path))
                if image is None or image.shape[:2] != (height, width):
                    raise FootageError(f"{image_path} is not a {width}x{height} image like the first frame")
                pixels = np.asarray(image, dtype=np.uint8)
                frame = av.VideoFrame.from_ndarray(pixels, format="bgr24").reformat(format="bgr0")
                container.mux(stream.encode(frame))
            container.mux(stream.encode(None))
        yield video


# ---- matching -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Frame:
    """One frame after MOTChallenge's preprocessing: the ground truth to find and the boxes that count."""

    gt_xyxy: np.ndarray
    gt_ids: np.ndarray
    xyxy: np.ndarray
    ids: np.ndarray
    confidence: np.ndarray


def _prepare(gt: MotTable, predicted: Sequence[Detections | None], min_visibility: float) -> list[_Frame]:
    """Per frame: drop predicted boxes on distractors and on barely visible objects, keep the ground truth that is
    evaluated (mark not 0, pedestrian class, visible enough)."""
    frames = []
    for index, found in enumerate(predicted):
        rows = gt.rows_at(index + 1)
        gt_xyxy = gt.xyxy[rows]
        boxes = found if found is not None else Detections.empty()
        counted = (gt.confidence[rows] != 0) & (gt.class_id[rows] == PEDESTRIAN)
        dont_care = np.isin(gt.class_id[rows], DISTRACTOR_CLASSES) | (counted & (gt.visibility[rows] < min_visibility))
        keep = np.ones(len(boxes), dtype=bool)
        if len(boxes) and dont_care.any():
            rows_matched, columns = _match(boxes.xyxy, gt_xyxy)
            keep[rows_matched[dont_care[columns]]] = False
        evaluated = counted & ~dont_care
        track_ids = boxes.track_id if boxes.track_id is not None else np.full(len(boxes), -1)
        frames.append(
            _Frame(
                gt_xyxy[evaluated],
                gt.track_id[rows][evaluated],
                boxes.xyxy[keep],
                track_ids[keep],
                boxes.confidence[keep],
            )
        )
    return frames


def _match(predicted: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One-to-one matches at IoU >= 0.5 maximising the total IoU: (predicted rows, truth columns)."""
    pairs = match_boxes(predicted, truth, IOU)
    return pairs.first, pairs.second


def detection_scores(frames: Sequence[_Frame], threshold: float = 0.0) -> DetectionScores:
    """Precision, recall and F1 of the boxes at `threshold` or above; AP50 over all their confidences."""
    tp = fp = fn = 0
    for frame in frames:
        sure = frame.confidence >= threshold
        rows, _ = _match(frame.xyxy[sure], frame.gt_xyxy)
        tp += len(rows)
        fp += int(sure.sum()) - len(rows)
        fn += len(frame.gt_xyxy) - len(rows)
    return DetectionScores(Metrics(tp, fp, fn, len(frames)), ap50(frames))


def ap50(frames: Sequence[_Frame]) -> float | None:
    """COCO average precision at IoU 0.5 (pycocotools: greedy matching by confidence, 101 recall points); None
    without ground truth."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    images = [{"id": index + 1} for index in range(len(frames))]
    truth: list[dict[str, Any]] = []
    found: list[dict[str, Any]] = []
    for image, frame in zip(images, frames, strict=True):
        for box in frame.gt_xyxy:
            x1, y1, x2, y2 = (float(value) for value in box)
            width, height = x2 - x1, y2 - y1
            truth.append(
                {
                    "id": len(truth) + 1,
                    "image_id": image["id"],
                    "category_id": 1,
                    "bbox": [x1, y1, width, height],
                    "area": width * height,
                    "iscrowd": 0,
                }
            )
        for box, score in zip(frame.xyxy, frame.confidence, strict=True):
            x1, y1, x2, y2 = (float(value) for value in box)
            found.append(
                {"image_id": image["id"], "category_id": 1, "bbox": [x1, y1, x2 - x1, y2 - y1], "score": float(score)}
            )
    if not truth:
        return None
    if not found:
        return 0.0
    with contextlib.redirect_stdout(io.StringIO()):
        reference = COCO()
        reference.dataset = {"images": images, "annotations": truth, "categories": [{"id": 1, "name": "object"}]}
        reference.createIndex()
        evaluation = COCOeval(reference, reference.loadRes(found), "bbox")
        evaluation.params.iouThrs = np.array([IOU])
        evaluation.params.maxDets = [max(100, max(len(frame.xyxy) for frame in frames))]
        evaluation.params.areaRng = [[0.0, 1e12]]
        evaluation.params.areaRngLbl = ["all"]
        evaluation.evaluate()
        evaluation.accumulate()
    precision = evaluation.eval["precision"][0, :, 0, 0, 0]
    return float(np.mean(np.maximum(precision, 0.0)))


def frame_errors(frames: Sequence[_Frame], threshold: float = 0.0) -> np.ndarray:
    """Per frame: are the boxes at `threshold` wrong anywhere (an object missed or a box on nothing)?"""
    wrong = np.zeros(len(frames), dtype=bool)
    for index, frame in enumerate(frames):
        sure = frame.xyxy[frame.confidence >= threshold]
        rows, _ = _match(sure, frame.gt_xyxy)
        wrong[index] = len(rows) < max(len(sure), len(frame.gt_xyxy))
    return wrong


def tracking_scores(frames: Sequence[_Frame]) -> TrackingScores:
    """HOTA, CLEAR (MOTA, MOTP, ID switches) and identity (IDF1) metrics of TrackEval on the tracks."""
    from trackeval.metrics import CLEAR, HOTA, Identity

    gt_ids = _contiguous([frame.gt_ids for frame in frames])
    tracker_ids = _contiguous([frame.ids for frame in frames])
    data = {
        "num_timesteps": len(frames),
        "num_gt_ids": len({int(i) for ids in gt_ids for i in ids}),
        "num_tracker_ids": len({int(i) for ids in tracker_ids for i in ids}),
        "num_gt_dets": sum(len(ids) for ids in gt_ids),
        "num_tracker_dets": sum(len(ids) for ids in tracker_ids),
        "gt_ids": gt_ids,
        "tracker_ids": tracker_ids,
        "similarity_scores": [box_iou(frame.gt_xyxy, frame.xyxy).astype(np.float64) for frame in frames],
    }
    quiet = {"PRINT_CONFIG": False}
    hota = HOTA(quiet).eval_sequence(data)
    clear = CLEAR(quiet).eval_sequence(data)
    identity = Identity(quiet).eval_sequence(data)
    return TrackingScores(
        hota=float(np.mean(hota["HOTA"])),
        deta=float(np.mean(hota["DetA"])),
        assa=float(np.mean(hota["AssA"])),
        mota=float(clear["MOTA"]),
        motp=float(clear["MOTP"]),
        idf1=float(identity["IDF1"]),
        id_switches=int(clear["IDSW"]),
    )


def _contiguous(per_frame: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Ids renumbered 0..n-1 (TrackEval indexes arrays with them)."""
    known = np.unique(np.concatenate([np.asarray(ids, dtype=np.int64) for ids in per_frame] or [np.zeros(0, np.int64)]))
    lookup = {int(value): index for index, value in enumerate(known)}
    return [np.array([lookup[int(i)] for i in ids], dtype=np.int64) for ids in per_frame]


def trigger_lifts(hits: Sequence[Hit], errors: Mapping[str, np.ndarray]) -> tuple[dict[str, float], list[TriggerLift]]:
    """Error rate of all frames per label source, and of the frames each trigger flags, with the lift."""
    frames = len(next(iter(errors.values())))
    base = {name: float(wrong.mean()) if frames else 0.0 for name, wrong in errors.items()}
    flagged: dict[str, np.ndarray] = {}
    for hit in hits:
        mask = flagged.setdefault(hit.trigger, np.zeros(frames, dtype=bool))
        mask[max(0, hit.first_frame) : min(frames, hit.last_frame + 1)] = True
    rows = []
    for trigger, mask in sorted(flagged.items()):
        rates = {name: float(wrong[mask].mean()) if mask.any() else 0.0 for name, wrong in errors.items()}
        rows.append(
            TriggerLift(
                trigger,
                int(mask.sum()),
                {name: round(rate, 4) for name, rate in rates.items()},
                {name: round(rates[name] / base[name], 3) if base[name] else None for name in errors},
            )
        )
    return base, rows


# ---- the evaluation ------------------------------------------------------------------------------------------------


def _class_ids(names: Mapping[int, str], wanted: str) -> set[int]:
    ids = {class_id for class_id, name in names.items() if name == wanted}
    if not ids:
        raise FootageError(
            f"the detectors have no class {wanted!r} (their classes: {', '.join(sorted(names.values()))}); "
            f"give the one that matches the ground truth with --class"
        )
    return ids


def _only(found: Detections | None, ids: set[int]) -> Detections | None:
    return None if found is None else found[np.isin(found.class_id, sorted(ids))]


def table_detections(table: MotTable, frame_count: int) -> list[Detections | None]:
    """A MOTChallenge result file as per-frame boxes (confidences outside 0..1, e.g. -1, count as 1)."""
    confidence = np.where((table.confidence >= 0) & (table.confidence <= 1), table.confidence, 1.0)
    frames: list[Detections | None] = []
    for frame in range(1, frame_count + 1):
        rows = table.rows_at(frame)
        frames.append(
            Detections(table.xyxy[rows], confidence[rows], np.zeros(len(rows), np.int64), table.track_id[rows])
        )
    return frames


def evaluate_footage(
    source: str | Path | None,
    ground_truth: str | Path | None,
    *,
    detectors: Sequence[Detector] = (),
    predictions: str | Path | None = None,
    class_name: str = "person",
    threshold: float = 0.25,
    min_visibility: float = 0.0,
    params: HindsightParams | None = None,
    progress: Progress | None = None,
) -> FootageReport:
    """Score the detectors' raw boxes and hindsight labels (or a result file) against MOTChallenge ground truth."""
    say = progress or (lambda _message: None)
    sequence = locate(source, ground_truth)
    if sequence.ground_truth is None:
        raise FootageError(f"no ground truth: give --gt FILE (a sequence folder has it in gt/gt.txt): {source}")
    if predictions is None and not detectors:
        raise FootageError(
            "no detector configured and no champion in the registry: set DATA_ENGINE_DETECTORS, or score a result "
            "file with --predictions FILE"
        )
    if predictions is None and sequence.video is None:
        raise FootageError("running the detectors needs the footage: give a video, a frame folder or a sequence")
    notes: list[str] = []
    with contextlib.ExitStack() as stack:
        video = stack.enter_context(frames_video(sequence.video)) if sequence.video is not None else None
        frame_count = sequence.frame_count or (_count_frames(video) if video is not None else None)
        gt = read_mot(sequence.ground_truth, frame_count)
        frame_count = frame_count or int(gt.frame.max())
        labels: dict[str, list[Detections | None]] = {}
        thresholds: dict[str, float] = {}
        trigger_detections: list[Detections | None] | None = None
        if predictions is not None:
            table = read_mot(predictions, frame_count, ground_truth=False)
            labels["predictions"] = table_detections(table, frame_count)
            thresholds["predictions"] = 0.0
            trigger_detections = labels["predictions"]
        else:
            assert video is not None
            say(f"detecting and autolabelling {frame_count} frames with {', '.join(d.model_id for d in detectors)}")
            result = autolabel_clip(video, detectors, params or HindsightParams())
            wanted = _class_ids(result.names, class_name)
            for model_id, raw in result.raw.items():
                labels[f"raw {model_id}"] = [_only(found, wanted) for found in raw]
                thresholds[f"raw {model_id}"] = threshold
            labels["hindsight"] = [_only(found, wanted) for found in result.frames]
            thresholds["hindsight"] = 0.0
            trigger_detections = result.raw[detectors[0].model_id]
            notes.append(f"raw boxes count from confidence {threshold} (mAP50 uses all); hindsight labels all count")
        prepared = {name: _prepare(gt, frames, min_visibility) for name, frames in labels.items()}
        detection = {name: detection_scores(frames, thresholds[name]) for name, frames in prepared.items()}
        tracking = {}
        for name, frames in prepared.items():
            if name.startswith("raw "):
                continue
            if any((frame.ids < 0).any() for frame in frames):
                notes.append(f"{name}: boxes without track ids, so no tracking scores")
                continue
            tracking[name] = tracking_scores(frames)
        errors = {name: frame_errors(frames, thresholds[name]) for name, frames in prepared.items()}
        if video is None:
            base = {name: float(wrong.mean()) for name, wrong in errors.items()}
            lifts: list[TriggerLift] = []
            notes.append("no footage given, so no triggers were run (give the video or frames for trigger lift)")
        else:
            say("running the triggers")
            detections_by_frame = {
                index: found for index, found in enumerate(trigger_detections or []) if found is not None
            }
            hits = run_triggers(compute_features(video), detections_by_frame or None)
            base, lifts = trigger_lifts(hits, errors)
    evaluated = "pedestrian (MOT class 1)" if gt.has_classes else "every ground-truth box"
    return FootageReport(
        source=str(source if source is not None else sequence.ground_truth),
        ground_truth=str(sequence.ground_truth),
        frames=frame_count,
        gt_boxes=sum(len(frame.gt_xyxy) for frame in next(iter(prepared.values()))),
        evaluated_class=evaluated + ("" if predictions is not None else f" vs the detectors' {class_name!r}"),
        detection=detection,
        tracking=tracking,
        base_error_rate=base,
        triggers=tuple(lifts),
        notes=tuple(notes),
    )


def _count_frames(video: Path) -> int:
    with av.open(str(video)) as container:
        return sum(1 for _ in container.decode(video=0))
