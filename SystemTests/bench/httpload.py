"""A second load generator for the write benchmarks: keep-alive connections, one request in
flight on each, every request timed from its first byte written to its last byte read, and the
slow ones listed with when they happened (not part of the test suite).

    python3 SystemTests/bench/httpload.py ENDPOINT TOKEN --connections 16 --seconds 10 [--run NAME]

Each request creates a unique principal in organization `bench` (as `rampart-create.lua` does for
wrk). Why a second one: at 300,000 principals and more, wrk reported p99 of 70-115 ms in runs
where the replica's own histogram (`rampart_http_request_duration_seconds`) had 99.5% of the
same requests under 10 ms, and this client, sending the same requests, saw p99 under 10 ms and
only the pauses the replica's histograms also showed. The numbers that compare Rampart with
itself (a save against no save) are taken with this one; compare.py keeps wrk, the same tool on
both systems, for the comparison with etcd. It is one Python process: it reaches about 4,000
creates a second here, less than wrk, so its rates compare only with its own.

Prints one JSON object: rate, p50, p99, p99.9 (ms), failed, and `pauses`: the moments (seconds
from the start) when at least half the connections waited over 50 ms at once."""

import argparse
import asyncio
import json
import time
from urllib.parse import urlsplit


async def connection(host, port, token, number, until, run, results):
    reader, writer = await asyncio.open_connection(host, port)
    count = 0
    try:
        while time.monotonic() < until:
            count += 1
            body = json.dumps({"name": f"h{run}-{number}-{count}", "kind": "service_account"}).encode()
            request = (f"POST /v1/orgs/bench/principals HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n"
                       f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body
            started = time.monotonic()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")), 0)
            await reader.readexactly(length)
            results.append((started, time.monotonic() - started, number, status))
    finally:
        writer.close()


async def load(endpoint, token, connections, seconds, run):
    parts = urlsplit(endpoint)
    results = []
    until = time.monotonic() + seconds
    await asyncio.gather(*(connection(parts.hostname, parts.port, token, n, until, run, results) for n in range(connections)))
    return results


def summary(results, connections, seconds):
    latencies = sorted(latency for _, latency, _, _ in results)
    if not latencies:
        return {"rate": 0, "p50": 0, "p99": 0, "p999": 0, "failed": 0, "pauses": []}

    def percentile(fraction):
        return round(latencies[min(len(latencies) - 1, int(len(latencies) * fraction))] * 1000, 2)
    start = min(started for started, _, _, _ in results)
    slow = sorted((started - start, number) for started, latency, number, _ in results if latency > 0.05)
    pauses = []
    for moment, _ in slow:
        waiting = {number for other, number in slow if abs(other - moment) < 0.01}
        if len(waiting) * 2 >= connections and not any(abs(moment - p) < 0.05 for p in pauses):
            pauses.append(round(moment, 3))
    return {"rate": round(len(results) / seconds), "p50": percentile(0.5), "p99": percentile(0.99), "p999": percentile(0.999),
            "failed": sum(1 for *_, status in results if status >= 300), "pauses": pauses}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("endpoint")
    parser.add_argument("token")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--run", default="run")
    arguments = parser.parse_args()
    results = asyncio.run(load(arguments.endpoint, arguments.token, arguments.connections, arguments.seconds, arguments.run))
    print(json.dumps(summary(results, arguments.connections, arguments.seconds)))


if __name__ == "__main__":
    main()
