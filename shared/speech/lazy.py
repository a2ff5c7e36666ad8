"""numpy, imported on first use: the speech modules name it at module level as ``np`` but
import it only when a function touches it, so their pure logic (chunk merging, word
interpolation, backend choice) imports and is tested without the ml environment, as
shared/speech/__init__.py promises."""

from __future__ import annotations

import importlib
import sys
from types import ModuleType
from typing import Any


class LazyModule(ModuleType):
    """A stand-in for a module that imports the real one at the first attribute access.

    Also what :func:`defer` puts in ``sys.modules``: there it gives its place to the real
    module when that is imported, and it answers the import system's ``__path__`` (so a
    package's submodules import through it)."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self._real: ModuleType | None = None

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__") and attr not in ("__path__", "__file__", "__version__"):
            raise AttributeError(attr)
        real = self.__dict__.get("_real")
        if real is None:
            if sys.modules.get(self.__name__) is self:  # deferred: the real module takes its place
                del sys.modules[self.__name__]
            real = importlib.import_module(self.__name__)
            self.__dict__["_real"] = real
        value = getattr(real, attr)
        self.__dict__[attr] = value  # later lookups find it directly, at plain module-attribute speed
        return value


numpy: Any = LazyModule("numpy")


def defer(name: str) -> None:
    """Import module ``name`` when something first uses it, even where a library imports it at
    its top: until then, a LazyModule in ``sys.modules`` answers the import. For a dependency
    of a dependency that we never call: faster_whisper imports PyAV (av, 70 ms) for decoding
    files, and we hand it samples. Nothing changes when ``name`` is imported already."""
    sys.modules.setdefault(name, LazyModule(name))
