"""review: serve the review page of one job on 127.0.0.1 and print its URL (make review FILE=x).

    python stages/review.py (--file FILE | --job-dir JOB | --dir FOLDER) [--port N] [--open/--no-open]

Not a stage of the chain: it reads the job's subtitle tracks and writes only
``edits/<track>.json`` when the reviewer saves; the next ``make subtitle`` applies them
(shared/review/edits.py). The URL carries a random token; Ctrl-C stops the server.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import sys
import threading
import webbrowser
from pathlib import Path

import click

if __package__ in (None, ""):  # run as a file: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shared import job, job_params, settings

log = logging.getLogger("review")


class _InputError(click.ClickException):
    """A one-line error (no usage text) with the usage exit status."""

    exit_code = 2


def _job_dir(file: str | None, job_dir: Path | None) -> Path:
    if job_dir is not None:
        return job_dir
    if not file:
        raise _InputError("give FILE= (the input whose job to review) or --job-dir")
    values = job_params.effective_settings(os.environ)
    try:
        return job.job_dir(job.check_input(file), values.get("OUT_DIR") or "out")
    except job.JobError as exc:
        raise _InputError(str(exc)) from None


def _folder_jobs(folder: str) -> list[tuple[str, Path | None]]:
    """(file name, its job directory or None when it has no subtitles yet) for every media file under ``folder``."""
    from shared import batch

    values = job_params.effective_settings(os.environ)
    try:
        files = batch.media_files(folder)
    except batch.BatchError as exc:
        raise _InputError(str(exc)) from None
    jobs = []
    for path in files:
        directory = job.job_dir(path, values.get("OUT_DIR") or "out")
        jobs.append((batch.display_name(str(path), folder), directory if (directory / "subs" / "tracks.json").is_file() else None))
    return jobs


def _port(value: str) -> int:
    try:
        port = int(value) if str(value).strip() else 0
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise click.BadParameter(f"{value!r} is not a port number (0-65535; empty: a free port)", param_hint="REVIEW_PORT")
    return port


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--file", "file", default=lambda: os.environ.get("FILE", ""), help="the input (default: FILE)")
@click.option("--job-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="the job directory (default: FILE's job under OUT_DIR)")
@click.option("--dir", "folder", default=None, help="review every media file under this folder (make review DIR=)")
@click.option("--port", "port_text", default=lambda: settings.get("REVIEW_PORT"), show_default="REVIEW_PORT",
              help="port on 127.0.0.1; empty or 0: a free one")
@click.option("--open/--no-open", "open_browser", default=lambda: job.is_on(settings.get("REVIEW_OPEN")),
              show_default="REVIEW_OPEN", help="open the page in the default browser")
@click.option("-v", "--verbose", is_flag=True, help="debug logging")
def main(file: str, job_dir: Path | None, folder: str | None, port_text: str, open_browser: bool, verbose: bool) -> None:
    """Serve the review page of FILE's job (or of every job of a folder) until Ctrl-C."""
    import uvicorn

    from shared.review import server

    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format="review: %(message)s", stream=sys.stderr)
    port = _port(port_text)
    if folder:
        jobs = _folder_jobs(folder)
        if not any(directory for _, directory in jobs):
            click.echo(f"review: no file under {folder} has subtitles yet: run make subtitle DIR=... first", err=True)
            sys.exit(3)
        directory = Path(folder)
    else:
        directory = _job_dir(file, job_dir)
        if not (directory / "subs" / "tracks.json").is_file():
            click.echo(f"review: {directory} has no subtitles yet: run make subtitle FILE=... first", err=True)
            sys.exit(3)
    try:
        low = float(settings.get("REVIEW_LOW_CONFIDENCE") or 0.5)
    except ValueError:
        raise click.BadParameter("must be a number from 0 to 1", param_hint="REVIEW_LOW_CONFIDENCE") from None
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind(("127.0.0.1", port))
    except OSError as exc:
        sock.close()
        click.echo(f"review: cannot listen on 127.0.0.1:{port}: {exc.strerror} (set REVIEW_PORT= to a free port, or empty)",
                   err=True)
        sys.exit(2)
    port = sock.getsockname()[1]
    token = server.new_token()
    if folder:
        app = server.create_folder_app(jobs, token, {"port": port}, low_confidence=low)
    else:
        app = server.create_app(directory, token, {"port": port}, low_confidence=low)
    url = f"http://127.0.0.1:{port}/?token={token}"
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    instance = uvicorn.Server(config)
    click.echo(url)
    sys.stdout.flush()
    log.info("reviewing %s; Ctrl-C stops the server", directory)
    if open_browser:
        threading.Timer(0.5, webbrowser.open, (url,)).start()
    with contextlib.suppress(KeyboardInterrupt):  # uvicorn re-raises the Ctrl-C it handled, after a clean shutdown
        instance.run(sockets=[sock])
    log.info("stopped")


if __name__ == "__main__":
    main()
