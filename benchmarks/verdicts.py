"""Whether cdn-manager is ahead of, behind or level with each peer.

On a shared machine single figures mislead: runs of the same benchmark have
differed by more than the gaps between clients. A verdict is therefore
taken from the counted rounds, never from the medians alone: a percentile
bootstrap interval of the ratio of medians (cdn-manager over the peer,
turned so that above 1 means cdn-manager did better) must lie wholly above
1 for "ahead", wholly below for "behind"; anything else is "level". One run
is not a claim: ``combine`` asks that a lead hold in every run.

Standard library only, so the tests' virtualenv can import it.
"""

from __future__ import annotations

import json
import random
import re
import statistics
from typing import Any

REFERENCE = "cdn-manager"
RESAMPLES = 2000
CONFIDENCE = 0.95
#: Fixed, so that re-rendering a JSON file gives the same intervals.
SEED = 31
#: Below this many counted rounds a side, a bootstrap interval of a median
#: is too coarse to mean anything.
MIN_ROUNDS = 3
AHEAD, BEHIND, LEVEL = "ahead", "behind", "level"
TOO_FEW = "level (too few rounds)"
EVERY_AHEAD, EVERY_BEHIND = "ahead in every run", "behind in every run"


def higher_is_better(unit: str) -> bool:
    """Rates (MB/s, objects/s, files/s) grow with speed; durations shrink."""
    return unit.endswith("/s")


def ratio_interval(
    ours: list[float],
    theirs: list[float],
    higher_better: bool,
    resamples: int = RESAMPLES,
    seed: int = SEED,
) -> tuple[float, float]:
    """The percentile bootstrap interval (``CONFIDENCE``) of cdn-manager's
    median over the peer's, each side resampled on its own (the rounds are
    interleaved, but a round's two samples are not a pair: each client ran
    at its own moment of the round)."""
    # A generator of its own per comparison: a verdict must not depend on
    # which comparisons were made before it.
    rng = random.Random(seed)
    ratios = []
    for _ in range(resamples):
        a = statistics.median(rng.choices(ours, k=len(ours)))
        b = statistics.median(rng.choices(theirs, k=len(theirs)))
        ratios.append(a / b if higher_better else b / a)
    ratios.sort()
    tail = round((1 - CONFIDENCE) / 2 * resamples)
    return ratios[tail], ratios[resamples - 1 - tail]


def compare(ours: list[float], theirs: list[float], unit: str) -> dict[str, Any]:
    """cdn-manager's samples (``ours``) against a peer's, in ``unit``."""
    rounds = [len(ours), len(theirs)]
    if min(rounds) < MIN_ROUNDS:
        return {"verdict": TOO_FEW, "interval": None, "rounds": rounds}
    if min(ours + theirs) <= 0:
        return {"verdict": None, "why": "a sample is not positive", "rounds": rounds}
    higher = higher_is_better(unit)
    a, b = statistics.median(ours), statistics.median(theirs)
    low, high = ratio_interval(ours, theirs, higher)
    verdict = AHEAD if low > 1 else BEHIND if high < 1 else LEVEL
    # Four decimals: the JSON stays readable, the verdict is taken before.
    return {
        "verdict": verdict,
        "ratio": round(a / b if higher else b / a, 4),
        "interval": [round(low, 4), round(high, 4)],
        "rounds": rounds,
    }


def verdict_for(ours: dict[str, Any], theirs: dict[str, Any], unit: str) -> dict[str, Any]:
    """The verdict between two client entries of a result JSON."""
    if "values" not in ours or "values" not in theirs:
        return {"verdict": None, "why": "no per-round samples in this JSON"}
    if ours.get("exact") is False or theirs.get("exact") is False:
        # A wrong result has no rate to compare.
        return {"verdict": None, "why": "wrong result"}
    if not ours["values"] or not theirs["values"]:
        return {"verdict": None, "why": "no counted round"}
    return compare(ours["values"], theirs["values"], unit)


def peers(block: dict[str, Any]) -> list[str]:
    """The clients compared with cdn-manager: not cdn-manager's own faces
    (``cdn-manager-async``), which are no peer."""
    return [n for n in block["clients"] if not n.startswith(REFERENCE)]


def add_verdicts(document: dict[str, Any]) -> dict[str, Any]:
    """Adds ``verdicts`` and ``headline`` to every workload of a result
    document (and ``verdict_method`` to the document); returns it."""
    for block in document["workloads"].values():
        ours = block["clients"].get(REFERENCE)
        block["verdicts"] = (
            {}
            if ours is None
            else {n: verdict_for(ours, block["clients"][n], block["unit"]) for n in peers(block)}
        )
        block["headline"] = headline(block["verdicts"])
    document["verdict_method"] = {
        "statistic": f"median of {REFERENCE}'s rounds over the peer's (above 1: {REFERENCE} "
        "better; seconds turned over)",
        "interval": f"percentile bootstrap, {CONFIDENCE * 100:.0f} %, "
        "each side resampled on its own",
        "resamples": RESAMPLES,
        "seed": SEED,
        "min_rounds": MIN_ROUNDS,
        "rule": "ahead if the interval lies wholly above 1, behind if wholly below, else level",
    }
    return document


def shown(v: dict[str, Any]) -> str:
    """A verdict with its interval, for a table cell."""
    if v["verdict"] is None:
        return f"— ({v['why']})"
    if v.get("interval") is None:
        return f"{v['verdict']}, {min(v['rounds'])} round{'s' * (min(v['rounds']) != 1)}"
    low, high = v["interval"]
    return f"{v['verdict']} [{low:.2f}, {high:.2f}]"


def headline(verdicts: dict[str, dict[str, Any]]) -> str:
    """The sentence a report says about a workload: from the verdicts only."""
    if not verdicts:
        return f"No peer measured beside {REFERENCE}."
    by: dict[str | None, list[str]] = {}
    for name, v in verdicts.items():
        by.setdefault(v["verdict"], []).append(name)
    parts = []
    if by.get(AHEAD):
        parts.append("ahead of " + ", ".join(by[AHEAD]))
    if by.get(BEHIND):
        parts.append("behind " + ", ".join(by[BEHIND]))
    if by.get(LEVEL):
        parts.append("level with " + ", ".join(by[LEVEL]))
    if by.get(TOO_FEW):
        parts.append("level with " + ", ".join(by[TOO_FEW]) + " (too few rounds to tell)")
    if by.get(None):
        parts.append(
            "not compared with " + ", ".join(f"{n} ({verdicts[n]['why']})" for n in by[None])
        )
    return f"In this run {REFERENCE} is " + "; ".join(parts) + "."


def overall(verdicts: list[str | None]) -> str:
    """The verdict of several runs: a lead only where every run has it."""
    if len(verdicts) < 2:
        return "level (one run: repeat it before claiming a lead)"
    if all(v == AHEAD for v in verdicts):
        return EVERY_AHEAD
    if all(v == BEHIND for v in verdicts):
        return EVERY_BEHIND
    return LEVEL


#: The ``sizes`` that must agree between runs for their verdicts to be combined.
SAME = ("big", "small", "count", "tree")
_LOAD = re.compile(r"Load average ([\d.]+) before the run, ([\d.]+) after")


def load_average(document: dict[str, Any]) -> tuple[float, float] | None:
    """The 1-minute load average before and after a run: the JSON's field,
    else the note that runs before the field existed wrote."""
    recorded = document.get("load_average")
    if recorded:
        return recorded["before"], recorded["after"]
    found = _LOAD.search(document.get("note", ""))
    return (float(found[1]), float(found[2])) if found else None


def cpu_figure(entry: dict[str, Any]) -> str:
    """CPU-seconds per GiB moved, or per 1,000 files where a workload moves
    no fixed bytes."""
    if entry.get("cpu_s_per_gib") is not None:
        return f"{entry['cpu_s_per_gib']:,.2f} CPU s/GiB"
    if entry.get("cpu_s_per_1k") is not None:
        return f"{entry['cpu_s_per_1k']:,.2f} CPU s/1k files"
    return "CPU s/GiB —"


def figure(entry: dict[str, Any] | None, unit: str) -> str:
    if entry is None:
        return "not in this run"
    if entry.get("median") is None:
        return "no result"
    return f"{entry['median']:,.0f} {unit}, {cpu_figure(entry)}"


def combine(runs: list[tuple[str, dict[str, Any]]]) -> str:
    """Markdown: for each workload and peer, each run's verdict and the
    verdict over all runs. The verdicts are computed again from each file's
    samples, so files written before verdicts existed can take part."""
    for _, document in runs:
        add_verdicts(document)
    lines = ["Runs:", ""]
    for label, document in runs:
        load = load_average(document)
        busy = " (preliminary: a busy machine)" if document.get("preliminary") else ""
        lines.append(
            f"- {label}: "
            + (f"load average {load[0]:.2f} before, {load[1]:.2f} after" if load else "no load")
            + f"{busy}; commit {document.get('git_commit', '?')}, "
            f"{document.get('generated', '?')}"
        )
    # The number of rounds may differ between runs; what is moved may not.
    setups = {
        (d.get("server"), json.dumps({k: v for k, v in d.get("sizes", {}).items() if k in SAME}))
        for _, d in runs
    }
    if len(setups) > 1:
        lines += [
            "",
            "**These runs differ in server or sizes**: their verdicts are not comparable.",
        ]
    workloads = list(dict.fromkeys(w for _, d in runs for w in d["workloads"]))
    for workload in workloads:
        blocks = [d["workloads"].get(workload) for _, d in runs]
        unit = next(b["unit"] for b in blocks if b)
        better = "higher" if higher_is_better(unit) else "lower"
        lines += [
            "",
            f"**{workload}** ({unit}, {better} is better)",
            "",
            f"| peer | run | {REFERENCE} | peer | verdict [{CONFIDENCE * 100:.0f} % interval of "
            f"{REFERENCE} ÷ peer, above 1: {REFERENCE} better] |",
            "|---|---|---|---|---|",
        ]
        names = list(dict.fromkeys(n for b in blocks if b for n in b["verdicts"]))
        for name in names:
            each = []
            for (label, _), block in zip(runs, blocks, strict=True):
                v = (block or {}).get("verdicts", {}).get(name)
                each.append(v["verdict"] if v else None)
                clients = (block or {}).get("clients", {})
                lines.append(
                    f"| {name} | {label} | {figure(clients.get(REFERENCE), unit)} "
                    f"| {figure(clients.get(name), unit)} "
                    f"| {shown(v) if v else '— (not in this run)'} |"
                )
            lines.append(f"| **{name}** | all {len(runs)} runs | | | **{overall(each)}** |")
    return "\n".join(lines) + "\n"
