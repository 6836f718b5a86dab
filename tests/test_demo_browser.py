"""The webcam demo in a real headless Chromium: `python -m demo` started as a user starts it, a fake
webcam fed from a real clip (converted to y4m), the webcam started by clicking, and the skeleton
overlay and a label checked on the page."""

from __future__ import annotations

import io
import time

import numpy as np
import pytest

from demo.browser_check import chromium_available, chromium_with_camera, headline, running_demo, start_webcam
from demo.drawing import LEFT, RIGHT
from tiny_runs import free_port

pytestmark = pytest.mark.slow
NOT_YET = ("", "warming up", "no person in view")


@pytest.fixture(scope="module")
def demo_url(tiny_model, pose_model_file, tmp_path_factory):
    argv = ["--model", str(tiny_model[1]), "--pose-model", str(pose_model_file), "--num-poses", "1"]
    with running_demo(argv, free_port(), env={"COCODIFF_CACHE": str(tmp_path_factory.mktemp("cache"))}) as url:
        yield url


@pytest.fixture()
def browser(videos_dir, tmp_path):
    if not chromium_available():
        pytest.skip("Debian's chromium and chromium-driver are not installed (apt-get install chromium chromium-driver)")
    pytest.importorskip("selenium")
    from demo.video import write_y4m

    driver = chromium_with_camera(write_y4m(videos_dir / "ta_chi.mp4", tmp_path / "camera.y4m", frames=90),
                                  tmp_path / "profile")
    yield driver
    driver.quit()


def test_the_webcam_stream_shows_the_skeleton_and_a_label(demo_url, browser, tmp_path):
    from PIL import Image
    from selenium.webdriver.common.by import By

    browser.get(demo_url)
    start_webcam(browser)
    deadline, shown, overlay = time.monotonic() + 60, "", []
    while time.monotonic() < deadline:
        shown, overlay = headline(browser), browser.find_elements(By.CSS_SELECTOR, "#overlay img")
        if overlay and shown not in NOT_YET:
            break
        time.sleep(0.5)
    browser.save_screenshot(str(tmp_path / "webcam.png"))
    assert overlay, "the skeleton overlay never appeared"
    assert shown not in NOT_YET, f"no label, headline {shown!r}"
    stats = browser.find_element(By.CSS_SELECTOR, "#stats").text
    assert "fps" in stats and "ms a frame" in stats
    # The overlay is the camera's frame with the skeleton drawn: red and blue bones in it.
    shot = browser.find_element(By.CSS_SELECTOR, "#overlay").screenshot_as_png  # the block: its img is replaced
    picture = np.asarray(Image.open(io.BytesIO(shot)).convert("RGB")).astype(int)
    red = (np.abs(picture - RIGHT).sum(axis=-1) < 60).sum()
    blue = (np.abs(picture - LEFT).sum(axis=-1) < 60).sum()
    assert red > 100 and blue > 100, (red, blue)


def _status(driver) -> str:
    from selenium.webdriver.common.by import By

    boxes = driver.find_elements(By.CSS_SELECTOR, "#camera_status")  # none until the page has rendered
    return boxes[0].text if boxes else ""


def test_a_camera_that_stops_is_said_in_the_page(demo_url, browser):
    from demo.browser_check import wait_until

    browser.get(demo_url)
    start_webcam(browser)
    assert wait_until(lambda: headline(browser) != "", 60)
    assert _status(browser) == ""
    browser.execute_script("document.querySelector('#webcam video').srcObject.getVideoTracks()"
                           ".forEach((track) => track.stop());")
    assert wait_until(lambda: "camera stopped" in _status(browser), 10), _status(browser)


def test_no_camera_is_said_in_the_page(demo_url, tmp_path):
    if not chromium_available():
        pytest.skip("Debian's chromium and chromium-driver are not installed")
    from demo.browser_check import wait_until

    driver = chromium_with_camera(None, tmp_path / "profile")
    try:
        driver.get(demo_url)
        assert wait_until(lambda: "No camera found" in _status(driver), 15), _status(driver)
    finally:
        driver.quit()
