"""The serving benchmark's report: the table, traces and client paths printed, and the figures --compare
follows (benchmarks/figures.py). Ratios measured in one run, and the CPU each request cost."""

from __future__ import annotations

from figures import Figure

NAIVE = "naive Flask + torch"
NOOP = "Triton, no-op model"


def print_report(result: dict) -> None:
    m = result["machine"]
    pinning = (f"client on core {m['client_cores']}, servers on {m['server_cores']}" if m["client_cores"]
               else "not pinned")
    print(f"\n{m['cpu']}, {m['cores']} cores, {pinning}; {result['rounds']} round(s) of "
          f"{result['seconds_per_point']:g} s per point; load average {m['load_average_before'][0]:.2f} before, "
          f"{m['load_average_after'][0]:.2f} after")
    print(f"{'server':28} {'protocol':11} {'client':13} {'c':>2} {'req/s':>7} {'(min–max)':>13} {'p50':>6} {'p99':>6} "
          f"{'client':>6} {'µs/req':>6} {'stub':>5} {'batch':>5} {'limit/s':>7} {'%lim':>4} {'%cpu':>4} {'others':>6}")
    for r in result["rows"]:
        limit_text = (f"{r['limit']:7,.0f} {r['percent_of_limit']:3.0f}% {r['percent_cpu_in_model']:3.0f}%" if r["limit"]
                      else f"{'—':>7} {'—':>4} {'—':>4}")
        print(f"{r['server']:28} {r['protocol']:11} {r['client']:13} {r['concurrency']:>2} {r['throughput']:7,.0f} "
              f"{r['throughput_min']:6,.0f}–{r['throughput_max']:<6,.0f} {r['p50_ms']:6.2f} {r['p99_ms']:6.2f} "
              f"{r['client_cpu_share']:6.0%} {r['server_cpu_us_per_request']:6.0f} {r['stub_cpu_us_per_request']:5.0f} "
              f"{r['mean_batch']:5.1f} {limit_text} {r['other_cpu_share']:6.0%}")
    for protocol, phases in result["traces"].items():
        print(f"\ninside Triton, {protocol} at concurrency 32 (traces; median / mean µs):")
        for label, median, mean, n in phases:
            print(f"  {label:46} {median:8.0f} {mean:8.0f}   ({n} traces)")
    print("\nPython tritonclient, one request at a time:")
    for path in result["client_paths"]:
        print(f"  {path['protocol']:12} p50 {path['p50_ms']:5.2f} ms   client CPU {path['client_cpu_us_per_request']:4.0f} µs "
              "per request")
    rows = [r for r in result["rows"] if r["concurrency"] == 32]
    generated = [r for r in rows if r["server"] == result["rows"][0]["server"]]
    naive = next((r for r in rows if r["server"] == NAIVE), None)
    top = max(generated, key=lambda r: r["throughput"])
    print(f"\nbest at concurrency 32: {top['protocol']} ({top['client']}) {top['throughput']:,.0f} req/s, "
          f"p99 {top['p99_ms']:.2f} ms, {top['percent_of_limit']:.0f}% of the compute limit "
          f"({top['percent_cpu_in_model']:.0f}% of its CPU in the model) (goal ≥ 70% with p99 ≤ 10 ms)")
    wrk_row = next((r for r in generated if r["client"] == "wrk"), None)
    if naive and wrk_row:
        print(f"vs naive Flask, both wrk HTTP JSON: {wrk_row['throughput'] / naive['throughput']:.2f}× throughput, "
              f"{naive['server_cpu_us_per_request'] / wrk_row['server_cpu_us_per_request']:.2f}× less CPU per "
              f"request, p99 {wrk_row['p99_ms']:.2f} vs {naive['p99_ms']:.2f} ms (goal ≥ 6×, p99 no worse)")


def serving_figures(result: dict) -> dict[str, Figure]:
    """The headline figures of a run: Triton against the naive server in the same run, and CPU per request."""
    rows = result["rows"]
    generated = rows[0]["server"]
    out: dict[str, Figure] = {}

    def at(server: str, client: str, protocol: str, c: int) -> dict | None:
        return next((r for r in rows if (r["server"], r["client"], r["protocol"], r["concurrency"]) ==
                     (server, client, protocol, c)), None)

    for c in sorted({r["concurrency"] for r in rows}):
        ours, naive = at(generated, "wrk", "HTTP JSON", c), at(NAIVE, "wrk", "HTTP JSON", c)
        if ours and naive:
            out[f"triton_over_naive_throughput_c{c}"] = Figure(
                ours["throughput"] / naive["throughput"], "higher",
                f"req/s of Triton over the naive Flask server, wrk HTTP JSON, concurrency {c}")
        if ours:
            out[f"triton_p99_ms_c{c}"] = Figure(ours["p99_ms"], "lower", f"p99 ms, wrk HTTP JSON, concurrency {c}")
    for r in rows:
        if r["server"] == generated and r["concurrency"] == 32:
            key = f"{r['protocol']} {r['client']}".lower().replace(" ", "_")
            out[f"server_cpu_us_per_request_{key}_c32"] = Figure(
                r["server_cpu_us_per_request"], "lower",
                f"server CPU µs per request, {r['protocol']} ({r['client']}), concurrency 32")
            if r.get("percent_of_limit"):
                out[f"percent_of_limit_{key}_c32"] = Figure(
                    r["percent_of_limit"], "higher", f"% of the compute limit, {r['protocol']} ({r['client']}), c=32")
    noop = [r for r in rows if r["server"] == NOOP and r["concurrency"] == 32]
    for r in noop:
        key = f"{r['protocol']} {r['client']}".lower().replace(" ", "_")
        out[f"noop_floor_cpu_us_per_request_{key}"] = Figure(
            r["server_cpu_us_per_request"], "lower", f"the serving path's own CPU µs per request (no-op model), "
                                                     f"{r['protocol']} ({r['client']}), c=32")
    return out
