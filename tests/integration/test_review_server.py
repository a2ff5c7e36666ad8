"""The review server for real: 127.0.0.1 only, one URL with a token, 403/404/413/422 for bad
requests with no file touched, saving with the previous version kept, Ctrl-C stops it."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.integration.test_review_edits import build, cue_list, page_cues, write_job

REPO = Path(__file__).resolve().parents[2]
REVIEW = REPO / "stages" / "review.py"
SAMPLE = REPO / "samples" / "demo.mp4"


class Server:
    def __init__(self, proc: subprocess.Popen, url: str) -> None:
        self.proc = proc
        self.url = url
        parts = urlsplit(url)
        self.port = parts.port
        self.token = parts.query.removeprefix("token=")

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None,
                token: bool = True) -> tuple[int, dict, bytes]:
        """``path`` is sent exactly as given (no normalising), with the token header unless token=False."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        sent = {"Host": f"127.0.0.1:{self.port}", **({"X-Review-Token": self.token} if token else {}), **(headers or {})}
        connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        for name, value in sent.items():
            connection.putheader(name, value)
        if body is not None and "Content-Length" not in sent:
            connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body)
        response = connection.getresponse()
        data = response.read()
        connection.close()
        return response.status, dict(response.getheaders()), data

    def save(self, cues: list[dict], **headers: str) -> tuple[int, dict]:
        status, _, data = self.request("POST", "/api/track/review.en/edits", json.dumps({"cues": cues}).encode(),
                                       {"Content-Type": "application/json", **headers})
        return status, json.loads(data)


def start_server(job: Path, env_extra: dict | None = None) -> tuple[subprocess.Popen, str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env_extra or {})}
    proc = subprocess.Popen([sys.executable, str(REVIEW), "--job-dir", str(job)], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline().strip()
    assert line.startswith("http://127.0.0.1:"), (line, proc.stderr.read() if proc.poll() is not None else "")
    deadline = time.monotonic() + 20
    port = urlsplit(line).port
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.05)
    return proc, line


@pytest.fixture(scope="module")
def job(tmp_path_factory) -> Path:
    job = write_job(tmp_path_factory.mktemp("review") / "job", media_source=SAMPLE)
    assert build(job).returncode == 0
    (job.parent / "secret.txt").write_text("outside the job\n")
    os.symlink(job.parent / "secret.txt", job / "subs" / "link-out.txt")
    return job


@pytest.fixture()
def server(job: Path) -> Iterator[Server]:
    for leftover in (job / "edits").glob("*"):
        leftover.unlink()
    proc, url = start_server(job)
    yield Server(proc, url)
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=10)


def snapshot(job: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(job)): (p.stat().st_mtime_ns, p.stat().st_size) for p in job.rglob("*") if p.is_file()}


def test_one_url_on_loopback_with_a_token_and_ctrl_c_stops(job: Path) -> None:
    proc, url = start_server(job)
    token = urlsplit(url).query.removeprefix("token=")
    assert len(token) >= 24
    port = urlsplit(url).port
    # only loopback: the port is not open on the machine's other addresses
    others = {info[4][0] for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)} - {"127.0.0.1"}
    for address in others:
        if address.startswith("127."):
            continue
        with socket.socket() as probe:
            probe.settimeout(2)
            assert probe.connect_ex((address, port)) != 0, f"reachable on {address}"
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err
    assert out == "", "the URL is printed once"
    assert "Traceback" not in err and "stopped" in err
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0


def test_review_port_is_used_and_a_busy_port_is_a_clear_error(job: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = subprocess.run([sys.executable, str(REVIEW), "--job-dir", str(job)], cwd=REPO, capture_output=True,
                              text=True, env={**os.environ, "REVIEW_PORT": str(port)}, timeout=60)
        assert proc.returncode == 2 and f"cannot listen on 127.0.0.1:{port}" in proc.stderr
    proc, url = start_server(job, {"REVIEW_PORT": str(port)})
    try:
        assert urlsplit(url).port == port
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=15)


def test_a_job_without_subtitles_is_refused(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, str(REVIEW), "--job-dir", str(tmp_path)], cwd=REPO, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 3 and "run make subtitle" in proc.stderr


def test_the_page_and_its_data_need_the_token(server: Server, job: Path) -> None:
    assert server.request("GET", "/", token=False)[0] == 403
    assert server.request("GET", "/?token=wrong", token=False)[0] == 403
    assert server.request("GET", "/api/job", headers={"X-Review-Token": "x" * 32}, token=False)[0] == 403
    assert server.request("GET", "/media", token=False)[0] == 403
    status, headers, body = server.request("GET", f"/?token={server.token}", token=False)
    assert status == 200 and b"review.js" in body
    cookie = headers["set-cookie"].split(";")[0]
    assert "HttpOnly" in headers["set-cookie"] and "SameSite=Strict" in headers["set-cookie"]
    # the cookie the page got lets its scripts and the video load
    assert server.request("GET", "/static/review.js", headers={"Cookie": cookie}, token=False)[0] == 200
    status, headers, _ = server.request("GET", "/media", headers={"Cookie": cookie, "Range": "bytes=0-99"}, token=False)
    assert status == 206 and headers["content-length"] == "100"
    info = json.loads(server.request("GET", "/api/job")[2])
    assert [t["track"] for t in info["tracks"]] == ["review.en"] and info["fps"] == 25.0
    track = json.loads(server.request("GET", "/api/track/review.en")[2])
    assert [c["text"] for c in track["cues"]] == ["\n".join(c["lines"]) for c in cue_list(job)]
    assert track["cues"][0]["low"] == [3]  # "review", word 3, has a low score
    assert track["cues"][1]["low"] == [9]  # "plays.", word 17
    peaks = json.loads(server.request("GET", "/api/peaks")[2])
    assert peaks["rate"] == 100 and max(peaks["peaks"]) == 255 and peaks["peaks"][0] == 0  # silence, then a tone


@pytest.mark.parametrize("path", [
    "/files/../secret.txt", "/files/%2e%2e/secret.txt", "/files/subs/..%2f..%2fsecret.txt", "/files//etc/passwd",
    "/files/%2fetc%2fpasswd", "/files/subs/link-out.txt", "/files/subs/%5c..%5c..%5csecret.txt",
    "/api/track/..%2faligned", "/api/track/review.en.qc",
])
def test_paths_outside_the_job_get_nothing(server: Server, job: Path, path: str) -> None:
    status, _, body = server.request("GET", path)
    assert status in (403, 404), (status, body)
    assert b"outside the job" not in body and b"root:" not in body


def test_a_file_of_the_job_is_served(server: Server) -> None:
    status, _, body = server.request("GET", "/files/subs/review.en.srt")
    assert status == 200 and b"Welcome" in body


def test_other_origins_and_hosts_are_refused(server: Server, job: Path) -> None:
    before = snapshot(job)
    page = page_cues(cue_list(job))
    page[0]["text"] = "Hijacked"
    assert server.save(page, Origin="http://evil.example")[0] == 403
    assert server.save(page, Origin=f"http://127.0.0.1:{server.port + 1}")[0] == 403
    assert server.request("GET", "/api/job", headers={"Host": "evil.example"})[0] == 403
    assert server.save(page, Origin=f"http://127.0.0.1:{server.port}")[0] == 200  # the page itself
    after = snapshot(job)
    assert {k for k in after if k not in before or after[k] != before[k]} == {"edits/review.en.json"}


@pytest.mark.parametrize("body, content_type, status", [
    (b"{not json", "application/json", 400),
    (b'{"cues": "all of them"}', "application/json", 400),
    (b'{"cues": [{"start": 0, "end": 1, "text": "x", "origin": ["a"]}]}', "application/json", 422),
    (b'{"cues": []}', "text/plain", 415),
    (b'{"cues": [' + b'{"start": 0, "end": 1, "text": "xxxxxxxxxx"},' * 100_000 + b"]}", "application/json", 413),
    (json.dumps({"cues": [{"start": 1, "end": 2, "text": "x" * 5000, "origin": [0]}]}).encode(), "application/json", 422),
])
def test_malformed_or_oversized_edits_are_refused_and_nothing_is_written(server: Server, job: Path, body: bytes,
                                                                        content_type: str, status: int) -> None:
    before = snapshot(job)
    got, _, data = server.request("POST", "/api/track/review.en/edits", body, {"Content-Type": content_type})
    assert got == status, data
    assert "error" in json.loads(data)
    assert snapshot(job) == before


def test_an_edit_that_breaks_a_hard_rule_is_refused_with_a_message_and_a_log_line(server: Server, job: Path) -> None:
    before = snapshot(job)
    page = page_cues(cue_list(job))
    page[1]["start"] = page[0]["end"] - 0.4  # overlap
    status, data = server.save(page)
    assert status == 422 and "before cue 1 ends" in data["error"]
    page = page_cues(cue_list(job))
    page[2]["end"] = page[2]["start"] - 1  # negative duration
    status, data = server.save(page)
    assert status == 422 and "not after its start" in data["error"]
    assert snapshot(job) == before
    server.proc.send_signal(signal.SIGINT)
    _, err = server.proc.communicate(timeout=15)
    assert "refused save of review.en: cue 2: starts at" in err and "not after its start" in err


def test_saving_writes_the_edits_and_keeps_the_previous_version(server: Server, job: Path) -> None:
    page = page_cues(cue_list(job))
    page[0]["text"] = page[0]["text"].replace("Welcome", "Hello")
    status, data = server.save(page)
    assert status == 200 and data == {"saved": "edits/review.en.json", "changes": 1, "dropped": 0}
    first = json.loads((job / "edits" / "review.en.json").read_text())
    assert first["changes"][0]["what"] == ["text"] and first["changes"][0]["from"][0]["text"].startswith("Welcome")
    page[0]["end"] = round(page[0]["end"] - 0.3, 3)
    status, data = server.save(page)
    assert status == 200 and data["changes"] == 1
    assert json.loads((job / "edits" / "review.en.prev.json").read_text()) == first
    assert json.loads((job / "edits" / "review.en.json").read_text())["changes"][0]["what"] == ["text", "end"]
    # the page shows the saved edits on its next load
    track = json.loads(server.request("GET", "/api/track/review.en")[2])
    assert track["cues"][0]["text"].startswith("Hello") and track["edits"] == 1
    assert [c["origin"] for c in track["cues"]] == [[n] for n in range(len(page))]


def test_review_open_starts_the_browser_with_the_url(job: Path, tmp_path: Path) -> None:
    opened = tmp_path / "opened.txt"
    fake_browser = tmp_path / "fake-browser"
    fake_browser.write_text(f'#!/bin/sh\nprintf "%s\\n" "$1" > "{opened}"\n')
    fake_browser.chmod(0o755)
    proc, url = start_server(job, {"REVIEW_OPEN": "1", "BROWSER": str(fake_browser)})
    try:
        deadline = time.monotonic() + 20
        while not opened.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert opened.read_text().strip() == url
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=15)


@pytest.mark.slow
def test_make_review_needs_a_file() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("FILE", "DIR", "MAKEFLAGS", "MAKELEVEL")}
    proc = subprocess.run(["make", "--no-print-directory", "review"], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 2 and "make review: set FILE=" in proc.stderr and "DIR=" in proc.stderr
    proc = subprocess.run(["make", "--no-print-directory", "review", "FILE=/no/such/film.mkv"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "/no/such/film.mkv" in proc.stderr and "Traceback" not in proc.stderr


def test_saved_edits_that_no_longer_fit_are_shown_and_dropped_only_on_the_next_save(server: Server, job: Path) -> None:
    from shared.review import edits

    stale = {"from": [{"start": 1.0, "end": 2.0, "text": "words the new cues do not have"}],
             "to": [{"start": 1.0, "end": 2.0, "text": "a fix for them"}], "what": ["text"], "at": "2026-01-01T00:00:00"}
    edits.write_changes(job, "review.en", [stale])
    track = json.loads(server.request("GET", "/api/track/review.en")[2])
    assert [c["to"][0]["text"] for c in track["unplaced_now"]] == ["a fix for them"]
    assert [c["text"] for c in track["cues"]] == ["\n".join(c["lines"]) for c in cue_list(job)]
    status, data = server.save([{k: c[k] for k in ("start", "end", "text", "origin")} for c in track["cues"]])
    assert status == 200 and data["changes"] == 0 and data["dropped"] == 1
    assert json.loads((job / "edits" / "review.en.prev.json").read_text())["changes"][0]["to"][0]["text"] == "a fix for them"


@pytest.mark.slow
def test_make_review_dir_lists_the_files_and_serves_each_job(tmp_path: Path) -> None:
    from shared import job as job_mod

    folder, out = tmp_path / "films", tmp_path / "out"
    (folder / "season 1").mkdir(parents=True)
    names = ["a.mp4", "season 1/b clip.mp4", "c.mp4"]
    for name in names:
        (folder / name).write_bytes(SAMPLE.read_bytes())
    for name in names[:2]:
        directory = job_mod.job_dir((folder / name).absolute(), str(out))
        write_job(directory, media_source=folder / name)
        assert build(directory).returncode == 0
    env = {k: v for k, v in os.environ.items() if k not in ("FILE", "DIR", "MAKEFLAGS", "MAKELEVEL")}
    proc = subprocess.Popen(["make", "--no-print-directory", "review", f"DIR={folder}", f"OUT_DIR={out}"], cwd=REPO,
                            env=dict(env, PYTHONUNBUFFERED="1"), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), proc.stderr.read() if proc.poll() is not None else url
        server = Server(proc, url)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", server.port)) == 0:
                    break
            time.sleep(0.05)
        status, _, body = server.request("GET", "/")
        page = body.decode()
        # sorted by path: a.mp4, c.mp4 (no subtitles: no link), season 1/b clip.mp4
        assert status == 200 and 'href="job/0/"' in page and 'href="job/2/"' in page and "job/1/" not in page
        assert "a.mp4" in page and "b clip.mp4" in page and "c.mp4: no subtitles yet" in page
        assert server.request("GET", "/job/0/", token=False)[0] == 403
        for n in (0, 2):
            info = json.loads(server.request("GET", f"/job/{n}/api/job")[2])
            assert [t["track"] for t in info["tracks"]] == ["review.en"]
            assert server.request("GET", f"/job/{n}/static/review.js")[0] == 200
        assert server.request("GET", "/job/0/files/../../a.mp4")[0] == 404
        assert server.request("GET", "/job/1/api/job")[0] == 404
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=20)
