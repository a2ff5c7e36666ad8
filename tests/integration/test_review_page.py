"""The review page's editing tools in headless Chromium on a small hand-made job (no models):
QC flags and the flag filter, keyboard navigation, frame nudges, merge, insert, delete, save."""

from __future__ import annotations

import json
import os
import shutil
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.test_review_edits import build, write_job
from tests.integration.test_review_server import SAMPLE, start_server

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK)),
                       reason="needs Debian's chromium and chromium-driver"),
]


@pytest.fixture()
def page(tmp_path: Path) -> Iterator[tuple]:
    job = write_job(tmp_path / "job", media_source=SAMPLE)
    assert build(job, "--max-cps", "12").returncode == 0  # cues 2-5 read too fast: QC flags them
    proc, url = start_server(job)
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    profile = tempfile.mkdtemp(prefix="review-chromium-")
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                     "--disable-component-update", "--no-first-run", f"--user-data-dir={profile}",
                     "--window-size=1400,860", "--mute-audio"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        driver.get(url)
        WebDriverWait(driver, 30).until(lambda d: d.execute_script("return window.review && window.review.state.cues.length > 0"))
        yield driver, job
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=15)


def cues(driver) -> list[dict]:
    return driver.execute_script("return window.review.state.cues")


def keys(driver, *sequence: str, modifier: str | None = None) -> None:
    chain = ActionChains(driver)
    if modifier:
        chain.key_down(modifier)
    chain.send_keys(*sequence)
    if modifier:
        chain.key_up(modifier)
    chain.perform()


def test_flags_filter_and_editing_tools(page) -> None:
    driver, job = page
    qc = json.loads((job / "subs" / "review.en.qc.json").read_text())
    flagged = sorted({v["cue"] for v in qc["violations"]} | set(qc["dense_speech_cues"]))
    assert flagged, "the test job should have QC flags"
    for number in flagged:
        row = driver.find_elements(By.CSS_SELECTOR, "#cue-table tbody tr")[number - 1]
        assert row.find_elements(By.CSS_SELECTOR, ".flag:not(.live)")
    driver.find_element(By.ID, "only-flagged").click()
    shown = [int(r.find_element(By.CSS_SELECTOR, "td").text) for r in driver.find_elements(By.CSS_SELECTOR, "#cue-table tbody tr")]
    assert shown == flagged
    driver.find_element(By.ID, "only-flagged").click()

    original = cues(driver)
    frame = 1 / driver.execute_script("return window.review.state.job.fps")
    driver.find_elements(By.CSS_SELECTOR, "#cue-table tbody td:first-child")[2].click()  # select cue 3, seek there
    assert abs(driver.execute_script("return document.getElementById('video').currentTime") - original[2]["start"]) < 0.05
    keys(driver, Keys.ARROW_UP)  # back to cue 2
    assert driver.execute_script("return window.review.state.selected") == 1
    assert abs(driver.execute_script("return document.getElementById('video').currentTime") - original[1]["start"]) < 0.05
    keys(driver, "]", "]", "{")  # start two frames later, end one frame earlier
    now = cues(driver)[1]
    assert abs(now["start"] - (original[1]["start"] + 2 * frame)) < 0.002
    assert abs(now["end"] - (original[1]["end"] - frame)) < 0.002
    keys(driver, "m", modifier=Keys.ALT)  # merge cue 2 with cue 3
    assert len(cues(driver)) == len(original) - 1 and cues(driver)[1]["origin"] == [1, 2]
    keys(driver, Keys.ARROW_DOWN)
    keys(driver, "d", modifier=Keys.ALT)  # delete what was cue 4
    assert [c["text"] for c in cues(driver)][2:] == [c["text"] for c in original][4:]
    gap = (original[-1]["end"] + 0.5)
    driver.execute_script("document.getElementById('video').currentTime = arguments[0]", gap)
    keys(driver, "i", modifier=Keys.ALT)  # insert at the playhead, after the last cue
    inserted = cues(driver)[-1]
    assert inserted["origin"] == [] and abs(inserted["start"] - gap) < 0.01 and inserted["text"] == "new cue"
    keys(driver, "z", modifier=Keys.CONTROL)
    assert len(cues(driver)) == len(original) - 2
    keys(driver, "y", modifier=Keys.CONTROL)
    assert len(cues(driver)) == len(original) - 1
    driver.find_element(By.ID, "save").click()
    WebDriverWait(driver, 15).until(lambda d: d.find_element(By.ID, "message").text.startswith("saved"))
    changes = json.loads((job / "edits" / "review.en.json").read_text())["changes"]
    assert [c["what"] for c in changes] == [["merge", "start"], ["delete"], ["insert"]]  # the merged cue ends where cue 3 did
    assert [len(c["from"]) for c in changes] == [2, 1, 0]
    # the page shows the saved state on reload
    before_reload = [(c["start"], c["end"], c["text"]) for c in cues(driver)]
    driver.refresh()
    WebDriverWait(driver, 30).until(lambda d: d.execute_script("return window.review && window.review.state.cues.length > 0"))
    assert [(c["start"], c["end"], c["text"]) for c in cues(driver)] == before_reload


def test_a_folder_review_links_to_each_jobs_page(tmp_path: Path) -> None:
    import socket
    import subprocess
    import sys
    import time

    from shared import job as job_mod

    folder, out = tmp_path / "films", tmp_path / "out"
    folder.mkdir()
    (folder / "one.mp4").write_bytes(SAMPLE.read_bytes())
    directory = job_mod.job_dir((folder / "one.mp4").absolute(), str(out))
    write_job(directory, media_source=folder / "one.mp4")
    assert build(directory).returncode == 0
    proc = subprocess.Popen([sys.executable, "stages/review.py", "--dir", str(folder)], cwd=Path(__file__).resolve().parents[2],
                            env={**os.environ, "OUT_DIR": str(out), "PYTHONUNBUFFERED": "1"}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    url = proc.stdout.readline().strip()
    port = int(url.split(":")[2].split("/")[0])
    for _ in range(200):
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.05)
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    profile = tempfile.mkdtemp(prefix="review-chromium-")
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                     "--disable-component-update", "--no-first-run", f"--user-data-dir={profile}"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        driver.get(url)
        driver.find_element(By.LINK_TEXT, "one.mp4").click()
        WebDriverWait(driver, 30).until(lambda d: d.execute_script("return window.review && window.review.state.cues.length > 0"))
        assert driver.current_url.endswith("/job/0/")
        assert driver.find_element(By.ID, "job-name").text == "review"
        assert driver.execute_script("return document.getElementById('video').src").endswith("/job/0/media")
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=15)
