"""Results: the machine, JSON, a Markdown table with the targets, and an optional PNG chart."""

# matplotlib is optional: imported only when the chart is drawn.
# ruff: noqa: PLC0415

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from importlib import metadata
from typing import Any

# Targets of issue 6 (measured, never asserted).
TARGET_RATIO = 1.25
TARGET_SPEEDUP = 5.0
TARGET_POLLS = 2.0
TARGET_US_PER_ID = 15.0
TARGET_RSS_MB = 120.0
# Issue 11: S4's makespan at most this times its fault-free twin's, in the same run.
TARGET_S4_RATIO = 1.3


def machine() -> dict[str, Any]:
    """CPU model, cores, OS, Python and the versions of what is measured."""
    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    versions = {}
    for dist in ("zoho-convert", "aiohttp", "zohocrmsdk8-0", "attrs", "cattrs"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = None
    return {
        "git": _git(),
        "zoho_convert_from": _package_dir(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "versions": versions,
    }


def _package_dir() -> str | None:
    """Where the measured ``zoho_convert`` is imported from, when not from this checkout
    (e.g. a scratch copy on ``PYTHONPATH``): then the commit says nothing about it."""
    import zoho_convert

    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    found = os.path.dirname(os.path.abspath(zoho_convert.__file__))
    return None if os.path.dirname(found) == here else found


def _git() -> str | None:
    """The commit measured, with ``+dirty`` when zoho_convert/ has uncommitted changes."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root,
                              capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "zoho_convert"], cwd=root,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return head + ("+dirty" if dirty else "")


def _fmt(value: Any, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _client_name(row: dict[str, Any]) -> str:
    name = "zoho_convert" if row["client"] == "zc" else "official SDK"
    if row.get("extrapolated"):
        name += " (extrapolated)"
    return name


def _settings(row: dict[str, Any]) -> str:
    return settings_text(row["sim"])


def settings_text(sim: dict[str, Any]) -> str:
    """The simulator's settings (``SimSettings.describe()``) in a few words."""
    text = (
        f"L={sim['latency_s'] * 1000:g} ms, D={sim['job_duration_s']:g}"
        f"±{sim['job_duration_jitter_s']:g} s, C={sim['concurrency_cap']}"
    )
    faults = []
    if sim["rate_429"]:
        faults.append(f"{sim['rate_429']:.0%} 429")
    if sim["rate_500"]:
        faults.append(f"{sim['rate_500']:.0%} 500")
    if sim["token_max_uses"]:
        faults.append(f"token expires every {sim['token_max_uses']} uses")
    if faults:
        text += "; " + ", ".join(faults)
    return text


def _correctness(row: dict[str, Any]) -> str:
    if row.get("extrapolated"):
        return "(extrapolated)"
    text = "yes" if row["correct"] else "**NO**"
    if not row.get("all_converted", True):
        report = row["client_report"]
        parts = [f"{report['converted']:,}/{row['n']:,} converted"]
        for key in ("uncertain", "rejected", "unfinished", "failed", "lost_batches"):
            if report.get(key):
                parts.append(f"{report[key]:,} {key.replace('_', ' ')}")
        text += " (" + ", ".join(parts) + ")"
    return text


def targets(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each target of issue 6 with its measured value and whether it is met."""
    def find(scenario: str, client: str, n: int | None = None, role: str = ""
             ) -> dict[str, Any] | None:
        for row in rows:
            if row["scenario"] == scenario and row["client"] == client and (
                n is None or row["n"] == n
            ) and row.get("role", "") == role:
                return row
        return None

    out: list[dict[str, Any]] = []
    zc1, sdk1 = find("s1", "zc"), find("s1", "sdk")
    if zc1 is not None:
        out.append(_target(
            "S1 makespan <= 1.25 x T_min", zc1["ratio_t_min"], TARGET_RATIO, "x T_min", True))
        out.append(_target(
            "S1 polls per job <= 2 (average)", zc1["server"]["polls_per_job"], TARGET_POLLS,
            "polls/job", True))
        if sdk1 is not None:
            out.append(_target(
                "S1 >= 5x faster than the official SDK", sdk1["wall_s"] / zc1["wall_s"],
                TARGET_SPEEDUP, "x faster", False))
    zc3 = find("s3", "zc")
    if zc3 is not None:
        out.append(_target(
            f"S3 client CPU <= 15 us per id ({zc3['n']:,} ids)", zc3["cpu_us_per_id"],
            TARGET_US_PER_ID, "us/id", True))
        out.append(_target(
            f"S3 peak RSS <= 120 MB ({zc3['n']:,} ids)", zc3["rss_peak_mb"], TARGET_RSS_MB,
            "MB", True))
    zc4, twin4 = find("s4", "zc"), find("s4", "zc", role="twin")
    if zc4 is not None and twin4 is not None:
        out.append(_target(
            "S4 makespan <= 1.3 x its fault-free twin's (issue 11)",
            zc4["wall_s"] / twin4["wall_s"], TARGET_S4_RATIO, "x twin", True))
    if zc4 is not None:
        out.append({
            "target": "S4 under faults: every id accounted for, each converted at most once, "
                      "counts match the simulator's ledger",
            "value": zc4["correct"], "limit": True, "unit": "", "met": bool(zc4["correct"]),
            "margin": "",
        })
        report = zc4["client_report"]
        out.append({
            "target": "S4 under faults: every id converted (report.ok)",
            "value": report["ok"], "limit": True, "unit": "", "met": bool(report["ok"]),
            "margin": "" if report["ok"] else (
                f"{report['converted']:,}/{zc4['n']:,} converted; "
                f"{report['uncertain']:,} uncertain, {report['rejected']:,} rejected, "
                f"{report['unfinished']:,} unfinished"),
        })
    return out


def _target(name: str, value: float | None, limit: float, unit: str, at_most: bool
            ) -> dict[str, Any]:
    if value is None:
        return {"target": name, "value": None, "limit": limit, "unit": unit, "met": False,
                "margin": "not measured"}
    met = value <= limit if at_most else value >= limit
    if at_most:
        margin = f"{(limit - value) / limit:+.0%} headroom" if met else \
            f"missed by {(value - limit) / limit:.0%}"
    else:
        margin = f"{(value - limit) / limit:+.0%} headroom" if met else \
            f"missed by {(limit - value) / limit:.0%}"
    return {"target": name, "value": value, "limit": limit, "unit": unit, "met": met,
            "margin": margin}


def markdown(results: dict[str, Any]) -> str:
    """The results as a Markdown page: machine, table, targets, notes."""
    m = results["machine"]
    lines = [
        f"# zoho_convert benchmarks ({results['mode']} run)",
        "",
        f"Run {results['started']} with `{results['command']}` in {results['duration_s']:.0f} s.",
        "",
        f"Commit: {m.get('git') or 'unknown'} (zoho_convert/ as measured)"
        + (f"; **zoho_convert imported from {m['zoho_convert_from']}, not this checkout**"
           if m.get("zoho_convert_from") else ""),
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['platform']}, "
        f"{m['implementation']} {m['python']}; "
        + ", ".join(f"{k} {v}" for k, v in m["versions"].items() if v),
        "",
        "The simulator runs in its own process; the client side of each row runs in another, "
        "so CPU and peak RSS are the client's alone (RSS includes the interpreter and imports: "
        "`base` is the RSS after imports). T_min = 2·B·L/C + D (B = ceil(N/50)); "
        "T_lb = L + max(2·B·L/C, (B-1)·L/C + 2·L + D) is a tighter bound that lets jobs run "
        "while later batches are still being submitted.",
        "",
        "| scenario | client | N | settings | wall s | T_min s | wall/T_min | wall/T_lb "
        "| CPU s | CPU µs/id | peak RSS MB (base) | requests | polls/job | 429s | correct |",
        "|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for row in results["rows"]:
        server = row["server"] or {}
        lines.append(
            "| {sc} | {client} | {n:,} | {settings} | {wall} | {tmin} | {ratio} | {rb} | {cpu} "
            "| {us} | {rss} ({base}) | {req} | {polls} | {r429} | {ok} |".format(
                sc=row["scenario"].upper() + (" twin" if row.get("role") == "twin" else ""),
                client=_client_name(row),
                n=row["n"],
                settings=_settings(row),
                wall=_fmt(row["wall_s"]),
                tmin=_fmt(row["t_min_s"]),
                ratio=_fmt(row["ratio_t_min"]),
                rb=_fmt(row["ratio_t_bound"]),
                cpu=_fmt(row["cpu_s"]),
                us=_fmt(row["cpu_us_per_id"], 1),
                rss=_fmt(row["rss_peak_mb"], 0),
                base=_fmt(row["rss_base_mb"], 0),
                req=_fmt(server.get("requests_served")),
                polls=_fmt(server.get("polls_per_job")),
                r429=_fmt(server.get("rate_limited")),
                ok=_correctness(row),
            )
        )
    lines += ["", "## Targets (issue 6; measured, not asserted)", "",
              "| target | measured | limit | met |", "|---|---:|---:|---|"]
    for t in results["targets"]:
        value = t["value"]
        shown = _fmt(value) + (f" {t['unit']}" if t["unit"] else "")
        limit = _fmt(t["limit"]) + (f" {t['unit']}" if t["unit"] else "")
        met = ("yes" if t["met"] else "**no**") + (f" ({t['margin']})" if t["margin"] else "")
        lines.append(f"| {t['target']} | {shown} | {limit} | {met} |")
    if results.get("notes"):
        lines += ["", "## Notes", ""]
        lines += [f"- {note}" for note in results["notes"]]
    if results.get("chart"):
        lines += ["", f"![makespan vs N]({os.path.basename(results['chart'])})"]
    return "\n".join(lines) + "\n"


def write(results: dict[str, Any], out_dir: str, stem: str) -> list[str]:
    """Write ``{stem}.json``, ``{stem}.md`` and (with matplotlib) ``{stem}.png``."""
    os.makedirs(out_dir, exist_ok=True)
    written = []
    chart_path = os.path.join(out_dir, f"{stem}.png")
    message = chart(results["rows"], chart_path)
    if message is None:
        results["chart"] = chart_path
        written.append(chart_path)
    else:
        results["chart"] = None
        results.setdefault("notes", []).append(message)
    json_path = os.path.join(out_dir, f"{stem}.json")
    with open(json_path, "w") as f:
        json.dump(results, f, indent=2)
        f.write("\n")
    md_path = os.path.join(out_dir, f"{stem}.md")
    with open(md_path, "w") as f:
        f.write(markdown(results))
    return [json_path, md_path, *written]


def chart(rows: list[dict[str, Any]], path: str) -> str | None:
    """Makespan vs N for zoho_convert, the SDK and T_min; returns a message when skipped."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return ("chart skipped: matplotlib is not installed "
                "(pip install matplotlib to get the PNG)")
    series = [r for r in rows if r["scenario"] in ("s1", "s2")]
    if not series:
        return "chart skipped: no makespan scenario was run"
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    for client, label, style in (("zc", "zoho_convert", "o-"), ("sdk", "official SDK", "s-")):
        pts = sorted((r["n"], r["wall_s"], bool(r.get("extrapolated")))
                     for r in series if r["client"] == client)
        if not pts:
            continue
        ax.plot([p[0] for p in pts], [p[1] for p in pts], style, label=label)
        for n, wall, extrapolated in pts:
            if extrapolated:
                ax.annotate("extrapolated", (n, wall), textcoords="offset points",
                            xytext=(-30, 8), fontsize=8)
    tmins = sorted({(r["n"], r["t_min_s"]) for r in series})
    ax.plot([t[0] for t in tmins], [t[1] for t in tmins], "k--", label="T_min = 2·B·L/C + D")
    first = series[0]["sim"]
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("quotes converted (N)")
    ax.set_ylabel("makespan (s)")
    ax.set_title(
        f"Makespan vs N (L={first['latency_s'] * 1000:g} ms, D={first['job_duration_s']:g} s, "
        f"C={first['concurrency_cap']})"
    )
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return None
