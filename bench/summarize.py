#!/usr/bin/env python3
"""Summarises bench/run.sh's raw wrk output: median requests per second per target, latency
percentiles, CPU time per request of each proxy, ratios to the direct connection and between
proxies, and added latency."""
import math
import re
import statistics
import sys
from collections import defaultdict


def to_ms(value: str) -> float:
    number, unit = re.match(r"([\d.]+)(us|ms|s)", value).groups()
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def parse(path: str):
    runs = defaultdict(list)
    target = None
    for line in open(path, encoding="utf-8"):
        header = re.match(r"=== round=\d+ target=(\S+)", line)
        if header:
            target = header.group(1)
            runs[target].append({})
            continue
        if target is None:
            continue
        current = runs[target][-1]
        rps = re.match(r"Requests/sec:\s+([\d.]+)", line)
        if rps:
            current["rps"] = float(rps.group(1))
        percentile = re.match(r"\s+(50|90|99)%\s+(\S+)", line)
        if percentile:
            current[f"p{percentile.group(1)}"] = to_ms(percentile.group(2))
        errors = re.search(r"Non-2xx or 3xx responses: (\d+)", line)
        if errors:
            current["non2xx"] = int(errors.group(1))
        requests = re.match(r"\s+(\d+) requests in", line)
        if requests:
            current["requests"] = int(requests.group(1))
        cpu = re.match(r"cpu ticks: user (\d+) system (\d+) per second (\d+)", line)
        if cpu and current.get("requests"):
            user, system, per_second = (int(value) for value in cpu.groups())
            to_us = 1_000_000 / per_second / current["requests"]
            current["user_us"] = user * to_us
            current["system_us"] = system * to_us
            current["cpu_us"] = (user + system) * to_us
    return runs


def median(runs, key):
    values = [run[key] for run in runs if key in run]
    return statistics.median(values) if values else float("nan")


def main() -> None:
    runs = parse(sys.argv[1])
    throughput = {name: r for name, r in runs.items() if not name.endswith("-latency")}
    print(f"{'target':<20}{'req/s (median)':>16}{'p50 ms':>10}{'p90 ms':>10}{'p99 ms':>10}{'non-2xx':>10}")
    for name, r in throughput.items():
        non2xx = sum(run.get("non2xx", 0) for run in r)
        print(f"{name:<20}{median(r, 'rps'):>16.0f}{median(r, 'p50'):>10.2f}{median(r, 'p90'):>10.2f}{median(r, 'p99'):>10.2f}{non2xx:>10}")
    rps = {name: median(r, "rps") for name, r in throughput.items()}
    cpu = {name: median(r, "cpu_us") for name, r in throughput.items()}
    cpu = {name: value for name, value in cpu.items() if not math.isnan(value)}
    if cpu:
        print()
        print("CPU time of the proxy process per request, median of rounds:")
        print(f"{'target':<24}{'user us':>10}{'system us':>12}{'total us':>10}")
        for name in cpu:
            r = throughput[name]
            print(f"{name:<24}{median(r, 'user_us'):>10.1f}{median(r, 'system_us'):>12.1f}{cpu[name]:>10.1f}")
        print()
        for reference in ("haproxy", "nginx", "bare-forwarder"):
            if "gatectl" in cpu and reference in cpu:
                print(f"{reference} CPU per request / gatectl CPU per request = {cpu[reference] / cpu['gatectl']:.2f}")
    print()
    for name, value in rps.items():
        if name != "direct":
            print(f"{name} / direct = {value / rps['direct']:.2f}")
    for proxy in ("nginx", "haproxy", "bare-forwarder"):
        if "gatectl" in rps and proxy in rps:
            print(f"gatectl / {proxy} = {rps['gatectl'] / rps[proxy]:.2f}")
    pairs = [
        ("gatectl-jwt-limit-log", "gatectl", "full chain (JWT RS256 + rate limit + access log) / plain proxy"),
        ("gatectl-limit-redis", "gatectl-limit-memory", "rate limit on Redis / rate limit in memory"),
    ]
    for numerator, denominator, label in pairs:
        if numerator in rps and denominator in rps:
            print(f"{label} = {rps[numerator] / rps[denominator]:.2f}")
    if "gatectl-10k-routes" in rps and "gatectl" in rps:
        print(f"gatectl 10,000 routes / 10 routes = {rps['gatectl-10k-routes'] / rps['gatectl']:.3f}")
    latency = {name[: -len("-latency")]: r for name, r in runs.items() if name.endswith("-latency")}
    if "direct" in latency:
        print()
        print("added latency at one connection (proxy minus direct, median of rounds):")
        for name, r in latency.items():
            if name == "direct":
                continue
            p50 = median(r, "p50") - median(latency["direct"], "p50")
            p99 = median(r, "p99") - median(latency["direct"], "p99")
            print(f"  {name:<10} p50 +{p50 * 1000:.0f} us, p99 +{p99 * 1000:.0f} us")


if __name__ == "__main__":
    main()
