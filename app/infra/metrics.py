"""A few Prometheus gauges and counters of this process, rendered in the text format."""

from __future__ import annotations

import time


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
        return "\n".join(lines) + "\n"
