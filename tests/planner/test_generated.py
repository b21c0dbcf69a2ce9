"""Issue 15: the generated corpus (tests/planner/generate.py) answers the same with the read planner off and on.

OMS_DIFFTEST_PER_ROOT documents are drawn per root field (default 36: 10 roots, 360 draws, >= 300 distinct
valid documents), derandomized so CI draws the same documents every run. Most run as the admin key; every
fourth as another caller (a single-scope key or no key) so refusals are compared too. All differences are
collected and reported together, each with its document, variables and both answers.
"""

from __future__ import annotations

import asyncio
import os
from collections import Counter

import pytest

from tests.planner.compare import Request
from tests.planner.generate import ROOTS, corpus

PER_ROOT = int(os.environ.get("OMS_DIFFTEST_PER_ROOT", "36"))
MINIMUM = 300
OTHER_CALLERS = ("orders:read", "public", "stock:read", "shipments:read", "invoices:read", "returns:read", "payments:read")


# Some generated documents fail a non-null field while sibling fields' resolvers are still pending: graphql-core then
# abandons those siblings (settle_in_background / gather_with_cancel), and a resolver coroutine Strawberry created for
# one of them can be collected unstarted, which Python reports as "never awaited" (seen ~1 run in 5, both modes, only
# with several documents in flight). It is not an answer difference -- every answer is still compared -- so only that
# exact report is ignored here.
ABANDONED = "GraphQLCoreConverter.from_resolver.<locals>._async_resolver"


@pytest.mark.filterwarnings(f"ignore:coroutine '{ABANDONED}' was never awaited:RuntimeWarning")
@pytest.mark.filterwarnings(f"ignore:Exception ignored in. <coroutine object {ABANDONED}:pytest.PytestUnraisableExceptionWarning")
async def test_generated_corpus_answers_the_same_both_ways(pair, pools) -> None:
    generated, invalid = await asyncio.to_thread(corpus, pools, PER_ROOT)
    assert len(generated) >= MINIMUM or PER_ROOT < 36, f"only {len(generated)} distinct valid documents ({invalid} invalid dropped)"
    useful: Counter[str] = Counter()
    erred: Counter[str] = Counter()
    differences: list[str] = []
    requests = [Request(item.query, item.variables, OTHER_CALLERS[(index // 4) % len(OTHER_CALLERS)] if index % 4 == 3 else "admin")
                for index, item in enumerate(generated)]
    planned_before = pair.planned
    outcomes = await pair.run_all(requests)
    planned = pair.planned - planned_before
    for index, (item, outcome) in enumerate(zip(generated, outcomes, strict=True)):
        body = outcome.off.json() if outcome.off.text.startswith(("{", "[")) else {}
        if body.get("errors"):
            erred[item.root] += 1
        elif any(value not in (None, [], {}) for value in (body.get("data") or {}).values()):
            useful[item.root] += 1
        if outcome.diff is not None:
            differences.append(f"[{index} {item.root}] " + outcome.report())
    summary = ", ".join(f"{root}: {useful[root]} data/{erred[root]} errors" for root in ROOTS)
    print(f"\ngenerated: {len(generated)} documents ({invalid} invalid dropped), planner={'on' if pair.planner else 'absent'}, "
          f"{planned} root fields answered by planner statements; {summary}")
    assert not differences, f"{len(differences)} of {len(generated)} generated documents differ:\n\n" + "\n\n".join(differences[:15])
    # The corpus must mostly reach data, not only errors; with a planner, the planner must have answered part of it.
    assert sum(useful.values()) >= len(generated) // 2, summary
    assert planned > 0 or not pair.planner
