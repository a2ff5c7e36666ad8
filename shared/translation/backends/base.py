"""The interface every translation backend implements, its options and its lookup table."""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from shared.languages import Language


@dataclass
class TranslateOptions:
    """How a backend runs (the stage fills these from settings and the hardware profile)."""

    device: str = "cpu"  # cpu, cuda, mps
    compute_type: str = ""  # CTranslate2 compute type; empty: int8 on CPU, int8_float16 on CUDA
    batch_size: int = 16  # sentences per forward pass (TRANSLATE_BATCH_SIZE)
    max_tokens: int = 200  # source truncation and generation cap per sentence (MAX_SENTENCE_TOKENS)
    beams: int = 4  # beam size (TRANSLATE_BEAMS); 1 is greedy
    threads: int = 0  # CPU threads; 0: the library's choice
    ct2: str = "auto"  # NLLB: auto uses a converted CTranslate2 copy when cached, off never


class Translator(ABC):
    """Translates lists of sentences between two languages of the table."""

    name: str = ""
    model_id: str = ""
    engine: str = ""  # the library doing the work (transformers, ctranslate2, http)

    @abstractmethod
    def translate(self, texts: Sequence[str], src: Language, tgt: Language) -> list[str]:
        """One translation per input sentence, in input order."""


def length_sorted_batches(texts: Sequence[str], batch_size: int) -> Iterator[list[int]]:
    """Indices of ``texts`` in batches of similar length (longest first), so padding is small."""
    order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
    for start in range(0, len(order), max(1, batch_size)):
        yield order[start:start + max(1, batch_size)]


def run_batched(texts: Sequence[str], batch_size: int, translate_batch: Callable[[list[str]], list[str]]) -> list[str]:
    """``translate_batch`` over length-sorted batches, results put back in input order."""
    from shared.progress import Progress

    results: list[str] = [""] * len(texts)
    meter = Progress("translate", len(texts), "sentences")
    for indices in length_sorted_batches(texts, batch_size):
        outputs = translate_batch([texts[i] for i in indices])
        if len(outputs) != len(indices):
            raise RuntimeError(f"backend returned {len(outputs)} translations for {len(indices)} sentences")
        for i, out in zip(indices, outputs, strict=True):
            results[i] = out
        meter.update(len(indices))
    meter.close()
    return results


# backend name -> "module:class"; modules import torch/transformers only when loaded.
BACKEND_CLASSES = {
    "nllb": "shared.translation.backends.nllb:NllbTranslator",
    "indictrans2": "shared.translation.backends.indictrans2:IndicTrans2Translator",
}


def load_nmt(backend: str, model_id: str, path: Path, options: TranslateOptions, ct2_path: Path | None = None) -> Translator:
    """Load an NMT backend's model from a local snapshot folder."""
    if backend not in BACKEND_CLASSES:
        raise ValueError(f"unknown NMT backend {backend!r}; known: {', '.join(BACKEND_CLASSES)}")
    module_name, class_name = BACKEND_CLASSES[backend].split(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    if backend == "nllb":
        return cls(model_id, path, options, ct2_path=ct2_path)
    return cls(model_id, path, options)
