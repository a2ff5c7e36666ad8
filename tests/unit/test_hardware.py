"""shared.hardware: detection from injected inputs, recommendations, the JSON file."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import pytest

from shared import hardware

NOW = dt.datetime(2025, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
RTX_4090 = "NVIDIA GeForce RTX 4090, 24564\n"
RTX_3070 = "NVIDIA GeForce RTX 3070, 8192\n"
MEMINFO = "MemTotal:       24576000 kB\nMemFree:         1000000 kB\nMemAvailable:   20000000 kB\n"

TOP_KEYS = {"schema_version", "detected_at", "os", "arch", "platform", "cpu_cores", "ram_gb",
            "cuda", "mps", "mlx", "recommended"}
RECOMMENDED_KEYS = {"device", "compute_type", "batch_size", "asr_backend", "threads", "hardware_class"}


def profile(system="Linux", machine="x86_64", cores=8, ram=32.0, smi=None, mlx=False):
    cuda = hardware.detect_cuda(smi) if smi is not None else {"available": False, "gpus": []}
    return hardware.build_profile(system=system, machine=machine, cpu_cores=cores, ram_gb=ram,
                                  cuda=cuda, mlx=mlx, now=NOW)


# ---- parsing ------------------------------------------------------------------------------
def test_parse_nvidia_smi_two_gpus_with_comma_in_name_and_noise():
    text = "NVIDIA A100-SXM4-80GB, 81920\nWeird, Name GPU, 10240\n[N/A]\n\nNVIDIA T4, [N/A]\n"
    assert hardware.parse_nvidia_smi(text) == [
        {"name": "NVIDIA A100-SXM4-80GB", "memory_gb": 80.0},
        {"name": "Weird, Name GPU", "memory_gb": 10.0},
    ]


def test_parse_meminfo_and_memsize():
    assert hardware.parse_meminfo(MEMINFO) == 23.4
    assert hardware.parse_meminfo("MemFree: 1 kB\n") is None
    assert hardware.parse_meminfo("MemTotal: lots kB\n") is None
    assert hardware.parse_memsize("17179869184\n") == 16.0
    assert hardware.parse_memsize("") is None


def test_detect_ram_linux_reads_meminfo(tmp_path):
    meminfo = tmp_path / "meminfo"
    meminfo.write_text(MEMINFO)
    assert hardware.detect_ram_gb("Linux", meminfo_path=meminfo) == 23.4
    assert hardware.detect_ram_gb("Linux", meminfo_path=tmp_path / "absent") is None


def test_detect_ram_macos_uses_sysctl():
    calls = []

    def runner(argv):
        calls.append(list(argv))
        return 0, "34359738368\n"

    assert hardware.detect_ram_gb("Darwin", runner=runner) == 32.0
    assert calls == [["sysctl", "-n", "hw.memsize"]]
    assert hardware.detect_ram_gb("Darwin", runner=lambda argv: (1, "")) is None


def test_detect_cuda_runs_nvidia_smi_only_when_present():
    calls = []

    def runner(argv):
        calls.append(list(argv))
        return 0, RTX_4090

    assert hardware.detect_cuda(runner=runner, which=lambda name: None) == {"available": False, "gpus": []}
    assert calls == []
    found = hardware.detect_cuda(runner=runner, which=lambda name: "/usr/bin/nvidia-smi")
    assert found == {"available": True, "gpus": [{"name": "NVIDIA GeForce RTX 4090", "memory_gb": 24.0}]}
    assert calls == [["/usr/bin/nvidia-smi", "--query-gpu=name,memory.total", "--format=csv,noheader,nounits"]]


def test_failing_nvidia_smi_means_no_cuda():
    result = hardware.detect_cuda(runner=lambda argv: (9, "NVIDIA-SMI has failed"), which=lambda n: "nvidia-smi")
    assert result == {"available": False, "gpus": []}


def test_detect_mlx_only_on_apple_silicon_with_an_importable_env(tmp_path):
    python = tmp_path / "bin" / "python"
    python.parent.mkdir()
    python.write_text("")
    ok = lambda argv: (0, "")  # noqa: E731
    assert hardware.detect_mlx("macos-arm64", python, runner=ok) is True
    assert hardware.detect_mlx("macos-arm64", python, runner=lambda argv: (1, "")) is False
    assert hardware.detect_mlx("macos-arm64", tmp_path / "missing", runner=ok) is False
    assert hardware.detect_mlx("linux-x86_64", python, runner=ok) is False


# ---- recommendations --------------------------------------------------------------------------
def test_cpu_only_linux():
    p = profile(cores=32, ram=64.0)
    assert (p["os"], p["arch"], p["platform"]) == ("linux", "x86_64", "linux-x86_64")
    assert p["cuda"] == {"available": False, "gpus": []}
    assert p["mps"] is False
    assert p["recommended"] == {"device": "cpu", "compute_type": "int8", "batch_size": 4,
                                "asr_backend": "whisperx", "threads": 16, "hardware_class": "cpu"}


def test_cuda_24gb_gpu():
    p = profile(smi=RTX_4090)
    assert p["cuda"] == {"available": True, "gpus": [{"name": "NVIDIA GeForce RTX 4090", "memory_gb": 24.0}]}
    assert p["recommended"] == {"device": "cuda", "compute_type": "float16", "batch_size": 16,
                                "asr_backend": "whisperx", "threads": 8, "hardware_class": "cuda"}


def test_cuda_8gb_gpu():
    rec = profile(smi=RTX_3070)["recommended"]
    assert (rec["device"], rec["compute_type"], rec["batch_size"]) == ("cuda", "float16", 4)


@pytest.mark.parametrize(("mib", "batch"), [(10240, 8), (20480, 16), (12288, 8), (6144, 4)])
def test_batch_size_thresholds(mib, batch):
    assert profile(smi=f"GPU, {mib}\n")["recommended"]["batch_size"] == batch


def test_first_gpu_decides_on_a_multi_gpu_machine():
    rec = profile(smi=RTX_3070 + RTX_4090)["recommended"]
    assert rec["batch_size"] == 4


def test_macos_arm64():
    p = profile(system="Darwin", machine="arm64", cores=10, ram=16.0, mlx=True)
    assert (p["os"], p["arch"], p["platform"]) == ("macos", "arm64", "macos-arm64")
    assert p["mps"] is True and p["mlx"] is True
    assert p["recommended"] == {"device": "mps", "compute_type": "int8", "batch_size": 8,
                                "asr_backend": "mlx", "threads": 10, "hardware_class": "apple-silicon"}
    assert profile(system="Darwin", machine="arm64", ram=8.0)["recommended"]["batch_size"] == 4


def test_intel_mac_is_a_cpu_machine():
    p = profile(system="Darwin", machine="x86_64")
    assert p["mps"] is False
    assert p["recommended"]["hardware_class"] == "cpu"
    assert p["recommended"]["asr_backend"] == "whisperx"


def test_windows_with_and_without_cuda():
    p = profile(system="Windows", machine="AMD64", cores=12)
    assert (p["os"], p["arch"], p["platform"]) == ("windows", "x86_64", "windows-x86_64")
    assert p["recommended"]["device"] == "cpu"
    assert p["recommended"]["threads"] == 12
    p = profile(system="Windows", machine="AMD64", smi="NVIDIA GeForce RTX 3080, 10240\n")
    assert p["recommended"]["device"] == "cuda"
    assert p["recommended"]["batch_size"] == 8


def test_threads_at_least_one():
    assert hardware.recommend("linux-x86_64", 0, None, {"available": False, "gpus": []})["threads"] == 1


# ---- the JSON profile -------------------------------------------------------------------------
def test_schema_keys_and_json_round_trip():
    p = profile(smi=RTX_4090)
    assert set(p) == TOP_KEYS
    assert set(p["cuda"]) == {"available", "gpus"}
    assert set(p["recommended"]) == RECOMMENDED_KEYS
    assert p["schema_version"] == 1
    assert p["detected_at"] == "2025-01-02T03:04:05+00:00"
    assert json.loads(hardware.to_json(p)) == p


def test_detect_on_this_machine_has_the_schema():
    p = hardware.detect()
    assert set(p) == TOP_KEYS
    assert set(p["recommended"]) == RECOMMENDED_KEYS
    assert p["cpu_cores"] >= 1
    dt.datetime.fromisoformat(p["detected_at"])


def test_summary_names_the_gpu_and_the_choice():
    line = hardware.summary(profile(smi=RTX_4090))
    assert "NVIDIA GeForce RTX 4090 (24.0 GB)" in line
    assert "device=cuda" in line and "batch_size=16" in line
    assert "\n" not in line


def test_write_atomic_replaces_and_leaves_no_temp_file(tmp_path):
    target = tmp_path / "config dir" / "hardware_cache.json"
    hardware.write_atomic(target, "old\n")
    hardware.write_atomic(target, "new\n")
    assert target.read_text() == "new\n"
    assert sorted(os.listdir(target.parent)) == ["hardware_cache.json"]


def test_write_atomic_keeps_the_old_file_when_writing_fails(tmp_path, monkeypatch):
    target = tmp_path / "hardware_cache.json"
    target.write_text("old\n")

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(hardware.os, "replace", broken_replace)
    with pytest.raises(OSError):
        hardware.write_atomic(target, "new\n")
    assert target.read_text() == "old\n"
    assert sorted(os.listdir(tmp_path)) == ["hardware_cache.json"]


def test_cli_detect_writes_the_file_and_show_summarises_it(tmp_path, capsys):
    out = tmp_path / "hw.json"
    assert hardware.main(["detect", "--output", str(out)]) == 0
    assert capsys.readouterr().out == ""
    written = json.loads(out.read_text())
    assert set(written) == TOP_KEYS

    written["recommended"]["device"] = "cuda-from-cache"
    out.write_text(json.dumps(written))
    assert hardware.main(["show", "--cache", str(out)]) == 0
    assert "device=cuda-from-cache" in capsys.readouterr().out


def test_cli_detect_leaves_an_unchanged_profile_alone(tmp_path):
    out = tmp_path / "hw.json"
    assert hardware.main(["detect", "--output", str(out)]) == 0
    first = json.loads(out.read_text())
    first["detected_at"] = "2000-01-01T00:00:00+00:00"
    out.write_text(json.dumps(first))
    os.utime(out, (1_000_000, 1_000_000))
    assert hardware.main(["detect", "--output", str(out)]) == 0
    assert out.stat().st_mtime == 1_000_000
    assert json.loads(out.read_text())["detected_at"] == "2000-01-01T00:00:00+00:00"

    first["cpu_cores"] = first["cpu_cores"] + 64  # the hardware changed: rewritten
    out.write_text(json.dumps(first))
    assert hardware.main(["detect", "--output", str(out)]) == 0
    assert json.loads(out.read_text())["cpu_cores"] == hardware.detect()["cpu_cores"]
    out.write_text("not json")
    assert hardware.main(["detect", "--output", str(out)]) == 0
    assert set(json.loads(out.read_text())) == TOP_KEYS


def test_same_hardware_ignores_only_the_time():
    a = profile(smi=RTX_4090)
    b = dict(a, detected_at="2030-01-01T00:00:00+00:00")
    assert hardware.same_hardware(a, b)
    assert not hardware.same_hardware(a, profile(smi=RTX_3070))
    assert not hardware.same_hardware(None, a)
    assert not hardware.same_hardware(["list"], a)


def test_cli_detect_prints_json(capsys):
    assert hardware.main(["detect"]) == 0
    assert set(json.loads(capsys.readouterr().out)) == TOP_KEYS


def test_module_runs_from_the_command_line(tmp_path):
    import subprocess
    import sys

    root = Path(hardware.__file__).resolve().parents[1]
    out = tmp_path / "hw.json"
    subprocess.run([sys.executable, "-m", "shared.hardware", "detect", "--output", str(out)], cwd=root, check=True)
    assert set(json.loads(out.read_text())) == TOP_KEYS
