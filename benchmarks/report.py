"""From the runs to the results: the JSON document, the chart, the table.

python benchmarks/report.py results/latest.json      # re-render its .md (and verdicts)
python benchmarks/report.py --combine a.json b.json  # verdicts across runs
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path
from typing import Any

from clients import CLIENTS, MiB
from syncers import TREE_WORKLOADS
from verdicts import (
    CONFIDENCE,
    MIN_ROUNDS,
    RESAMPLES,
    SEED,
    add_verdicts,
    combine,
    higher_is_better,
    shown,
)

UNITS = {
    "W1": "MB/s",
    "W1-disk": "MB/s",
    "W2": "MB/s",
    "W3": "objects/s",
    "W4": "objects/s",
    **dict.fromkeys(TREE_WORKLOADS, "files/s"),
}
REFERENCE = "cdn-manager"
GiB = 1024 * MiB


def describe_workloads(sizes: Any) -> dict[str, str]:
    big = (
        f"{sizes.big // MiB} MiB" if sizes.big < 1024 * MiB else f"{sizes.big // (1024 * MiB)} GiB"
    )
    small = f"{sizes.count:,} objects of {sizes.small // 1024} KiB"
    return {
        "W1": f"download one {big} object to a local file (tmpfs)",
        "W1-disk": f"download one {big} object to a local file (disk)",
        "W2": f"upload {big} from bytes in memory",
        "W3": f"download {small}",
        "W4": f"upload {small} from bytes in memory",
        "W5": f"push a tree of {sizes.tree.describe()} to an empty prefix",
        "W6": "push the same tree again, nothing changed",
        "W7": "CI rebuild: every mtime touched, 1 % of the files changed "
        "(half of them at the same length), then push",
        "W8": "pull the tree into an empty folder",
    }


def amounts(workload: str, sizes: Any, tree_bytes: int) -> tuple[float, int | None]:
    """What a result's rate counts (MB, objects or files), and the bytes the
    workload must move, for CPU-seconds per GiB (None: W6 and W7 move only
    what a tool decides to)."""
    if UNITS[workload] == "MB/s":
        return sizes.big / 1e6, sizes.big
    if workload in ("W3", "W4"):
        return float(sizes.count), sizes.count * sizes.small
    moved = tree_bytes if workload in ("W5", "W8") else None
    return float(sizes.tree.files), moved


def median_of(runs: list[dict[str, Any]], field: str) -> Any:
    values = [r[field] for r in runs if field in r]
    return statistics.median(values) if values else None


def summarize(runs: list[dict[str, Any]], amount: float, moved: int | None) -> dict[str, Any]:
    """Median, spread and resources of one client's counted rounds; rounds
    that failed or moved wrong bytes are listed, never averaged in."""
    ok = [r for r in runs if "seconds" in r and "error" not in r]
    values = [amount / r["seconds"] for r in ok]
    cpu_s = statistics.median(r["cpu_s"] for r in ok) if ok else None
    entry: dict[str, Any] = {
        "median": statistics.median(values) if values else None,
        "min": min(values) if values else None,
        "max": max(values) if values else None,
        "seconds": median_of(ok, "seconds"),
        "cpu_s": cpu_s,
        # The figure a shared machine disturbs least: CPU time is not stretched
        # by waiting for a core the way wall time is.
        "cpu_s_per_gib": cpu_s / (moved / GiB) if cpu_s is not None and moved else None,
        # W6 and W7 move no fixed bytes: their CPU is counted per 1,000 files.
        "cpu_s_per_1k": cpu_s / (amount / 1000) if cpu_s is not None and not moved else None,
        "peak_rss_mib": max(r["peak_rss_mib"] for r in ok) if ok else None,
        "baseline_rss_mib": statistics.median(r["baseline_rss_mib"] for r in ok) if ok else None,
        "rss_over_baseline_mib": max(r["rss_over_baseline_mib"] for r in ok) if ok else None,
        "server_cpu_s": statistics.median(r["server_cpu_s"] for r in ok) if ok else None,
        "rounds_ok": len(ok),
        "rounds": len(runs),
        "values": values,
    }
    checked = [r for r in runs if "exact" in r]
    if checked:
        # Every finished round of a tree workload is compared file by file;
        # one wrong round makes the client wrong (and its time is not counted).
        entry["exact"] = all(r["exact"] for r in checked)
        entry["bytes_up"] = median_of(checked, "bytes_up")
        entry["bytes_down"] = median_of(checked, "bytes_down")
        entry["seconds_wrong"] = median_of([r for r in checked if not r["exact"]], "seconds")
    if any("cpu_children_s" in r and r["cpu_children_s"] > 0 for r in ok):
        entry["cpu_children_s"] = statistics.median(r["cpu_children_s"] for r in ok)
    errors = sorted({r["error"] for r in runs if "error" in r})
    if errors:
        entry["errors"] = errors
    unavailable = sorted({r["unavailable"] for r in runs if "unavailable" in r})
    if unavailable:
        entry["unavailable"] = unavailable[0]
    evidence = [r["evidence"] for r in ok if "evidence" in r]
    if evidence:
        entry["evidence"] = evidence[0]
    return entry


def aggregate(
    runs: dict[tuple[str, str], list[dict[str, Any]]],
    sizes: Any,
    workloads: list[str],
    get_probes: tuple[str, ...],
    tree_bytes: int,
) -> dict[str, Any]:
    descriptions = describe_workloads(sizes)
    document: dict[str, Any] = {"workloads": {}}
    gets: dict[str, Any] = {}
    for workload in workloads:
        amount, moved = amounts(workload, sizes, tree_bytes)
        clients, probes = {}, {}
        for (w, name), rs in runs.items():
            if w != workload:
                continue
            entry = summarize(rs, amount, moved)
            if name in CLIENTS or workload in TREE_WORKLOADS:
                clients[name] = entry
            else:
                probes[name] = entry
                if name in get_probes:
                    gets[name] = entry
        document["workloads"][workload] = {
            "unit": UNITS[workload],
            "description": descriptions[workload],
            "limit": None,
            "clients": clients,
            "limit_probes": probes,
        }
    for workload, block in document["workloads"].items():
        block["limit"], block["limit_note"] = limit_of(workload, block["limit_probes"], gets)
        reference = block["clients"].get(REFERENCE, {}).get("median")
        for entry in block["clients"].values():
            median = entry["median"]
            entry["ratio_to_cdn_manager"] = median / reference if median and reference else None
            entry["fraction_of_limit"] = (
                median / block["limit"] if median and block["limit"] else None
            )
        above = [n for n, e in block["clients"].items() if (e["fraction_of_limit"] or 0) > 1]
        if above:
            block["limit_note"] += (
                f"; {', '.join(above)} went faster than this limit, so on this (noisy) run "
                "the raw probes did not reach the machine's ceiling"
            )
    return add_verdicts(document)


def fill_cpu_per_1k(document: dict[str, Any]) -> None:
    """CPU-seconds per 1,000 files for W6/W7 of a JSON written before
    ``summarize`` recorded it."""
    tree = document.get("sizes", {}).get("tree")
    if not tree:
        return
    files = tree["small"] + tree["medium"] + tree["large"]
    for workload, block in document["workloads"].items():
        if workload not in TREE_WORKLOADS:
            continue
        for entry in block["clients"].values():
            if entry.get("cpu_s_per_gib") is None and entry.get("cpu_s") is not None:
                entry.setdefault("cpu_s_per_1k", entry["cpu_s"] / (files / 1000))


def best(probes: dict[str, Any], names: list[str]) -> tuple[float | None, str]:
    found = [(probes[n]["median"], n) for n in names if n in probes and probes[n]["median"]]
    return max(found) if found else (None, "")


def limit_of(
    workload: str, probes: dict[str, Any], gets: dict[str, Any]
) -> tuple[float | None, str]:
    if workload in ("W1", "W1-disk"):
        get, get_name = best(gets, list(gets))
        write = probes.get("raw-write", {}).get("median")
        if get is None or write is None:
            return None, "limit probes not run (--no-limit or a subset of workloads)"
        note = (
            f"min(raw loopback GET into /dev/null {get:.0f} MB/s [{get_name}, fastest of "
            f"{', '.join(sorted(gets))}], raw write of the same bytes {write:.0f} MB/s)"
        )
        fsync = probes.get("raw-write-fsync", {}).get("median")
        if fsync:
            note += f"; with fsync the write does {fsync:.0f} MB/s"
        return min(get, write), note
    if workload == "W2":
        put, put_name = best(probes, list(probes))
        if put is None:
            return None, "limit probes not run"
        return (
            put,
            f"raw loopback PUT from memory, fastest of {', '.join(sorted(probes))}: {put_name}",
        )
    if workload in TREE_WORKLOADS:
        return None, "no limit measured for whole trees"
    return None, "no limit measured for many small objects (the issue asks for W1 and W2)"


def fmt(value: float | None, digits: int = 0) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def write_markdown(document: dict[str, Any], path: Path) -> str:
    """Writes and returns the tables: one per workload."""
    lines = [f"Machine: {document['machine']}.", f"Server: {document['server']}."]
    if document.get("quick"):
        lines.append("**Quick run** (small objects, few rounds): not comparable to a full run.")
    lines.append(f"{document['note']}")
    lines += ["", VERDICT_NOTE]
    for workload, block in document["workloads"].items():
        unit = block["unit"]
        better = "higher" if higher_is_better(unit) else "lower"
        lines += ["", f"**{workload}**: {block['description']} ({unit}, {better} is better)."]
        if workload in TREE_WORKLOADS:
            lines += tree_table(block)
            lines += ["", f"Verdict: {block['headline']}"]
            continue
        if block["limit"]:
            lines.append(f"Limit {fmt(block['limit'])} {unit} = {block['limit_note']}.")
        lines += [
            "",
            f"| client | median {unit} | min-max | x cdn-manager | {VERDICT_COLUMN} | of limit "
            "| CPU s | CPU s/GiB | peak RSS MiB (over baseline) |",
            "|---|--:|--:|--:|---|--:|--:|--:|--:|",
        ]
        for name, e in block["clients"].items():
            if e["median"] is None:
                why = e.get("unavailable") or "; ".join(e.get("errors", [])) or "no result"
                lines.append(f"| {name} | n/a | | | | | | | {why[:120]} |")
                continue
            failed = f" ({e['rounds'] - e['rounds_ok']} failed rounds)" if e.get("errors") else ""
            ratio = e["ratio_to_cdn_manager"]
            share = e["fraction_of_limit"]
            lines.append(
                f"| {name}{failed} | {fmt(e['median'])} | {fmt(e['min'])}-{fmt(e['max'])} "
                f"| {fmt(ratio, 2) + 'x' if ratio else '—'} | {verdict_cell(block, name)} "
                f"| {fmt(100 * share) + ' %' if share else '—'} | {fmt(e['cpu_s'], 1)} "
                f"| {fmt(e['cpu_s_per_gib'], 2)} "
                f"| {fmt(e['peak_rss_mib'])} ({fmt(e['rss_over_baseline_mib'])}) |"
            )
        lines += ["", f"Verdict: {block['headline']}"]
    text = "\n".join(lines) + "\n"
    path.write_text(text)
    return text


#: Said once above the tables: how every verdict in them was reached.
VERDICT_NOTE = (
    "Verdicts: cdn-manager against each client, from the counted rounds: a "
    f"{CONFIDENCE * 100:.0f} % percentile bootstrap interval ({RESAMPLES:,} resamples, "
    f"seed {SEED}) of "
    "cdn-manager's median over the client's, turned so that above 1 means cdn-manager did "
    "better. **ahead** only if the whole interval is above 1, **behind** only if it is below, "
    f"else **level**; with fewer than {MIN_ROUNDS} rounds a side, level (too few rounds). One "
    "run's lead is no claim: a lead is claimed only where `report.py --combine` finds it in "
    "every run."
)
VERDICT_COLUMN = "cdn-manager vs it [95 % CI of cdn-manager ÷ it]"


def verdict_cell(block: dict[str, Any], name: str) -> str:
    if name == REFERENCE:
        return "—"
    verdict = block.get("verdicts", {}).get(name)
    # cdn-manager's own faces (cdn-manager-async) are no peer.
    return shown(verdict) if verdict else "—"


def tree_table(block: dict[str, Any]) -> list[str]:
    """A tree workload's rows: time, CPU, bytes through the relay, and
    whether the result was exact; a wrong result shows its time but no rate.
    Where a workload moves no fixed bytes (W6, W7), CPU per 1,000 files
    stands in for CPU per GiB."""
    per_gib = any(e.get("cpu_s_per_gib") is not None for e in block["clients"].values())
    cpu_column, cpu_field = (
        ("CPU s/GiB", "cpu_s_per_gib") if per_gib else ("CPU s/1k files", "cpu_s_per_1k")
    )
    lines = [
        "",
        f"| client | seconds | files/s | x cdn-manager | {VERDICT_COLUMN} | CPU s | {cpu_column} "
        "| MiB up | MiB down | exact | peak RSS MiB |",
        "|---|--:|--:|--:|---|--:|--:|--:|--:|:-:|--:|",
    ]
    for name, e in block["clients"].items():
        up, down = (
            fmt(e[k] / MiB, 1) if e.get(k) is not None else "—" for k in ("bytes_up", "bytes_down")
        )
        if e.get("exact") is False:
            why = "; ".join(e.get("errors", []))[:160]
            lines.append(
                f"| {name} | {fmt(e['seconds_wrong'], 2)} | **wrong** | "
                f"| {verdict_cell(block, name)} | | | {up} | {down} | no: {why} | |"
            )
            continue
        if e["median"] is None:
            why = e.get("unavailable") or "; ".join(e.get("errors", [])) or "no result"
            lines.append(f"| {name} | n/a | | | | | | | | | {why[:160]} |")
            continue
        ratio = e["ratio_to_cdn_manager"]
        lines.append(
            f"| {name} | {fmt(e['seconds'], 2)} | {fmt(e['median'])} "
            f"| {fmt(ratio, 2) + 'x' if ratio else '—'} | {verdict_cell(block, name)} "
            f"| {fmt(e['cpu_s'], 1)} | {fmt(e.get(cpu_field), 2)} | {up} | {down} | yes "
            f"| {fmt(e['peak_rss_mib'])} |"
        )
    return lines


def write_chart(document: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    blocks = [(w, b) for w, b in document["workloads"].items() if b["clients"]]
    if not blocks:
        return
    fig, axes = plt.subplots(len(blocks), 1, figsize=(9, 2.2 + 0.42 * 9 * len(blocks) / 2))
    axes = [axes] if len(blocks) == 1 else list(axes)
    for ax, (workload, block) in zip(axes, blocks, strict=True):
        names = list(block["clients"])
        entries = [block["clients"][n] for n in names]
        medians = [e["median"] or 0.0 for e in entries]
        low = [m - (e["min"] or 0.0) for e, m in zip(entries, medians, strict=True)]
        high = [(e["max"] or 0.0) - m for e, m in zip(entries, medians, strict=True)]
        colors = ["#d62728" if n == REFERENCE else "#1f77b4" for n in names]
        ax.barh(names, medians, xerr=[low, high], color=colors, capsize=3)
        for y, entry in enumerate(entries):
            if entry["median"] is None:
                ax.text(
                    0, y, " n/a: " + (entry.get("unavailable") or "failed"), va="center", fontsize=7
                )
        ax.invert_yaxis()
        if block["limit"]:
            ax.axvline(block["limit"], color="black", linestyle="--", linewidth=1)
            ax.text(block["limit"], -0.6, " limit", va="bottom", fontsize=8)
        ax.set_title(f"{workload}: {block['description']}", fontsize=9, loc="left")
        ax.set_xlabel(block["unit"] + " (median of rounds; bars show min-max)", fontsize=8)
        ax.tick_params(labelsize=8)
    title = f"cdn-manager vs peers, {document.get('server_name', 's3s-fs')} on loopback"
    if document.get("quick"):
        title += " — QUICK RUN"
    if document.get("preliminary"):
        title += " — preliminary (shared, noisy machine)"
    fig.suptitle(f"{title}\n{document['machine']}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(
        description="Re-renders result JSON files (their verdicts and tables) without running "
        "anything; with --combine, prints each workload's verdicts across several runs."
    )
    parser.add_argument("files", nargs="+", type=Path, help="result JSON files")
    parser.add_argument(
        "--combine",
        action="store_true",
        help="one table of verdicts over the files (runs of the same workloads); writes nothing",
    )
    parser.add_argument(
        "--chart", action="store_true", help="redraw the PNG too (matplotlib: the bench venv)"
    )
    args = parser.parse_args()
    documents = [(path, json.loads(path.read_text())) for path in args.files]
    if args.combine:
        print(combine([(str(path), document) for path, document in documents]), end="")
        return
    for path, document in documents:
        if "workloads" not in document:
            parser.error(f"{path} is not a bench.py result")
        fill_cpu_per_1k(document)
        add_verdicts(document)
        path.write_text(json.dumps(document, indent=2) + "\n")
        write_markdown(document, path.with_suffix(".md"))
        if args.chart:
            write_chart(document, path.with_suffix(".png"))
        print(f"re-rendered {path} and {path.with_suffix('.md').name}")


if __name__ == "__main__":
    main()
