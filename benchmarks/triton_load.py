"""A bounded load on `python -m serve.triton`: concurrent clip classification through Triton.

    python benchmarks/triton_load.py [--model runs/embedded/best.onnx] [--clients 8] [--requests 10000]

Needs the Triton environment (numpy < 2, PyTriton, onnxruntime): `--python .venv-triton/bin/python`
(tests/test_triton.py makes it). The server is started as a user starts it, on 127.0.0.1; each of
`--clients` asyncio clients sends one real UTD-MHAD clip, preprocessed by the model's own
pipeline, per request to Triton's HTTP inference API (KServe v2 JSON), as fast as answers come.
Printed: p50 / p99 latency, throughput, errors (anything but a 200), how many requests Triton's
dynamic batcher ran per execution (its metrics), and the resident memory of the server's whole
process tree (the Python side, tritonserver, the Python-backend stub) after 10%, 50% and at the
end of the requests.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from machine import machine  # noqa: E402
from serve.network import free_ports  # noqa: E402
from serve_load import MemoryTrace, Tally, latency_summary  # noqa: E402


def tree_rss_mib(root: int) -> float:
    """VmRSS of `root` and all its descendants."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    total, todo = 0.0, [root]
    while todo:
        pid = todo.pop()
        todo += children.get(pid, [])
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) / 1024
        except OSError:
            pass
    return total


def metric(port: int, name: str) -> float:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name + "{"))


async def client_loop(client, tally: Tally, body: dict, name: str) -> None:
    while tally.more():
        began = time.monotonic()
        try:
            reply = await client.post(f"/v2/models/{name}/infer", json=body)
            ok = reply.status_code == 200
        except Exception:  # noqa: BLE001 - a transport error is an error of the run, counted
            ok = False
        tally.add("clip", time.monotonic() - began, ok)


async def run(url: str, pid: int, args, body: dict) -> dict:
    import httpx

    tally = Tally(args.requests, time.monotonic() + args.seconds)
    memory = MemoryTrace(lambda: tree_rss_mib(pid), tally)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=httpx.Limits(max_connections=args.clients + 2)) as client:
        began = time.monotonic()
        await asyncio.gather(memory.sample(), *(client_loop(client, tally, body, "cocodiff") for _ in range(args.clients)))
        elapsed = time.monotonic() - began
    return {"requests": tally.count, "errors": tally.errors.get("clip", 0), "seconds": round(elapsed, 1),
            "throughput_rps": round(tally.count / elapsed, 1), **latency_summary(tally.latencies["clip"]),
            "rss_mib": memory.report(0.1, 0.5)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="runs/embedded/best.onnx")
    parser.add_argument("--python", default=str(ROOT / ".venv-triton" / "bin" / "python"))
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=300.0)
    parser.add_argument("--queue-delay-us", type=int, default=2000)
    args = parser.parse_args()
    from cocodiff.data.frames import KINECT
    from cocodiff.data.pipelines import InferencePipeline, SkeletonSource
    from cocodiff.data.readers.utd import read_utd_mat
    from serve.backends import open_backend

    backend = open_backend(args.model)
    sample = read_utd_mat(args.shared / "utd_mhad" / "a3_s1_t1_skeleton.mat")
    clip = InferencePipeline(backend.contract, SkeletonSource("kinect20", KINECT))(sample)[None]
    body = {"inputs": [{"name": "skeleton", "shape": list(clip.shape), "datatype": "FP32",
                        "data": clip.ravel().tolist()}]}
    http, grpc, metrics = free_ports(3)
    server = subprocess.Popen([args.python, "-m", "serve.triton", args.model, "--http-port", str(http), "--grpc-port",
                               str(grpc), "--metrics-port", str(metrics), "--queue-delay-us", str(args.queue_delay_us)],
                              env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=ROOT, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{http}/v2/models/cocodiff/ready", timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    sys.exit("Triton did not start")
                time.sleep(0.5)
        print(json.dumps(machine()))
        report = asyncio.run(run(f"http://127.0.0.1:{http}", server.pid, args, body))
        inferences, executions = metric(metrics, "nv_inference_count"), metric(metrics, "nv_inference_exec_count")
        report.update(clients=args.clients, queue_delay_us=args.queue_delay_us,
                      requests_per_execution=round(inferences / max(executions, 1), 2))
        print(json.dumps(report, indent=1))
    finally:
        server.terminate()
        server.wait(timeout=60)


if __name__ == "__main__":
    main()
