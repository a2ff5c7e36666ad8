"""Shared fixtures: the repository on sys.path, and tiny media made on the fly.

``media`` is a :class:`MediaMaker` writing into the test's own temporary folder; see
tests/helpers/media.py for what each helper makes. Tests that need a tool this machine
lacks (ffmpeg, espeak-ng) are skipped with the reason, never failed.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from tests.helpers import media as media_helpers


class MediaMaker:
    """The helpers of tests/helpers/media.py bound to one folder: ``media.video("a.mkv", ...)``."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def path(self, name: str) -> Path:
        return self.folder / name

    def video(self, name: str, **kwargs) -> Path:
        return media_helpers.make_video(self.path(name), **kwargs)

    def audio(self, name: str, **kwargs) -> Path:
        return media_helpers.make_audio(self.path(name), **kwargs)

    def speech(self, name: str, text: str, **kwargs) -> Path:
        return media_helpers.speech_wav(self.path(name), text, **kwargs)

    def truncated(self, name: str, **kwargs) -> Path:
        return media_helpers.make_truncated(self.path(name), **kwargs)

    def text(self, name: str, text: str = "this is not a video\n") -> Path:
        return media_helpers.make_text_file(self.path(name), text)

    def srt(self, name: str, cues) -> Path:
        return media_helpers.write_srt(self.path(name), cues)


@pytest.fixture
def need_ffmpeg() -> None:
    """Skip the test where ffmpeg/ffprobe are not installed."""
    if not (shutil.which("ffmpeg") and shutil.which("ffprobe")):
        pytest.skip("ffmpeg/ffprobe not installed (apt install ffmpeg)")


@pytest.fixture
def need_espeak() -> None:
    """Skip the test where espeak-ng is not installed."""
    if not shutil.which("espeak-ng"):
        pytest.skip("espeak-ng not installed (apt install espeak-ng)")


@pytest.fixture
def media(tmp_path: Path, need_ffmpeg: None) -> MediaMaker:
    """Tiny media files in a folder of this test (name with a space, to catch quoting bugs)."""
    folder = tmp_path / "media files"
    folder.mkdir()
    return MediaMaker(folder)
