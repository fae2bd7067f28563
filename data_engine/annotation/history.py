"""What reviewers did so far, rebuilt from the label files: mining weighs its triggers by it, the proving ground
and the reports measure it."""

from pathlib import Path

from data_engine.annotation.base import ReviewedFrame
from data_engine.annotation.metrics import review_metrics
from data_engine.annotation.review import review_records
from data_engine.autolabel.labels import read_labels
from data_engine.catalog import Catalog
from data_engine.store import Store


def review_history(catalog: Catalog, store: Store) -> list[ReviewedFrame]:
    """Every reviewed frame so far, rebuilt from the label files: the human's boxes, the autolabels they started
    from (None on a cold start), who, when, how long, and the triggers that selected the frame."""
    history: list[ReviewedFrame] = []
    for clip in catalog.clips(status=None):
        versions = catalog.label_versions(clip.id)
        reviews = [v for v in versions if v.kind == "review"]
        if not reviews:
            continue
        folder = store.fetch(clip.path).parent
        review = read_labels(folder / "labels" / Path(reviews[-1].path).name)
        autolabels = [v for v in versions if v.kind == "autolabel"]
        before = read_labels(folder / "labels" / Path(autolabels[-1].path).name) if autolabels else None
        reasons = {
            frame.frame: tuple(reason["trigger"] for reason in frame.reasons.get("reasons", []))
            for frame in catalog.selected_frames(clip_id=clip.id)
        }
        for frame, record in review_records(review).items():
            index = int(frame)
            history.append(
                ReviewedFrame(
                    clip_id=clip.id,
                    frame=index,
                    detections=review.frames[index],
                    pre_annotations=None if before is None else before.frames[index],
                    annotator=str(record.get("annotator") or "unknown"),
                    created_at=str(record.get("created_at") or ""),
                    updated_at=str(record.get("updated_at") or ""),
                    lead_time_s=record.get("lead_time_s"),
                    reasons=reasons.get(index, ()),
                    annotation_id=str(record.get("annotation") or ""),
                )
            )
    return history


def review_yield_rates(catalog: Catalog, store: Store, minimum_frames: int = 20) -> dict[str, float]:
    """Per trigger, the share of its reviewed frames that humans changed (only triggers with enough reviews): the
    weights mining's selection gives its triggers."""
    metrics = review_metrics(review_history(catalog, store))
    return {
        trigger: summary.yield_rate
        for trigger, summary in metrics.per_trigger.items()
        if summary.frames >= minimum_frames
    }
