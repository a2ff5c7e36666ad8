"""Pipeline settings: one name per setting, resolved in one order everywhere.

Precedence, highest first: a command-line flag (the caller passes it as an override),
the process environment (which includes ``make VAR=...``), the repository's ``.env``,
and the defaults in ``config/pipeline.env``. The defaults file is also the settings'
documentation: the comment lines right above ``NAME=value`` describe it.

Standard library only (python-dotenv is used for ``.env`` when it is installed), so the
bootstrap scripts can call this before any environment exists.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
PIPELINE_ENV = Path("config") / "pipeline.env"

# Names whose values are secrets: passed to the processes that need them, shown as ***.
SECRET_NAMES = frozenset({"HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "LLM_API_KEY", "OPENAI_API_KEY"})
_SECRET_PATTERN = re.compile(r"(TOKEN|API_KEY|SECRET|PASSWORD)$")
REDACTED = "***"

_LINE = re.compile(r"^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$")


@dataclass(frozen=True)
class Setting:
    """One setting of config/pipeline.env: its name, default and one-line meaning."""

    name: str
    default: str
    doc: str
    section: str


def is_secret(name: str) -> bool:
    """True when the value of ``name`` must never be printed or logged."""
    return name in SECRET_NAMES or bool(_SECRET_PATTERN.search(name))


def redact(name: str, value: str) -> str:
    """The value to show for ``name``: ``***`` for a non-empty secret."""
    return REDACTED if value and is_secret(name) else value


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


def read_defaults(root: Path = REPO_ROOT) -> dict[str, Setting]:
    """Every setting of config/pipeline.env, in file order, with its comment."""
    path = Path(root) / PIPELINE_ENV
    settings: dict[str, Setting] = {}
    comment: list[str] = []
    section = ""
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line:
            comment = []
            continue
        if line.startswith("#"):
            text = line.lstrip("#").strip()
            heading = re.fullmatch(r"-+\s*(.*?)\s*-+", text)
            if heading:
                section = heading.group(1)
                comment = []
            else:
                comment.append(text)
            continue
        match = _LINE.match(line)
        if not match:
            raise ValueError(f"{path}: cannot read line {raw!r} (expected NAME=value)")
        name, value = match.groups()
        settings[name] = Setting(name, _unquote(value), " ".join(comment), section)
        comment = []
    return settings


def read_dotenv(root: Path = REPO_ROOT) -> dict[str, str]:
    """The user's ``.env`` in the repository root, or nothing when there is none."""
    path = Path(root) / ".env"
    if not path.is_file():
        return {}
    try:
        from dotenv import dotenv_values
    except ImportError:  # bootstrap runs before python-dotenv is installed
        values: dict[str, str] = {}
        for raw in path.read_text(encoding="utf-8").splitlines():
            match = _LINE.match(raw.strip())
            if match:
                values[match.group(1)] = _unquote(match.group(2).split(" #")[0])
        return values
    return {k: (v if v is not None else "") for k, v in dotenv_values(path).items()}


def resolve(
    root: Path = REPO_ROOT,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Effective value of every setting: flag > environment > .env > pipeline.env.

    Names that are only in ``.env`` (keys of other tools, say) are carried too, below the
    environment, so the processes that need them see them.
    """
    environ = os.environ if environ is None else environ
    values = {name: s.default for name, s in read_defaults(root).items()}
    values.update(read_dotenv(root))
    for name in list(values):
        if name in environ:
            values[name] = environ[name]
    values.update(overrides or {})
    return values


def get(name: str, root: Path = REPO_ROOT, environ: Mapping[str, str] | None = None) -> str:
    """The effective value of one setting (empty string when unset everywhere)."""
    return resolve(root, environ).get(name, "")


# ---- the settings page of the docs -----------------------------------------------------
SETTINGS_DOC = Path("docs") / "settings.md"


def settings_markdown(root: Path = REPO_ROOT) -> str:
    """docs/settings.md: every setting of config/pipeline.env, by section, with its default and meaning."""
    def cell(text: str) -> str:
        return text.replace("|", "\\|").replace("<", "&lt;")

    lines = ["# Settings", "",
             "Generated from `config/pipeline.env` by `python -m shared.settings docs`; a test keeps the two equal,",
             "so edit `config/pipeline.env` and regenerate. Set a value on the make command line",
             "(`make translate TGT=ta`), in the environment, or in `.env`; precedence: command-line flag >",
             "environment > `.env` > `config/pipeline.env`. An empty default means the pipeline decides",
             "(hardware profile or model registry)."]
    section = None
    for setting in read_defaults(root).values():
        if setting.section != section:
            section = setting.section
            lines += ["", f"## {section or 'general'}", "", "| setting | default | meaning |", "|---|---|---|"]
        default = f"`{setting.default}`" if setting.default else "(empty)"
        secret = " Secret: never printed or logged." if is_secret(setting.name) and "secret" not in setting.doc.lower() else ""
        lines.append(f"| `{setting.name}` | {cell(default)} | {cell(setting.doc)}{secret} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """``python -m shared.settings docs [--check]``: write docs/settings.md, or exit 1 when it is stale."""
    import sys

    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] != "docs" or args[1:] not in ([], ["--check"]):
        print("usage: python -m shared.settings docs [--check]", file=sys.stderr)
        return 2
    path = REPO_ROOT / SETTINGS_DOC
    text = settings_markdown()
    if args[1:] == ["--check"]:
        current = path.read_text(encoding="utf-8") if path.is_file() else ""
        if current != text:
            print(f"{SETTINGS_DOC} is out of date with {PIPELINE_ENV}: run python -m shared.settings docs", file=sys.stderr)
            return 1
        return 0
    path.write_text(text, encoding="utf-8")
    print(f"wrote {SETTINGS_DOC}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
