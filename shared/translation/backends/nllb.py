"""NLLB-200 (and any M2M100-architecture model with FLORES-200 language tokens).

Two engines over the same tokenizer: transformers' ``generate`` with the target language
forced as the first token, or CTranslate2 (int8 on CPU) with the target language as the
target prefix, when a converted copy exists (see shared/translation/ct2.py).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from shared.languages import Language
from shared.translation.backends.base import TranslateOptions, Translator, run_batched
from shared.translation.backends.torch_util import set_threads, torch_device

log = logging.getLogger(__name__)


def ct2_device_and_type(options: TranslateOptions) -> tuple[str, str]:
    """CTranslate2's device (cuda or cpu: it has no mps) and compute type for these options."""
    device = "cuda" if options.device == "cuda" else "cpu"
    valid = {"int8", "int8_float32", "int8_float16", "int8_bfloat16", "int16", "float16", "bfloat16", "float32", "default", "auto"}
    if options.compute_type in valid and not (device == "cpu" and "float16" in options.compute_type):
        return device, options.compute_type
    return device, ("int8_float16" if device == "cuda" else "int8")


class NllbTranslator(Translator):
    name = "nllb"

    def __init__(self, model_id: str, path: Path, options: TranslateOptions, ct2_path: Path | None = None):
        from transformers import AutoTokenizer

        self.model_id = model_id
        self.options = options
        self.tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        set_threads(options.threads)
        if ct2_path is not None:
            import ctranslate2

            device, compute_type = ct2_device_and_type(options)
            self.engine = "ctranslate2"
            self.device = device
            self.compute_type = compute_type
            self.ct2 = ctranslate2.Translator(str(ct2_path), device=device, compute_type=compute_type,
                                              intra_threads=max(0, options.threads))
            log.info("nllb: %s through CTranslate2 (%s, %s)", model_id, device, compute_type)
        else:
            from transformers import AutoModelForSeq2SeqLM

            self.engine = "transformers"
            self.device = torch_device(options.device)
            self.model = AutoModelForSeq2SeqLM.from_pretrained(str(path), local_files_only=True).to(self.device).eval()
            log.info("nllb: %s through transformers (%s)", model_id, self.device)

    def _language_token(self, lang: Language) -> str:
        if lang.flores is None:
            raise ValueError(f"NLLB has no code for {lang}")
        token_id = self.tokenizer.convert_tokens_to_ids(lang.flores)
        if token_id is None or token_id == self.tokenizer.unk_token_id:
            raise ValueError(f"the tokenizer of {self.model_id} has no language token {lang.flores}")
        return lang.flores

    def translate(self, texts: Sequence[str], src: Language, tgt: Language) -> list[str]:
        self._language_token(src)
        target_token = self._language_token(tgt)
        self.tokenizer.src_lang = src.flores
        batch_fn = self._ct2_batch if self.engine == "ctranslate2" else self._transformers_batch
        return run_batched(list(texts), self.options.batch_size, lambda batch: batch_fn(batch, target_token))

    def _transformers_batch(self, batch: list[str], target_token: str) -> list[str]:
        import torch

        encoded = self.tokenizer(batch, return_tensors="pt", padding=True, truncation=True,
                                 max_length=self.options.max_tokens).to(self.device)
        with torch.inference_mode():
            generated = self.model.generate(
                **encoded,
                forced_bos_token_id=self.tokenizer.convert_tokens_to_ids(target_token),
                num_beams=self.options.beams,
                do_sample=False,
                max_new_tokens=self.options.max_tokens,
            )
        return [t.strip() for t in self.tokenizer.batch_decode(generated, skip_special_tokens=True)]

    def _ct2_batch(self, batch: list[str], target_token: str) -> list[str]:
        sources = [
            self.tokenizer.convert_ids_to_tokens(self.tokenizer(text, truncation=True, max_length=self.options.max_tokens).input_ids)
            for text in batch
        ]
        results = self.ct2.translate_batch(
            sources,
            target_prefix=[[target_token]] * len(batch),
            beam_size=self.options.beams,
            # transformers counts the forced language token among its new tokens; so does this
            max_decoding_length=self.options.max_tokens,
        )
        outputs = []
        for result in results:
            tokens = result.hypotheses[0][1:]  # drop the target language prefix
            ids = self.tokenizer.convert_tokens_to_ids(tokens)
            outputs.append(self.tokenizer.decode(ids, skip_special_tokens=True).strip())
        return outputs
