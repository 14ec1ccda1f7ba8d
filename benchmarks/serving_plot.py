"""Throughput against p99 latency, one line per server, protocol and client (concurrency 1 → 8 → 32)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import ScalarFormatter  # noqa: E402

# One colour per client and protocol; the server sets the line and marker.
COLOURS = {("wrk", "HTTP JSON"): "tab:blue", ("perf_analyzer", "HTTP JSON"): "tab:orange",
           ("perf_analyzer", "HTTP binary"): "tab:green", ("perf_analyzer", "gRPC"): "tab:red"}


def plot(result: dict, path: Path) -> None:
    rows = result["rows"]
    series: dict[tuple[str, str, str], list[dict]] = {}
    for row in rows:
        series.setdefault((row["server"], row["protocol"], row["client"]), []).append(row)
    fig, ax = plt.subplots(figsize=(9, 5.5), dpi=110)
    for (server, protocol, client), points in series.items():
        points.sort(key=lambda r: r["concurrency"])
        naive, floor = server.startswith("naive"), points[0]["limit"] is None
        style, marker = ("--", "s") if naive else ("", "x") if floor else ("-", "o")
        colour = "tab:purple" if naive else COLOURS.get((client, protocol), "black")
        if not naive and not floor and server != rows[0]["server"]:
            style, colour = ":", "grey"
        ax.plot([r["throughput"] for r in points], [r["p99_ms"] for r in points], linestyle=style, marker=marker,
                color=colour, label=f"{server}: {protocol} ({client})")
        for r in points:
            ax.annotate(f"c={r['concurrency']}", (r["throughput"], r["p99_ms"]), textcoords="offset points",
                        xytext=(4, 4), fontsize=7, color=colour)
    top = max((r for r in rows if r["concurrency"] == 32 and r["limit"] and not r["server"].startswith("naive")),
              key=lambda r: r["throughput"], default=None)
    if top:
        ax.axvline(top["limit"], color="grey", linestyle=":", linewidth=1)
        ax.annotate(f"compute limit at that row's batch sizes\n({top['limit']:,.0f}/s)", (top["limit"], 0.98),
                    xycoords=("data", "axes fraction"), ha="right", va="top", fontsize=7, color="grey")
    ax.axhline(10, color="grey", linestyle="--", linewidth=0.8)
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(ScalarFormatter())
    ax.yaxis.set_minor_formatter(ScalarFormatter())
    ax.tick_params(axis="y", which="minor", labelsize=7)
    ax.set_xlabel("throughput, requests/s (closed loop)")
    ax.set_ylabel("p99 latency, ms (log)")
    m = result["machine"]
    pinning = f"client on core {m['client_cores']}, server on {m['server_cores']}" if m["client_cores"] else "unpinned"
    ax.set_title(f"256→1024→1024→10 MLP, {m['cores']} cores ({pinning})", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
