"""IndicTrans2 (AI4Bharat): English <-> and between the 22 scheduled languages of India.

The model card's recipe: IndicTransToolkit's IndicProcessor normalises, tokenises and
transliterates the source and prefixes ``<src_tag> <tgt_tag>``; the seq2seq model (remote
code in the checkpoint, hence ``trust_remote_code``) generates; IndicProcessor restores
its placeholders, the target script and detokenises.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from shared.languages import Language
from shared.translation.backends.base import TranslateOptions, Translator, run_batched
from shared.translation.backends.torch_util import set_threads, torch_device

log = logging.getLogger(__name__)


class IndicTrans2Translator(Translator):
    name = "indictrans2"
    engine = "transformers"

    def __init__(self, model_id: str, path: Path, options: TranslateOptions):
        from IndicTransToolkit import IndicProcessor
        from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

        self.model_id = model_id
        self.options = options
        set_threads(options.threads)
        self.device = torch_device(options.device)
        self.tokenizer = AutoTokenizer.from_pretrained(str(path), trust_remote_code=True, local_files_only=True)
        self.model = AutoModelForSeq2SeqLM.from_pretrained(str(path), trust_remote_code=True, local_files_only=True)
        self.model = self.model.to(self.device).eval()
        self.processor = IndicProcessor(inference=True)
        log.info("indictrans2: %s through transformers (%s)", model_id, self.device)

    def translate(self, texts: Sequence[str], src: Language, tgt: Language) -> list[str]:
        if src.indictrans2 is None or tgt.indictrans2 is None:
            raise ValueError(f"IndicTrans2 does not translate {src} -> {tgt}")
        return run_batched(list(texts), self.options.batch_size, lambda batch: self._batch(batch, src.indictrans2, tgt.indictrans2))

    def _batch(self, batch: list[str], src_tag: str, tgt_tag: str) -> list[str]:
        import torch

        prepared = self.processor.preprocess_batch(batch, src_lang=src_tag, tgt_lang=tgt_tag)
        encoded = self.tokenizer(prepared, truncation=True, padding="longest", max_length=self.options.max_tokens,
                                 return_tensors="pt", return_attention_mask=True,
                                 return_token_type_ids=False).to(self.device)
        with torch.inference_mode():
            generated = self.model.generate(**encoded, use_cache=True, min_length=0, num_beams=self.options.beams,
                                            do_sample=False, max_new_tokens=self.options.max_tokens)
        decoded = self.tokenizer.batch_decode(generated, skip_special_tokens=True, clean_up_tokenization_spaces=True)
        return [t.strip() for t in self.processor.postprocess_batch(decoded, lang=tgt_tag)]
