"""bootstrap.sh and bootstrap.ps1 stay twins; static checks of the PowerShell script.

There is no PowerShell on the machines that test this project, so bootstrap.ps1 is held
to bootstrap.sh here: every bash option has its PowerShell parameter, both run the same
steps through the same modules and files, and the script passes the checks a reviewer
would make by eye (strict mode, balanced brackets, help for every parameter, ...).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BASH = ROOT / "bootstrap.sh"
PS1 = ROOT / "bootstrap.ps1"

# Where the PowerShell name is not the bash name in PascalCase, and why.
RENAMED = {"debug": "DebugMode"}  # -Debug is a PowerShell common parameter
# Options that take a value (the rest are switches).
VALUED = {"envs"}


@pytest.fixture(scope="module")
def bash_text() -> str:
    return BASH.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def ps1_text() -> str:
    return PS1.read_text(encoding="utf-8")


def function_body(text: str, name: str) -> str:
    """The body of bash function ``name`` (from its header to the closing ``}`` line)."""
    match = re.search(rf"^{re.escape(name)}\(\) \{{\n(.*?)^\}}$", text, re.S | re.M)
    assert match, f"bootstrap.sh has no function {name}"
    return match.group(1)


def bash_options(text: str) -> set[str]:
    """Long options of bootstrap.sh's parse_args case arms, without the dashes."""
    arms = re.findall(r"^\s*([-a-z|* =]+)\)", function_body(text, "parse_args"), re.M)
    names = set()
    for arm in arms:
        for word in re.split(r"\s*\|\s*", arm):
            match = re.fullmatch(r"--([a-z][a-z-]*)(=\*)?", word.strip())
            if match:
                names.add(match.group(1))
    return names


def ps1_param_block(text: str) -> str:
    """The text of the script's param( ... ) block."""
    start = re.search(r"^param\(", text, re.M)
    assert start, "bootstrap.ps1 has no param( block at the start of a line"
    depth, i = 0, start.end() - 1
    while True:
        depth += {"(": 1, ")": -1}.get(text[i], 0)
        if depth == 0:
            return text[start.end():i]
        i += 1


def ps1_params(text: str) -> dict[str, str]:
    """Parameter name -> type of the param() block."""
    return {name: kind for kind, name in re.findall(r"\[(\w+(?:\[\])?)\]\$(\w+)", ps1_param_block(text))}


def pascal(option: str) -> str:
    return RENAMED.get(option) or "".join(part.capitalize() for part in option.split("-"))


# ---- the two scripts are twins ---------------------------------------------------------------
def test_bash_options_found(bash_text):
    assert bash_options(bash_text) == {"cache-models", "skip-cache", "force", "envs", "yes", "debug", "help"}


def test_every_bash_option_has_its_powershell_parameter(bash_text, ps1_text):
    options = bash_options(bash_text)
    params = ps1_params(ps1_text)
    assert {pascal(o) for o in options} == set(params)
    for option in options:
        expected = "string[]" if option in VALUED else "switch"
        assert params[pascal(option)] == expected, option


def test_every_option_is_in_the_bash_usage_text(bash_text):
    usage = function_body(bash_text, "usage")
    for option in bash_options(bash_text):
        assert f"--{option}" in usage, option
    assert "-y, --yes" in usage and "-h, --help" in usage
    assert "default" in usage


def test_the_ps1_help_maps_every_bash_option(bash_text, ps1_text):
    help_text = ps1_text.split("#>", 1)[0]
    for option in bash_options(bash_text):
        assert re.search(rf"--{option}\b[^\n]*-{pascal(option)}\b", help_text), option


@pytest.mark.parametrize("needle", [
    "cache-models.sh",
    "--all",
    "shared.environment_manager",
    "'plan'|plan",
    "stamp",
    "shared.hardware",
    "detect",
    "config/hardware_cache.json",
    "config/environments.toml",
    "requirements/common.txt",
    "logs",
    "bootstrap-",
    "venv",
    "--clear",
    "pip",
    "sync",
    "verify_env.py",
    ".requirements.sha256",
    "--target",
    "requirements/uv.txt",
    ".venvs/.tools/uv",
    "stamped but its packages are missing",
    "winget install",
    "Download the models now (several GB)? [y/N]",
    "up to date",
    "make transcribe FILE=",
])
def test_both_scripts_name_the_same_files_modules_and_messages(bash_text, ps1_text, needle):
    # Code only: a name that survives in a comment after the code stopped using it does not count.
    bash_code = "\n".join(_code_lines(bash_text))
    ps1_normalised = "\n".join(_code_lines(ps1_text)).replace("\\", "/").replace("', '", " ")
    for alternative in needle.split("|"):
        if alternative in bash_code and alternative in ps1_normalised:
            return
    pytest.fail(f"{needle!r} is not named by the code (comments aside) of both bootstrap.sh and bootstrap.ps1")


def test_a_name_only_in_a_comment_does_not_count():
    """The check above fails when one script names the string only in a comment."""
    check = test_both_scripts_name_the_same_files_modules_and_messages
    needle = "make transcribe FILE="
    with pytest.raises(pytest.fail.Exception):
        check(f"  # {needle}\n", f"Write-Host '{needle}'\n", needle)
    check(f"echo '{needle}'\n", f"Write-Host '{needle}'\n", needle)


def _code_lines(text: str) -> list[str]:
    """The lines of a script that are not comments (both languages comment with #)."""
    return [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def test_every_install_command_names_its_target_interpreter(bash_text, ps1_text):
    """uv never picks its target itself: `python -m uv` targets the interpreter that started
    it (the system Python, on the machine where an older bootstrap damaged it), so both
    scripts run uv only as a binary and name the environment's interpreter in every sync."""
    bash_code, ps1_code = _code_lines(bash_text), _code_lines(ps1_text)
    bash_syncs = [line for line in bash_code if re.search(r"\bpip sync\b", line)]
    ps1_syncs = [line for line in ps1_code if re.search(r"'pip',\s*'sync'", line)]
    assert bash_syncs and ps1_syncs
    assert all('pip sync --python "$py"' in line for line in bash_syncs), bash_syncs
    assert all("'pip', 'sync', '--python', $py" in line for line in ps1_syncs), ps1_syncs
    assert all("--compile-bytecode" in line for line in bash_syncs + ps1_syncs), "both compile bytecode at install"
    for code in (bash_code, ps1_code):
        assert not [line for line in code if re.search(r"-m['\",\s]+uv\b", line)], "python -m uv is back"
        assert not [line for line in code if "VIRTUAL_ENV" in line], "uv must not be steered by VIRTUAL_ENV"
    # pip runs only to install uv, and only into the private tools folder.
    bash_pips = [line for line in bash_code if re.search(r"-m pip\b", line)]
    ps1_pips = [line for line in ps1_code if re.search(r"'-m',\s*'pip'", line)]
    assert bash_pips and ps1_pips
    joined_bash = "\n".join(bash_code)
    assert re.search(r'-m pip install [^\n]*\\\n\s+--quiet --target "\$tools"', joined_bash), bash_pips
    assert all("'--target', $tools" in line for line in ps1_pips), ps1_pips


def test_both_take_the_environment_list_from_the_environment_manager(bash_text, ps1_text):
    # Neither script keeps its own list of environments: both build what `plan` lists,
    # so they cannot drift apart from config/environments.toml or from each other.
    assert re.search(r"-m shared\.environment_manager plan", bash_text)
    assert re.search(r"'-m', 'shared\.environment_manager', 'plan'", ps1_text)
    for text in (bash_text, ps1_text):
        assert not re.search(r"\b(ml|mlx|dev)\b[^\n]*\b(ml|mlx|dev)\b\s*[)\]]", text.split("#>", 1)[-1])


def test_ps1_uses_the_windows_interpreter_path(ps1_text):
    assert "Scripts\\python.exe" in ps1_text
    assert "bin/python" not in ps1_text


def test_ps1_runs_cache_models_through_bash_and_says_what_to_install(ps1_text):
    assert "'cache-models.sh', '--all'" in ps1_text
    assert "Get-Command bash" in ps1_text
    assert "Git for Windows" in ps1_text and "WSL" in ps1_text


# ---- static checks of the PowerShell script ----------------------------------------------------
def _skip_single(text: str, i: int) -> int:
    """Index after the single-quoted string starting at ``i`` ('' escapes a quote)."""
    i += 1
    while i < len(text):
        if text[i] == "'":
            if text.startswith("''", i):
                i += 2
                continue
            return i + 1
        i += 1
    raise AssertionError("unterminated single-quoted string")


def _scan(text: str, i: int, brackets: list[tuple[str, int]], in_subexpression: bool = False) -> int:
    """Collect the brackets of PowerShell code from ``i``; strings and comments are skipped.

    Inside ``$( ... )`` of a double-quoted string, returns the index after its ``)``.
    """
    depth = 0
    while i < len(text):
        c = text[i]
        if c == "`":
            i += 2
        elif text.startswith("<#", i):
            end = text.find("#>", i + 2)
            assert end >= 0, "unterminated <# block comment"
            i = end + 2
        elif c == "#":
            end = text.find("\n", i)
            i = len(text) if end < 0 else end
        elif text.startswith("@'\n", i) or text.startswith("@\"\n", i):
            closing = "\n" + text[i + 1] + "@"
            end = text.find(closing, i + 3)
            assert end >= 0, "unterminated here-string"
            i = end + len(closing)
        elif c == "'":
            i = _skip_single(text, i)
        elif c == '"':
            i = _scan_double(text, i + 1, brackets)
        elif c in "([{":
            depth += c == "("
            brackets.append((c, i))
            i += 1
        elif c in ")]}":
            if in_subexpression and c == ")" and depth == 0:
                return i + 1
            depth -= c == ")"
            brackets.append((c, i))
            i += 1
        else:
            i += 1
    assert not in_subexpression, "unterminated $( subexpression"
    return i


def _scan_double(text: str, i: int, brackets: list[tuple[str, int]]) -> int:
    """Index after the double-quoted string whose body starts at ``i``."""
    while i < len(text):
        c = text[i]
        if c == "`" or text.startswith('""', i):
            i += 2
        elif c == '"':
            return i + 1
        elif text.startswith("$(", i):
            i = _scan(text, i + 2, brackets, in_subexpression=True)
        else:
            i += 1
    raise AssertionError("unterminated double-quoted string")


def unbalanced(text: str) -> list[str]:
    """Every bracket outside strings and comments that has no partner, with its line."""
    brackets: list[tuple[str, int]] = []
    _scan(text, 0, brackets)
    pairs = {")": "(", "]": "[", "}": "{"}
    stack: list[tuple[str, int]] = []
    problems = []
    for char, pos in brackets:
        if char in "([{":
            stack.append((char, pos))
        elif stack and stack[-1][0] == pairs[char]:
            stack.pop()
        else:
            problems.append(f"unmatched {char!r} on line {text.count(chr(10), 0, pos) + 1}")
    problems += [f"unclosed {char!r} from line {text.count(chr(10), 0, pos) + 1}" for char, pos in stack]
    return problems


def double_quoted_strings(text: str) -> list[str]:
    """The bodies of the script's double-quoted strings (code outside strings skipped)."""
    found, i = [], 0
    while i < len(text):
        c = text[i]
        if c == "`":
            i += 2
        elif text.startswith("<#", i):
            i = text.index("#>", i) + 2
        elif c == "#":
            end = text.find("\n", i)
            i = len(text) if end < 0 else end
        elif c == "'":
            i = _skip_single(text, i)
        elif c == '"':
            end = _scan_double(text, i + 1, [])
            found.append(text[i + 1:end - 1])
            i = end
        else:
            i += 1
    return found


def test_bracket_checker_catches_what_it_should():
    assert unbalanced("function f { if ($a) { 'x)' } }  # (") == []
    assert unbalanced('Write-Host "$($x -join \')\') done"') == []
    assert unbalanced("function f { if ($a) { 'x' }") == ["unclosed '{' from line 1"]
    assert unbalanced("$a = @(1, 2))") == ["unmatched ')' on line 1"]
    assert unbalanced("<# ( #> $a = \"`\"(\"") == []


def test_ps1_brackets_are_balanced(ps1_text):
    assert unbalanced(ps1_text) == []


def test_ps1_strict_mode_and_stop_on_errors(ps1_text):
    code = ps1_text.split("#>", 1)[1]
    assert re.search(r"^Set-StrictMode -Version Latest$", code, re.M)
    assert re.search(r"^\$ErrorActionPreference = 'Stop'$", code, re.M)
    # Both before any function: they govern the whole script.
    assert code.index("Set-StrictMode") < code.index("function ")
    assert code.index("$ErrorActionPreference = 'Stop'") < code.index("function ")


def test_ps1_comment_help_comes_first_then_the_typed_param_block(ps1_text):
    assert ps1_text.startswith("<#\n.SYNOPSIS")
    after_help = ps1_text.split("#>", 1)[1].lstrip()
    assert after_help.startswith("param(")
    for line in ps1_param_block(ps1_text).splitlines():
        line = line.strip().rstrip(",")
        if line:
            assert re.fullmatch(r"\[\w+(\[\])?\]\$\w+( = .+)?", line), f"untyped parameter: {line}"


def test_ps1_help_documents_every_parameter_and_no_other(ps1_text):
    help_text = ps1_text.split("#>", 1)[0]
    for section in (".SYNOPSIS", ".DESCRIPTION", ".EXAMPLE"):
        assert re.search(rf"^\{section}$", help_text, re.M), section
    documented = re.findall(r"^\.PARAMETER (\w+)$", help_text, re.M)
    assert sorted(documented) == sorted(ps1_params(ps1_text))
    for name in documented:
        body = help_text.split(f".PARAMETER {name}\n", 1)[1].split("\n.", 1)[0]
        assert body.strip(), f".PARAMETER {name} has no text"


def test_ps1_has_no_drive_qualified_variable_by_accident(ps1_text):
    # "$name: text" in a double-quoted string is a parse error ($name: reads as a drive);
    # it must be written "${name}: text".
    allowed = {"env", "script", "global", "local", "private", "using"}
    for body in double_quoted_strings(ps1_text):
        for scope in re.findall(r"\$(\w+):", body):
            assert scope.lower() in allowed, f'"{body}" needs ${{{scope}}}'


def test_ps1_is_ascii(ps1_text):
    # Windows PowerShell 5.1 reads a BOM-less script as the ANSI code page.
    assert ps1_text.isascii()


def test_ps1_exit_codes_match_bash(ps1_text, bash_text):
    assert "exit 2" in function_body(bash_text, "usage_error")
    assert re.search(r"function Exit-Usage[^}]*exit 2", ps1_text, re.S)
    assert re.search(r"\$exitCode = 1", ps1_text)
    assert ps1_text.rstrip().endswith("exit $exitCode")
    # Unknown parameters land in $args (no [CmdletBinding()]), which is a usage error.
    assert "[CmdletBinding()]" not in ps1_text
    assert "$script:UnboundArguments = @($args)" in ps1_text


def test_bash_script_shape(bash_text):
    assert bash_text.startswith("#!/usr/bin/env bash\n")
    assert "set -euo pipefail" in bash_text
    assert bash_text.rstrip().endswith('main "$@"')
    assert "BOOTSTRAP_SOURCE_ONLY" in bash_text
