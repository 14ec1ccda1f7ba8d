"""In-cluster load for the e2e tests: KServe v2 JSON inferences to a Service, with the standard library only.

Runs in a python image pod (no pip), so the requests go through the cluster's
own Service routing. Each worker opens a new connection every
REQUESTS_PER_CONNECTION requests and pauses PAUSE seconds after each answer.
STEPS ("1:6,5:4,17:60": concurrency:seconds, one after the other) makes the
number of workers rise and fall; without it CONCURRENCY workers run for
DURATION seconds. Prints one JSON line per second ({"concurrency",
"successes", "failures", "by_version", "errors"}) and a last line with
"done": true. With DURATION=0 and no STEPS it sends one request (retried
while the Service refuses) and prints the answer.
"""

import http.client
import json
import os
import sys
import threading
import time

HOST, PORT = os.environ["TARGET"].rsplit(":", 1)
MODEL = os.environ["MODEL"]
INPUT = json.loads(os.environ["INPUT"])  # {"name", "shape", "datatype", "data"}
DURATION = float(os.environ.get("DURATION", "0"))
PER_CONNECTION = int(os.environ.get("REQUESTS_PER_CONNECTION", "10"))
CONCURRENCY = int(os.environ.get("CONCURRENCY", "2"))
PAUSE = float(os.environ.get("PAUSE", "0"))
STEPS = [tuple(float(x) for x in step.split(":")) for step in os.environ.get("STEPS", "").split(",") if step] or \
    [(CONCURRENCY, DURATION)]

counts = {"concurrency": 0, "successes": 0, "failures": 0, "by_version": {}, "errors": []}
lock = threading.Lock()
body = json.dumps({"inputs": [INPUT]})


def once(connection):
    connection.request("POST", f"/v2/models/{MODEL}/infer", body, {"Content-Type": "application/json"})
    response = connection.getresponse()
    payload = response.read()
    if response.status != 200:
        raise RuntimeError(f"HTTP {response.status}: {payload[:200]!r}")
    return json.loads(payload)


def worker(index, stop):
    connection, sent = None, 0
    while not stop.is_set():
        if index >= counts["concurrency"]:  # not in the current step
            stop.wait(0.05)
            continue
        if connection is None or sent % PER_CONNECTION == 0:
            if connection is not None:
                connection.close()
            connection = http.client.HTTPConnection(HOST, int(PORT), timeout=10)
        sent += 1
        try:
            answer = once(connection)
        except Exception as err:  # every failure counts
            with lock:
                counts["failures"] += 1
                if len(counts["errors"]) < 10:
                    counts["errors"].append(f"{type(err).__name__}: {err}"[:200])
            connection.close()
            connection = None
            continue
        with lock:
            counts["successes"] += 1
            version = answer.get("model_version", "?")
            counts["by_version"][version] = counts["by_version"].get(version, 0) + 1
        if PAUSE:
            stop.wait(PAUSE)


def main():
    if DURATION == 0 and not os.environ.get("STEPS"):
        deadline = time.monotonic() + 60  # endpoints follow readiness with a short lag
        while True:
            try:
                print(json.dumps(once(http.client.HTTPConnection(HOST, int(PORT), timeout=30))), flush=True)
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
    stop = threading.Event()
    threads = [threading.Thread(target=worker, args=(i, stop)) for i in range(int(max(c for c, _ in STEPS)))]
    for thread in threads:
        thread.start()
    for concurrency, seconds in STEPS:
        counts["concurrency"] = int(concurrency)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))
            with lock:
                print(json.dumps(counts), flush=True)
    stop.set()
    for thread in threads:
        thread.join()
    print(json.dumps({**counts, "done": True}), flush=True)


if __name__ == "__main__":
    sys.exit(main())
