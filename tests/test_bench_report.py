"""The benchmark report's verdicts (``benchmarks/verdicts.py``,
``benchmarks/report.py``) on made-up samples: no benchmark runs, nothing
is timed."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

# The benchmark modules import each other by their bare names, as bench.py
# runs them from their own folder.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

import report
from verdicts import (
    AHEAD,
    BEHIND,
    EVERY_AHEAD,
    EVERY_BEHIND,
    LEVEL,
    TOO_FEW,
    add_verdicts,
    combine,
    compare,
    load_average,
    overall,
)

FAST = [100.0, 102.0, 98.0, 101.0, 99.0]
SLOW = [50.0, 51.0, 49.0, 52.0, 48.0]
# Two clients whose spreads overlap: the medians differ (100 against 105),
# the rounds do not tell them apart.
NOISY_A = [80.0, 120.0, 95.0, 110.0, 100.0]
NOISY_B = [90.0, 125.0, 105.0, 85.0, 115.0]


def entry(values: list[float], cpu_per_gib: float = 1.0) -> dict[str, Any]:
    """A client's entry as ``report.summarize`` writes it."""
    median = sorted(values)[len(values) // 2] if values else None
    return {
        "median": median,
        "min": min(values) if values else None,
        "max": max(values) if values else None,
        "seconds": 1.0,
        "cpu_s": cpu_per_gib,
        "cpu_s_per_gib": cpu_per_gib,
        "peak_rss_mib": 100.0,
        "rss_over_baseline_mib": 10.0,
        "rounds_ok": len(values),
        "rounds": len(values),
        "ratio_to_cdn_manager": None,
        "fraction_of_limit": None,
        "values": values,
    }


def document(clients: dict[str, list[float]], unit: str = "MB/s", **extra: Any) -> dict[str, Any]:
    """A result document with one workload, W1."""
    block = {
        "unit": unit,
        "description": "made up",
        "limit": None,
        "limit_note": "",
        "clients": {name: entry(values) for name, values in clients.items()},
        "limit_probes": {},
    }
    return {
        "machine": "test",
        "server": "none",
        "note": "Load average 0.20 before the run, 1.10 after it.",
        "sizes": {"big": 1, "small": 1, "count": 1, "rounds": 5, "tree": None},
        "workloads": {"W1": block},
        **extra,
    }


def test_separated_samples_give_ahead_and_behind() -> None:
    ahead = compare(FAST, SLOW, "MB/s")
    assert ahead["verdict"] == AHEAD
    assert ahead["interval"][0] > 1
    assert ahead["ratio"] == pytest.approx(100 / 50)
    behind = compare(SLOW, FAST, "MB/s")
    assert behind["verdict"] == BEHIND
    assert behind["interval"][1] < 1


def test_overlapping_noisy_samples_are_level() -> None:
    result = compare(NOISY_A, NOISY_B, "MB/s")
    assert result["verdict"] == LEVEL
    low, high = result["interval"]
    assert low < 1 < high
    assert compare(NOISY_B, NOISY_A, "MB/s")["verdict"] == LEVEL


def test_two_rounds_are_too_few_however_far_apart() -> None:
    result = compare([1000.0, 1001.0], [1.0, 2.0], "MB/s")
    assert result == {"verdict": TOO_FEW, "interval": None, "rounds": [2, 2]}
    # One side with enough rounds is not enough.
    assert compare(FAST, [1.0, 2.0], "MB/s")["verdict"] == TOO_FEW


def test_seconds_lower_is_better() -> None:
    quick, slow = [1.0, 1.1, 0.9, 1.05], [2.0, 2.1, 1.9, 2.05]
    result = compare(quick, slow, "s")
    assert result["verdict"] == AHEAD
    assert result["ratio"] == pytest.approx(2.0, rel=0.05)
    assert compare(slow, quick, "s")["verdict"] == BEHIND
    # The same numbers read as rates mean the opposite.
    assert compare(quick, slow, "MB/s")["verdict"] == BEHIND


def test_intervals_are_reproducible() -> None:
    assert compare(NOISY_A, NOISY_B, "MB/s") == compare(NOISY_A, NOISY_B, "MB/s")


def test_document_verdicts_skip_cdn_managers_own_faces() -> None:
    doc = add_verdicts(
        document({"cdn-manager": FAST, "cdn-manager-async": SLOW, "boto3": SLOW, "obstore": FAST})
    )
    verdicts = doc["workloads"]["W1"]["verdicts"]
    assert set(verdicts) == {"boto3", "obstore"}
    assert verdicts["boto3"]["verdict"] == AHEAD
    assert verdicts["obstore"]["verdict"] == LEVEL


def test_missing_samples_and_wrong_results_get_no_verdict() -> None:
    doc = document({"cdn-manager": FAST, "boto3": SLOW, "s5cmd": SLOW})
    del doc["workloads"]["W1"]["clients"]["boto3"]["values"]
    doc["workloads"]["W1"]["clients"]["s5cmd"]["exact"] = False
    verdicts = add_verdicts(doc)["workloads"]["W1"]["verdicts"]
    assert verdicts["boto3"] == {"verdict": None, "why": "no per-round samples in this JSON"}
    assert verdicts["s5cmd"] == {"verdict": None, "why": "wrong result"}


def test_headline_follows_the_verdicts_not_the_medians(tmp_path: Path) -> None:
    # obstore's median is higher than cdn-manager's, boto3's lower, but
    # neither difference is more than the noise.
    doc = document({"cdn-manager": NOISY_A, "obstore": NOISY_B, "boto3": SLOW})
    doc["workloads"]["W1"]["clients"]["boto3"]["values"] = [90.0, 130.0, 70.0, 115.0, 88.0]
    text = report.write_markdown(add_verdicts(doc), tmp_path / "r.md")
    headline = next(line for line in text.splitlines() if line.startswith("Verdict:"))
    assert "level with obstore, boto3" in headline
    assert "ahead" not in headline and "behind" not in headline
    assert "| obstore |" in text and "level [" in text
    # CPU per GiB stays beside the figures.
    assert "CPU s/GiB" in text


def test_report_says_when_rounds_are_too_few(tmp_path: Path) -> None:
    doc = add_verdicts(document({"cdn-manager": [300.0, 310.0], "boto3": [10.0, 11.0]}))
    text = report.write_markdown(doc, tmp_path / "r.md")
    assert "level (too few rounds), 2 rounds" in text
    assert "too few rounds to tell" in text
    assert "ahead" not in text.split("**W1**")[1]


def test_combine_claims_a_lead_only_when_every_run_has_it() -> None:
    ahead = document({"cdn-manager": FAST, "boto3": SLOW})
    also_ahead = document({"cdn-manager": FAST, "boto3": [60.0, 58.0, 61.0, 59.0, 57.0]})
    level = document({"cdn-manager": NOISY_A, "boto3": NOISY_B})
    text = combine([("a.json", ahead), ("b.json", also_ahead)])
    assert f"**{EVERY_AHEAD}**" in text
    text = combine([("a.json", document({"cdn-manager": FAST, "boto3": SLOW})), ("c.json", level)])
    assert EVERY_AHEAD not in text
    assert "| **boto3** | all 2 runs | | | **level** |" in text
    # Each run's figure carries its CPU per GiB; each run its load average.
    assert "100 MB/s, 1.00 CPU s/GiB" in text
    assert "load average 0.20 before, 1.10 after" in text


def test_overall_verdict() -> None:
    assert overall([AHEAD, AHEAD, AHEAD]) == EVERY_AHEAD
    assert overall([BEHIND, BEHIND]) == EVERY_BEHIND
    assert overall([AHEAD, LEVEL, AHEAD]) == LEVEL
    assert overall([AHEAD, TOO_FEW]) == LEVEL
    assert overall([AHEAD, None]) == LEVEL
    # One run is no repeated run.
    assert overall([AHEAD]) != EVERY_AHEAD


def test_load_average_from_field_or_note() -> None:
    assert load_average({"load_average": {"before": 0.3, "after": 2.0}}) == (0.3, 2.0)
    assert load_average({"note": "Load average 0.36 before the run, 1.24 after it"}) == (
        0.36,
        1.24,
    )
    assert load_average({}) is None


def test_rerender_writes_verdicts_into_the_json(tmp_path: Path, monkeypatch: Any) -> None:
    path = tmp_path / "run.json"
    path.write_text(json.dumps(document({"cdn-manager": FAST, "boto3": SLOW})))
    monkeypatch.setattr(sys, "argv", ["report.py", str(path)])
    report.main()
    written = json.loads(path.read_text())
    assert written["workloads"]["W1"]["verdicts"]["boto3"]["verdict"] == AHEAD
    assert written["verdict_method"]["resamples"] == 2000
    assert "ahead of boto3" in path.with_suffix(".md").read_text()
