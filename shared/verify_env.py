"""Check an environment from the inside: run by that environment's own interpreter.

    .venvs/NAME/bin/python -I shared/verify_env.py .venvs/NAME click,dotenv,...

Exits 0 when ``sys.prefix`` is the environment's folder and every module imports;
otherwise prints one line naming what is wrong and exits 1. Standard library only, and
run with ``-I`` so that nothing from the working directory or PYTHONPATH can stand in for
a missing package. bootstrap.sh and bootstrap.ps1 run it after every sync.
"""

from __future__ import annotations

import importlib
import os
import sys


def same_folder(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.normcase(os.path.realpath(a)) == os.path.normcase(os.path.realpath(b))


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: verify_env.py ENV_DIR MODULE[,MODULE...]")
        return 2
    env_dir, names = argv
    if not same_folder(sys.prefix, env_dir):
        print(f"the interpreter's sys.prefix is {sys.prefix}, not {env_dir}: packages would go elsewhere")
        return 1
    missing = []
    for name in filter(None, (n.strip() for n in names.split(","))):
        try:
            importlib.import_module(name)
        except Exception as exc:  # an import that raises is as broken as a missing one
            missing.append(f"{name} ({type(exc).__name__}: {exc})")
    if missing:
        print(f"{env_dir} cannot import " + "; ".join(missing))
        return 1
    print(f"{env_dir}: sys.prefix ok; imported {names}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
