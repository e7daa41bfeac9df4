#!/usr/bin/env python3
"""Turns the raw measurements of scripts/bench.sh into the markdown table of docs/PERFORMANCE.md.

Input: a TSV of `label<TAB>wall_s<TAB>user_s<TAB>sys_s<TAB>max_rss_kib<TAB>bytes` lines, one
per run (GNU time's %e %U %S %M). Output: the section between the `<!-- bench:begin -->` and
`<!-- bench:end -->` markers of the given markdown file is replaced (the markers are appended
when missing); the rest of the file, e.g. the "Seal and open" section, is left as it is.
Medians per label; CPU is user + sys per GiB; the targets of issue 3 are checked as ratios
measured in the same run. The tree benchmarks of issue 12 (labels `*-tree-small`,
`*-tree-large`, `s3seal-noop-sync-small`, `s3seal-sync-listing-100k`) get their own table, with
the KMS calls counted by scripts/bench.sh (`--kms`: `label<TAB>calls<TAB>wall_s` lines).
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections import defaultdict
from pathlib import Path

GIB = 1024**3
BEGIN = "<!-- bench:begin -->"
END = "<!-- bench:end -->"

ROWS = [
    ("s3seal-put", "s3seal put (encrypt + upload)", "up"),
    ("aws-up", "aws s3 cp (upload, unencrypted)", "up"),
    ("s5cmd-up", "s5cmd cp (upload, unencrypted)", "up"),
    ("s3seal-get", "s3seal get to a file (download + verify + decrypt)", "down"),
    ("aws-down", "aws s3 cp to a file (download)", "down"),
    ("s5cmd-down", "s5cmd cp to a file (download)", "down"),
    ("s3seal-get-stdout", "s3seal get to stdout (pipe)", "stdout"),
    ("aws-down-stdout", "aws s3 cp to stdout (pipe)", "stdout"),
    ("s5cmd-cat", "s5cmd cat (pipe)", "stdout"),
    ("s3seal-stream-256m", "s3seal put from stdin, 256 MiB stream", "stream"),
    ("s3seal-stream-2g", "s3seal put from stdin, 2 GiB stream", "stream"),
]

# One invocation on a 64 KiB object: wall and CPU in milliseconds.
SMALL_ROWS = [
    ("s3seal-put-64k", "s3seal put, 64 KiB file"),
    ("s5cmd-up-64k", "s5cmd cp up, 64 KiB file"),
    ("aws-up-64k", "aws s3 cp up, 64 KiB file"),
    ("s3seal-get-64k", "s3seal get, 64 KiB object"),
    ("s5cmd-down-64k", "s5cmd cp down, 64 KiB object"),
]

TREE_ROWS = [
    ("s3seal-put-tree-{t}", "s3seal put --recursive"),
    ("aws-up-tree-{t}", "aws s3 cp --recursive (upload)"),
    ("s5cmd-up-tree-{t}", "s5cmd cp 'dir/*' (upload)"),
    ("s3seal-get-tree-{t}", "s3seal get --recursive"),
    ("aws-down-tree-{t}", "aws s3 cp --recursive (download)"),
    ("s5cmd-down-tree-{t}", "s5cmd cp 'prefix/*' (download)"),
]
TREES = [("small", "2,000 files x 256 KiB"), ("large", "20 files x 50 MiB")]


def load_kms(path: Path | None) -> dict[str, list[tuple[int, float]]]:
    out: dict[str, list[tuple[int, float]]] = defaultdict(list)
    if path is None or not path.exists():
        return out
    for line in path.read_text().splitlines():
        if line.strip():
            label, calls, wall = line.split("\t")
            out[label].append((int(calls), float(wall)))
    return out


def render_trees(s, kms) -> list[str]:
    if not any(k.endswith("-tree-small") or k.endswith("-tree-large") for k in s):
        return []
    lines = [
        "",
        "### Trees (issue 12)",
        "",
        "| tree | operation | runs | wall s | MiB/s | user s | sys s | peak RSS MiB |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for t, tree in TREES:
        for pattern, title in TREE_ROWS:
            label = pattern.format(t=t)
            if label in s:
                r = s[label]
                lines.append(
                    f"| {tree} | {title} | {r['n']} | {r['wall']:.2f} | {r['mib_s']:.0f} | "
                    f"{r['user']:.2f} | {r['sys']:.2f} | {r['rss']:.0f} (max {r['rss_max']:.0f}) |"
                )
    lines += ["", "Targets (issue 12), from this run:", ""]
    for direction, a, b in (("up", "s3seal-put-tree-large", "s5cmd-up-tree-large"),
                            ("down", "s3seal-get-tree-large", "s5cmd-down-tree-large")):
        lines.append(f"- 50 MiB tree, client CPU vs s5cmd ({direction}): {verdict(ratio(s, a, b, 'cpu'), 0.7)}")
        lines.append(f"- 50 MiB tree, wall vs s5cmd ({direction}): {verdict(ratio(s, a, b, 'wall'), 1.0)}")
    for label, what in (("s3seal-put-tree-small", "upload of the 2,000-file tree"),
                        ("s3seal-noop-sync-small", "no-op sync of the 2,000-file tree")):
        if label in kms:
            calls = med([c for c, _ in kms[label]])
            wall = med([w for _, w in kms[label]])
            rate = f", {calls / wall:.0f} KMS calls/s" if wall > 0 else ""
            lines.append(f"- KMS calls of the {what}: {calls:.0f} in {wall:.2f} s{rate}")
    if "s3seal-noop-sync-small" in kms:
        calls = max(c for c, _ in kms["s3seal-noop-sync-small"])
        lines.append("- No-op sync makes no KMS call (target 0): " + ("met" if calls == 0 else "**missed**"))
    if "s3seal-noop-sync-small" in s:
        w = s["s3seal-noop-sync-small"]["wall"]
        lines.append(f"- No-op sync wall: {w:.2f} s (target < 2 s): " + ("met" if w < 2 else "**missed**"))
    for label in ("s3seal-put-tree-small", "s3seal-put-tree-large", "s3seal-get-tree-small",
                  "s3seal-get-tree-large", "s3seal-sync-listing-100k"):
        if label in s:
            v = s[label]["rss_max"]
            lines.append(
                f"- Peak RSS of `{label}`: {v:.0f} MiB (target <= 128 MiB): "
                + ("met" if v <= 128 else "**missed**")
            )
    return lines


def load(path: Path) -> dict[str, list[tuple[float, float, float, float, int]]]:
    runs: dict[str, list[tuple[float, float, float, float, int]]] = defaultdict(list)
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        label, wall, user, sys_, rss, size = line.split("\t")
        runs[label].append((float(wall), float(user), float(sys_), float(rss) / 1024, int(size)))
    return runs


def med(values: list[float]) -> float:
    return statistics.median(values)


def summarize(runs):
    out = {}
    for label, rs in runs.items():
        size = rs[0][4]
        gib = size / GIB if size else 1.0
        out[label] = {
            "n": len(rs),
            "wall": med([r[0] for r in rs]),
            "user": med([r[1] for r in rs]),
            "sys": med([r[2] for r in rs]),
            "cpu": med([r[1] + r[2] for r in rs]),
            "cpu_per_gib": med([(r[1] + r[2]) / gib for r in rs]) if size else 0.0,
            "rss": med([r[3] for r in rs]),
            "rss_max": max(r[3] for r in rs),
            "mib_s": med([size / 1024**2 / r[0] for r in rs]) if size else 0.0,
            "size": size,
        }
    return out


def ratio(s, a: str, b: str, key: str) -> float | None:
    if a in s and b in s and s[b][key] > 0:
        return s[a][key] / s[b][key]
    return None


def verdict(value: float | None, limit: float, fmt: str = "{:.2f}x") -> str:
    if value is None:
        return "not measured"
    mark = "met" if value <= limit else "**missed**"
    return f"{fmt.format(value)} (target <= {fmt.format(limit)}): {mark}"


def table(s, rows) -> list[str]:
    lines = [
        "| operation | runs | wall s | MiB/s | user s | sys s | CPU s/GiB | peak RSS MiB |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for label, title in rows:
        if label not in s:
            continue
        r = s[label]
        lines.append(
            f"| {title} | {r['n']} | {r['wall']:.2f} | {r['mib_s']:.0f} | {r['user']:.2f} | "
            f"{r['sys']:.2f} | {r['cpu_per_gib']:.2f} | {r['rss']:.0f} (max {r['rss_max']:.0f}) |"
        )
    return lines


def rows_table(s, suffix: str, header: list[str], rows, cells) -> list[str]:
    """A table with one row per (label, title) of `rows` measured in this run: the title,
    the number of runs, then `cells(summary)`."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for label, title in rows:
        r = s.get(label + suffix)
        if r:
            lines.append("| " + " | ".join([title, str(r["n"])] + cells(r)) + " |")
    return lines


def small_table(s, suffix: str) -> list[str]:
    header = ["one invocation", "runs", "wall ms", "CPU ms (user + sys)", "peak RSS MiB"]
    return rows_table(
        s, suffix, header, SMALL_ROWS,
        lambda r: [f"{r['wall'] * 1000:.0f}", f"{r['cpu'] * 1000:.0f}", f"{r['rss']:.0f}"],
    )


TINY_ROWS = [
    ("s3seal-put-tree-tiny", "s3seal put --recursive"),
    ("s5cmd-up-tree-tiny", "s5cmd cp 'dir/*' (unencrypted)"),
    ("aws-up-tree-tiny", "aws s3 cp --recursive (unencrypted)"),
]


def tiny_table(s, suffix: str) -> list[str]:
    """500 files x 64 KiB in one process: wall per object is the per-object overhead."""
    header = ["500 files x 64 KiB, one process", "runs", "wall s", "ms per object",
              "CPU s (user + sys)", "peak RSS MiB"]
    return rows_table(
        s, suffix, header, TINY_ROWS,
        lambda r: [f"{r['wall']:.2f}", f"{r['wall'] * 1000 / 500:.1f}", f"{r['cpu']:.2f}", f"{r['rss']:.0f}"],
    )


def render(s, machine: str, command: str, date: str, rtt_ms: int = 0, relay_cpu: str = "", kms=None) -> str:
    lines = [
        BEGIN,
        "## Transfer benchmark (scripts/bench.sh)",
        "",
        f"Measured {date} with `{command}`.",
        "",
        "Machine: " + machine,
        "",
        "One run of the script starts its own servers (the s3s-based S3 server over TLS and moto",
        "for KMS, both on 127.0.0.1, sharing the cores with the client), makes a 1 GiB random",
        "file, and runs every tool against the same HTTPS endpoint, interleaved, several times.",
        "Each measurement starts after an untimed `sync`, so none pays for the writeback of",
        "what the one before it wrote. Figures are medians over the runs; CPU is the client's",
        "user + sys time from GNU",
        "`time`, RSS its peak resident set. The server's own CPU is not counted, but it competes",
        "for the same two cores, so wall times are bounded by it: CPU seconds and ratios are the",
        "figures that hold.",
        "",
    ]
    lines += table(s, [(label, title) for label, title, _ in ROWS])
    lines += ["", "### One small object per invocation (loopback)", ""] + small_table(s, "")
    if "s3seal-put-tree-tiny" in s:
        lines += ["", "Many small objects in one process (loopback):", ""] + tiny_table(s, "")
    r = f"@rtt{rtt_ms}"
    if rtt_ms and any(k.endswith(r) for k in s):
        lines += [
            "",
            f"### With {rtt_ms} ms round-trip time (latency-relay in front of S3 and KMS)",
            "",
            "Every tool connects through the same two relays, which hold each byte "
            f"{rtt_ms // 2} ms in each direction, at most 4 MiB in flight per connection and direction.",
            f"The relays' own CPU over the whole latency part of the run: {relay_cpu or 'not reported'}.",
            "",
        ]
        lines += table(s, [(label + r, title) for label, title, kind in ROWS if kind in ("up", "down")])
        lines += ["", f"One small object per invocation, {rtt_ms} ms round trip:", ""] + small_table(s, r)
        if "s3seal-put-tree-tiny" + r in s:
            lines += ["", f"Many small objects in one process, {rtt_ms} ms round trip:", ""] + tiny_table(s, r)
    lines += ["", "### Targets, as ratios from this run", ""]
    checks = [
        ("Upload CPU per GiB vs s5cmd", ratio(s, "s3seal-put", "s5cmd-up", "cpu_per_gib"), 0.5),
        ("Download CPU per GiB vs s5cmd", ratio(s, "s3seal-get", "s5cmd-down", "cpu_per_gib"), 1.0),
        ("Upload wall vs s5cmd", ratio(s, "s3seal-put", "s5cmd-up", "wall"), 1.0),
        ("Upload wall vs aws s3 cp", ratio(s, "s3seal-put", "aws-up", "wall"), 0.7),
        ("Download wall vs s5cmd", ratio(s, "s3seal-get", "s5cmd-down", "wall"), 1.0),
        ("Download wall vs aws s3 cp", ratio(s, "s3seal-get", "aws-down", "wall"), 0.7),
        ("2 GiB stream RSS vs 256 MiB stream", ratio(s, "s3seal-stream-2g", "s3seal-stream-256m", "rss_max"), 1.2),
    ]
    if rtt_ms:
        r = f"@rtt{rtt_ms}"
        checks += [
            (f"Upload wall vs s5cmd, {rtt_ms} ms RTT", ratio(s, "s3seal-put" + r, "s5cmd-up" + r, "wall"), 1.0),
            (f"Upload wall vs aws s3 cp, {rtt_ms} ms RTT", ratio(s, "s3seal-put" + r, "aws-up" + r, "wall"), 0.7),
            (f"Download wall vs s5cmd, {rtt_ms} ms RTT", ratio(s, "s3seal-get" + r, "s5cmd-down" + r, "wall"), 1.0),
            (f"Download wall vs aws s3 cp, {rtt_ms} ms RTT", ratio(s, "s3seal-get" + r, "aws-down" + r, "wall"), 0.7),
        ]
    for name, value, limit in checks:
        lines.append(f"- {name}: {verdict(value, limit)}")
    rss_labels = ["s3seal-put", "s3seal-get", "s3seal-get-stdout", "s3seal-stream-256m", "s3seal-stream-2g"]
    if rtt_ms:
        rss_labels += [f"s3seal-put@rtt{rtt_ms}", f"s3seal-get@rtt{rtt_ms}"]
    for label in rss_labels:
        if label in s:
            v = s[label]["rss_max"]
            lines.append(
                f"- Peak RSS of `{label}` (max over runs): {v:.0f} MiB (target <= 128 MiB): "
                + ("met" if v <= 128 else "**missed**")
            )
    lines += render_trees(s, kms or {})
    lines += ["", END]
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("results", type=Path)
    ap.add_argument("--doc", type=Path, required=True)
    ap.add_argument("--machine", required=True)
    ap.add_argument("--command", required=True)
    ap.add_argument("--date", required=True)
    ap.add_argument("--rtt-ms", type=int, default=0)
    ap.add_argument("--relay-cpu", default="")
    ap.add_argument("--kms", type=Path, default=None)
    args = ap.parse_args()
    s = summarize(load(args.results))
    section = render(s, args.machine, args.command, args.date, args.rtt_ms, args.relay_cpu, load_kms(args.kms))
    print(section)
    doc = args.doc.read_text() if args.doc.exists() else "# Performance\n"
    if BEGIN in doc and END in doc:
        head, rest = doc.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
        doc = head + section + tail
    else:
        doc = doc.rstrip("\n") + "\n\n" + section + "\n"
    args.doc.write_text(doc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
