"""What results in object storage cost a run: the same grid with local --results and with s3://.

Side by side in one invocation: a grid of digits runs (LeNet-5, CPU) swept
once into a local folder and once into a bucket of an S3 server on loopback
(moto's server in its own process on 127.0.0.1, so it does not share this
process's interpreter lock with training), interleaved rounds, best of each.
The s3 side pays what a real bucket would make dearer: the conditional-write
check, queueing, a lease per run with its heartbeat, an upload after every
epoch (checkpoint.pt, history, log, status.json) and the commit at the end,
and rebuilding the tables from the bucket. Loopback has no network latency:
against a real bucket each PUT adds its round trip (tens of ms), so read the
request count beside the seconds.

    python bench/bench_object_store.py [--runs 4] [--epochs 5] [--rounds 2]

Needs `pip install "ablate[s3]" "moto[server]"`. Appends to bench/results/object_store.csv.
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ENV = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1",
       "AWS_EC2_METADATA_DISABLED": "true", "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_moto(port: int) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("moto server did not start on 127.0.0.1")


def sweep_seconds(results: str, name: str, runs: int, epochs: int) -> float:
    import ablate

    start = time.perf_counter()
    result = ablate.run_sweep([f"seed=range(0,{runs})", f"epochs={epochs}", "device=cpu"], results=results,
                              name=name, workers=1)
    elapsed = time.perf_counter() - start
    assert result.counts.get("completed") == runs, result.counts
    return elapsed


def bucket_objects(prefix: str) -> tuple[int, int]:
    """(objects, bytes) the sweep left under s3://bench/<prefix>, leases included."""
    import boto3

    client = boto3.client("s3")
    pages = client.get_paginator("list_objects_v2").paginate(Bucket="bench", Prefix=prefix)
    objects = [o for page in pages for o in page.get("Contents", [])]
    return len(objects), sum(o["Size"] for o in objects)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()

    port = free_port()
    os.environ.update(ENV, AWS_ENDPOINT_URL_S3=f"http://127.0.0.1:{port}")
    server = start_moto(port)
    try:
        import boto3
        import torch

        boto3.client("s3").create_bucket(Bucket="bench")
        torch.set_num_threads(1)
        sweep_seconds(tempfile.mkdtemp(), "warm", 1, 1)  # imports and first-run costs, on neither side
        local, remote = [], []
        with tempfile.TemporaryDirectory() as root:
            for i in range(args.rounds):
                local.append(sweep_seconds(root, f"local-{i}", args.runs, args.epochs))
                remote.append(sweep_seconds("s3://bench/sweeps", f"s3-{i}", args.runs, args.epochs))
        objects, size = bucket_objects(f"sweeps/s3-{args.rounds - 1}/")
    finally:
        server.terminate()
        server.wait()

    best_local, best_remote = min(local), min(remote)
    per_run = (best_remote - best_local) / args.runs
    print(f"{args.runs} runs × {args.epochs} epochs, digits LeNet-5 on CPU, best of {args.rounds}")
    print(f"  local --results      {best_local:7.2f} s   {best_local / args.runs:6.2f} s/run")
    print(f"  s3:// on loopback    {best_remote:7.2f} s   {best_remote / args.runs:6.2f} s/run")
    print(f"  overhead             {per_run:+7.2f} s/run   ratio s3/local {best_remote / best_local:.3f}×")
    print(f"  bucket: {objects} objects, {size / 1e6:.2f} MB for the sweep ({size / 1e6 / args.runs:.2f} MB/run)")
    out = Path(__file__).parent / "results" / "object_store.csv"
    new = not out.exists()
    with open(out, "a", newline="") as f:
        writer = csv.writer(f)
        if new:
            writer.writerow(["date", "machine", "cpus", "torch", "runs", "epochs", "local_s", "s3_s",
                             "overhead_s_per_run", "ratio", "objects", "bytes"])
        writer.writerow([time.strftime("%Y-%m-%d"), platform.machine(), os.cpu_count(), torch.__version__,
                         args.runs, args.epochs, f"{best_local:.2f}", f"{best_remote:.2f}", f"{per_run:.3f}",
                         f"{best_remote / best_local:.3f}", objects, size])


if __name__ == "__main__":
    main()
