"""Device and thread set-up shared by the transformers backends."""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)


def torch_device(requested: str) -> str:
    """``requested`` if torch can use it here, else cpu (with a warning)."""
    import torch

    if requested == "cuda" and torch.cuda.is_available():
        return "cuda"
    if requested == "mps" and getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return "mps"
    if requested not in ("", "cpu"):
        log.warning("device %s is not available here; translating on cpu", requested)
    return "cpu"


def set_threads(threads: int) -> None:
    if threads > 0:
        import torch

        torch.set_num_threads(threads)
