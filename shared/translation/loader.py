"""The translate stage's model loader: each NMT model loaded once, on first use, from the cache."""

from __future__ import annotations

from pathlib import Path

from shared import model_integrity
from shared.languages import Language
from shared.translation.backends.base import TranslateOptions, Translator
from shared.translation.backends.llm import LlmSettings
from shared.translation.glossary import Glossary
from shared.translation.routing import model_role


class ModelLoader:
    """Loads each NMT model once, on first use, from the cache (never from the network)."""

    def __init__(self, options: TranslateOptions, model_override: str, llm: LlmSettings | None, glossary: Glossary,
                 root: Path, cache: Path):
        from shared import models, policy

        self.models = models
        self.options = options
        self.model_override = model_override
        self.llm = llm
        self.glossary = glossary
        self.root, self.cache = Path(root), Path(cache)
        self.hw_class = policy.hardware_class(self.root, {"DEVICE": options.device})
        self.loaded: dict[str, Translator] = {}
        self.engines: dict[str, str] = {}

    def model_id(self, backend: str, src: Language, tgt: Language) -> str:
        if self.model_override:
            spec = self.models.get_spec(self.model_override, self.root)
            if spec.backend == backend:
                return spec.id
        from shared import selection

        return selection.default_model(model_role(backend, src, tgt), self.hw_class, self.root)

    def check_cached(self, backend: str, src: Language, tgt: Language) -> str:
        """The model id for the pair, after checking it is cached (ModelNotCached otherwise)."""
        model_id = self.model_id(backend, src, tgt)
        self.models.resolve(model_id, self.cache, self.root)
        return model_id

    def __call__(self, backend: str, src: Language, tgt: Language) -> Translator:
        if backend == "llm":
            if "llm" not in self.loaded:
                from shared.translation.backends.llm import LlmTranslator

                self.loaded["llm"] = LlmTranslator(self.llm, self.glossary.prompt_lines())
            return self.loaded["llm"]
        model_id = self.model_id(backend, src, tgt)
        if model_id not in self.loaded:
            from shared.translation import ct2
            from shared.translation.backends.base import load_nmt

            path = self.models.resolve(model_id, self.cache, self.root)
            converted = ct2.converted_path(self.cache, model_id) if backend == "nllb" and self.options.ct2 != "off" else None
            with model_integrity.loading(model_id, converted or path):
                self.loaded[model_id] = load_nmt(backend, model_id, path, self.options, ct2_path=converted)
            self.engines[model_id] = self.loaded[model_id].engine
        return self.loaded[model_id]
