"""CTranslate2 int8 copies of cached NLLB models: ``<cache>/ct2/<model-id>-<quantization>/``.

cache-models.sh ``--ct2`` calls :func:`convert` (through ``python -m
shared.translation.ct2 MODEL_ID`` in the ml environment) after the model itself is
cached. The folder counts only once its ``.complete`` marker exists (written last), so an
interrupted conversion is redone, never used.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from shared import models, policy

log = logging.getLogger(__name__)

MARKER = ".complete"


def ct2_dir(cache: Path, model_id: str, quantization: str = "int8") -> Path:
    return Path(cache) / "ct2" / f"{model_id}-{quantization}"


def converted_path(cache: Path, model_id: str, quantization: str = "int8") -> Path | None:
    """The converted folder when its conversion finished, else None."""
    target = ct2_dir(cache, model_id, quantization)
    return target if (target / MARKER).is_file() and (target / "model.bin").is_file() else None


def convert(model_id: str, cache: Path, root: Path, quantization: str = "int8", force: bool = False) -> Path:
    """Convert the cached model ``model_id`` with CTranslate2's TransformersConverter; its folder.

    Raises models.ModelNotCached when the source model is not cached.
    """
    import ctranslate2

    source = models.resolve(model_id, Path(cache), Path(root))
    target = ct2_dir(cache, model_id, quantization)
    if not force and converted_path(cache, model_id, quantization) is not None:
        log.info("ct2: %s is already converted (%s)", model_id, target)
        return target
    staging = target.with_name(target.name + f".tmp-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    converter = ctranslate2.converters.TransformersConverter(str(source), load_as_float16=False)
    converter.convert(str(staging), quantization=quantization, force=True)
    marker = {"model": model_id, "source": str(source), "quantization": quantization,
              "ctranslate2": ctranslate2.__version__, "seconds": round(time.monotonic() - started, 1)}
    (staging / MARKER).write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")
    if target.exists():
        shutil.rmtree(target)
    os.replace(staging, target)
    log.info("ct2: converted %s to %s in %.1f s", model_id, target, marker["seconds"])
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shared.translation.ct2",
                                     description="Convert a cached NLLB model to CTranslate2 (int8 by default).")
    parser.add_argument("model_id", nargs="+")
    parser.add_argument("--cache", type=Path, default=None, help="model cache (default: MODEL_CACHE_DIR)")
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[2])
    parser.add_argument("--quantization", default="int8")
    parser.add_argument("--force", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="ct2: %(message)s", stream=sys.stderr)
    cache = args.cache or policy.cache_root(root=args.root)
    status = 0
    for model_id in args.model_id:
        try:
            spec = models.get_spec(model_id, args.root)
            if spec.backend != "nllb":
                print(f"ct2: {model_id} is a {spec.backend} model; only nllb models are converted", file=sys.stderr)
                status = 2
                continue
            print(convert(model_id, cache, args.root, args.quantization, args.force))
        except (models.ModelNotCached, models.RegistryError) as exc:
            print(f"ct2: {exc}", file=sys.stderr)
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
