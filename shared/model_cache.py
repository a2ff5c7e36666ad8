"""Download, verify, list and report the models of config/models.toml (./cache-models.sh).

    python -m shared.model_cache [--all | --whisperx | --mlx | --align | --pyannote |
        --demucs | --indictrans2 | --nllb | --model ID ...] [--list] [--status]
        [--verify] [--dry-run] [--token T] [--cache-dir D] [--registry FILE] [-y]

cache-models.sh runs this with the common environment's interpreter and the process
environment of the environment manager, so HF_HOME / TORCH_HOME agree with the stages.

What gets fetched: a group flag fetches what this hardware class's defaults and the
current settings use from that group (shared.models.group_selection); ``--all`` is the
union of the groups a workflow uses here (shared.models.all_selection); ``--model ID``
fetches any registry entry.

Hugging Face models go through huggingface_hub into the real hub layout (pinned or
recorded revision, allow_patterns); url models are fetched with urllib into
TORCH_HOME/hub/checkpoints/. Each finished model gets ``<cache>/manifests/<id>.json``
with every file's size and sha256 (the hub's LFS sha256, or for small git files a sha256
computed here after checking the hub's git blob id). A model whose manifest is complete
on disk is skipped without any request. An interrupted download leaves huggingface_hub's
``blobs/*.incomplete`` (or ``<file>.partial``) and the next run resumes it with a Range
request.

Exit codes: 0 done / ready; 1 a model failed or a selected workflow is not ready;
2 usage error; 3 not enough free disk.

Test-only: ``CACHE_MODELS_FAKE_FREE_MB`` replaces the free-space reading of the cache's
disk. ``MODELS_TOML`` (or ``--registry``) reads another registry file.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shared import model_integrity, models, policy, progress, selection
from shared import settings as settings_mod

log = logging.getLogger(__name__)

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_DISK = 0, 1, 2, 3
WORKFLOWS = ("transcribe", "translate", "subtitle")
CHUNK = 1024 * 1024
TOKEN_HELP = "set HF_TOKEN in the environment or in .env, or pass --token"


class UsageError(Exception):
    """Bad options or settings; exit 2."""


class FetchError(Exception):
    """One model could not be fetched; the message is one line for the user."""


def say(message: str) -> None:
    print(f"cache-models: {message}", file=sys.stderr, flush=True)


# ---- small helpers -------------------------------------------------------------------
def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def git_blob_sha1(path: Path) -> str:
    """The git object id of a file (what the hub reports as blobId / ETag for non-LFS files)."""
    digest = hashlib.sha1(usedforsecurity=False)
    digest.update(f"blob {path.stat().st_size}\0".encode())
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (shared.atomic.write_text)."""
    from shared.atomic import write_text

    write_text(path, text)


def human_mb(mb: float) -> str:
    return f"{mb / 1024:.1f} GB" if mb >= 1024 else f"{mb:.0f} MB"


def free_mb(cache: Path) -> float:
    """Free space on the cache's disk (CACHE_MODELS_FAKE_FREE_MB overrides it: tests only)."""
    fake = os.environ.get("CACHE_MODELS_FAKE_FREE_MB", "")
    if fake:
        return float(fake)
    probe = Path(cache)
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return shutil.disk_usage(probe).free / 2**20


def is_commit_hash(revision: str) -> bool:
    return len(revision) == 40 and all(c in "0123456789abcdef" for c in revision)


# ---- the run's context ---------------------------------------------------------------
@dataclass
class Context:
    root: Path
    cache: Path
    values: dict[str, str]
    hw_class: str
    token: str | None

    @property
    def registry(self) -> dict[str, models.ModelSpec]:
        return models.registry(self.root)


def make_context(args: argparse.Namespace, environ: Mapping[str, str]) -> Context:
    root = Path(args.root).resolve()
    if args.registry:
        os.environ["MODELS_TOML"] = str(Path(args.registry).resolve())
    values = settings_mod.resolve(root, environ)
    cache_setting = args.cache_dir or environ.get("MODEL_CACHE_DIR", "") or values.get("MODEL_CACHE_DIR", "")
    cache = policy.cache_root({"MODEL_CACHE_DIR": cache_setting}, root)
    token = args.token or environ.get("HF_TOKEN", "") or values.get("HF_TOKEN", "") or environ.get("HUGGING_FACE_HUB_TOKEN", "")
    token = token.strip() or None
    return Context(root=root, cache=cache, values=dict(values), hw_class=policy.hardware_class(root, values), token=token)


def selected_ids(args: argparse.Namespace, ctx: Context) -> list[str]:
    """The model ids the flags select, in a stable order (empty: nothing selected)."""
    ids: list[str] = []
    if args.all:
        ids.extend(models.all_selection(ctx.values, ctx.root, ctx.hw_class))
    for group in models.GROUP_FLAGS:
        if getattr(args, group):
            ids.extend(models.group_selection(group, ctx.values, ctx.root, ctx.hw_class))
    registry = ctx.registry
    for model_id in args.model:
        if model_id not in registry:
            raise UsageError(f"unknown model id {model_id!r} for --model: see ./cache-models.sh --list")
        ids.append(model_id)
    return list(dict.fromkeys(ids))


# ---- downloading ---------------------------------------------------------------------
def _hub():
    """huggingface_hub, imported late so that the environment set in main() applies."""
    import huggingface_hub
    from huggingface_hub import errors

    return huggingface_hub, errors


def _auth_failure(spec: models.ModelSpec, status: int | None, has_token: bool) -> FetchError:
    if not has_token:
        why = "needs a Hugging Face token"
    elif status == 401:
        why = "refused the token (401: invalid or expired)"
    else:
        why = "refused access (403: the token's account has not accepted the terms)"
    return FetchError(
        f"{spec.id}: gated model {spec.repo} {why}: accept the terms at {spec.hub_url} and {TOKEN_HELP}"
    )


def fetch_hf(spec: models.ModelSpec, ctx: Context, revision: str | None = None) -> dict:
    """Fetch one Hugging Face model into the hub cache; return its manifest."""
    hub, errors = _hub()
    import requests

    revision = revision or spec.revision
    cache_dir = str(models.hub_dir(ctx.cache))
    api = hub.HfApi(token=ctx.token)
    reached = False  # whether the hub answered at all: "cannot be reached" and "interrupted" are different fixes
    try:
        info = api.model_info(spec.repo, revision=revision, files_metadata=True, token=ctx.token)
        reached = True
        commit = info.sha
        siblings = list(hub.utils.filter_repo_objects(
            info.siblings or [], allow_patterns=list(spec.allow_patterns) or None, key=lambda s: s.rfilename))
        if not siblings:
            raise FetchError(f"{spec.id}: no file of {spec.repo}@{revision} matches {list(spec.allow_patterns)}")
        files = []
        with DownloadMeter(spec.id, sum(s.size or 0 for s in siblings), models.repo_dir(ctx.cache, spec.repo)) as meter:
            for sibling in siblings:
                local = Path(hub.hf_hub_download(spec.repo, sibling.rfilename, revision=commit, cache_dir=cache_dir,
                                                 token=ctx.token))
                meter.add(sibling.size or local.stat().st_size)
                files.append(_check_hub_file(spec, ctx, sibling, local, commit))
    except errors.GatedRepoError as exc:
        raise _auth_failure(spec, exc.response.status_code if exc.response is not None else None, bool(ctx.token)) from None
    except errors.HfHubHTTPError as exc:
        status = exc.response.status_code if exc.response is not None else None
        if status in (401, 403) and spec.gated:
            raise _auth_failure(spec, status, bool(ctx.token)) from None
        if status in (401, 403, 404):
            raise FetchError(f"{spec.id}: {spec.repo}@{revision} not found or not accessible (HTTP {status}); "
                             f"check the repo in {models.registry_path(ctx.root)}") from None
        raise FetchError(f"{spec.id}: the hub answered HTTP {status}; run again later") from None
    except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError, OSError) as exc:
        if not reached:
            raise FetchError(unreachable(spec, hub.constants.ENDPOINT, exc)) from None
        raise FetchError(f"{spec.id}: download interrupted ({type(exc).__name__}); run again to resume") from None

    repo = models.repo_dir(ctx.cache, spec.repo)
    # Stages and libraries that ask for "main" (demucs, faster-whisper) find this snapshot
    # offline through refs/main; a branch or tag revision gets its own ref too.
    for ref in {"main", revision} - {commit}:
        if not is_commit_hash(ref):
            atomic_write_text(repo / "refs" / ref, commit)
    return {"schema": 1, "id": spec.id, "source": "hf", "repo": spec.repo, "revision": spec.revision,
            "commit": commit, "files": files}


class DownloadMeter:
    """Bytes, rate and ETA of one model's download through shared.progress ("download ID 37%
    (180.2/484.0 MB, 11.6 MB/s) ETA 0:26": a bar on a terminal, else a line at most every
    PROGRESS_INTERVAL seconds). huggingface_hub writes each file to ``blobs/*.incomplete``
    under ``repo_dir`` (a resumed file starts with what is already there); a thread sums the
    finished files and those growing ones twice a second."""

    def __init__(self, model_id: str, total: int, repo_dir: Path | None = None, poll: float = 0.5):
        import threading

        self.meter = progress.Progress(f"download {model_id}", total, "bytes", emit=say)
        self.repo_dir, self.poll, self.finished = repo_dir, poll, 0
        self.stop, self.lock = threading.Event(), threading.Lock()
        self.thread = threading.Thread(target=self._watch, daemon=True) if repo_dir is not None and total else None

    def __enter__(self) -> DownloadMeter:
        if self.thread is not None:
            self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        if self.thread is not None:
            self.thread.join()
        self.meter.close()

    def _growing(self) -> int:
        try:
            return sum(p.stat().st_size for p in (self.repo_dir / "blobs").glob("*.incomplete"))
        except OSError:
            return 0

    def _watch(self) -> None:
        while not self.stop.wait(self.poll):
            self.set(self.finished + self._growing())

    def set(self, done: float) -> None:
        with self.lock:  # the watcher thread and the finished files both report
            if self.meter.total and done > self.meter.done:  # no size known: no percentages to show
                self.meter.update(done - self.meter.done)

    def add(self, amount: int) -> None:
        """``amount`` more bytes are done: a finished file, or a block of a URL download."""
        self.finished += amount
        self.set(self.finished)


def unreachable(spec: models.ModelSpec, where: str, exc: BaseException) -> str:
    """The message for a fetch that never reached its server (no byte received): offline, not interrupted."""
    from urllib.parse import urlparse

    host = urlparse(where).netloc or where
    return (f"{spec.id}: {host} cannot be reached ({type(exc).__name__}): nothing was downloaded; check the network "
            f"(proxy, firewall, HF_ENDPOINT) and run again when online")


def _check_hub_file(spec: models.ModelSpec, ctx: Context, sibling, local: Path, commit: str) -> dict:
    """Hash one downloaded file against what the hub recorded; remove it and fail if it differs."""
    size = local.stat().st_size
    sha = sha256_file(local)
    if sibling.lfs is not None:
        expected, actual, blob = sibling.lfs.sha256, sha, sibling.lfs.sha256
    else:
        expected, actual, blob = sibling.blob_id, git_blob_sha1(local) if sibling.blob_id else None, sibling.blob_id
    bad_size = sibling.size is not None and size != sibling.size
    if (expected and actual != expected) or bad_size:
        _remove_hf_file(ctx.cache, spec.repo, commit, sibling.rfilename)
        raise FetchError(f"{spec.id}: {sibling.rfilename} does not match the hub's hash; removed it, run again")
    return {"path": sibling.rfilename, "size": size, "sha256": sha, "blob": blob or "",
            "mtime_ns": model_integrity.file_record(local)["mtime_ns"]}


def _remove_hf_file(cache: Path, repo: str, commit: str, rfilename: str) -> None:
    pointer = models.repo_dir(cache, repo) / "snapshots" / commit / rfilename
    target = pointer.resolve() if pointer.is_symlink() else None
    pointer.unlink(missing_ok=True)
    if target is not None:
        target.unlink(missing_ok=True)


def fetch_url(spec: models.ModelSpec, ctx: Context) -> dict:
    """Fetch one url model into TORCH_HOME/hub/checkpoints/, resuming a .partial file."""
    target = models.checkpoints_dir(ctx.cache) / spec.filename
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.is_file():
        partial = target.with_name(target.name + ".partial")
        start = partial.stat().st_size if partial.is_file() else 0
        request = urllib.request.Request(spec.url, headers={"Range": f"bytes={start}-"} if start else {})
        reached = False
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                reached = True
                if start and response.status != 206:  # the server ignored Range: start over
                    start = 0
                length = response.headers.get("Content-Length")
                expected = start + int(length) if length is not None else None
                with open(partial, "ab" if start else "wb") as fh, \
                        DownloadMeter(spec.id, int(length) if length is not None else 0) as meter:
                    while block := response.read(CHUNK):
                        fh.write(block)
                        meter.add(len(block))
        except urllib.error.HTTPError as exc:
            raise FetchError(f"{spec.id}: {spec.url} answered HTTP {exc.code}") from None
        except (urllib.error.URLError, OSError) as exc:
            if not reached:
                raise FetchError(unreachable(spec, spec.url, exc)) from None
            raise FetchError(f"{spec.id}: download interrupted ({type(exc).__name__}); run again to resume") from None
        if expected is not None and partial.stat().st_size != expected:
            raise FetchError(f"{spec.id}: download interrupted at {partial.stat().st_size}/{expected} bytes; run again to resume")
        os.replace(partial, target)
    sha = sha256_file(target)
    if spec.sha256 and sha != spec.sha256:
        target.unlink()
        raise FetchError(f"{spec.id}: {spec.filename} has sha256 {sha}, the registry expects {spec.sha256}; removed it")
    rel = target.relative_to(ctx.cache).as_posix()
    return {"schema": 1, "id": spec.id, "source": "url", "url": spec.url, "revision": spec.sha256 or "sha256-recorded",
            "commit": sha, "files": [{"path": rel, "sha256": sha, **model_integrity.file_record(target)}]}


def fetch(spec: models.ModelSpec, ctx: Context, revision: str | None = None) -> None:
    """Fetch a model and write its manifest (last, atomically)."""
    if spec.source == "package":
        raise FetchError(f"{spec.id} comes with the {spec.environment} environment "
                         f"(package {spec.package}): {models.fix_for(spec, ctx.root)}")
    started = time.monotonic()
    manifest = fetch_hf(spec, ctx, revision) if spec.source == "hf" else fetch_url(spec, ctx)
    manifest["completed_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    atomic_write_text(models.manifest_path(ctx.cache, spec.id), json.dumps(manifest, indent=2) + "\n")
    total = sum(f["size"] for f in manifest["files"]) / 2**20
    say(f"fetched {spec.id} ({human_mb(total)}, {manifest['commit'][:12]}) in {time.monotonic() - started:.1f}s")


# ---- verbs ---------------------------------------------------------------------------
def cmd_list(ctx: Context, ids: Sequence[str]) -> int:
    registry = ctx.registry
    chosen = [registry[i] for i in ids] if ids else list(registry.values())
    print(f"{'id':<34} {'group':<12} {'source':<8} {'size':>8}  {'gated':<5}  {'licence':<32} description")
    for spec in chosen:
        print(f"{spec.id:<34} {spec.group:<12} {spec.source:<8} {human_mb(spec.size_mb):>8}  "
              f"{'yes' if spec.gated else 'no':<5}  {spec.licence:<32} {spec.description}")
    print(f"{len(chosen)} models, {human_mb(sum(s.size_mb for s in chosen))} in all")
    return EXIT_OK


def _revision_shown(spec: models.ModelSpec, ctx: Context) -> str:
    manifest = models.read_manifest(ctx.cache, spec.id)
    if manifest:
        return manifest.get("commit", "")[:12]
    if spec.source == "package":
        return f"pkg:{spec.package}"
    return spec.revision[:12] if spec.source == "hf" else "-"


def cmd_status(ctx: Context, ids: Sequence[str]) -> int:
    registry = ctx.registry
    chosen = [registry[i] for i in ids] if ids else list(registry.values())
    print(f"{'id':<34} {'group':<12} {'state':<8} {'on disk':>9}  revision")
    for spec in chosen:
        state = models.model_state(spec, ctx.cache, ctx.root)
        on_disk = models.disk_bytes(spec, ctx.cache, ctx.root) / 2**20
        print(f"{spec.id:<34} {spec.group:<12} {state:<8} {human_mb(on_disk):>9}  {_revision_shown(spec, ctx)}")
    ok = all(models.model_state(s, ctx.cache, ctx.root) == "cached" for s in chosen) if ids else True
    print(f"cache: {ctx.cache} (hardware class {ctx.hw_class})")
    last = model_integrity.read_last_verify(ctx.cache)
    print(f"last full verify: {last['verified_at']} ({last['files']} files, {last['failures']} failed)" if last else
          "last full verify: never (./cache-models.sh --verify hashes every file)")
    for workflow in status_workflows(ctx, ids):
        problems = selection.workflow_problems(workflow, ctx.values, ctx.cache, ctx.root)
        print(f"workflow {workflow}: {'ready offline' if not problems else 'NOT ready'}")
        for line in problems:
            print(f"  missing: {line}")
        for line in selection.workflow_optional(workflow, ctx.values, ctx.cache, ctx.root):
            print(f"  optional: {line}")
        ok = ok and not problems
    return EXIT_OK if ok else EXIT_FAILED


def status_workflows(ctx: Context, ids: Sequence[str]) -> list[str]:
    """Workflows --status judges: all of them, or those that need a selected model."""
    if not ids:
        return list(WORKFLOWS)
    wanted = set(ids)
    return [w for w in WORKFLOWS if wanted & set(selection.workflow_model_ids(w, ctx.values, ctx.root))]


def plan(ctx: Context, ids: Sequence[str]) -> tuple[list[models.ModelSpec], list[models.ModelSpec], list[models.ModelSpec]]:
    """(to fetch, already cached, package-provided) among ``ids``; decided from local files only."""
    registry = ctx.registry
    to_fetch, cached, packaged = [], [], []
    for model_id in ids:
        spec = registry[model_id]
        if spec.source == "package":
            packaged.append(spec)
        elif models.model_state(spec, ctx.cache, ctx.root) == "cached":
            cached.append(spec)
        else:
            to_fetch.append(spec)
    return to_fetch, cached, packaged


def needed_mb(specs: Sequence[models.ModelSpec], ctx: Context) -> float:
    """What the downloads still add to the disk (approximate sizes minus what is there)."""
    return sum(max(0.0, s.size_mb - models.disk_bytes(s, ctx.cache, ctx.root) / 2**20) for s in specs)


def cmd_dry_run(ctx: Context, ids: Sequence[str]) -> int:
    to_fetch, cached, packaged = plan(ctx, ids)
    for spec in cached:
        print(f"cached      {spec.id}")
    for spec in packaged:
        state = models.model_state(spec, ctx.cache, ctx.root)
        print(f"{'installed' if state == 'cached' else 'not installed':<11} {spec.id} (package {spec.package})")
    for spec in to_fetch:
        where = f"{spec.repo}@{spec.revision}" if spec.source == "hf" else spec.url
        print(f"would fetch {spec.id} from {where} (~{human_mb(spec.size_mb)}{', gated' if spec.gated else ''})")
    total = needed_mb(to_fetch, ctx)
    print(f"total to download: ~{human_mb(total)} into {ctx.cache} (free: {human_mb(free_mb(ctx.cache))})")
    return EXIT_OK


def _confirm(count: int, total: float, ctx: Context, assume_yes: bool) -> bool:
    if assume_yes or not sys.stdin.isatty():  # never prompt without a terminal
        return True
    reply = input(f"Download {count} models (~{human_mb(total)}) into {ctx.cache}? [y/N] ")
    return reply.strip().lower() in ("y", "yes")


def _offline_forced() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "on", "yes", "true")


def cmd_fetch(ctx: Context, ids: Sequence[str], assume_yes: bool) -> int:
    to_fetch, cached, packaged = plan(ctx, ids)
    for spec in cached:
        say(f"cached: {spec.id} (skipped)")
    failures: list[str] = []
    for spec in packaged:
        if models.model_state(spec, ctx.cache, ctx.root) == "cached":
            say(f"installed: {spec.id} (in the {spec.environment} environment)")
        else:
            failures.append(f"{spec.id}: not installed: {models.fix_for(spec, ctx.root)}")
    if to_fetch:
        total = needed_mb(to_fetch, ctx)
        free = free_mb(ctx.cache)
        if total * 1.05 > free:
            say(f"not enough free disk in {ctx.cache}: need ~{human_mb(total)}, {human_mb(free)} free; "
                f"free some space or pass --cache-dir on a bigger disk (nothing was downloaded)")
            return EXIT_DISK
        if _offline_forced():
            say("HF_HUB_OFFLINE is set: downloads are disabled; unset it to fetch models")
            return EXIT_FAILED
        if not _confirm(len(to_fetch), total, ctx, assume_yes):
            say("cancelled")
            return EXIT_FAILED
        for spec in to_fetch:
            say(f"fetching {spec.id} (~{human_mb(spec.size_mb)})")
            try:
                fetch(spec, ctx)
            except FetchError as exc:
                say(f"failed: {exc}")
                failures.append(str(exc))
    if failures:
        say(f"{len(failures)} of {len(ids)} models failed:")
        for line in failures:
            say(f"  {line}")
        return EXIT_FAILED
    say(f"done: {len(ids)} models ready in {ctx.cache}")
    return EXIT_OK


def cmd_verify(ctx: Context, ids: Sequence[str]) -> int:
    """Re-hash every cached file against its manifest; re-fetch the models with a bad file."""
    registry = ctx.registry
    chosen = list(ids) or [i for i in registry if models.read_manifest(ctx.cache, i) is not None]
    failures: list[str] = []
    checked = 0
    for model_id in chosen:
        spec = registry[model_id]
        if spec.source == "package":
            if models.package_path(spec, ctx.root) is None:
                failures.append(f"{spec.id}: not installed: {models.fix_for(spec, ctx.root)}")
            continue
        manifest = models.read_manifest(ctx.cache, model_id)
        if manifest is None:
            failures.append(f"{spec.id}: not cached: {models.fix_for(spec, ctx.root, ctx.values)}")
            continue
        bad = []
        for entry in manifest["files"]:
            path = models.manifest_file_path(ctx.cache, manifest, entry)
            checked += 1
            if not path.is_file() or sha256_file(path) != entry.get("sha256"):
                bad.append((entry, path))
        if not bad and manifest.get("adopted_from") and not manifest.get("hub_verified"):
            hub_says = hub_check(spec, ctx, manifest)
            if hub_says is None:
                say(f"adopted: {spec.id}: intact, but not hub-verified (the hub could not be reached); run --verify online")
            elif hub_says:
                manifest["hub_verified"] = True
            else:
                bad = [(e, models.manifest_file_path(ctx.cache, manifest, e)) for e in manifest["files"]]
        if not bad:
            record_verified(ctx.cache, model_id, manifest)
            say(f"ok: {spec.id} ({len(manifest['files'])} files)")
            continue
        for entry, path in bad:
            say(f"corrupt: {spec.id}: {entry['path']} does not match its recorded sha256; re-fetching")
            if manifest["source"] == "hf":
                _remove_hf_file(ctx.cache, manifest["repo"], manifest["commit"], entry["path"])
            else:
                path.unlink(missing_ok=True)
        try:
            # Repair the very snapshot that was recorded, even if the branch moved since.
            fetch(spec, ctx, revision=manifest.get("commit") if manifest["source"] == "hf" else None)
            say(f"repaired: {spec.id}")
        except FetchError as exc:
            failures.append(str(exc))
    say(f"verified {checked} files of {len(chosen)} models")
    if not ids:  # a full verify: remembered, and shown by --status
        model_integrity.write_last_verify(ctx.cache, chosen, checked, len(failures))
    for line in failures:
        say(f"  failed: {line}")
    return EXIT_FAILED if failures else EXIT_OK


def hub_check(spec: models.ModelSpec, ctx: Context, manifest: dict) -> bool | None:
    """Whether an adopted model's files are the hub's at its commit (LFS sha256 / git blob id); None offline."""
    hub, errors = _hub()
    import requests

    try:
        info = hub.HfApi(token=ctx.token).model_info(spec.repo, revision=manifest["commit"], files_metadata=True,
                                                     token=ctx.token)
    except (errors.HfHubHTTPError, requests.RequestException, OSError):
        return None
    siblings = {s.rfilename: s for s in info.siblings or []}
    for entry in manifest["files"]:
        sibling = siblings.get(entry["path"])
        if sibling is None:
            return False
        path = models.manifest_file_path(ctx.cache, manifest, entry)
        if sibling.lfs is not None:
            if sibling.lfs.sha256 != entry["sha256"]:
                return False
        elif sibling.blob_id and git_blob_sha1(path) != sibling.blob_id:
            return False
    return True


def record_verified(cache: Path, model_id: str, manifest: dict) -> None:
    """After every file hashed right: record their size and time now (a touched but intact file is
    accepted again by the stages) and when the model was last verified."""
    for entry in manifest["files"]:
        entry.update(model_integrity.file_record(models.manifest_file_path(cache, manifest, entry)))
    manifest["verified_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    atomic_write_text(models.manifest_path(cache, model_id), json.dumps(manifest, indent=2) + "\n")


# ---- carrying the cache: --export, --import, --adopt ----------------------------------------
EXPORT_INDEX = "EXPORT.json"
EXPORT_KIND = "model-cache-export"


class CarryError(Exception):
    """An export, import or adoption that cannot be done; one line for the user (exit 1)."""


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _model_files(ctx: Context, manifest: dict) -> list[tuple[dict, Path]]:
    return [(entry, models.manifest_file_path(ctx.cache, manifest, entry)) for entry in manifest["files"]]


def _safe_member(name: str) -> bool:
    parts = Path(name).parts
    return bool(parts) and not Path(name).is_absolute() and ".." not in parts and "\\" not in name


def _archive_name(manifest: dict, entry: Mapping) -> str:
    """Where a model file lies inside an export: its place in the cache, relative to the cache."""
    if manifest.get("source") == "hf":
        return (Path("huggingface") / "hub" / ("models--" + manifest["repo"].replace("/", "--")) / "snapshots"
                / manifest["commit"] / entry["path"]).as_posix()
    return str(entry["path"])


def cmd_export(ctx: Context, ids: Sequence[str], archive: Path) -> int:
    """Write the selected cached models (every cached one when none is selected) with their records and hashes."""
    import io
    import tarfile

    registry = ctx.registry
    chosen = list(ids) or [i for i in registry if models.read_manifest(ctx.cache, i) is not None]
    exported, skipped = [], []
    for model_id in chosen:
        spec = registry.get(model_id)
        manifest = models.read_manifest(ctx.cache, model_id)
        if spec is not None and spec.source == "package":
            skipped.append(f"{model_id} (comes with the {spec.environment} environment)")
            continue
        if manifest is None or not models.manifest_complete(ctx.cache, manifest):
            raise CarryError(f"{model_id} is not cached here, so it cannot be exported: "
                             f"{models.fix_for(spec, ctx.root, ctx.values) if spec else 'see ./cache-models.sh --list'}")
        exported.append(manifest)
    if not exported:
        raise CarryError("no cached model to export (fetch some first: ./cache-models.sh --all)")
    archive = archive.expanduser().absolute()
    archive.parent.mkdir(parents=True, exist_ok=True)
    tmp = archive.with_name(f".{archive.name}.tmp-{os.getpid()}")
    total = 0
    try:
        with tarfile.open(tmp, "w", dereference=True, format=tarfile.PAX_FORMAT) as tar:
            records = []
            for manifest in exported:
                record = dict(manifest, files=[])
                for entry, path in _model_files(ctx, manifest):
                    sha = sha256_file(path)  # hashed now: the archive carries what is on disk, checked
                    if entry.get("sha256") and entry["sha256"] != sha:
                        raise CarryError(f"{manifest['id']}: {entry['path']} does not match its recorded sha256: "
                                         f"{model_integrity.VERIFY_FIX} first; nothing was exported")
                    record["files"].append(dict(entry, sha256=sha, size=path.stat().st_size))
                    tar.add(path, arcname=_archive_name(manifest, entry), recursive=False)
                    total += path.stat().st_size
                records.append(record)
            index = json.dumps({"kind": EXPORT_KIND, "schema": 1, "created_at": _now(), "models": records},
                               indent=2).encode()
            info = tarfile.TarInfo(EXPORT_INDEX)
            info.size, info.mtime = len(index), int(time.time())
            tar.addfile(info, io.BytesIO(index))
        os.replace(tmp, archive)
    finally:
        tmp.unlink(missing_ok=True)
    for line in skipped:
        say(f"not exported: {line}")
    say(f"exported {len(exported)} models ({human_mb(total / 2**20)}) to {archive}: "
        f"{', '.join(m['id'] for m in exported)}; on the other machine: ./cache-models.sh --import {archive.name}")
    return EXIT_OK


def _read_index(tar, archive: Path) -> list[dict]:
    try:
        member = tar.getmember(EXPORT_INDEX)
        data = json.loads(tar.extractfile(member).read())
    except (KeyError, AttributeError, ValueError):
        raise CarryError(f"{archive}: not a model export of cache-models.sh (no readable {EXPORT_INDEX}); "
                         "nothing was imported") from None
    if not isinstance(data, dict) or data.get("kind") != EXPORT_KIND or not isinstance(data.get("models"), list):
        raise CarryError(f"{archive}: not a model export of cache-models.sh ({EXPORT_INDEX} of another kind); "
                         "nothing was imported")
    return data["models"]


def cmd_import(ctx: Context, archive: Path) -> int:
    """Check every file of an export against its sha256, then install its models; all or nothing."""
    import tarfile

    archive = archive.expanduser()
    if not archive.is_file():
        raise CarryError(f"{archive}: no such file")
    staging = ctx.cache / f".import-{os.getpid()}"
    try:
        try:
            tar = tarfile.open(archive, "r:*")  # noqa: SIM115 - entered just below, after the error check
        except (tarfile.TarError, OSError) as exc:
            raise CarryError(f"{archive}: not a readable tar archive ({exc}); nothing was imported") from None
        with tar:
            records = _read_index(tar, archive)
            expected: dict[str, tuple[str, int]] = {}
            for record in records:
                if not isinstance(record, dict) or record.get("source") not in ("hf", "url") or not record.get("id"):
                    raise CarryError(f"{archive}: a model record of an unknown shape; nothing was imported")
                if record["source"] == "hf" and not (is_commit_hash(str(record.get("commit", "")))
                                                     and "/" in str(record.get("repo", ""))):
                    raise CarryError(f"{archive}: {record['id']} has no repository and commit; nothing was imported")
                for entry in record.get("files") or []:
                    name = _archive_name(record, entry)
                    if not _safe_member(name) or not (_safe_member(entry["path"])):
                        raise CarryError(f"{archive}: {record['id']} names a file outside the cache ({entry['path']}); "
                                         "refused, nothing was imported")
                    expected[name] = (str(entry["sha256"]), int(entry["size"]))
            seen: set[str] = set()
            for member in tar:
                if member.name == EXPORT_INDEX:
                    continue
                if member.name not in expected or not member.isfile():
                    raise CarryError(f"{archive}: holds {member.name}, which no model record lists: not an export "
                                     "of cache-models.sh, or tampered with; nothing was imported")
                sha, size = expected[member.name]
                target = staging / member.name
                target.parent.mkdir(parents=True, exist_ok=True)
                digest = hashlib.sha256()
                with tar.extractfile(member) as src, open(target, "wb") as dst:
                    for block in iter(lambda: src.read(CHUNK), b""):
                        digest.update(block)
                        dst.write(block)
                if digest.hexdigest() != sha or target.stat().st_size != size:
                    raise CarryError(f"{archive}: {member.name} does not match its sha256: the archive is damaged; "
                                     "nothing was imported (export it again)")
                seen.add(member.name)
            missing = sorted(set(expected) - seen)
            if missing:
                raise CarryError(f"{archive}: {missing[0]} is listed but not in the archive (truncated?); "
                                 "nothing was imported")
        for record in records:  # everything checked: install, each model's record last
            _install(ctx, staging, record, archive)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    say(f"imported {len(records)} models into {ctx.cache}: {', '.join(r['id'] for r in records)} "
        "(every file's sha256 checked)")
    return EXIT_OK


def _install(ctx: Context, staging: Path, record: dict, origin: Path) -> None:
    files = []
    for entry in record["files"]:
        name = _archive_name(record, entry)
        target = ctx.cache / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.is_symlink() or target.exists():
            target.unlink()
        os.replace(staging / name, target)
        files.append(dict(entry, **model_integrity.file_record(target)))
    if record["source"] == "hf":
        atomic_write_text(models.repo_dir(ctx.cache, record["repo"]) / "refs" / "main", record["commit"])
    manifest = dict(record, files=files, imported_from=str(origin.name), imported_at=_now())
    atomic_write_text(models.manifest_path(ctx.cache, record["id"]), json.dumps(manifest, indent=2) + "\n")


def cmd_adopt(ctx: Context, ids: Sequence[str], source: Path) -> int:
    """Take models already in the user's HF cache: files copied (hard-linked where possible) and hashed here."""
    from fnmatch import fnmatch

    registry = ctx.registry
    chosen = list(ids) or [i for i, s in registry.items() if s.source == "hf"]
    adopted, failures = [], []
    for model_id in chosen:
        spec = registry[model_id]
        if spec.source != "hf":
            failures.append(f"{model_id}: only Hugging Face models can be adopted")
            continue
        if models.model_state(spec, ctx.cache, ctx.root) == "cached":
            say(f"cached: {model_id} (skipped)")
            continue
        repo = source / ("models--" + spec.repo.replace("/", "--"))
        commit = spec.revision if is_commit_hash(spec.revision) else ""
        if not commit and (repo / "refs" / spec.revision).is_file():
            commit = (repo / "refs" / spec.revision).read_text(encoding="utf-8").strip()
        snap = repo / "snapshots" / commit if commit else None
        if snap is None or not snap.is_dir():
            if ids:
                failures.append(f"{model_id}: {spec.repo}@{spec.revision} is not in {source}")
            continue
        patterns = list(spec.allow_patterns)
        found = sorted(p for p in snap.rglob("*") if p.is_file()
                       and (not patterns or any(fnmatch(p.relative_to(snap).as_posix(), pat) for pat in patterns)))
        if not found:
            failures.append(f"{model_id}: {snap} holds no file the registry selects")
            continue
        target_snap = models.repo_dir(ctx.cache, spec.repo) / "snapshots" / commit
        files = []
        for path in found:
            rel = path.relative_to(snap).as_posix()
            target = target_snap / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.is_symlink() or target.exists():
                target.unlink()
            real = path.resolve()
            try:
                os.link(real, target)
            except OSError:
                shutil.copy2(real, target)
            files.append({"path": rel, "sha256": sha256_file(target), **model_integrity.file_record(target)})
        atomic_write_text(models.repo_dir(ctx.cache, spec.repo) / "refs" / "main", commit)
        manifest = {"schema": 1, "id": spec.id, "source": "hf", "repo": spec.repo, "revision": spec.revision,
                    "commit": commit, "files": files, "adopted_from": str(source), "adopted_at": _now(),
                    "hub_verified": False}
        atomic_write_text(models.manifest_path(ctx.cache, spec.id), json.dumps(manifest, indent=2) + "\n")
        total = sum(f["size"] for f in files) / 2**20
        say(f"adopted {spec.id} ({human_mb(total)}, {commit[:12]}) from {source}: hashed here, not hub-verified "
            "until an online ./cache-models.sh --verify")
        adopted.append(spec.id)
    for line in failures:
        say(f"  failed: {line}")
    if not adopted and not failures:
        say(f"nothing to adopt from {source}")
    return EXIT_FAILED if failures else EXIT_OK


# ---- command line --------------------------------------------------------------------
# ---- CTranslate2 copies -------------------------------------------------------------------
def nllb_models(ctx: Context, ids: Sequence[str]) -> list[models.ModelSpec]:
    """The NLLB models among ``ids`` (every NLLB model of the registry when ``ids`` is empty)."""
    registry = ctx.registry
    chosen = [registry[i] for i in ids] if ids else list(registry.values())
    return [s for s in chosen if s.group == "nllb"]


def cmd_ct2(ctx: Context, model_ids: Sequence[str]) -> int:
    """Convert cached NLLB models to CTranslate2 int8 in the translate stage's environment.

    The converter needs ctranslate2 and transformers, which live in the ml environment, so
    this runs ``python -m shared.translation.ct2`` there through the environment manager.
    """
    if not model_ids:
        say("--ct2: no cached NLLB model to convert (fetch one first: ./cache-models.sh --nllb --ct2)")
        return EXIT_FAILED
    command = [sys.executable, "-m", "shared.environment_manager", "--root", str(ctx.root), "run", "translate", "--",
               "python", "-m", "shared.translation.ct2", *model_ids, "--cache", str(ctx.cache)]
    environ = dict(os.environ, MODEL_CACHE_DIR=str(ctx.cache))
    say(f"converting to CTranslate2 int8: {', '.join(model_ids)}")
    code = subprocess.call(command, env=environ, cwd=ctx.root)
    if code != 0:
        say(f"--ct2: the conversion failed (exit {code}); the NLLB models still work through transformers")
        return EXIT_FAILED
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cache-models.sh",
        description="Download, verify, list and report the models of config/models.toml.",
    )
    sel = parser.add_argument_group("what (at least one for a download)")
    sel.add_argument("--all", action="store_true", help="every model this hardware class's workflows use")
    for group in models.GROUP_FLAGS:
        sel.add_argument(f"--{group}", action="store_true", help=f"the {group} models the defaults and settings use")
    sel.add_argument("--model", action="append", default=[], metavar="ID", help="one registry model (repeatable)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--list", action="store_true", help="the registry with sizes and licences")
    mode.add_argument("--status", action="store_true", help="what is cached; which workflows are ready offline")
    mode.add_argument("--verify", action="store_true", help="re-hash cached files, re-fetch corrupt ones")
    mode.add_argument("--dry-run", action="store_true", help="what would be fetched and the total size")
    mode.add_argument("--export", type=Path, metavar="FILE.tar",
                      help="write the selected cached models (default: every one) with records and hashes to FILE.tar")
    mode.add_argument("--import", dest="import_", type=Path, metavar="FILE.tar",
                      help="check every file of an export against its sha256, then install it (all or nothing)")
    mode.add_argument("--adopt", action="store_true",
                      help="take the selected models (default: any) from your own Hugging Face cache (ADOPT_FROM)")
    parser.add_argument("--token", default=None, help="Hugging Face token (default: HF_TOKEN)")
    parser.add_argument("--cache-dir", default=None, help="model cache (default: MODEL_CACHE_DIR or .cache/)")
    parser.add_argument("--registry", default=None, help="another models.toml (default: MODELS_TOML or config/models.toml)")
    parser.add_argument("--root", default=str(settings_mod.REPO_ROOT), help=argparse.SUPPRESS)
    parser.add_argument("-y", "--yes", action="store_true", help="do not ask before downloading")
    parser.add_argument("--ct2", action="store_true",
                        help="also make CTranslate2 int8 copies of the NLLB models (selected ones, else every cached one)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="cache-models: %(message)s", stream=sys.stderr)
    args = build_parser().parse_args(argv)
    # Download progress is shared.progress's (a bar on a terminal, throttled lines elsewhere), not the hub's.
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    try:
        ctx = make_context(args, os.environ)
        ids = selected_ids(args, ctx)
        if args.list:
            return cmd_list(ctx, ids)
        if args.status:
            return cmd_status(ctx, ids)
        if args.verify:
            return cmd_verify(ctx, ids)
        if args.export:
            return cmd_export(ctx, ids, args.export)
        if args.import_:
            return cmd_import(ctx, args.import_)
        if args.adopt:
            return cmd_adopt(ctx, ids, policy.user_hub_cache(os.environ))
        if not ids and args.ct2 and not args.dry_run:
            return cmd_ct2(ctx, [s.id for s in nllb_models(ctx, ids) if models.model_state(s, ctx.cache, ctx.root) == "cached"])
        if not ids:
            raise UsageError("nothing selected: pass --all, a group flag (--whisperx, --align, ...) or --model ID")
        if args.dry_run:
            return cmd_dry_run(ctx, ids)
        code = cmd_fetch(ctx, ids, args.yes)
        if args.ct2 and code in (EXIT_OK, EXIT_FAILED):
            ready = [s.id for s in nllb_models(ctx, ids) if models.model_state(s, ctx.cache, ctx.root) == "cached"]
            code = max(code, cmd_ct2(ctx, ready))
        return code
    except (UsageError, models.RegistryError) as exc:
        print(f"cache-models: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except CarryError as exc:
        say(f"error: {exc}")
        return EXIT_FAILED
    except BrokenPipeError:  # output piped into head: not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
