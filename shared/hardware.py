"""Profile this machine's hardware and recommend how the stages should use it.

``python -m shared.hardware detect [--output PATH]`` prints the profile as JSON (or writes
it atomically to PATH, and only when the hardware differs from what PATH holds; bootstrap
writes ``config/hardware_cache.json``), and
``python -m shared.hardware show [--cache PATH]`` prints a one-line summary of the cached
profile (or of a fresh detection when there is no cache). Standard library only, so it
runs in the ``common`` environment and under a bare system Python.

The profile::

    {"schema_version": 1, "detected_at": ISO 8601 UTC,
     "os", "arch", "platform" (shared.environment_manager.platform_tag), "cpu_cores", "ram_gb",
     "cuda": {"available": bool, "gpus": [{"name", "memory_gb"}]}, "mps": bool, "mlx": bool,
     "recommended": {"device", "compute_type", "batch_size", "asr_backend", "threads",
                     "hardware_class"}}

How ``recommended`` is chosen (the environment manager hands these to every stage as
DEVICE, COMPUTE_TYPE, BATCH_SIZE, THREADS; the user can override each):

- ``hardware_class``: ``cuda`` when nvidia-smi lists a GPU, else ``apple-silicon`` on
  macOS arm64, else ``cpu``. cache-models.sh picks its default models by this class.
- ``device``: ``cuda`` > ``mps`` > ``cpu``. ``mps`` (Apple Silicon) is meant for the torch
  stages (demucs, pyannote, transformers). CTranslate2, which faster-whisper/whisperx use,
  has no MPS backend, so on a Mac the ASR stage runs through mlx-whisper
  (``asr_backend = mlx``); a stage that runs CTranslate2 with DEVICE=mps must use cpu.
- ``compute_type``: ``float16`` on CUDA; ``int8`` on cpu and mps (CTranslate2's fast CPU
  path; mlx-whisper ignores it).
- ``batch_size``: by the memory of the first GPU (the one ``cuda`` means): >= 20 GB: 16,
  >= 10 GB: 8, else 4. Apple Silicon shares RAM with its GPU: 8 with >= 16 GB RAM, else 4.
  CPU: 4 (bigger batches only cost memory on a CPU).
- ``asr_backend``: ``mlx`` on macOS arm64, else ``whisperx``.
- ``threads``: the usable CPU cores, at most 16 (more intra-op threads stop helping).

Every detection function takes its inputs as arguments (nvidia-smi output, platform
strings, /proc/meminfo text, ...) so the tests cover CUDA, macOS and Windows anywhere.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import platform
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shared.environment_manager import REPO_ROOT, platform_tag

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
HARDWARE_CACHE = Path("config") / "hardware_cache.json"
NVIDIA_SMI_QUERY = ["--query-gpu=name,memory.total", "--format=csv,noheader,nounits"]
MAX_THREADS = 16
COMMAND_TIMEOUT_S = 15

# A command runner: argv -> (exit code, stdout). Injected in tests.
Runner = Callable[[Sequence[str]], tuple[int, str]]


def run_command(argv: Sequence[str]) -> tuple[int, str]:
    """Run ``argv`` and return its exit code and stdout (127 when it cannot start)."""
    try:
        proc = subprocess.run(list(argv), capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        log.debug("%s failed to run: %s", argv[0], exc)
        return 127, ""
    return proc.returncode, proc.stdout


# ---- parsing (pure) ----------------------------------------------------------------------
def parse_nvidia_smi(text: str) -> list[dict[str, Any]]:
    """The GPUs of ``nvidia-smi --query-gpu=name,memory.total --format=csv,noheader,nounits``.

    Each line is ``NAME, MEMORY_MIB``; memory is given back in GB (GiB, one decimal).
    Lines that do not parse (driver warnings, ``[N/A]``) are skipped.
    """
    gpus = []
    for line in text.splitlines():
        name, sep, memory = line.strip().rpartition(",")
        if not sep or not name.strip():
            continue
        try:
            memory_mib = float(memory.strip())
        except ValueError:
            continue
        gpus.append({"name": name.strip(), "memory_gb": round(memory_mib / 1024, 1)})
    return gpus


def parse_meminfo(text: str) -> float | None:
    """Total RAM in GB from Linux /proc/meminfo text (its ``MemTotal: N kB`` line)."""
    for line in text.splitlines():
        if line.startswith("MemTotal:"):
            fields = line.split()
            try:
                kib = int(fields[1])
            except (IndexError, ValueError):
                return None
            unit = fields[2].lower() if len(fields) > 2 else "kb"
            factor = {"kb": 1024, "mb": 1024**2, "gb": 1024**3}.get(unit, 1024)
            return round(kib * factor / 1024**3, 1)
    return None


def parse_memsize(text: str) -> float | None:
    """Total RAM in GB from macOS ``sysctl -n hw.memsize`` output (bytes)."""
    try:
        return round(int(text.strip()) / 1024**3, 1)
    except ValueError:
        return None


# ---- detection (inputs injectable) --------------------------------------------------------
def detect_ram_gb(system: str | None = None, *, meminfo_path: Path = Path("/proc/meminfo"),
                  runner: Runner = run_command) -> float | None:
    """Total RAM in GB on Linux, macOS or Windows; None when it cannot be read."""
    system = (system or platform.system()).lower()
    if system == "linux":
        try:
            return parse_meminfo(meminfo_path.read_text(encoding="ascii", errors="replace"))
        except OSError:
            return None
    if system == "darwin":
        code, out = runner(["sysctl", "-n", "hw.memsize"])
        return parse_memsize(out) if code == 0 else None
    if system == "windows":
        return _windows_ram_gb()
    return None


def _windows_ram_gb() -> float | None:
    """Total RAM in GB from GlobalMemoryStatusEx (Windows only)."""
    import ctypes

    class MemoryStatusEx(ctypes.Structure):
        _fields_ = [
            ("dwLength", ctypes.c_ulong), ("dwMemoryLoad", ctypes.c_ulong),
            ("ullTotalPhys", ctypes.c_ulonglong), ("ullAvailPhys", ctypes.c_ulonglong),
            ("ullTotalPageFile", ctypes.c_ulonglong), ("ullAvailPageFile", ctypes.c_ulonglong),
            ("ullTotalVirtual", ctypes.c_ulonglong), ("ullAvailVirtual", ctypes.c_ulonglong),
            ("ullAvailExtendedVirtual", ctypes.c_ulonglong),
        ]

    status = MemoryStatusEx()
    status.dwLength = ctypes.sizeof(MemoryStatusEx)
    try:
        ok = ctypes.windll.kernel32.GlobalMemoryStatusEx(ctypes.byref(status))  # type: ignore[attr-defined]
    except (AttributeError, OSError):
        return None
    return round(status.ullTotalPhys / 1024**3, 1) if ok else None


def detect_cpu_cores() -> int:
    """The CPU cores this process may use (respects Linux affinity / cpusets)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))  # type: ignore[attr-defined]
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def detect_cuda(nvidia_smi_output: str | None = None, *, runner: Runner = run_command,
                which: Callable[[str], str | None] = shutil.which) -> dict[str, Any]:
    """``{"available", "gpus"}`` from nvidia-smi (given text, or by running it when present)."""
    if nvidia_smi_output is None:
        exe = which("nvidia-smi")
        if exe is None:
            return {"available": False, "gpus": []}
        code, out = runner([exe, *NVIDIA_SMI_QUERY])
        if code != 0:
            log.warning("nvidia-smi is installed but failed (exit %s): treating this machine as having no CUDA GPU", code)
            return {"available": False, "gpus": []}
        nvidia_smi_output = out
    gpus = parse_nvidia_smi(nvidia_smi_output)
    return {"available": bool(gpus), "gpus": gpus}


def is_apple_silicon(tag: str) -> bool:
    return tag == "macos-arm64"


def detect_mlx(tag: str, mlx_python: Path | None, *, runner: Runner = run_command) -> bool:
    """True on macOS arm64 when the mlx environment exists and imports ``mlx.core``."""
    if not is_apple_silicon(tag) or mlx_python is None or not mlx_python.exists():
        return False
    code, _ = runner([str(mlx_python), "-c", "import mlx.core"])
    return code == 0


def recommend(tag: str, cpu_cores: int, ram_gb: float | None, cuda: dict[str, Any]) -> dict[str, Any]:
    """The recommended device settings for this hardware (rules in the module docstring)."""
    threads = max(1, min(cpu_cores, MAX_THREADS))
    asr_backend = "mlx" if is_apple_silicon(tag) else "whisperx"
    if cuda.get("available") and cuda.get("gpus"):
        memory = float(cuda["gpus"][0].get("memory_gb") or 0)
        batch = 16 if memory >= 20 else 8 if memory >= 10 else 4
        return {"device": "cuda", "compute_type": "float16", "batch_size": batch,
                "asr_backend": asr_backend, "threads": threads, "hardware_class": "cuda"}
    if is_apple_silicon(tag):
        batch = 8 if (ram_gb or 0) >= 16 else 4
        return {"device": "mps", "compute_type": "int8", "batch_size": batch,
                "asr_backend": asr_backend, "threads": threads, "hardware_class": "apple-silicon"}
    return {"device": "cpu", "compute_type": "int8", "batch_size": 4,
            "asr_backend": asr_backend, "threads": threads, "hardware_class": "cpu"}


def build_profile(*, system: str, machine: str, cpu_cores: int, ram_gb: float | None,
                  cuda: dict[str, Any], mlx: bool, now: dt.datetime | None = None) -> dict[str, Any]:
    """The hardware profile (schema in the module docstring) from detected facts."""
    tag = platform_tag(system, machine)
    os_name, _, arch = tag.partition("-")
    now = now or dt.datetime.now(dt.timezone.utc)
    return {
        "schema_version": SCHEMA_VERSION,
        "detected_at": now.astimezone(dt.timezone.utc).isoformat(timespec="seconds"),
        "os": os_name,
        "arch": arch,
        "platform": tag,
        "cpu_cores": cpu_cores,
        "ram_gb": ram_gb,
        "cuda": {"available": bool(cuda.get("available")), "gpus": list(cuda.get("gpus", []))},
        "mps": is_apple_silicon(tag),
        "mlx": mlx,
        "recommended": recommend(tag, cpu_cores, ram_gb, cuda),
    }


def detect(root: Path = REPO_ROOT) -> dict[str, Any]:
    """Profile the machine this runs on."""
    system, machine = platform.system(), platform.machine()
    tag = platform_tag(system, machine)
    mlx_dir = Path(root) / ".venvs" / "mlx"
    mlx_python = mlx_dir / ("Scripts/python.exe" if tag.startswith("windows-") else "bin/python")
    return build_profile(system=system, machine=machine, cpu_cores=detect_cpu_cores(),
                         ram_gb=detect_ram_gb(system), cuda=detect_cuda(), mlx=detect_mlx(tag, mlx_python))


def summary(profile: dict[str, Any]) -> str:
    """One line: the hardware and what the stages will use."""
    gpus = profile["cuda"]["gpus"]
    if gpus:
        accel = ", ".join(f"{g['name']} ({g['memory_gb']} GB)" for g in gpus)
    elif profile.get("mps"):
        accel = "Apple GPU (MPS)" + (", MLX" if profile.get("mlx") else "")
    else:
        accel = "no GPU"
    ram = f"{profile['ram_gb']} GB RAM" if profile.get("ram_gb") is not None else "RAM unknown"
    rec = profile["recommended"]
    return (f"{profile['platform']}, {profile['cpu_cores']} cores, {ram}, {accel} -> "
            f"{rec['hardware_class']}: device={rec['device']} compute_type={rec['compute_type']} "
            f"batch_size={rec['batch_size']} asr_backend={rec['asr_backend']} threads={rec['threads']}")


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (shared.atomic.write_text)."""
    from shared.atomic import write_text

    write_text(path, text)


def read_profile(path: Path) -> dict[str, Any] | None:
    """The profile stored at ``path``, or None when there is none or it does not parse."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def same_hardware(old: dict[str, Any] | None, new: dict[str, Any]) -> bool:
    """True when two profiles differ at most in ``detected_at``.

    ``detect --output`` then leaves the file alone, so a re-run of bootstrap on unchanged
    hardware does not touch it (nothing that depends on its mtime re-runs).
    """
    if not isinstance(old, dict):
        return False
    return {k: v for k, v in old.items() if k != "detected_at"} == {k: v for k, v in new.items() if k != "detected_at"}


def to_json(profile: dict[str, Any]) -> str:
    return json.dumps(profile, indent=2) + "\n"


# ---- command line --------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m shared.hardware",
                                     description="Detect this machine's hardware and the recommended device settings.")
    parser.add_argument("--root", type=Path, default=REPO_ROOT, help="repository root (default: this one)")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("detect", help="print the hardware profile as JSON, or write it to --output")
    p.add_argument("--output", type=Path, default=None, metavar="PATH",
                   help=f"write the JSON here atomically (bootstrap uses {HARDWARE_CACHE.as_posix()})")
    p = sub.add_parser("show", help="one-line summary of the cached profile (or a fresh detection)")
    p.add_argument("--cache", type=Path, default=None, metavar="PATH",
                   help=f"profile to summarise (default: <root>/{HARDWARE_CACHE.as_posix()})")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="hardware: %(message)s", stream=sys.stderr)
    args = build_parser().parse_args(argv)
    if args.command == "detect":
        profile = detect(args.root)
        if args.output is None:
            sys.stdout.write(to_json(profile))
        elif not same_hardware(read_profile(args.output), profile):
            write_atomic(args.output, to_json(profile))
        return 0
    cache = args.cache or Path(args.root) / HARDWARE_CACHE
    profile = None
    if cache.is_file():
        try:
            profile = json.loads(cache.read_text(encoding="utf-8"))
            summary(profile)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("ignoring unreadable %s: %s", cache, exc)
            profile = None
    print(summary(profile if profile is not None else detect(args.root)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
