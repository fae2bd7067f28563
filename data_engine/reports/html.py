"""Static HTML reports: look at the data without a server (open the file in any browser, copy the folder anywhere).

- A batch page: every frame selected for annotation as a thumbnail with its boxes drawn over it (autolabels and
  human reviews in their own colours), the triggers and reasons that chose it, and each clip's trigger timeline
  (the PNG beside the clip, drawn when missing).
- A dataset-version page: per-class box and image counts per split, and sample frames of each split with their
  labels.
- An index linking every batch and dataset page.

Pages live in the store under `reports/` with their images copied beside them, so a folder is self-contained.
Boxes are SVG rectangles over the JPEG (pixels untouched, crisp at any zoom); no plotting happens here.
"""

from __future__ import annotations

import html
import shutil
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import cv2
import numpy as np
from PIL import Image

from data_engine.annotation.base import image_name
from data_engine.autolabel import LabelFile, read_labels
from data_engine.catalog import Catalog, Clip
from data_engine.datasets.build import DatasetVersion, load_dataset
from data_engine.datasets.manifest import ManifestFrame
from data_engine.datasets.records import DatasetRecords
from data_engine.detections import Detections
from data_engine.formats import to_detections, yolo
from data_engine.layout import annotation_image_key, reports_key, timeline_key
from data_engine.mining.selection import DIVERSITY_TRIGGER
from data_engine.reports.pictures import draw_missing_pictures
from data_engine.store import Store, atomic_path
from data_engine.video.frames import iter_frames

THUMB_WIDTH = 360
SAMPLES_PER_SPLIT = 12
SOURCE_COLOURS = {"autolabel": "#ff8c00", "review": "#00c853", "label": "#2979ff"}
"""Box colour per label source: the model's autolabels, a human's review, a dataset's training labels."""

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5rem; color: #222; background: #fafafa; }
h1 { font-size: 1.4rem; } h2 { font-size: 1.1rem; margin-top: 2rem; }
table { border-collapse: collapse; margin: .5rem 0; } td, th { border: 1px solid #ccc; padding: .2rem .6rem; }
th { background: #eee; } td.n { text-align: right; }
.legend span { display: inline-block; margin-right: 1rem; } .swatch { width: 1rem; height: .6rem;
  display: inline-block; margin-right: .3rem; vertical-align: middle; }
.grid { display: flex; flex-wrap: wrap; gap: .8rem; }
figure { margin: 0; width: THUMBpx; background: #fff; border: 1px solid #ddd; padding: .3rem; }
.frame { position: relative; width: THUMBpx; } .frame img { width: 100%; display: block; }
.frame svg { position: absolute; left: 0; top: 0; width: 100%; height: 100%; }
figcaption { font-size: .8rem; margin-top: .3rem; } figcaption code { font-size: .75rem; }
.timeline { max-width: 100%; border: 1px solid #ddd; background: #fff; }
""".replace("THUMB", str(THUMB_WIDTH))


@dataclass(frozen=True)
class Thumb:
    """One picture on a page: the image file (relative to the page), its size, boxes per source, caption HTML."""

    image: str
    width: int
    height: int
    boxes: Mapping[str, Detections]
    caption: str


def batch_report_key(batch_key: str) -> str:
    """The store key of a batch's page."""
    return reports_key("batches", _safe(batch_key), "index.html")


def batch_report(catalog: Catalog, store: Store, batch_key: str) -> Path:
    """Write the batch page (selected frames, their boxes and reasons, clip timelines, drawn if missing); returns
    its path."""
    draw_missing_pictures(catalog, store, batch_key)
    folder = store.local_path(reports_key("batches", _safe(batch_key)))
    images = folder / "images"
    images.mkdir(parents=True, exist_ok=True)
    clips = {clip.id: clip for clip in catalog.clips(batch_key=batch_key)}
    selected = catalog.selected_frames(batch_key=batch_key)
    by_clip: dict[str, list] = {}
    for frame in selected:
        by_clip.setdefault(frame.clip_id, []).append(frame)
    hits_by_clip: dict[str, list] = {}
    for hit in catalog.hits(batch_key=batch_key):
        hits_by_clip.setdefault(hit.clip_id, []).append(hit)
    per_trigger: dict[str, int] = {}
    sections = []
    for clip_id in sorted(by_clip):
        clip = clips[clip_id]
        frames = sorted(by_clip[clip_id], key=lambda row: row.frame)
        for row in frames:
            trigger = str(row.reasons.get("trigger", "?"))
            per_trigger[trigger] = per_trigger.get(trigger, 0) + 1
        sources = _label_sources(catalog, store, clip)
        thumbs = []
        video = catalog.get_video(clip.video_id)
        fps = video.fps if video is not None and video.fps else None
        pictures = _thumbnails(store, clip, [row.frame for row in frames], images, fps)
        for row in frames:
            name, width, height = pictures[row.frame]
            caption = _frame_caption(clip, row.frame, row.reasons, hits_by_clip.get(clip_id, []))
            thumbs.append(Thumb(f"images/{name}", width, height, _boxes_at(sources, row.frame), caption))
        timeline = _copy_timeline(store, clip, images)
        sections.append(_clip_section(clip, thumbs, timeline, len(hits_by_clip.get(clip_id, []))))
    counts = ", ".join(f"{html.escape(name)} {count}" for name, count in sorted(per_trigger.items())) or "none"
    body = [
        f"<h1>Batch {html.escape(batch_key)}: frames selected for annotation</h1>",
        f"<p>{len(selected)} frames in {len(by_clip)} of {len(clips)} clips; chosen by: {counts}.</p>",
        *_diversity_note(per_trigger.get(DIVERSITY_TRIGGER, 0), len(selected), sum(map(len, hits_by_clip.values()))),
        _legend(("autolabel", "review")),
        *sections,
    ]
    if not selected:
        body.append("<p>No frame of this batch is selected (yet): mine it first.</p>")
    return _write_page(store, folder / "index.html", f"batch {batch_key}", body)


def _diversity_note(diverse: int, selected: int, hits: int) -> list[str]:
    """What a diversity sample is, in plain words, when the page shows one: on a cold start (every frame, and no
    trigger fired) the frames were not found interesting, they are spread out so the first labels cover the
    footage."""
    if not diverse:
        return []
    if diverse == selected and not hits:
        return [
            '<p class="note"><b>Cold start: these frames are a diversity sample.</b> No detector is in use yet and '
            "no trigger fired on this batch, so nothing here was found interesting: the frames are spread evenly "
            "over its clips and videos, and the most different from each other are taken, so that the first "
            "labels cover the footage. Once a model is trained from them, its own triggers join the mining.</p>"
        ]
    return [
        f'<p class="note">{diverse} of the {selected} frames are a diversity sample: chosen to be unlike the others '
        "and spread over the clips, not because a trigger fired on them.</p>"
    ]


def dataset_report(catalog: Catalog, store: Store, dataset_id: str) -> Path:
    """Write the page of one dataset version (per-class counts per split, sample frames per split)."""
    dataset = load_dataset(catalog, store, dataset_id)
    folder = store.local_path(reports_key("datasets", _safe(dataset_id)))
    images = folder / "images"
    images.mkdir(parents=True, exist_ok=True)
    class_map = dataset.manifest.class_map
    splits = ("train", "val", "test")
    labels = {split: [_dataset_labels(dataset, f) for f in dataset.manifest.frames_in(split)] for split in splits}
    rows = []
    for class_id, name in sorted(class_map.items()):
        cells = []
        for split in splits:
            boxes = sum(int(np.sum(found.class_id == class_id)) for found in labels[split])
            with_class = sum(bool(np.any(found.class_id == class_id)) for found in labels[split])
            cells.append(f'<td class="n">{boxes}</td><td class="n">{with_class}</td>')
        rows.append(f"<tr><td>{html.escape(name)}</td>{''.join(cells)}</tr>")
    totals = "".join(
        f'<td class="n">{sum(f.boxes for f in dataset.manifest.frames_in(s))}</td>'
        f'<td class="n">{len(dataset.manifest.frames_in(s))}</td>'
        for s in splits
    )
    header = "".join(f'<th colspan="2">{split}</th>' for split in splits)
    sub = "<th>boxes</th><th>images</th>" * len(splits)
    body = [
        f"<h1>Dataset {html.escape(dataset_id)}</h1>",
        f"<p>{len(dataset.manifest.frames)} images; class map "
        f"{html.escape(', '.join(f'{k}: {v}' for k, v in sorted(class_map.items())))}.</p>",
        f"<table><tr><th rowspan='2'>class</th>{header}</tr><tr>{sub}</tr>{''.join(rows)}"
        f"<tr><th>all</th>{totals}</tr></table>",
        _legend(("label",)),
    ]
    for split in splits:
        frames = dataset.manifest.frames_in(split)
        chosen = [frames[int(i)] for i in np.linspace(0, len(frames) - 1, min(SAMPLES_PER_SPLIT, len(frames)))]
        thumbs = []
        for frame in chosen if frames else []:
            name, width, height = _copy_image(dataset.image_path(frame), images, f"{split}-{frame.stem}.jpg")
            caption = (
                f"clip <code>{html.escape(frame.clip_id)}</code> frame {frame.frame}<br>"
                f"{frame.boxes} boxes, label v{frame.label_version}"
            )
            boxes_of = _dataset_labels(dataset, frame)
            thumbs.append(Thumb(f"images/{name}", width, height, {"label": boxes_of}, caption))
        body.append(f"<h2>{split}: {len(frames)} images (samples)</h2>")
        body.append(_grid(thumbs) if thumbs else "<p>none</p>")
    return _write_page(store, folder / "index.html", f"dataset {dataset_id}", body)


def reports_index(catalog: Catalog, store: Store, batch_keys: Iterable[str] | None = None) -> list[Path]:
    """Write the batch pages (every batch, or the given ones), every dataset version's page and an index linking
    them; returns the paths, the index first."""
    batches = [batch_report(catalog, store, key) for key in (batch_keys or catalog.batch_keys())]
    datasets = [dataset_report(catalog, store, record.id) for record in DatasetRecords(catalog).dataset_versions()]
    root = store.local_path(reports_key())
    links = [
        f'<li><a href="{html.escape(str(path.relative_to(root)))}">{html.escape(path.parent.name)}</a></li>'
        for path in batches + datasets
    ]
    body = [
        "<h1>data-engine reports</h1>",
        f"<h2>Batches ({len(batches)})</h2><ul>{''.join(links[: len(batches)])}</ul>",
        f"<h2>Dataset versions ({len(datasets)})</h2><ul>{''.join(links[len(batches) :])}</ul>",
    ]
    index = _write_page(store, root / "index.html", "data-engine reports", body)
    return [index, *batches, *datasets]


# ---- pieces -----------------------------------------------------------------------------------------------------


def _safe(name: str) -> str:
    return "".join(character if character.isalnum() or character in "-_." else "_" for character in name)


def _label_sources(catalog: Catalog, store: Store, clip: Clip) -> dict[str, tuple[LabelFile, set[int] | None]]:
    """The newest autolabel and review label files of the clip; a review covers only the frames people answered."""
    folder = store.fetch(clip.path).parent / "labels"
    sources: dict[str, tuple[LabelFile, set[int] | None]] = {}
    for version in catalog.label_versions(clip.id):
        path = folder / Path(version.path).name
        if version.kind in ("autolabel", "review") and path.is_file():
            labels = read_labels(path)
            reviewed = {int(f) for f in labels.stats.get("review", {}).get("frames", {})}
            sources[version.kind] = (labels, reviewed if version.kind == "review" else None)
    return sources


def _boxes_at(sources: Mapping[str, tuple[LabelFile, set[int] | None]], frame: int) -> dict[str, Detections]:
    boxes = {}
    for kind, (labels, frames) in sources.items():
        if (frames is None or frame in frames) and frame < len(labels.frames):
            boxes[kind] = labels.frames[frame].with_names(labels.names)
    return boxes


def _thumbnails(
    store: Store, clip: Clip, frames: Sequence[int], folder: Path, fps: float | None
) -> dict[int, tuple[str, int, int]]:
    """Each wanted frame as a JPEG thumbnail, from the image the push wrote for annotators when there is one (a
    1080p clip costs more to decode than everything else on the page), else decoded from the clip once;
    frame -> (file name, width, height) of the original frame (boxes are in its pixels)."""
    done, missing = {}, set()
    for frame in frames:
        key = annotation_image_key(image_name(clip.id, frame, None if fps is None else frame / fps))
        image = cv2.imread(str(store.fetch(key))) if store.exists(key) else None
        if image is None:
            missing.add(frame)
        else:
            done[frame] = _thumbnail(folder, clip, frame, image)
    for decoded in iter_frames(store.fetch(clip.path), only=missing):
        done[decoded.index] = _thumbnail(folder, clip, decoded.index, decoded.image)
    return done


def _thumbnail(folder: Path, clip: Clip, frame: int, image: np.ndarray) -> tuple[str, int, int]:
    name = f"{_safe(clip.id)}-{frame:06d}.jpg"
    height, width = image.shape[:2]
    _write_jpeg(folder / name, image)
    return name, width, height


def _copy_image(source: Path, folder: Path, name: str) -> tuple[str, int, int]:
    image = cv2.imread(str(source))
    if image is None:
        raise FileNotFoundError(f"dataset image {source} is missing or unreadable")
    _write_jpeg(folder / name, image)
    return name, image.shape[1], image.shape[0]


def _write_jpeg(path: Path, image: np.ndarray) -> None:
    height, width = image.shape[:2]
    scale = min(1.0, 2 * THUMB_WIDTH / width)
    small = cv2.resize(image, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA)
    ok, encoded = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, 88])
    if not ok:
        raise ValueError(f"JPEG encoding failed for {path.name}")
    with atomic_path(path) as temporary:
        temporary.write_bytes(encoded.tobytes())


def _copy_timeline(store: Store, clip: Clip, folder: Path) -> str | None:
    key = timeline_key(clip)
    if not store.exists(key):
        return None
    name = f"timeline-{_safe(clip.id)}.png"
    shutil.copyfile(store.fetch(key), folder / name)
    return f"images/{name}"


def _dataset_labels(dataset: DatasetVersion, frame: ManifestFrame) -> Detections:
    """The YOLO label file of a dataset image, in the image's pixels."""
    image = dataset.image_path(frame)
    label = dataset.root / str(PurePosixPath(frame.image).with_suffix(".txt")).replace("images/", "labels/", 1)
    if not label.is_file() or not image.is_file():
        return Detections.empty(dataset.manifest.class_map)
    with Image.open(image) as picture:
        width, height = picture.size
    class_map = dataset.manifest.class_map
    boxes, _ = yolo.from_text(label.read_text(), width, height, [class_map[index] for index in sorted(class_map)])
    return to_detections(boxes, class_map, width, height)[0]


def _frame_caption(clip: Clip, frame: int, reasons: Mapping[str, object], hits: Sequence) -> str:
    fps = (clip.last_frame - clip.first_frame + 1) / max(clip.end_s - clip.start_s, 1e-9)
    listed = reasons.get("reasons")
    why = (
        ", ".join(
            "diversity sample (no trigger)"
            if r.get("trigger") == DIVERSITY_TRIGGER
            else f"{html.escape(str(r.get('trigger')))} {float(r.get('score', 0)):.2f}"
            for r in listed
        )
        if isinstance(listed, list) and listed
        else html.escape(str(reasons.get("trigger", "?")))
    )
    around = [hit for hit in hits if hit.first_frame <= frame <= hit.last_frame]
    details = "<br>".join(
        f"<code>{html.escape(hit.trigger)} {hit.first_frame}-{hit.last_frame}: "
        f"{html.escape(_details(hit.details))}</code>"
        for hit in around[:4]
    )
    return (
        f"frame {frame} ({frame / fps:.2f} s into the clip, video frame {clip.first_frame + frame})<br>"
        f"<b>chosen by</b> {why}" + (f"<br>{details}" if details else "")
    )


def _details(details: Mapping[str, object]) -> str:
    return ", ".join(
        f"{key}={value:.3g}" if isinstance(value, float) else f"{key}={value}"
        for key, value in list(details.items())[:5]
    )


def _clip_section(clip: Clip, thumbs: Sequence[Thumb], timeline: str | None, hits: int) -> str:
    picture = (
        f'<img class="timeline" src="{html.escape(timeline)}" alt="trigger timeline of clip {html.escape(clip.id)}">'
        if timeline
        else "<p>(no timeline: the clip was not selected by the mining stage)</p>"
    )
    return (
        f'<section id="{html.escape(clip.id)}"><h2>clip {html.escape(clip.id)}: frames {clip.first_frame}-'
        f"{clip.last_frame} of video {html.escape(clip.video_id[:12])}, {clip.start_s:.1f}-{clip.end_s:.1f} s, "
        f"{hits} trigger hits, {len(thumbs)} frames selected, now {html.escape(clip.status)}</h2>"
        f"{picture}{_grid(thumbs)}</section>"
    )


def _grid(thumbs: Sequence[Thumb]) -> str:
    return '<div class="grid">' + "".join(_figure(thumb) for thumb in thumbs) + "</div>"


def _figure(thumb: Thumb) -> str:
    rects = []
    for source, boxes in thumb.boxes.items():
        colour = SOURCE_COLOURS[source]
        dash = ' stroke-dasharray="6 3"' if source == "autolabel" else ""
        for box, class_id in zip(boxes.xyxy, boxes.class_id, strict=True):
            x1, y1, x2, y2 = (float(value) for value in box)
            name = html.escape(boxes.names.get(int(class_id), str(class_id)))
            rects.append(
                f'<rect class="box {source}" x="{x1:.1f}" y="{y1:.1f}" width="{x2 - x1:.1f}" height="{y2 - y1:.1f}" '
                f'fill="none" stroke="{colour}" stroke-width="{max(1.5, thumb.width / 320):.1f}"{dash}>'
                f"<title>{source}: {name}</title></rect>"
            )
    counts = ", ".join(f"{len(boxes)} {source}" for source, boxes in thumb.boxes.items()) or "no labels yet"
    return (
        f'<figure><div class="frame"><img src="{html.escape(thumb.image)}" alt="{html.escape(thumb.image)}">'
        f'<svg viewBox="0 0 {thumb.width} {thumb.height}" preserveAspectRatio="none">{"".join(rects)}</svg></div>'
        f"<figcaption>{thumb.caption}<br>boxes: {counts}</figcaption></figure>"
    )


def _legend(sources: Sequence[str]) -> str:
    names = {"autolabel": "autolabel (model, dashed)", "review": "review (human)", "label": "training label"}
    items = "".join(
        f'<span><i class="swatch" style="background:{SOURCE_COLOURS[s]}"></i>{names[s]}</span>' for s in sources
    )
    return f'<p class="legend">{items}</p>'


def _write_page(store: Store, path: Path, title: str, body: Sequence[str]) -> Path:
    page = (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{_STYLE}</style></head><body>{''.join(body)}</body></html>\n"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as temporary:
        temporary.write_text(page)
    root = store.local_path("")
    files = (
        [path] if path.parent == store.local_path(reports_key()) else [p for p in path.parent.rglob("*") if p.is_file()]
    )
    for file in files:
        store.commit(str(file.relative_to(root)))
    return path
