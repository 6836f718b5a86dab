"""A bounded load on `python -m serve`: streaming sessions at 30 fps plus clip classification.

    python benchmarks/serve_load.py [--model runs/embedded/best.onnx] [--sessions 8] [--requests 10000]

The server is started as a user starts it (127.0.0.1 only, a free port). Each of `--sessions`
asyncio clients opens a session in the layout of a real UTD-MHAD Kinect v1 recording
(kinect20, retargeted by the server) and pushes its frames one request each, paced at 30 fps of
wall time, looping over the clip with increasing timestamps; `--clip-clients` more classify the
whole clip in a loop. It stops after `--requests` requests or `--seconds`, whichever comes first,
and prints per kind of request the count, p50 / p99 latency, errors (anything but a 2xx) and the
throughput, and the server's resident memory (VmRSS) sampled every second, after 10%, 25%, 50%
and 75% of the requests and at the end, so growth shows.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from machine import machine  # noqa: E402
from serve.network import free_ports  # noqa: E402


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class MemoryTrace:
    """The server's memory, sampled about once a second while a load runs (`sample`), read back
    at a share of the requests (`at(0.5)`: the sample taken once half of them were done)."""

    def __init__(self, measure, tally: "Tally"):
        self.measure, self.tally = measure, tally
        self.samples: list[tuple[int, float]] = []

    async def sample(self) -> None:
        while self.tally.more():
            self.samples.append((self.tally.count, self.measure()))
            await asyncio.sleep(1.0)

    def at(self, share: float) -> float:
        limit = share * self.tally.limit
        return round(next((mib for count, mib in self.samples if count >= limit), self.samples[-1][1]), 1)

    def report(self, *shares: float) -> dict[str, float]:
        return {**{f"{share:.0%}": self.at(share) for share in shares}, "end": round(self.measure(), 1)}


def latency_summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {"p50_ms": round(statistics.median(ordered), 2), "p99_ms": round(ordered[int(0.99 * (len(ordered) - 1))], 2)}


class Tally:
    def __init__(self, limit: int, deadline: float):
        self.limit, self.deadline = limit, deadline
        self.latencies: dict[str, list[float]] = {}
        self.errors: dict[str, int] = {}
        self.count = 0

    def more(self) -> bool:
        return self.count < self.limit and time.monotonic() < self.deadline

    def add(self, kind: str, seconds: float, ok: bool) -> None:
        self.count += 1
        self.latencies.setdefault(kind, []).append(seconds * 1000)
        if not ok:
            self.errors[kind] = self.errors.get(kind, 0) + 1


async def stream(client, tally: Tally, keypoint: list, fps: float = 30.0) -> None:
    answer = await client.post("/v1/sessions", json={"layout": "kinect20", "fps": fps})
    session = answer.json()["session"]
    start, index = time.monotonic(), 0
    while tally.more():
        frame = keypoint[index % len(keypoint)]
        began = time.monotonic()
        try:
            reply = await client.post(f"/v1/sessions/{session}/frames",
                                      json={"frames": [{"timestamp": index / fps, "persons": [frame]}]})
            ok = reply.status_code == 200
        except Exception:  # noqa: BLE001 (a transport error is an error of the run, counted)
            ok = False
        tally.add("frame", time.monotonic() - began, ok)
        index += 1
        await asyncio.sleep(max(0.0, start + index / fps - time.monotonic()))
    await client.delete(f"/v1/sessions/{session}")


async def classify(client, tally: Tally, clip: list) -> None:
    while tally.more():
        began = time.monotonic()
        try:
            reply = await client.post("/v1/classify", json={"keypoint": clip, "layout": "kinect20"})
            ok = reply.status_code == 200
        except Exception:  # noqa: BLE001
            ok = False
        tally.add("clip", time.monotonic() - began, ok)


async def run(url: str, pid: int, args, clip) -> dict:
    import httpx

    tally = Tally(args.requests, time.monotonic() + args.seconds)
    memory = MemoryTrace(lambda: rss_mib(pid), tally)
    limits = httpx.Limits(max_connections=args.sessions + args.clip_clients + 4)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as client:
        began = time.monotonic()
        await asyncio.gather(memory.sample(), *(stream(client, tally, clip[0]) for _ in range(args.sessions)),
                             *(classify(client, tally, clip) for _ in range(args.clip_clients)))
        elapsed = time.monotonic() - began
    report = {"requests": tally.count, "seconds": round(elapsed, 1), "throughput_rps": round(tally.count / elapsed, 1),
              "rss_mib": memory.report(0.1, 0.25, 0.5, 0.75), "kinds": {}}
    for kind, values in tally.latencies.items():
        report["kinds"][kind] = {"count": len(values), "errors": tally.errors.get(kind, 0), **latency_summary(values)}
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="runs/embedded/best.onnx")
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--sessions", type=int, default=8)
    parser.add_argument("--clip-clients", type=int, default=1)
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=300.0)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    from cocodiff.data.readers.utd import read_utd_mat

    clip = read_utd_mat(args.shared / "utd_mhad" / "a3_s1_t1_skeleton.mat")["keypoint"].tolist()
    port = free_ports()[0]
    server = subprocess.Popen([sys.executable, "-m", "serve", args.model, "--port", str(port),
                               "--max-sessions", str(args.sessions + 4)], stdout=subprocess.PIPE, text=True)
    try:
        import httpx

        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/v2/health/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                sys.exit("the server did not start")
            time.sleep(0.3)
        print(json.dumps(machine()))
        report = asyncio.run(run(f"http://127.0.0.1:{port}", server.pid, args, clip))
        report.update(sessions=args.sessions, clip_clients=args.clip_clients, model=args.model)
        print(json.dumps(report, indent=1))
        if args.json:
            args.json.write_text(json.dumps({"machine": machine(), **report}, indent=1))
    finally:
        server.terminate()
        server.wait(timeout=20)


if __name__ == "__main__":
    main()
