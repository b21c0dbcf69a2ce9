"""The benchmark command runs end to end in its quick mode and reports every scenario with figures."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODES = ("off", "on")
# Rows measured against a baseline in the same run: both figures are numbers above zero.
NUMERIC_SCENARIOS = [
    *(f"nested_{mode}_c{c}_{figure}" for mode in MODES for c in (1, 16, 32) for figure in ("rps", "p50", "p99")),
    *(f"statements_{mode}_first_{first}" for mode in MODES for first in (10, 50, 100)),
    *(f"statements_{mode}_new_key" for mode in MODES),
    *(f"small_{mode}_{figure}" for mode in MODES for figure in ("p50", "rps")),
    "place_c16_rps", "place_c16_p50", "place_c16_p99", "place_statements", "place_hot_c16_rps", "cold_start",
]
RATIOS = ["nested_on_c1_rps", "nested_on_c16_rps", "place_c16_rps", "place_hot_c16_rps", "small_on_p50", "place_c16_p99"]
TARGETED = ["nested_on_c1_rps", "nested_on_c16_rps", "nested_on_scaling", "small_on_p50", "statements_on_first_50", "place_c16_rps",
            "place_c16_p99", "place_statements", "place_hot_c16_rps", "place_hot_invariant", "place_slow_hot_c16_rps"]


def test_quick_benchmark_reports_every_scenario_with_its_baseline(tmp_path: Path) -> None:
    # given
    env = dict(os.environ)
    env.pop("DATABASE_URL", None)
    if os.environ.get("TEST_DATABASE_URL"):
        env["DATABASE_URL"] = os.environ["TEST_DATABASE_URL"]
    out = tmp_path / "results.json"

    # when
    done = subprocess.run([sys.executable, "-m", "benchmarks", "--quick", "--json", str(out)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=180)

    # then
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["machine"]["cores"] == os.cpu_count()
    rows = {row["key"]: row for row in result["scenarios"]}
    for key in NUMERIC_SCENARIOS:
        assert isinstance(rows[key]["ours"], (int, float)) and rows[key]["ours"] > 0, rows.get(key)
        assert isinstance(rows[key]["baseline"], (int, float)) and rows[key]["baseline"] > 0, rows[key]
    for key in RATIOS:
        assert rows[key]["ratio"] == round(rows[key]["ours"] / rows[key]["baseline"], 3), rows[key]
    for key in TARGETED:  # a target, and a verdict on it
        assert rows[key]["target"] not in ("-", "report") and rows[key]["met"] in (True, False), rows[key]
    # Real statements: every read runs at least one statement, and off (the ordinary resolvers) opens a transaction.
    assert rows["statements_off_first_50"]["transaction_control"] >= 2, rows["statements_off_first_50"]
    assert rows["statements_on_new_key"]["api_key_lookups"] == 1, rows["statements_on_new_key"]
    # placeOrder: the catalogue and the write, each committing on its own (session 11: no BEGIN, no COMMIT)
    assert rows["place_statements"]["ours"] >= 2 and rows["place_statements"]["transaction_control"] == 0, rows["place_statements"]
    assert rows["place_hot_invariant"]["ours"] == 0, rows["place_hot_invariant"]
    assert rows["place_hot_invariant"]["sell_out"]["placed"] == rows["place_hot_invariant"]["sell_out"]["units"]
    # The 300 ms provider: measured (orders placed), or reported as declined by a provider that lacks the token.
    slow = rows["place_slow_hot_c16_rps"]
    assert slow["placed"] > 0 or (slow["declined"] > 0 and "declined" in slow["note"]), slow
    for workers in (1, 2):
        for what in ("place", "nested"):
            assert rows[f"workers_{workers}_{what}_c16_rps"]["ours"] > 0, rows[f"workers_{workers}_{what}_c16_rps"]
    assert result["features"]["pool"]["per_worker_max"] > 0
    fanout = [key for key in rows if key.startswith("fanout_") and key.endswith("_p99")]
    assert fanout and all(isinstance(rows[key]["ours"], (int, float)) for key in fanout), [rows[key] for key in fanout]
    assert all(isinstance(rows[key.replace("_p99", "_memory")]["ours"], (int, float)) for key in fanout)
    if result["features"]["fanout_baseline"]:  # benchmarks/fanout_baseline.py is on this checkout: measured side by side
        assert all(isinstance(rows[key]["baseline"], (int, float)) and rows[key]["baseline"] > 0 for key in fanout), [rows[k] for k in fanout]
    assert "| scenario" in done.stdout
