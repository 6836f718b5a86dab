"""The demo as a user meets it: `python -m demo` started in its own process, and its page in a
real headless Chromium whose camera plays a video file.

    with running_demo(["--model", "best.onnx"], port=7860) as url:
        driver = chromium_with_camera(write_y4m("clip.mp4", "clip.y4m"), profile="/tmp/profile")
        driver.get(url)
        start_webcam(driver)

For the browser test, the on-screen benchmark and anyone checking the demo on a machine without
a camera. It drives Debian's `chromium` and `chromium-driver` (`apt-get install chromium
chromium-driver`) through selenium, with no browser download, and the flags that keep a
headless Chromium off the network.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from typing import Iterator, Sequence

from cocodiff.errors import CocodiffError

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
_QUIET_FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic")


@contextlib.contextmanager
def running_demo(argv: Sequence[str], port: int, *, env: dict | None = None, seconds: float = 90) -> Iterator[str]:
    """`python -m demo ARGV --port PORT` in a child process; yields its URL once it answers, and
    stops it at the end."""
    log = tempfile.TemporaryFile(mode="w+")  # a pipe nobody reads would fill and block the demo
    process = subprocess.Popen([sys.executable, "-m", "demo", *argv, "--port", str(port)], stdout=log,
                               stderr=subprocess.STDOUT, text=True, env={**os.environ, **(env or {})})
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + seconds
        while True:
            if process.poll() is not None:
                log.seek(0)
                raise CocodiffError(f"python -m demo exited with {process.returncode}: {log.read().strip()[-2000:]}")
            try:
                with urllib.request.urlopen(url, timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise CocodiffError(f"{url} did not answer within {seconds:g} s") from None
                time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def chromium_available() -> bool:
    return bool(shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER))


def chromium_with_camera(camera_y4m: str | os.PathLike | None, profile: str | os.PathLike, *, width: int = 1400,
                         height: int = 1000):
    """A selenium driver for a headless Chromium whose only camera plays `camera_y4m` in a loop
    (None: a machine with no camera at all), with camera permission granted."""
    if not chromium_available():
        raise CocodiffError(f"{CHROMIUM} and {CHROMEDRIVER} are needed: apt-get install chromium chromium-driver")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    camera = () if camera_y4m is None else ("--use-fake-device-for-media-stream",
                                            f"--use-file-for-fake-video-capture={camera_y4m}")
    for flag in (*_QUIET_FLAGS, "--use-fake-ui-for-media-stream", *camera, f"--window-size={width},{height}",
                 f"--user-data-dir={profile}"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


def find_button(driver, *, text: str | None = None, label: str | None = None, seconds: float = 30):
    """The first button whose text contains `text` or whose aria-label is `label`, waiting for it."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            for button in driver.find_elements(By.TAG_NAME, "button"):
                if (text and text in button.text) or (label and button.get_attribute("aria-label") == label):
                    return button
        except StaleElementReferenceException:  # the page re-rendered while we looked
            pass
        time.sleep(0.3)
    raise AssertionError(f"no button {text or label!r} on the page")


def start_webcam(driver) -> None:
    """Gradio 6's webcam: grant access, then start streaming (the button labelled "capture photo")."""
    find_button(driver, text="Click to Access Webcam").click()
    find_button(driver, label="capture photo").click()


def headline(driver) -> str:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.CSS_SELECTOR, "#headline textarea").get_attribute("value") or ""


def count_overlay_updates(driver) -> None:
    """From now on, record in the page the time (ms) of every new overlay picture (read with
    `overlay_update_times`)."""
    driver.execute_script("""
        window.__overlayTimes = [];
        const seen = new Set();
        new MutationObserver(() => {
            const img = document.querySelector('#overlay img');
            if (img && !seen.has(img.src)) { seen.add(img.src); window.__overlayTimes.push(performance.now()); }
        }).observe(document.querySelector('#overlay'), {subtree: true, childList: true, attributes: true});
    """)


def overlay_update_times(driver) -> list[float]:
    return list(driver.execute_script("return window.__overlayTimes || [];"))


def wait_until(predicate, seconds: float, step: float = 0.5) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return False
