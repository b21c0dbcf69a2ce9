"""A few Prometheus counters, kept in-process and rendered in the text format."""

from __future__ import annotations

import time
from collections import Counter


class Metrics:
    def __init__(self) -> None:
        self.started = time.time()
        self.requests: Counter[tuple[str, int]] = Counter()

    def observe(self, path: str, status: int) -> None:
        self.requests[(path, status)] += 1

    def render(self, *, subscribers: int, last_event_seq: int) -> str:
        lines = [
            "# HELP oms_http_requests_total HTTP requests by path and status.",
            "# TYPE oms_http_requests_total counter",
        ]
        for (path, status), count in sorted(self.requests.items()):
            lines.append(f'oms_http_requests_total{{path="{path}",status="{status}"}} {count}')
        lines += [
            "# HELP oms_live_subscriptions Open live subscriptions in this process.",
            "# TYPE oms_live_subscriptions gauge",
            f"oms_live_subscriptions {subscribers}",
            "# HELP oms_last_event_cursor Newest order event seen by this process.",
            "# TYPE oms_last_event_cursor gauge",
            f"oms_last_event_cursor {last_event_seq}",
            "# HELP oms_uptime_seconds Seconds since the process started.",
            "# TYPE oms_uptime_seconds gauge",
            f"oms_uptime_seconds {time.time() - self.started:.0f}",
        ]
        return "\n".join(lines) + "\n"
