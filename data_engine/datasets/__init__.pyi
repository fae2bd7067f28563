"""The names the package exports, read by mypy and by `lazy_loader.attach_stub` in `__init__.py`: each
submodule is imported when one of its names is first used."""

from .build import (
    DatasetConfig as DatasetConfig,
    DatasetError as DatasetError,
    DatasetReport as DatasetReport,
    DatasetVersion as DatasetVersion,
    LeakageError as LeakageError,
    Rejection as Rejection,
    build_dataset as build_dataset,
    load_dataset as load_dataset,
    new_reviewed_frames as new_reviewed_frames,
    reviewed_frames as reviewed_frames,
)
from .leakage import (
    DEFAULT_DUPLICATE_DISTANCE as DEFAULT_DUPLICATE_DISTANCE,
    Leak as Leak,
    find_leaks as find_leaks,
    image_phash as image_phash,
)
from .manifest import DatasetManifest as DatasetManifest, ManifestFrame as ManifestFrame
from .splits import (
    SPLITS as SPLITS,
    Split as Split,
    SplitConfig as SplitConfig,
    SplitError as SplitError,
    assign_splits as assign_splits,
)
