"""The names the package exports, read by mypy and by `lazy_loader.attach_stub` in `__init__.py`: each
submodule is imported when one of its names is first used."""

from .evaluation import Metrics as Metrics, evaluate as evaluate
from .fusion import fuse_frame as fuse_frame
from .hindsight import (
    AutolabelResult as AutolabelResult,
    HindsightParams as HindsightParams,
    HindsightStats as HindsightStats,
    apply_hindsight as apply_hindsight,
    autolabel_clip as autolabel_clip,
    label_file_from_result as label_file_from_result,
    link_tracks as link_tracks,
)
from .labels import (
    LabelFile as LabelFile,
    LabelsError as LabelsError,
    label_versions as label_versions,
    labels_to_parquet as labels_to_parquet,
    next_label_path as next_label_path,
    read_labels as read_labels,
    read_latest_labels as read_latest_labels,
    write_labels as write_labels,
    write_next_labels as write_next_labels,
)
from .stream import (
    AutolabelError as AutolabelError,
    StreamedDetections as StreamedDetections,
    detect_stream as detect_stream,
)
