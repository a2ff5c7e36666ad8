"""A fresh machine: the real bootstrap.sh, the real uv, and a "system" Python it must not touch.

The machine is built per test: a throwaway interpreter (a plain venv in a temp dir with a
marker package, standing in for the user's system Python, and activated through
VIRTUAL_ENV the way a user's shell may have it), a PATH on which no uv exists, a temp HOME,
and a copy of this working tree. Only uv's and pip's download caches are shared, so the
run is quick. This is the test that an older bootstrap failed: it ran `python -m uv pip
sync`, which installed into the system Python and left .venvs/ empty.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow

MARKER = "fresh_machine_marker"


def _real_uv() -> str | None:
    """A uv binary this machine already has (for the UV= case), or None."""
    for candidate in (shutil.which("uv"), REPO / ".venvs" / ".tools" / "uv" / "bin" / "uv"):
        if candidate and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def _copy_worktree(dest: Path) -> None:
    """The files a clone would have (tracked, plus untracked ones git does not ignore)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO, check=True, capture_output=True,
    ).stdout.decode().split("\0")
    for rel in filter(None, listed):
        src = REPO / rel
        if not src.is_file() or src.is_symlink() and not src.exists():
            continue
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, target)


def _path_without_uv(folder: Path) -> str:
    """A folder of links to every tool of the system bin folders, less uv and uvx."""
    folder.mkdir()
    for bin_dir in ("/usr/local/bin", "/usr/bin", "/bin"):
        if not os.path.isdir(bin_dir):
            continue
        for name in os.listdir(bin_dir):
            link = folder / name
            if name in {"uv", "uvx"} or link.exists() or link.is_symlink():
                continue
            link.symlink_to(os.path.join(bin_dir, name))
    return str(folder)


def _make_system_python(folder: Path) -> Path:
    """A plain venv with pip and a marker distribution: the user's "system" Python."""
    subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True, timeout=300)
    python = folder / "bin" / "python"
    site = Path(subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        check=True, capture_output=True, text=True,
    ).stdout.strip())
    (site / MARKER).mkdir()
    (site / MARKER / "__init__.py").write_text("VALUE = 42\n")
    info = site / f"{MARKER}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {MARKER}\nVersion: 1.0\n")
    (info / "INSTALLER").write_text("test\n")
    (info / "RECORD").write_text(f"{MARKER}/__init__.py,,\n{info.name}/METADATA,,\n")
    return python


def _inventory(python: Path) -> tuple[str, list[str]]:
    """pip freeze --all and the names in site-packages: what must not change."""
    freeze = subprocess.run([str(python), "-m", "pip", "freeze", "--all"], check=True,
                            capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"}).stdout
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                          check=True, capture_output=True, text=True).stdout.strip()
    return freeze, sorted(os.listdir(site))


@pytest.fixture()
def machine(tmp_path: Path) -> dict:
    if not (shutil.which("ffmpeg") and shutil.which("ffprobe")):
        pytest.skip("ffmpeg/ffprobe not installed (apt install ffmpeg): bootstrap checks for them")
    home = tmp_path / "home"
    home.mkdir()
    system = _make_system_python(tmp_path / "system python")
    clean_path = f"{system.parent}:{_path_without_uv(tmp_path / 'bin')}"
    assert shutil.which("uv", path=clean_path) is None
    real_home = Path(os.environ.get("HOME", str(Path.home())))
    env = {
        "HOME": str(home),
        "PATH": clean_path,
        "VIRTUAL_ENV": str(system.parent.parent),  # the "system" Python, activated
        "CI": "true",
        "LANG": "C.UTF-8",
        # Download caches only: the install itself happens from scratch.
        "UV_CACHE_DIR": os.environ.get("UV_CACHE_DIR", str(real_home / ".cache" / "uv")),
        "PIP_CACHE_DIR": os.environ.get("PIP_CACHE_DIR", str(real_home / ".cache" / "pip")),
    }
    for name in ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "UV_INDEX_URL", "UV_EXTRA_INDEX_URL",
                 "PIP_TRUSTED_HOST", "SSL_CERT_FILE", "HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY"):
        if name in os.environ:
            env[name] = os.environ[name]
    repo = tmp_path / "fresh clone"
    _copy_worktree(repo)
    return {"env": env, "system": system, "repo": repo, "before": _inventory(system)}


def _bootstrap(machine: dict, **extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", str(machine["repo"] / "bootstrap.sh"), "--skip-cache", "--yes", "--envs", "common"],
        cwd=machine["repo"], env={**machine["env"], **extra}, capture_output=True, text=True,
        timeout=900, stdin=subprocess.DEVNULL,
    )


def _assert_built_without_touching_the_system(machine: dict, run: subprocess.CompletedProcess) -> None:
    output = run.stdout + run.stderr
    assert run.returncode == 0, output
    assert "environments built: common" in output, output
    assert _inventory(machine["system"]) == machine["before"], "bootstrap changed the system Python"
    common = machine["repo"] / ".venvs" / "common" / "bin" / "python"
    # Bytecode compiled at install (before anything imported click): stage interpreters never
    # compile their imports, even where they cannot write bytecode themselves.
    (site,) = (machine["repo"] / ".venvs" / "common" / "lib").glob("python3*/site-packages")
    # (click.testing: a module nothing imports while bootstrap checks the environment)
    assert list((site / "click" / "__pycache__").glob("testing.*.pyc")), "the environment was installed without bytecode"
    probe = subprocess.run(
        [str(common), "-c", "import sys, click, pysubs2, huggingface_hub, dotenv; print(sys.prefix)"],
        capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"},
    )
    assert probe.returncode == 0, probe.stderr
    assert Path(probe.stdout.strip()).resolve() == (machine["repo"] / ".venvs" / "common").resolve()
    # The throwaway "system" Python still cannot import what bootstrap installed.
    assert subprocess.run([str(machine["system"]), "-c", "import click"], capture_output=True).returncode != 0


def test_no_uv_anywhere_installs_uv_privately_and_leaves_the_system_python_alone(machine: dict) -> None:
    run = _bootstrap(machine)
    output = run.stdout + run.stderr
    assert "uv: not found; installing it with pip into .venvs/.tools/uv" in output, output
    assert (machine["repo"] / ".venvs" / ".tools" / "uv" / "bin" / "uv").is_file()
    _assert_built_without_touching_the_system(machine, run)
    assert not (Path(machine["env"]["HOME"]) / ".local" / "bin" / "uv").exists()

    again = _bootstrap(machine)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "common: up to date" in again.stderr
    assert "environments built: none" in again.stderr
    assert _inventory(machine["system"]) == machine["before"]


def test_uv_named_by_the_UV_variable_is_used_and_targets_the_environment(machine: dict) -> None:
    uv = _real_uv()
    if uv is None:
        pytest.skip("no uv binary on this machine to point UV at (bootstrap installs one into .venvs/.tools/uv)")
    run = _bootstrap(machine, UV=uv)
    output = run.stdout + run.stderr
    assert f"uv: {uv} (uv " in output, output
    assert not (machine["repo"] / ".venvs" / ".tools").exists()
    _assert_built_without_touching_the_system(machine, run)
