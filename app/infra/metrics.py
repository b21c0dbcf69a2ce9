"""Prometheus metrics of this process (prometheus-client), and the per-request state they read.

`render()` answers /metrics: the hub's gauges (kept under the names the live tests and dashboards
use) followed by the registry: requests by operation and outcome, latency, SQL statements per
request, pool usage, events published, delivery lag, retries. With PROMETHEUS_MULTIPROC_DIR set
(`oms serve --workers N` sets it) the registry aggregates every worker's files.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from prometheus_client import REGISTRY as DEFAULT_REGISTRY
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

# One mutable dict per HTTP request, set by the request middleware (server/observability.py).
# Resolver and DataLoader tasks copy the context but share this dict, so everything they do counts.
REQUEST: ContextVar[dict[str, Any] | None] = ContextVar("oms_request", default=None)

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

REQUESTS = Counter("oms_graphql_requests", "GraphQL operations by root field, type and outcome (OK, USER_ERROR or an error code).",
                   ["operation", "type", "outcome"])
DURATION = Histogram("oms_graphql_request_duration_seconds", "GraphQL request latency by root field and type.",
                     ["operation", "type"], buckets=LATENCY_BUCKETS)
SQL_PER_REQUEST = Histogram("oms_sql_statements_per_request", "SQL statements sent while serving one HTTP request.",
                            buckets=(0, 1, 2, 5, 10, 20, 50, 100))
POOL_CHECKED_OUT = Gauge("oms_db_pool_checked_out", "Database connections checked out of the pool.", multiprocess_mode="livesum")
EVENTS_PUBLISHED = Counter("oms_events_published", "Committed order events handed to the live hub's publisher.")
DELIVERY_LAG = Histogram("oms_event_delivery_lag_seconds", "Time from an order event's commit to its fan-out to subscriptions.",
                         buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0))
DB_RETRIES = Counter("oms_db_retries", "Units of work and reads run again after a fault, by reason.", ["reason"])
UNAVAILABLE = Counter("oms_unavailable", "Requests answered UNAVAILABLE, by reason.", ["reason"])


def request_state() -> dict[str, Any] | None:
    return REQUEST.get()


def mark_commit_started() -> None:
    """Database.run is about to COMMIT: a request cut short from now on has an unknown outcome."""
    state = REQUEST.get()
    if state is not None:
        state["commit_started"] = True


def _count_statement(*args: Any) -> None:
    state = REQUEST.get()
    if state is not None:
        state["sql"] = state.get("sql", 0) + 1


def _checked_out(*args: Any) -> None:
    POOL_CHECKED_OUT.inc()


def _checked_in(*args: Any) -> None:
    POOL_CHECKED_OUT.dec()


def instrument_engine(engine: AsyncEngine) -> None:
    event.listen(engine.sync_engine, "before_cursor_execute", _count_statement)
    event.listen(engine.sync_engine, "checkout", _checked_out)
    event.listen(engine.sync_engine, "checkin", _checked_in)


def events_published(count: int) -> None:
    EVENTS_PUBLISHED.inc(count)


def delivered(created: Sequence[datetime]) -> None:
    now = datetime.now(UTC)
    for at in created:
        DELIVERY_LAG.observe(max(0.0, (now - at).total_seconds()))


def registry() -> CollectorRegistry:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        aggregated = CollectorRegistry()
        multiprocess.MultiProcessCollector(aggregated)
        return aggregated
    return DEFAULT_REGISTRY


def mark_process_dead() -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(os.getpid())


class Metrics:
    def __init__(self) -> None:
        self.started = time.time()

    def render(self, *, subscribers: int, subscriptions_opened: int, last_event_seq: int) -> str:
        lines = [
            "# HELP oms_live_subscriptions Open live subscriptions in this process.",
            "# TYPE oms_live_subscriptions gauge",
            f"oms_live_subscriptions {subscribers}",
            "# HELP oms_live_subscriptions_opened_total Live subscriptions registered with this process's hub since it started.",
            "# TYPE oms_live_subscriptions_opened_total counter",
            f"oms_live_subscriptions_opened_total {subscriptions_opened}",
            "# HELP oms_last_event_cursor Newest order event seen by this process.",
            "# TYPE oms_last_event_cursor gauge",
            f"oms_last_event_cursor {last_event_seq}",
            "# HELP oms_uptime_seconds Seconds since the process started.",
            "# TYPE oms_uptime_seconds gauge",
            f"oms_uptime_seconds {time.time() - self.started:.0f}",
        ]
        return "\n".join(lines) + "\n" + generate_latest(registry()).decode()
