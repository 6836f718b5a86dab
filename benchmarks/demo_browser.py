"""The demo as a viewer sees it: frames per second on screen in a real Chromium, and the latency
from a frame to its label over the running server.

    python benchmarks/demo_browser.py [--model runs/embedded/best.pt] [--seconds 30] [--shots docs/figures]

`python -m demo` is started as a user starts it; headless Chromium (Debian's, driven by
selenium) plays a real clip (Tai Chi, 640x480) as its camera and streams it through the page.
Measured on the same 2 cores that also run Chromium (its video capture, JPEG encoding and
rendering compete with MediaPipe):

- on-screen fps: new skeleton pictures per second in the page (a MutationObserver on the
  overlay), after a warm-up of 5 s;
- server: the app's own figures (frames it processed per second, ms a frame), read off the page;
- frame -> label latency: `/classify_frame` through gradio_client, one 640x480 JPEG at a time:
  upload, queue, pose, recognition, drawing and the JSON answer (p50 / p90 over 100 frames).

`--shots DIR` also saves screenshots of both tabs (the video tab after annotating a clip).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from machine import machine  # noqa: E402
from serve.network import free_ports  # noqa: E402


def on_screen(url: str, camera: Path, seconds: float, work: Path, shots: Path | None, clip: Path) -> dict:
    from selenium.webdriver.common.by import By

    from demo.browser_check import (chromium_with_camera, count_overlay_updates, find_button, headline,
                                    overlay_update_times, start_webcam, wait_until)

    driver = chromium_with_camera(camera, work / "profile", height=1250)
    try:
        driver.get(url)
        start_webcam(driver)
        wait_until(lambda: driver.find_elements(By.CSS_SELECTOR, "#overlay img"), 60)
        time.sleep(5)
        count_overlay_updates(driver)
        time.sleep(seconds)
        times = overlay_update_times(driver)
        stats, label = driver.find_element(By.CSS_SELECTOR, "#stats").text, headline(driver)
        if shots:
            driver.save_screenshot(str(shots / "demo_webcam.png"))
        gaps = [b - a for a, b in zip(times, times[1:])]
        result = {"on_screen_fps": round((len(times) - 1) / ((times[-1] - times[0]) / 1000), 2) if len(times) > 1
                  else 0.0, "update_gap_ms_p50": round(statistics.median(gaps), 1) if gaps else None,
                  "server_stats": stats, "headline": label}
        if shots:
            find_button(driver, text="Stop").click()
            find_button(driver, text="Video file").click()
            inputs = [i for i in driver.find_elements(By.CSS_SELECTOR, "input[type=file]")
                      if "video" in (i.get_attribute("accept") or "")]
            inputs[0].send_keys(str(clip))
            wait_until(lambda: driver.find_elements(By.CSS_SELECTOR, "video"), 30)
            time.sleep(2)
            find_button(driver, text="Annotate").click()
            wait_until(lambda: driver.find_elements(By.CSS_SELECTOR, "#annotated video"), 180)
            time.sleep(3)
            driver.save_screenshot(str(shots / "demo_video.png"))
        return result
    finally:
        driver.quit()


def frame_latency(url: str, video: Path, work: Path, frames: int = 100) -> dict:
    from gradio_client import Client, handle_file
    from PIL import Image

    from demo.video import read_video

    client = Client(url, verbose=False)
    paths = []
    for index, (timestamp, rgb) in enumerate(read_video(video, size=(640, 480), limit=frames)):
        Image.fromarray(rgb).save(work / f"{index:03d}.jpg", quality=90)
        paths.append((timestamp, work / f"{index:03d}.jpg"))
    latencies = []
    for timestamp, path in paths:
        began = time.perf_counter()
        client.predict(handle_file(str(path)), timestamp, api_name="/classify_frame")
        latencies.append(1000 * (time.perf_counter() - began))
    latencies = latencies[5:]  # the first calls start the session and MediaPipe
    return {"frame_to_label_ms_p50": round(statistics.median(latencies), 1),
            "frame_to_label_ms_p90": round(sorted(latencies)[int(0.9 * (len(latencies) - 1))], 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="runs/embedded/best.pt")
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--num-poses", type=int, default=2)
    parser.add_argument("--shots", type=Path, help="save screenshots of both tabs here")
    args = parser.parse_args()
    from demo.browser_check import chromium_available, running_demo
    from demo.video import write_y4m

    pose_model = args.shared / "models" / "pose_landmarker_full.task"
    if not pose_model.is_file() or not chromium_available():
        sys.exit("skipped: needs ../shared/data (clips, pose model) and Debian's chromium + chromium-driver")
    print(json.dumps(machine()))
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        camera = write_y4m(args.shared / "videos" / "ta_chi.mp4", work / "camera.y4m", frames=150)
        argv = ["--model", args.model, "--pose-model", str(pose_model), "--num-poses", str(args.num_poses)]
        with running_demo(argv, free_ports()[0]) as url:
            result = {"num_poses": args.num_poses, **on_screen(url, camera, args.seconds, work, args.shots,
                                                                 args.shared / "videos" / "clean_and_jerk.mp4")}
            result.update(frame_latency(url, args.shared / "videos" / "ta_chi.mp4", work))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
