"""The review server: a Starlette app over one job directory, served by uvicorn on 127.0.0.1.

Every request must carry the session's random token (``?token=`` in the URL it prints,
the ``X-Review-Token`` header, or the cookie the page receives on its first load, named
after the port and sent only to same-site requests); without it: 403. A request whose
``Origin`` or ``Host`` is not this server is refused (403) before anything is read, so
another web page cannot drive it. Paths come only from the job directory: ``..``,
absolute paths and symlinks that lead out of it get 404; tracks are looked up by name in
``subs/tracks.json``, never joined from the request.

The routes: ``/`` (the page) and ``/static/*``; ``/api/job`` (tracks, rules, media);
``/api/track/<track>`` (base cues, the cues with the saved edits, QC flags, low-confidence
words); ``/api/peaks`` (the waveform, from audio.wav); ``/api/track/<track>/edits``
(POST: save); ``/media`` (the input video or audio, with Range requests); ``/files/<path>``
(a file of the job).
"""

from __future__ import annotations

import array
import hmac
import html
import json
import logging
import os
import secrets
import sys
import threading
import wave
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from shared.review import edits
from shared.subtitles.builder import Cue

log = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"
MAX_BODY = 2 * 1024 * 1024  # bytes of one save request
PEAKS_PER_SECOND = 100
TOKEN_HEADER = "x-review-token"


class ReviewJob:
    """What the page reads and writes in one job directory."""

    def __init__(self, job_dir: Path, low_confidence: float = 0.5) -> None:
        self.dir = Path(job_dir).resolve()
        self.low_confidence = low_confidence
        self._peaks: dict[str, Any] | None = None
        self._peaks_lock = threading.Lock()

    # ---- paths: only inside the job --------------------------------------------------
    def inside(self, relative: str) -> Path | None:
        """The file ``relative`` names inside the job, or None when it leads out (``..``, absolute, symlink)."""
        if not relative or "\x00" in relative or relative.startswith(("/", "\\")) or (len(relative) > 1 and relative[1] == ":"):
            return None
        parts = relative.replace("\\", "/").split("/")
        if any(part in ("", ".", "..") for part in parts):
            return None
        path = self.dir.joinpath(*parts)
        real = Path(os.path.realpath(path))
        if real != self.dir and self.dir not in real.parents:
            return None
        return real if real.is_file() else None

    def _json(self, relative: str) -> Any:
        path = self.inside(relative)
        if path is None:
            return None
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    # ---- job facts -------------------------------------------------------------------
    def tracks(self) -> list[dict[str, Any]]:
        data = self._json("subs/tracks.json") or {}
        out = []
        for track in data.get("tracks") or []:
            stem = str(track.get("json", "")).removesuffix(".json")
            if stem and self.inside(f"subs/{stem}.json"):
                out.append({"track": stem, "language": track.get("language", ""), "role": track.get("role", ""),
                            "languages": track.get("languages"), "cues": track.get("cues", 0)})
        return out

    def track_names(self) -> set[str]:
        return {t["track"] for t in self.tracks()}

    def media(self) -> Path | None:
        """The input the job was made from (media.json's source), for the player."""
        info = self._json("media.json") or {}
        source = info.get("source")
        if source and Path(source).is_file():
            return Path(source)
        return None

    def summary(self) -> dict[str, Any]:
        info = self._json("media.json") or {}
        built = self._json("subs/tracks.json") or {}
        tracks = self.tracks()
        rules = {}
        if tracks:
            rules = (self._json(f"subs/{tracks[0]['track']}.qc.json") or {}).get("rules", {})
        media = self.media()
        has_video = bool(info.get("has_video", True))
        return {"job": self.dir.name, "name": built.get("name", ""), "fps": built.get("fps") or info.get("fps") or 24,
                "tracks": tracks, "rules": rules, "media": bool(media), "video": has_video,
                "duration": info.get("duration"), "clip_start": info.get("clip_start", 0),
                "low_confidence": self.low_confidence}

    # ---- one track -------------------------------------------------------------------
    def base_cues(self, track: str) -> list[Cue]:
        """The cues as the subtitle stage built them, before the edits."""
        report = self._json(f"subs/{track}{edits.REPORT_SUFFIX}")
        if report and isinstance(report.get("base"), list):
            return [edits.cue_from_dict(c) for c in report["base"]]
        data = self._json(f"subs/{track}.json") or {}
        return [edits.cue_from_dict(c) for c in data.get("cues") or []]

    def changes(self, track: str) -> list[dict[str, Any]]:
        return edits.read_changes(edits.edits_path(self.dir, track))

    def track(self, track: str) -> dict[str, Any]:
        base = self.base_cues(track)
        saved = self.changes(track)
        applied = edits.apply_changes(base, saved)
        built = self._json(f"subs/{track}.json") or {}
        qc = self._json(f"subs/{track}.qc.json") or {}
        # QC flags belong to the written cues; carry them over by their times.
        written = {(round(c["start"], 3), round(c["end"], 3)): n for n, c in enumerate(built.get("cues") or [], 1)}
        flags: dict[int, list[dict[str, Any]]] = {}
        for violation in qc.get("violations") or []:
            flags.setdefault(int(violation.get("cue", 0)), []).append(
                {"rule": violation.get("rule"), "message": violation.get("message")})
        for n in qc.get("dense_speech_cues") or []:
            flags.setdefault(int(n), []).append({"rule": "dense_speech", "message": "the speech is denser than the rules allow"})
        role = next((t["role"] for t in self.tracks() if t["track"] == track), "")
        scores = self._word_scores() if role == "source" else []
        cues = []
        for cue, origin in zip(applied.cues, applied.origins, strict=True):
            number = written.get((round(cue.start, 3), round(cue.end, 3)))
            low = _low_positions(cue, scores, self.low_confidence)
            cues.append({"start": round(cue.start, 3), "end": round(cue.end, 3), "text": cue.text, "origin": origin,
                         "flags": flags.get(number, []) if number else [], "low": low})
        report = self._json(f"subs/{track}{edits.REPORT_SUFFIX}") or {}
        return {"track": track, "base": [edits.cue_text(c).as_dict() for c in base], "cues": cues,
                "edits": len(saved), "unplaced_now": applied.unplaced, "unplaced_last_run": report.get("unplaced", [])}

    def _word_scores(self) -> list[tuple[str, float]]:
        data = self._json("aligned.json") or {}
        out = []
        for segment in data.get("segments") or []:
            for word in segment.get("words") or []:
                try:
                    score = float(word.get("score", word.get("probability", 1.0)))
                except (TypeError, ValueError):
                    score = 1.0
                out.append((str(word.get("word", "")).strip(), score))
        return out

    def save(self, track: str, cues: Any) -> dict[str, Any]:
        """Write the page's cues as changes against the base; saved changes that no longer fit are dropped (and counted)."""
        built = self.base_cues(track)
        base = [edits.cue_text(c) for c in built]
        previous = self.changes(track)
        changes = edits.changes_from_review(base, cues, previous)
        dropped = len(edits.apply_changes(built, previous).unplaced)
        path = edits.write_changes(self.dir, track, changes)
        return {"saved": str(path.relative_to(self.dir)), "changes": len(changes), "dropped": dropped}

    # ---- waveform --------------------------------------------------------------------
    def peaks(self) -> dict[str, Any]:
        """Max |sample| per 1/PEAKS_PER_SECOND s of audio.wav, scaled to 0..255 (computed once)."""
        with self._peaks_lock:
            return self._compute_peaks()

    def _compute_peaks(self) -> dict[str, Any]:
        if self._peaks is None:
            path = self.inside("audio.wav")
            if path is None:
                return {"rate": PEAKS_PER_SECOND, "peaks": []}
            with wave.open(str(path), "rb") as wav:
                if wav.getsampwidth() != 2:
                    return {"rate": PEAKS_PER_SECOND, "peaks": []}
                channels, rate = wav.getnchannels(), wav.getframerate()
                samples = array.array("h")
                samples.frombytes(wav.readframes(wav.getnframes()))
            if sys.byteorder == "big":
                samples.byteswap()
            step = max(1, rate // PEAKS_PER_SECOND) * channels
            peaks = []
            for i in range(0, len(samples), step):
                chunk = samples[i:i + step]
                peaks.append(max(max(chunk), -min(chunk)))
            top = max(peaks, default=0) or 1
            self._peaks = {"rate": rate * channels / step, "peaks": [round(255 * p / top) for p in peaks]}
        return self._peaks


def _low_positions(cue: Cue, scores: list[tuple[str, float]], threshold: float) -> list[int]:
    """Positions (in the cue text's whitespace-separated words) of the words spoken with low confidence."""
    tokens = edits.words_of(cue.text)
    low = [scores[i][0] for i in cue.words if 0 <= i < len(scores) and scores[i][1] < threshold]
    if len(tokens) == len(cue.words):
        return [k for k, i in enumerate(cue.words) if 0 <= i < len(scores) and scores[i][1] < threshold]
    positions, k = [], 0  # the text is not one token per word (edited, or a language without spaces)
    for word in low:
        while k < len(tokens) and tokens[k] != word:
            k += 1
        if k < len(tokens):
            positions.append(k)
            k += 1
    return positions


# ---- the guard: token, origin, host ---------------------------------------------------------
class Guard:
    """ASGI middleware: 403 unless the request carries the token and comes from this server's page."""

    def __init__(self, app: ASGIApp, token: str, port_holder: dict[str, int]) -> None:
        self.app = app
        self.token = token
        self.port_holder = port_holder

    def cookie_name(self) -> str:
        return f"review_token_{self.port_holder.get('port', 0)}"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        port = self.port_holder.get("port")
        allowed_hosts = {f"127.0.0.1:{port}", f"localhost:{port}"} if port else None
        host = request.headers.get("host", "")
        origin = request.headers.get("origin")
        reason = None
        if allowed_hosts is not None and host not in allowed_hosts:
            reason = f"host {host!r} is not this server"
        elif origin is not None and (allowed_hosts is None or origin.removeprefix("http://") not in allowed_hosts):
            reason = f"origin {origin!r} is not this server"
        else:
            given = (request.query_params.get("token") or request.headers.get(TOKEN_HEADER)
                     or request.cookies.get(self.cookie_name()) or "")
            if not hmac.compare_digest(given.encode(), self.token.encode()):
                reason = "missing or wrong token" if given else "no token"
        if reason:
            log.warning("refused %s %s: %s", request.method, request.url.path, reason)
            await JSONResponse({"error": f"forbidden: {reason} (open the URL make review printed)"}, 403)(
                scope, receive, send)
            return

        async def send_with_cookie(message: dict) -> None:
            if message["type"] == "http.response.start" and request.query_params.get("token"):
                headers = list(message.get("headers", []))
                headers.append((b"set-cookie", f"{self.cookie_name()}={self.token}; Path=/; HttpOnly; SameSite=Strict"
                                .encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_cookie)


SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; media-src 'self'; style-src 'self'; "
                               "script-src 'self'; connect-src 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status, headers=SECURITY_HEADERS)


def create_app(job_dir: Path, token: str, port_holder: dict[str, int] | None = None,
               low_confidence: float = 0.5) -> Starlette:
    """The review app for ``job_dir``; ``port_holder['port']`` is the port it serves (Host/Origin check)."""
    holder = port_holder if port_holder is not None else {}
    return Starlette(routes=job_routes(job_dir, low_confidence),
                     middleware=[Middleware(Guard, token=token, port_holder=holder)])


def create_folder_app(jobs: list[tuple[str, Path | None]], token: str, port_holder: dict[str, int] | None = None,
                      low_confidence: float = 0.5) -> Starlette:
    """The review app for a folder (make review DIR=): a list of its files at ``/``, each job's page at ``/job/<n>/``.

    ``jobs`` is (file name, job directory, or None when that file has no subtitles yet).
    """
    holder = port_holder if port_holder is not None else {}

    async def index(request: Request) -> Response:
        items = []
        for n, (name, directory) in enumerate(jobs):
            label = html.escape(name)
            items.append(f'<li><a href="job/{n}/">{label}</a></li>' if directory else
                         f"<li>{label}: no subtitles yet (make subtitle)</li>")
        page = ('<!doctype html><html lang="en"><head><meta charset="utf-8"><link rel="icon" href="data:,">'
                '<title>Review</title><link rel="stylesheet" href="job-list.css"></head><body><h1>Review</h1><ul>'
                + "".join(items) + "</ul></body></html>")
        return HTMLResponse(page, headers=SECURITY_HEADERS)

    async def style(request: Request) -> Response:
        return FileResponse(STATIC / "review.css", headers=SECURITY_HEADERS)

    routes: list = [Route("/", index), Route("/job-list.css", style)]
    routes += [Mount(f"/job/{n}", routes=job_routes(directory, low_confidence))
               for n, (_, directory) in enumerate(jobs) if directory]
    return Starlette(routes=routes, middleware=[Middleware(Guard, token=token, port_holder=holder)])


def job_routes(job_dir: Path, low_confidence: float) -> list:
    """The routes of one job's page and data (see the module docstring)."""
    review = ReviewJob(job_dir, low_confidence)

    async def page(request: Request) -> Response:
        return FileResponse(STATIC / "index.html", headers=SECURITY_HEADERS)

    async def job_info(request: Request) -> Response:
        return JSONResponse(review.summary(), headers=SECURITY_HEADERS)

    def known_track(request: Request) -> str | None:
        name = request.path_params["track"]
        return name if name in review.track_names() else None

    async def track(request: Request) -> Response:
        name = known_track(request)
        if name is None:
            return _error(404, "no such track in subs/tracks.json")
        try:
            return JSONResponse(review.track(name), headers=SECURITY_HEADERS)
        except edits.EditError as exc:
            return _error(500, str(exc))

    async def save(request: Request) -> Response:
        name = known_track(request)
        if name is None:
            return _error(404, "no such track in subs/tracks.json")
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
            return _error(415, "send the cues as application/json")
        declared = request.headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > MAX_BODY):
            log.warning("refused save of %s: body over %d bytes", name, MAX_BODY)
            return _error(413, f"edit larger than {MAX_BODY} bytes")
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY:
                log.warning("refused save of %s: body over %d bytes", name, MAX_BODY)
                return _error(413, f"edit larger than {MAX_BODY} bytes")
        try:
            data = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            log.warning("refused save of %s: not JSON", name)
            return _error(400, "the body is not JSON")
        if not isinstance(data, dict) or not isinstance(data.get("cues"), list):
            log.warning("refused save of %s: no cue list", name)
            return _error(400, "send {\"cues\": [...]}")
        try:
            result = review.save(name, data["cues"])
        except edits.EditError as exc:
            log.warning("refused save of %s: %s", name, exc)
            return _error(422, f"not saved: {exc}")
        log.info("saved %s: %d changes in %s", name, result["changes"], result["saved"])
        return JSONResponse(result, headers=SECURITY_HEADERS)

    async def peaks(request: Request) -> Response:
        # seconds of CPU for a film: off the event loop, so the page and the video keep loading
        return JSONResponse(await run_in_threadpool(review.peaks), headers=SECURITY_HEADERS)

    async def media(request: Request) -> Response:
        path = review.media()
        if path is None:
            return _error(404, "the input file of this job is not where media.json says")
        return FileResponse(path)

    async def files(request: Request) -> Response:
        path = review.inside(request.path_params["path"])
        if path is None:
            log.warning("refused file %r: not a file inside the job", request.path_params["path"])
            return _error(404, "no such file inside the job")
        return FileResponse(path, headers={"Cache-Control": "no-store"})

    return [
        Route("/", page),
        Route("/api/job", job_info),
        Route("/api/peaks", peaks),
        Route("/api/track/{track}", track),
        Route("/api/track/{track}/edits", save, methods=["POST"]),
        Route("/media", media),
        Route("/files/{path:path}", files),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]


def new_token() -> str:
    return secrets.token_urlsafe(24)
