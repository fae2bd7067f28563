"""Hindsight autolabelling of clips: streaming batched detection, fusion, offline tracking, label files.

The names (listed in `__init__.pyi`) load their submodule on first use: reading label files (the review history
`data-engine mine` counts) does not import the detection stream and the tracker.
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)
