"""Where inference and training run: CUDA with half precision when present, CPU otherwise."""

from __future__ import annotations


def pick_device() -> str:
    """`"cuda:0"` when torch sees a GPU, else `"cpu"`."""
    import torch

    return "cuda:0" if torch.cuda.is_available() else "cpu"
