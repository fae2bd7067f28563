"""Annotation platforms: push frames to review with their autolabels, bring the answers back (Label Studio over
REST, or exported task bundles for any tool), and measure what the humans changed.

The names (listed in `__init__.pyi`) load their submodule on first use, so a command imports only what it
calls: `data-engine mine` pays neither for training and datasets nor for the annotation platforms' clients.
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)
