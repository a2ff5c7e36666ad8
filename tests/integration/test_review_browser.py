"""The review page in a real headless Chromium (Debian's chromium + chromium-driver, through
Selenium) on a job made from the demo clip: play, fix a word, drag a cue edge, split a cue,
save; then `make subtitle` re-runs only the subtitle stage and the mux, and the SRT and the
muxed track carry the corrections. REVIEW_SCREENSHOT=path writes a PNG of the page (docs)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pysubs2
import pytest

from shared import demo, job
from tests.integration import pipeline_runs as pr

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
SAMPLE = Path("samples") / "demo.mp4"
UPSTREAM = ("demux", "separate", "vad", "asr", "align")

pytestmark = [
    *pr.NEEDS_PIPELINE,
    pytest.mark.skipif(not (os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK)),
                       reason="needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)"),
]


@pytest.fixture(scope="module")
def demo_job(tmp_path_factory) -> dict:
    """The demo clip subtitled as `make demo` does offline (tiny.en from its pip package, no translation)."""
    root = tmp_path_factory.mktemp("review-demo")
    cache = root / "cache"
    env = pr.clean_env(cache, OUT_DIR=str(root / "out"), HF_ENDPOINT="http://127.0.0.1:9")
    plan = demo.plan({"MODEL_CACHE_DIR": str(cache)}, "", allow_fetch=False)
    args = ["subtitle", f"FILE={SAMPLE}", *(f"{k}={v}" for k, v in plan.settings.items())]
    result = pr.make(*args, env=env, timeout=1200)
    assert result.returncode == 0, result.stderr
    directory = root / "out" / job.slug(pr.REPO / SAMPLE)
    return {"env": env, "args": args, "dir": directory}


@pytest.fixture()
def review_url(demo_job) -> Iterator[tuple[str, subprocess.Popen]]:
    """`make review FILE=samples/demo.mp4` running; stopped with Ctrl-C (SIGINT to its process group)."""
    proc = subprocess.Popen(["make", "--no-print-directory", "review", f"FILE={SAMPLE}"], cwd=pr.REPO,
                            env=dict(demo_job["env"], PYTHONUNBUFFERED="1"), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    url = proc.stdout.readline().strip()
    assert url.startswith("http://127.0.0.1:") and "token=" in url, proc.stderr.read() if proc.poll() is not None else url
    yield url, proc
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=20)


@pytest.fixture()
def browser() -> Iterator:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    profile = tempfile.mkdtemp(prefix="review-chromium-")
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                     "--disable-component-update", "--no-first-run", f"--user-data-dir={profile}",
                     "--window-size=1400,860", "--autoplay-policy=no-user-gesture-required", "--mute-audio"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def cues(driver) -> list[dict]:
    return driver.execute_script("return window.review.state.cues")


def stage_runs(directory: Path) -> dict[str, str]:
    stages = json.loads((directory / "manifest.json").read_text())["stages"]
    return {name: json.dumps(stages[name], sort_keys=True) for name in stages}


def test_review_fix_save_and_make_subtitle_carries_the_edits(demo_job, review_url, browser) -> None:
    directory = demo_job["dir"]
    url, server = review_url
    before_runs = stage_runs(directory)
    upstream_mtimes = {p: (directory / p).stat().st_mtime_ns for p in ("audio.wav", "transcript.json", "aligned.json")}
    wait = WebDriverWait(browser, 30)
    browser.get(url)
    wait.until(lambda d: d.execute_script("return window.review && window.review.state.cues.length > 0"))
    original = cues(browser)
    assert len(original) >= 3
    rows = browser.find_elements(By.CSS_SELECTOR, "#cue-table tbody tr")
    assert len(rows) == len(original)
    assert browser.find_element(By.ID, "track").get_attribute("value") == "demo.en"

    # play (Space) and see the playhead move and the current cue drawn over the video
    wait.until(lambda d: d.execute_script("return document.getElementById('video').readyState >= 2"))
    body = browser.find_element(By.TAG_NAME, "body")
    browser.execute_script("document.getElementById('video').currentTime = arguments[0]", original[0]["start"] + 0.05)
    ActionChains(browser).move_to_element(browser.find_element(By.ID, "clock")).click().send_keys(" ").perform()
    wait.until(lambda d: d.execute_script("return document.getElementById('video').currentTime") > original[0]["start"] + 0.4)
    assert browser.find_element(By.ID, "overlay").text.replace("\n", " ") in (c["text"].replace("\n", " ") for c in original)
    body.send_keys(" ")
    wait.until(lambda d: d.execute_script("return document.getElementById('video').paused"))

    # fix a word in cue 1 (click the text, type, leave the field); undo and redo it
    first_words = original[0]["text"].split()
    fixed = original[0]["text"].replace(first_words[0], "Hello", 1)
    browser.find_elements(By.CSS_SELECTOR, "#cue-table .text-view")[0].click()
    area = browser.find_element(By.CSS_SELECTOR, "#cue-table textarea")
    area.send_keys(Keys.CONTROL, "a")
    area.send_keys(fixed.replace("\n", Keys.SHIFT + Keys.ENTER + Keys.SHIFT))
    browser.find_element(By.ID, "clock").click()
    wait.until(lambda d: cues(d)[0]["text"] == fixed)
    ActionChains(browser).key_down(Keys.CONTROL).send_keys("z").key_up(Keys.CONTROL).perform()
    assert cues(browser)[0]["text"] == original[0]["text"]
    ActionChains(browser).key_down(Keys.CONTROL).send_keys("y").key_up(Keys.CONTROL).perform()
    assert cues(browser)[0]["text"] == fixed

    # drag a cue edge that has room to move (which one depends on how the builder chained the cues): far
    # to the right for an end, far to the left for a start; it stops at the neighbour minus the minimum gap
    fps = browser.execute_script("return window.review.state.job.fps")
    gap = browser.execute_script("return window.review.state.job.rules.min_gap_frames") / fps
    candidates = [(k, side) for k in range(1, len(original) - 1) if k != 2 for side in ("end", "start")]
    room = {(k, "end"): original[k + 1]["start"] - gap - original[k]["end"] for k, _ in candidates}
    room.update({(k, "start"): original[k]["start"] - (original[k - 1]["end"] + gap) for k, _ in candidates})
    moved, side = next((k, s) for k, s in candidates if room[(k, s)] > 0.05)
    limit = original[moved + 1]["start"] - gap if side == "end" else original[moved - 1]["end"] + gap
    browser.execute_script("window.review.setView(0, arguments[0])", original[-1]["end"] + 1)
    canvas = browser.find_element(By.ID, "wave")
    width = canvas.size["width"]
    edge = browser.execute_script("return window.review.edgeX(arguments[0], arguments[1])", moved, side)
    ActionChains(browser).move_to_element_with_offset(canvas, int(edge - width / 2), 0).click_and_hold() \
        .move_by_offset(int(width / 3) * (1 if side == "end" else -1), 0).release().perform()
    dragged = cues(browser)[moved]
    assert abs(dragged[side] - limit) < 0.002, (dragged, side, limit, gap)
    assert abs(dragged[side] - original[moved][side]) > 0.01

    # split cue 3 at the text cursor (between its words) with Ctrl+Enter
    words = original[2]["text"].split()
    assert len(words) >= 2
    head = " ".join(words[: len(words) // 2])
    browser.find_elements(By.CSS_SELECTOR, "#cue-table .text-view")[2].click()
    area = browser.find_element(By.CSS_SELECTOR, "#cue-table textarea")
    cut = len(original[2]["text"].split(words[len(words) // 2 - 1], 1)[0]) + len(words[len(words) // 2 - 1])
    browser.execute_script("arguments[0].setSelectionRange(arguments[1], arguments[1])", area, cut)
    area.send_keys(Keys.CONTROL, Keys.ENTER)
    wait.until(lambda d: len(cues(d)) == len(original) + 1)
    now = cues(browser)
    assert now[2]["text"].replace("\n", " ") == head
    assert now[2]["end"] < now[3]["start"] and now[2]["origin"] == now[3]["origin"] == [2]

    # a change that breaks a hard rule is refused on the page and nothing is written
    browser.execute_script("window.review.state.cues[0].end = window.review.state.cues[1].start + 0.5")
    browser.find_element(By.ID, "save").click()
    wait.until(lambda d: "not saved" in d.find_element(By.ID, "message").text)
    assert "before cue 1 ends" in browser.find_element(By.ID, "message").text
    assert not (directory / "edits").exists()
    browser.execute_script("window.review.state.cues[0].end = arguments[0]", original[0]["end"])

    # the flag filter shows only flagged cues
    browser.find_element(By.ID, "only-flagged").click()
    for row in browser.find_elements(By.CSS_SELECTOR, "#cue-table tbody tr"):
        assert row.find_elements(By.CSS_SELECTOR, ".flag")
    browser.find_element(By.ID, "only-flagged").click()

    # save (Ctrl+S)
    ActionChains(browser).key_down(Keys.CONTROL).send_keys("s").key_up(Keys.CONTROL).perform()
    wait.until(lambda d: d.find_element(By.ID, "message").text.startswith("saved"))
    saved = json.loads((directory / "edits" / "demo.en.json").read_text())
    assert sorted(tuple(c["what"]) for c in saved["changes"]) == sorted([("text",), (side,), ("split",)])
    screenshot = os.environ.get("REVIEW_SCREENSHOT")
    if screenshot:
        browser.execute_script("document.getElementById('video').currentTime = arguments[0]", now[1]["start"] + 0.3)
        browser.find_elements(By.CSS_SELECTOR, "#cue-table tbody tr td:first-child")[1].click()
        time.sleep(0.5)
        assert browser.save_screenshot(screenshot)

    # Ctrl-C stops the server; make subtitle applies the edits, re-running only subtitle and mux
    os.killpg(server.pid, signal.SIGINT)
    server.wait(timeout=20)
    assert "saved demo.en: 3 changes" in server.stderr.read()
    result = pr.make(*demo_job["args"], env=demo_job["env"], timeout=600)
    assert result.returncode == 0, result.stderr
    ran = {line.split(":")[0] for line in result.stderr.splitlines() if ": done in" in line}
    assert ran == {"subtitle", "mux"}, result.stderr
    after_runs = stage_runs(directory)
    for stage in UPSTREAM:
        assert after_runs[stage] == before_runs[stage], f"{stage} re-ran"
    assert {p: (directory / p).stat().st_mtime_ns for p in upstream_mtimes} == upstream_mtimes
    assert after_runs["subtitle"] != before_runs["subtitle"] and after_runs["mux"] != before_runs["mux"]

    srt = pysubs2.load(str(directory / "subs" / "demo.en.srt"))
    assert len(srt) == len(original) + 1
    assert srt[0].plaintext == fixed
    shown = srt[moved if moved < 2 else moved + 1]  # the split of cue 3 added one cue before the later ones
    assert abs((shown.end if side == "end" else shown.start) / 1000 - dragged[side]) < 0.002
    assert srt[2].plaintext.replace("\n", " ") == head
    muxed = directory / job.mux_output_name(pr.REPO / SAMPLE)
    track = subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-i", str(muxed), "-map", "0:s:0", "-f", "srt", "-"],
                           capture_output=True, text=True, check=True).stdout
    in_video = pysubs2.SSAFile.from_string(track, format_="srt")
    assert [e.plaintext for e in in_video] == [e.plaintext for e in srt]
    assert [(e.start, e.end) for e in in_video] == [(e.start, e.end) for e in srt] or \
        all(abs(a.start - b.start) <= 10 and abs(a.end - b.end) <= 10 for a, b in zip(in_video, srt, strict=True))
    # and a second make subtitle finds nothing to do
    again = pr.make(*demo_job["args"], env=demo_job["env"], timeout=300)
    assert again.returncode == 0 and ": done in" not in again.stderr
