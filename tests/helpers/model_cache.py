"""Mark a model built in a test as cached, the way cache-models.sh leaves a finished download.

Standard library only, so the ml-environment scripts that build tiny models can use it too.
A model counts as cached when ``<cache>/manifests/<id>.json`` lists its snapshot's files
(shared/models.py reads it); ``refs/main`` lets huggingface_hub find the snapshot offline.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path


def snapshot_dir(cache: Path, repo: str, commit: str) -> Path:
    """``<cache>/huggingface/hub/models--org--name/snapshots/<commit>``: where the files go."""
    return Path(cache) / "huggingface" / "hub" / ("models--" + repo.replace("/", "--")) / "snapshots" / commit


def mark_cached(cache: Path, model_id: str, repo: str, commit: str, revision: str | None = None) -> Path:
    """Write refs/main and the completion manifest for the files already in the snapshot; the snapshot.

    ``revision``: the registry's revision when it is a branch (``main``), as cache-models.sh records it.
    """
    snap = snapshot_dir(cache, repo, commit)
    refs = snap.parents[1] / "refs"
    refs.mkdir(parents=True, exist_ok=True)
    (refs / "main").write_text(commit, encoding="utf-8")
    files = [{"path": p.relative_to(snap).as_posix(), "size": p.stat().st_size, "mtime_ns": p.stat().st_mtime_ns,
              "sha256": hashlib.sha256(p.read_bytes()).hexdigest()} for p in sorted(snap.rglob("*")) if p.is_file()]
    manifest = {"id": model_id, "source": "hf", "repo": repo, "revision": revision or commit, "commit": commit, "files": files}
    (Path(cache) / "manifests").mkdir(parents=True, exist_ok=True)
    (Path(cache) / "manifests" / f"{model_id}.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    return snap
