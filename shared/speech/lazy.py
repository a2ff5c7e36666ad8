"""numpy, imported on first use: the speech modules name it at module level as ``np`` but
import it only when a function touches it, so their pure logic (chunk merging, word
interpolation, backend choice) imports and is tested without the ml environment, as
shared/speech/__init__.py promises."""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any


class LazyModule(ModuleType):
    """A stand-in for a module that imports the real one at the first attribute access."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self._real: ModuleType | None = None

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__"):
            raise AttributeError(attr)
        real = self.__dict__.get("_real")
        if real is None:
            real = importlib.import_module(self.__name__)
            self.__dict__["_real"] = real
        value = getattr(real, attr)
        self.__dict__[attr] = value  # later lookups find it directly, at plain module-attribute speed
        return value


numpy: Any = LazyModule("numpy")
