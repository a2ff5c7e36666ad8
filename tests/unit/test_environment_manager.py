"""The environment manager: interpreters, process environments, precedence, secrets."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from shared import environment_manager as em
from shared import settings

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture()
def repo(tmp_path: Path) -> Path:
    """A copy of the repository's config in a directory whose path has spaces."""
    root = tmp_path / "my repo with spaces"
    (root / "config").mkdir(parents=True)
    for name in ("environments.toml", "pipeline.env"):
        shutil.copy(REPO / "config" / name, root / "config" / name)
    shutil.copytree(REPO / "requirements", root / "requirements")
    return root


def fake_env(root: Path, name: str, windows: bool = False, stamp: bool = True, tag: str = "linux-x86_64") -> Path:
    """Lay out .venvs/NAME the way uv would, with a stamp matching its requirements."""
    mgr = em.Manager(root=root, tag=tag, environ={})
    env = mgr.environment(name)
    env.python.parent.mkdir(parents=True, exist_ok=True)
    env.python.write_text("")
    site = env.path / ("Lib" if windows else "lib/python3.11") / "site-packages"
    for module in env.verify:
        (site / module).mkdir(parents=True, exist_ok=True)
    if stamp:
        (env.path / em.STAMP_FILE).write_text(env.requirements_hash() + "\n")
    return env.python


def manager(root: Path, environ: dict | None = None, tag: str = "linux-x86_64") -> em.Manager:
    return em.Manager(root=root, tag=tag, environ=dict(environ or {"PATH": "/usr/bin"}))


# ---- platforms and interpreters ------------------------------------------------------------
@pytest.mark.parametrize(
    ("system", "machine", "tag"),
    [
        ("Linux", "x86_64", "linux-x86_64"),
        ("Linux", "aarch64", "linux-aarch64"),
        ("Linux", "arm64", "linux-aarch64"),
        ("Darwin", "arm64", "macos-arm64"),
        ("Darwin", "x86_64", "macos-x86_64"),
        ("Windows", "AMD64", "windows-x86_64"),
    ],
)
def test_platform_tag(system: str, machine: str, tag: str) -> None:
    assert em.platform_tag(system, machine) == tag


def test_posix_interpreter_layout(repo: Path) -> None:
    mgr = manager(repo)
    assert mgr.stage_environment("asr").python == repo / ".venvs" / "ml" / "bin" / "python"
    assert mgr.stage_environment("demux").python == repo / ".venvs" / "common" / "bin" / "python"


def test_windows_interpreter_layout_and_path_separator(repo: Path) -> None:
    mgr = manager(repo, {"PATH": r"C:\Windows\system32"}, tag="windows-x86_64")
    python = mgr.stage_environment("asr").python
    assert python == repo / ".venvs" / "ml" / "Scripts" / "python.exe"
    child = mgr.process_environment("asr")
    assert child["PATH"] == str(repo / ".venvs" / "ml" / "Scripts") + ";" + r"C:\Windows\system32"
    assert child["PYTHONPATH"] == str(repo)


def test_every_design_stage_is_mapped(repo: Path) -> None:
    stages = manager(repo).stages()
    for stage in ("demux", "separate", "vad", "asr", "align", "translate", "subtitle", "mux"):
        assert stage in stages, stage
    envs = manager(repo).environments()
    assert set(stages.values()) <= set(envs)


def test_ml_requirements_are_pinned_for_every_platform_it_claims(repo: Path) -> None:
    for tag in manager(repo).environment("ml").platforms:
        env = manager(repo, tag=tag).environment("ml")
        text = env.requirements.read_text()
        assert "whisperx==3.8." in text and "torch==2.8." in text, tag
        pins = [ln for ln in text.splitlines() if ln and not ln.startswith((" ", "#"))]
        assert all("==" in ln for ln in pins), [ln for ln in pins if "==" not in ln]


def test_mlx_only_on_apple_silicon(repo: Path) -> None:
    assert manager(repo).environment("mlx").platforms == ("macos-arm64",)
    assert "mlx" not in [e.name for e in manager(repo).needed_here()]
    assert "mlx" in [e.name for e in manager(repo, tag="macos-arm64").needed_here()]


def test_common_is_built_first(repo: Path) -> None:
    assert manager(repo).needed_here()[0].name == "common"


def test_asr_runs_in_mlx_when_backend_resolves_to_mlx(repo: Path) -> None:
    mgr = manager(repo, {"ASR_BACKEND": "mlx"}, tag="macos-arm64")
    assert mgr.stage_environment_name("asr") == "mlx"
    (repo / "config" / "hardware_cache.json").write_text(json.dumps({"recommended": {"asr_backend": "mlx"}}))
    assert manager(repo, {}, tag="macos-arm64").stage_environment_name("asr") == "mlx"
    assert manager(repo, {"ASR_BACKEND": "whisperx"}, tag="macos-arm64").stage_environment_name("asr") == "ml"


def test_mlx_on_linux_is_a_clear_error(repo: Path) -> None:
    with pytest.raises(em.EnvironmentError_, match="does not exist on linux-x86_64"):
        manager(repo, {"ASR_BACKEND": "mlx"}).stage_environment("asr")


def test_unknown_stage(repo: Path) -> None:
    with pytest.raises(em.EnvironmentError_, match="unknown stage 'nope'.*demux"):
        manager(repo).stage_environment("nope")


# ---- state and stamps -------------------------------------------------------------------------
def test_state_missing_stale_up_to_date(repo: Path) -> None:
    mgr = manager(repo)
    env = mgr.environment("common")
    assert env.state() == "missing"
    fake_env(repo, "common", stamp=False)
    assert env.state() == "stale"
    (env.path / em.STAMP_FILE).write_text(hashlib.sha256(env.requirements.read_bytes()).hexdigest())
    assert env.state() == "up-to-date"
    env.requirements.write_text(env.requirements.read_text() + "\n# changed\n")
    assert env.state() == "stale"


def test_stamped_but_empty_environment_is_broken(repo: Path) -> None:
    """What an older bootstrap left (it synced into the system Python): a stamp, no packages."""
    fake_env(repo, "common")
    env = manager(repo).environment("common")
    assert env.state() == "up-to-date"
    shutil.rmtree(env.path / "lib")
    assert env.state() == "broken"
    assert env.missing_packages() == ["click", "dotenv", "huggingface_hub", "pysubs2"]
    plan = run_cli(repo, "plan").stdout.splitlines()[0].split("\t")
    assert plan[2] == "broken" and plan[4] == "click,dotenv,huggingface_hub,pysubs2"


# ---- the process environment -------------------------------------------------------------------
def test_cache_paths_default_under_repo(repo: Path) -> None:
    child = manager(repo).process_environment("asr")
    assert child["HF_HOME"] == str(repo / ".cache" / "huggingface")
    assert child["TORCH_HOME"] == str(repo / ".cache" / "torch")
    assert child["MLX_CACHE_DIR"] == str(repo / ".cache" / "mlx")
    assert "TRANSFORMERS_CACHE" not in child
    assert child["PYTHONUNBUFFERED"] == "1"
    assert child["VIRTUAL_ENV"] == str(repo / ".venvs" / "ml")
    assert child["PATH"].startswith(str(repo / ".venvs" / "ml" / "bin") + os.pathsep)


def test_model_cache_dir_moves_every_cache(repo: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "models on a big disk"
    child = manager(repo, {"MODEL_CACHE_DIR": str(elsewhere)}).process_environment("translate")
    assert child["HF_HOME"] == str(elsewhere / "huggingface")
    assert child["TORCH_HOME"] == str(elsewhere / "torch")
    assert child["MLX_CACHE_DIR"] == str(elsewhere / "mlx")


def test_shadowing_cache_variables_are_dropped(repo: Path) -> None:
    child = manager(repo, {"TRANSFORMERS_CACHE": "/tmp/x", "HF_HUB_CACHE": "/tmp/y"}).process_environment("asr")
    assert "TRANSFORMERS_CACHE" not in child and "HF_HUB_CACHE" not in child


def test_precedence_flag_env_dotenv_defaults(repo: Path) -> None:
    (repo / ".env").write_text("VAD=pyannote\nSRC=ta\nTGT=en\n")
    values = manager(repo, {"SRC": "hi"}).settings({"TGT": "ta,en"})
    assert values["SEPARATE"] == "auto"  # pipeline.env default
    assert values["VAD"] == "pyannote"  # .env beats the default
    assert values["SRC"] == "hi"  # environment beats .env
    assert values["TGT"] == "ta,en"  # flag beats everything
    child = manager(repo, {"SRC": "hi"}).process_environment("asr", {"TGT": "ta,en"})
    assert (child["VAD"], child["SRC"], child["TGT"]) == ("pyannote", "hi", "ta,en")


def test_hardware_profile_fills_device_settings_and_user_overrides_win(repo: Path) -> None:
    profile = {"recommended": {"device": "cuda", "compute_type": "float16", "batch_size": 16, "threads": 8}}
    (repo / "config" / "hardware_cache.json").write_text(json.dumps(profile))
    child = manager(repo).process_environment("asr")
    assert (child["DEVICE"], child["COMPUTE_TYPE"], child["BATCH_SIZE"], child["THREADS"]) == ("cuda", "float16", "16", "8")
    assert child["OMP_NUM_THREADS"] == "8"
    child = manager(repo, {"DEVICE": "cpu", "BATCH_SIZE": "2", "OMP_NUM_THREADS": "3"}).process_environment("asr")
    assert (child["DEVICE"], child["COMPUTE_TYPE"], child["BATCH_SIZE"]) == ("cpu", "float16", "2")
    assert child["OMP_NUM_THREADS"] == "3"


def test_stage_processes_get_the_malloc_tuning_unless_the_user_set_their_own(repo: Path) -> None:
    child = manager(repo).process_environment("asr")
    assert {k: child[k] for k in em.MALLOC_TUNING} == em.MALLOC_TUNING
    child = manager(repo, {"MALLOC_ARENA_MAX": "4"}).process_environment("demux")
    assert child["MALLOC_ARENA_MAX"] == "4" and child["MALLOC_MMAP_MAX_"] == "0"


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="the tuning is glibc malloc's")
def test_the_malloc_tuning_stops_large_blocks_faulting_in_again() -> None:
    """What the tuning is for: a large block freed and allocated again (as CTranslate2's
    attention scores are, per batch) reuses mapped pages instead of faulting in new ones."""
    program = ("import resource\n"
               "before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt\n"
               "for _ in range(20):\n"
               "    block = bytearray(64 << 20)\n"
               "    del block\n"
               "print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)\n")

    def faults(extra: dict[str, str]) -> int:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
        return int(subprocess.run([sys.executable, "-c", program], env={**env, **extra}, capture_output=True,
                                  text=True, check=True).stdout)

    plain, tuned = faults({}), faults(em.MALLOC_TUNING)
    pages = (64 << 20) // 4096
    assert plain >= 15 * pages, plain  # each block a fresh mmap: every page faults, every time
    assert tuned <= 3 * pages, (tuned, plain)  # the heap keeps the block's pages: they fault once


def test_without_hardware_profile_falls_back_to_cpu(repo: Path) -> None:
    child = manager(repo).process_environment("asr")
    assert (child["DEVICE"], child["COMPUTE_TYPE"]) == ("cpu", "int8")


# ---- the command line ----------------------------------------------------------------------------
def run_cli(repo: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    base = {"PATH": os.environ["PATH"], "HOME": str(repo)}
    return subprocess.run(
        [sys.executable, "-m", "shared.environment_manager", "--root", str(repo), *args],
        cwd=REPO, env={**base, **(env or {})}, capture_output=True, text=True, timeout=60,
    )


def test_cli_env_prints_hf_home_and_redacts_secrets(repo: Path) -> None:
    (repo / ".env").write_text("LLM_API_KEY=sk-dotenv-secret-123\n")
    result = run_cli(repo, "env", "translate", env={"HF_TOKEN": "hf_supersecret_token"})
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert f"HF_HOME={repo / '.cache' / 'huggingface'}" in lines
    assert "HF_TOKEN=***" in lines and "LLM_API_KEY=***" in lines
    assert "supersecret" not in result.stdout + result.stderr
    assert "sk-dotenv" not in result.stdout + result.stderr


def test_cli_run_passes_secrets_to_the_process_and_exit_code_through(repo: Path) -> None:
    python = fake_env(repo, "common")
    python.unlink()
    python.symlink_to(sys.executable)
    script = "import os,sys; print(os.environ['HF_TOKEN'], os.environ['HF_HOME'], sep=chr(10)); sys.exit(7)"
    result = run_cli(repo, "run", "cache-models", "--", "python", "-c", script, env={"HF_TOKEN": "hf_abc"})
    assert result.returncode == 7
    assert result.stdout.splitlines() == ["hf_abc", str(repo / ".cache" / "huggingface")]
    # demux is not declared to receive HF_TOKEN: its process never sees it.
    script = "import os; print(os.environ.get('HF_TOKEN', 'absent'))"
    result = run_cli(repo, "run", "demux", "--", "python", "-c", script, env={"HF_TOKEN": "hf_abc"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["absent"]


def test_each_secret_reaches_only_the_stages_declared_for_it(repo: Path) -> None:
    """Every stage's process environment: a secret appears exactly where config/environments.toml's [secrets] puts it."""
    (repo / ".env").write_text("LLM_API_KEY=sk-dotenv\nOPENAI_API_KEY=sk-openai\n")
    environ = {"PATH": "/usr/bin", "HF_TOKEN": "hf_env", "HUGGING_FACE_HUB_TOKEN": "hf_env2", "GITHUB_TOKEN": "gh_x"}
    mgr = manager(repo, environ)
    declared = mgr.config["secrets"]
    assert set(declared) >= {"HF_TOKEN", "LLM_API_KEY"}
    assert declared["LLM_API_KEY"] == ["translate"]
    assert "demux" not in declared["HF_TOKEN"] and "mux" not in declared["HF_TOKEN"]
    for stage in mgr.stages():
        child = mgr.process_environment(stage)
        for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "LLM_API_KEY", "OPENAI_API_KEY"):
            assert (name in child) == (stage in declared[name]), (stage, name)
        assert "GITHUB_TOKEN" not in child  # an undeclared secret reaches no stage
        assert settings.is_secret("LLM_API_KEY") and all(
            not settings.is_secret(n) or stage in declared.get(n, []) for n in child), stage
    assert mgr.process_environment("translate")["LLM_API_KEY"] == "sk-dotenv"


def test_cli_run_missing_environment_says_bootstrap(repo: Path) -> None:
    result = run_cli(repo, "run", "asr", "--", "python", "-c", "pass")
    assert result.returncode == 2
    assert "./bootstrap.sh --envs ml" in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_python_and_unknown_stage(repo: Path) -> None:
    result = run_cli(repo, "python", "vad")
    assert result.stdout.strip() == str(repo / ".venvs" / "ml" / "bin" / "python")
    result = run_cli(repo, "python", "transcode")
    assert result.returncode == 2 and "unknown stage 'transcode'" in result.stderr


def test_cli_windows_layout(repo: Path) -> None:
    result = run_cli(repo, "--platform", "windows-x86_64", "python", "asr")
    assert result.stdout.strip().endswith(str(Path(".venvs") / "ml" / "Scripts" / "python.exe"))


def test_cli_list_shows_state_and_stages(repo: Path) -> None:
    fake_env(repo, "common")
    result = run_cli(repo, "list")
    rows = {line.split()[0]: line.split() for line in result.stdout.splitlines()[1:]}
    assert rows["common"][1] == "up-to-date" and "demux," in rows["common"]
    assert rows["ml"][1] == "missing" and "asr," in rows["ml"]
    assert rows["mlx"][1:3] == ["n/a", "no"]


def test_cli_check_names_the_fix(repo: Path) -> None:
    fake_env(repo, "common")
    result = run_cli(repo, "check", "--workflow", "transcribe")
    assert result.returncode == 1
    assert "environment ml is not built: run ./bootstrap.sh --envs ml" in result.stdout
    assert "run ./bootstrap.sh" in result.stdout and "hardware profile" in result.stdout
    result = run_cli(repo, "check", "--workflow", "nope")
    assert result.returncode == 2 and "unknown workflow" in result.stderr


def test_cli_plan_and_stamp(repo: Path) -> None:
    fake_env(repo, "common", stamp=False)
    plan = [line.split("\t") for line in run_cli(repo, "plan").stdout.splitlines()]
    assert [p[0] for p in plan] == ["common", "ml", "dev", "cluster"]
    assert plan[0][2] == "stale" and plan[1][2] == "missing"
    assert run_cli(repo, "stamp", "common").returncode == 0
    assert run_cli(repo, "plan").stdout.splitlines()[0].split("\t")[2] == "up-to-date"


def test_settings_secret_detection() -> None:
    assert settings.is_secret("HF_TOKEN") and settings.is_secret("LLM_API_KEY") and settings.is_secret("MY_SECRET")
    assert not settings.is_secret("TGT") and not settings.is_secret("MODEL_CACHE_DIR")
    assert settings.redact("HF_TOKEN", "") == ""  # an empty secret shows as empty: nothing to hide


def test_pipeline_env_documents_every_design_setting() -> None:
    defaults = settings.read_defaults(REPO)
    design = ["FILE", "DIR", "SRC", "TGT", "AUDIO_TRACK", "START", "END", "SEPARATE", "VAD", "ASR_BACKEND",
              "ASR_MODEL", "ALIGN", "TRANSLATOR", "LLM_POSTEDIT", "DEVICE", "COMPUTE_TYPE", "BATCH_SIZE",
              "THREADS", "BILINGUAL", "BURN", "MODEL_CACHE_DIR", "HF_TOKEN"]
    for name in design:
        assert name in defaults, name
        assert defaults[name].doc, f"{name} has no comment in config/pipeline.env"
