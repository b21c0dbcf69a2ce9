"""The benchmark command runs end to end in its quick mode and reports every scenario with figures."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NUMERIC_SCENARIOS = [
    "nested_c1_rps", "nested_c1_p50", "nested_c1_p99", "nested_c16_rps", "nested_c16_p50", "nested_c16_p99",
    "statements_first_10", "statements_first_50", "statements_first_100",
    "place_c16_rps", "place_hot_c16_rps", "small_p50", "cold_start",
]


def test_quick_benchmark_reports_every_scenario_with_its_baseline(tmp_path: Path) -> None:
    # given
    env = dict(os.environ)
    env.pop("DATABASE_URL", None)
    if os.environ.get("TEST_DATABASE_URL"):
        env["DATABASE_URL"] = os.environ["TEST_DATABASE_URL"]
    out = tmp_path / "results.json"

    # when
    done = subprocess.run([sys.executable, "-m", "benchmarks", "--quick", "--json", str(out)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=110)

    # then
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["machine"]["cores"] == os.cpu_count()
    rows = {row["key"]: row for row in result["scenarios"]}
    for key in NUMERIC_SCENARIOS:
        assert isinstance(rows[key]["ours"], (int, float)) and rows[key]["ours"] > 0, rows.get(key)
        assert isinstance(rows[key]["baseline"], (int, float)) and rows[key]["baseline"] > 0, rows[key]
    for key in ("nested_c1_rps", "nested_c16_rps", "place_c16_rps", "small_p50"):
        assert rows[key]["ratio"] == round(rows[key]["ours"] / rows[key]["baseline"], 3)
    assert rows["place_hot_invariant"]["ours"] == 0, rows["place_hot_invariant"]
    assert any(key.startswith("fanout") for key in rows)  # measured, or reported as not run
    assert "| scenario" in done.stdout
