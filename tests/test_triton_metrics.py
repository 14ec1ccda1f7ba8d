"""The Triton metrics scraper on real /metrics text captured from tritonserver (tests/data/triton_metrics)."""

from __future__ import annotations

import http.server
import threading
from pathlib import Path

import pytest

from modeldeploy.clients.triton_metrics import (
    ScrapeError, TritonMetrics, delta, http_fetch, metrics_url, parse, scrape,
)

pytestmark = pytest.mark.unit

DATA = Path(__file__).parent / "data" / "triton_metrics"
IDLE = (DATA / "quickstart-summaries-idle.txt").read_text()
AFTER_400 = (DATA / "quickstart-summaries-after-400.txt").read_text()
BUSY = (DATA / "quickstart-busy-no-summaries.txt").read_text()


def test_counters_gauge_and_p99_of_a_real_scrape() -> None:
    m = parse(AFTER_400, "quickstart")
    assert (m.success, m.failure, m.inferences, m.executions) == (400, 0, 400, 282)
    assert (m.request_us, m.queue_us) == (484300, 257361)
    assert (m.compute_input_us, m.compute_infer_us, m.compute_output_us) == (10880, 176265, 38318)
    assert m.compute_us == 10880 + 176265 + 38318
    assert m.pending == 0
    assert (m.request_p99_us, m.queue_p99_us) == (22256, 21043)


def test_without_summary_latencies_p99_is_unknown_not_zero() -> None:
    m = parse(BUSY, "quickstart")
    assert m.request_p99_us is None and m.queue_p99_us is None
    assert m.pending == 1 and m.success == 70


def test_a_model_the_server_does_not_report_is_an_error_not_zeros() -> None:
    with pytest.raises(ScrapeError, match="'resnet50' has no metrics"):
        parse(AFTER_400, "resnet50")
    with pytest.raises(ScrapeError, match="version 2 has no metrics"):
        parse(AFTER_400, "quickstart", version="2")


def test_versions_are_summed_unless_one_is_asked() -> None:
    # A second version beside the real one, as Triton writes it while two versions are loaded.
    lines = AFTER_400.splitlines()
    twin = [line.replace('version="1"', 'version="2"') for line in lines if 'model="quickstart"' in line]
    two_versions = "\n".join(lines + twin) + "\n"
    both = parse(two_versions, "quickstart")
    assert both.success == 800 and both.queue_us == 2 * 257361
    assert both.queue_p99_us == 21043  # quantiles do not add up: the worst version's
    assert parse(two_versions, "quickstart", version="2").success == 400


def test_garbage_is_a_scrape_error() -> None:
    with pytest.raises(ScrapeError, match="unparsable"):
        parse("nv_inference_request_success{model=\"quickstart\" 12 oops\n", "quickstart")


def test_delta_gives_rates_and_per_request_averages_between_two_real_scrapes() -> None:
    rates = delta(parse(IDLE, "quickstart"), parse(AFTER_400, "quickstart"), seconds=2.0)
    assert rates.requests_per_second == 200
    assert rates.queue_ms == pytest.approx(257361 / 400 / 1000)
    assert rates.request_ms == pytest.approx(484300 / 400 / 1000)
    # Little's law: 0.484 s spent in the server over 2 s is 0.24 requests in flight on average.
    assert rates.inflight == pytest.approx(0.48430 / 2)
    assert rates.error_ratio == 0


def test_delta_with_no_completed_request_has_no_averages() -> None:
    m = parse(AFTER_400, "quickstart")
    rates = delta(m, m, seconds=2.0)
    assert rates.requests_per_second == 0
    assert rates.queue_ms is None and rates.error_ratio is None


def test_a_counter_that_went_down_means_the_server_restarted() -> None:
    before = TritonMetrics(success=1000, queue_us=5_000_000)
    after = TritonMetrics(success=10, queue_us=20_000)
    rates = delta(before, after, seconds=1.0)
    assert rates.requests_per_second == 10 and rates.queue_ms == 2.0


def test_metrics_url_of_ipv4_and_ipv6_pods() -> None:
    assert metrics_url("10.1.2.3") == "http://10.1.2.3:8002/metrics"
    assert metrics_url("fd00::7") == "http://[fd00::7]:8002/metrics"


def test_scrape_uses_the_injected_fetch() -> None:
    seen = []

    def fetch(url: str, timeout: float) -> str:
        seen.append((url, timeout))
        return AFTER_400

    assert scrape("10.0.0.9", "quickstart", fetch=fetch, timeout=0.5).success == 400
    assert seen == [("http://10.0.0.9:8002/metrics", 0.5)]


class _Handler(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self):  # noqa: N802 - http.server's naming
        body = AFTER_400.encode()
        self.send_response(self.status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def metrics_server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def test_http_fetch_reads_a_metrics_endpoint(metrics_server) -> None:
    port = metrics_server.server_address[1]
    assert scrape("127.0.0.1", "quickstart", port=port).executions == 282


def test_http_errors_and_refused_connections_are_scrape_errors(metrics_server, monkeypatch) -> None:
    port = metrics_server.server_address[1]
    monkeypatch.setattr(_Handler, "status", 503)
    with pytest.raises(ScrapeError, match="HTTP 503"):
        http_fetch(f"http://127.0.0.1:{port}/metrics", 1.0)
    metrics_server.shutdown()
    metrics_server.server_close()
    with pytest.raises(ScrapeError, match="127.0.0.1"):
        http_fetch(f"http://127.0.0.1:{port}/metrics", 1.0)


@pytest.mark.runtime
def test_scrape_and_delta_on_a_live_triton(tmp_path) -> None:
    """The scraper against the tritonserver the quickstart runs: N requests in, N requests counted."""
    import yaml
    from support.quickstart import make_quickstart
    from modeldeploy.api import parse_model_deployment
    from modeldeploy_runtime.infer import example_inputs, infer
    from modeldeploy_runtime.serve import ServeOptions, serving

    quickstart = make_quickstart(tmp_path)
    md = parse_model_deployment(yaml.safe_load(quickstart.read_text()))
    options = ServeOptions(workdir=tmp_path / "work", extra_args=["--metrics-config=summary_latencies=true"])
    with serving(md, quickstart.parent, options) as server:
        port = server.triton.metrics_port
        before = _settled(lambda: scrape("127.0.0.1", "quickstart", port=port))
        for _ in range(20):
            infer(md, server.http_url, example_inputs(md))
        after = scrape("127.0.0.1", "quickstart", port=port)
        rates = delta(before, after, seconds=1.0)
        assert rates.requests_per_second == 20 and rates.failures_per_second == 0
        assert rates.queue_ms is not None and 0 <= rates.queue_ms < rates.request_ms
        assert after.request_p99_us is not None and after.request_p99_us > 0
        with pytest.raises(ScrapeError, match="no metrics"):
            scrape("127.0.0.1", "not-served", port=port)


def _settled(read, timeout: float = 5.0):  # noqa: ANN001, ANN202 - a scrape, repeated
    """A scrape once the counters stop moving: serve's own smoke inference may land in them just after it
    says ready, and would be counted as one of the test's requests."""
    import time
    previous = read()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(0.2)
        current = read()
        if current.success == previous.success:
            return current
        previous = current
    return previous

