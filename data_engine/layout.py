"""Where everything lives in the store: every key the engine writes, in one place.

    videos/<video>/probe.json                           what the stream really holds
    videos/<video>/features.parquet                     mining features of every frame, from the probe's decode
    clips/<video>/<ordinal>/clip.mkv                    a clip, with beside it:
        clip.json  features.parquet  timeline.png  labels/v0001.json ...  detections/<model key>.parquet
    batches/<batch>/mining_summary.png                  per ingest batch
    batches/<batch>/autolabel_boxes.parquet
    annotation/images/<clip>_f<frame>_t<s>s.jpg         frames sent to annotators (written once)
    annotation/bundles/<run>/  (and <run>.zip)          exported task bundles
    annotation/throughput.png                           images reviewed per day and annotator
    datasets/<dataset>/...                              dataset versions (manifest.json, data.yaml, images/, labels/)
    models/<model>/weights.pt                           registered model versions
    models/map_per_version.png                          test mAP of every model version
    training/<run>/                                     training runs' working folders
    reports/batches/<batch>/  reports/datasets/<dataset>/  static HTML pages: selected frames, dataset samples

Keys are relative to the store root and always use "/"; a key never depends on where the store is.
"""

from typing import Protocol

CLIP_FILE = "clip"
CLIP_DOCUMENT = "clip.json"
FEATURES_FILE = "features.parquet"
TIMELINE_FILE = "timeline.png"
LABELS_FOLDER = "labels"
DETECTIONS_FOLDER = "detections"
ANNOTATION_IMAGES = "annotation/images"
ANNOTATION_BUNDLES = "annotation/bundles"
ANNOTATION_THROUGHPUT = "annotation/throughput.png"
MODELS_PICTURE = "models/map_per_version.png"
CLIPS = "clips"
DATASETS = "datasets"
REPORTS = "reports"


class StoredClip(Protocol):
    """Anything that knows its clip file's key (a catalog `Clip`)."""

    @property
    def path(self) -> str: ...


def probe_key(video_id: str) -> str:
    return f"videos/{video_id}/probe.json"


def clip_folder(video_id: str) -> str:
    """The folder holding every clip of a video."""
    return f"{CLIPS}/{video_id}"


def clip_key(video_id: str, ordinal: int, suffix: str = ".mkv") -> str:
    return f"{clip_folder(video_id)}/{ordinal:05d}/{CLIP_FILE}{suffix}"


def clip_dir(clip: StoredClip) -> str:
    """The folder of one clip: its file and everything derived from it."""
    return clip.path.rsplit("/", 1)[0]


def clip_document_key(clip_file_key: str) -> str:
    """The `clip.json` beside a clip file."""
    return f"{clip_file_key.rsplit('/', 1)[0]}/{CLIP_DOCUMENT}"


def video_features_key(video_id: str) -> str:
    """The mining features of every frame of a video, computed while ingest probes it."""
    return f"videos/{video_id}/features.parquet"


def detections_folder_key(clip: StoredClip) -> str:
    """Where a clip's stored detections live (one Parquet file per detector and inference settings)."""
    return f"{clip_dir(clip)}/{DETECTIONS_FOLDER}"


def features_key(clip: StoredClip) -> str:
    return f"{clip_dir(clip)}/{FEATURES_FILE}"


def timeline_key(clip: StoredClip) -> str:
    return f"{clip_dir(clip)}/{TIMELINE_FILE}"


def labels_key(clip: StoredClip, file_name: str) -> str:
    """A label-file version of a clip (`v0003.json`)."""
    return f"{clip_dir(clip)}/{LABELS_FOLDER}/{file_name}"


def mining_summary_key(batch_key: str) -> str:
    return f"batches/{batch_key}/mining_summary.png"


def autolabel_boxes_key(batch_key: str) -> str:
    return f"batches/{batch_key}/autolabel_boxes.parquet"


def annotation_image_key(image_name: str) -> str:
    """One frame sent to annotators (written once), under the name annotators see (clip, frame, time in clip)."""
    return f"{ANNOTATION_IMAGES}/{image_name}"


def reports_key(*parts: str) -> str:
    """The static HTML reports (`reports/batches/<batch>/`, `reports/datasets/<dataset>/`, `reports/index.html`)."""
    return "/".join((REPORTS, *parts))


def dataset_key(dataset_id: str, name: str = "") -> str:
    return f"{DATASETS}/{dataset_id}" + (f"/{name}" if name else "")


def model_weights_key(model_id: str, suffix: str = ".pt") -> str:
    """Where a model's weights live; the suffix is kept, since it says which loader reads them (.pt, .onnx)."""
    return f"models/{model_id}/weights{suffix}"


def training_key(run_id: str) -> str:
    return f"training/{run_id}"
