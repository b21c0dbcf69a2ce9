"""Settings read once from the environment (see the runtime contract)."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    return int(raw) if raw else default


def _float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    return float(raw) if raw else default


def parse_hours_map(name: str, raw: str) -> tuple[tuple[str, float], ...]:
    """ "BANK_TRANSFER=72,PAY_BY_LINK=1.5" -> (("BANK_TRANSFER", 72.0), ("PAY_BY_LINK", 1.5)); a malformed value
    fails start-up with the variable named (holds, issue 18)."""
    pairs: dict[str, float] = {}
    for item in raw.split(","):
        if not item.strip():
            continue
        key, sep, value = item.partition("=")
        try:
            hours = float(value)
        except ValueError:
            hours = float("nan")
        if not sep or not key.strip() or not math.isfinite(hours) or hours <= 0:
            raise ValueError(f"{name}: {item.strip()!r} is not METHOD=HOURS with a positive number of hours (e.g. BANK_TRANSFER=72,PAY_BY_LINK=1)")
        pairs[key.strip().upper()] = hours
    return tuple(pairs.items())


def _decimal(name: str, default: Decimal) -> Decimal:
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise ValueError(f"{name} must be a number, not {raw!r}") from None
    if not value.is_finite() or value <= 0:
        raise ValueError(f"{name} must be a positive amount, not {raw!r}")
    return value


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str | None = None
    data_dir: Path = Path(".oms")
    broadcast_url: str = "memory://"
    env: str = "development"
    db_pool_size: int = 20
    # Live updates: the hub reads the event log at least this often, a safety net under the broadcast
    # signals (tests raise it to prove the broadcast path); a WebSocket that never sends
    # connection_init is closed with 4408 after ws_init_timeout_seconds.
    live_poll_seconds: float = 1.0
    ws_init_timeout_seconds: float = 10.0
    # Billing (app/billing): when cards are captured and invoices issued: "confirmation" or "shipment"
    # ("manual" for invoices: only the issueInvoice mutation issues them).
    payment_provider: str = "test"
    capture_moment: str = "confirmation"
    invoice_moment: str = "confirmation"
    bank_transfer_expiry_hours: int = 72
    expiry_interval_seconds: int = 60
    invoice_series_prefix: str = "F"
    credit_note_series_prefix: str = "R"
    seller_name: str = "OMS Demo Shop S.L."
    seller_tax_id: str = "ESB00000000"
    seller_address: str = "Calle Mayor 1, 28013 Madrid, ES"
    seller_email: str = "billing@example.com"
    # Returns (app/returns): days after delivery a return can be requested.
    return_window_days: int = 30
    # Issue 13 (security): limits before execution, public rate limits, key revocation sweep, /metrics.
    max_body_bytes: int = 1_000_000
    ws_max_message_bytes: int = 262_144
    max_depth: int = 12
    max_aliases: int = 30
    max_directives: int = 50
    max_tokens: int = 5000
    max_query_cost: int = 50_000
    cost_bucket: int = 1_000_000
    cost_restore_rate: int = 20_000
    rate_limit_storage: str = "memory://"
    public_rate_per_address: str = "60/minute"
    public_rate_per_order: str = "10/minute"
    key_sweep_seconds: float = 2.0
    # Issue 14 (reliability and operations): request transactions give up waiting on a lock after
    # db_lock_timeout_ms and on a statement after db_statement_timeout_ms (0 = off); faults are retried
    # within db_retry_budget_ms; db_pre_ping adds a round trip per checkout (for proxies that drop idle
    # connections silently); SIGTERM lets requests finish for drain_seconds; log_format json|console.
    db_lock_timeout_ms: int = 5000
    db_statement_timeout_ms: int = 10_000
    db_retry_budget_ms: int = 1000
    db_pre_ping: bool = False
    drain_seconds: float = 5.0
    log_format: str = "console"
    # A streaming replica for queries and subscription catch-up; a caller's reads wait up to
    # replica_max_wait_ms for the replica to replay its own writes, then go to the primary.
    database_replica_url: str | None = None
    replica_max_wait_ms: int = 200
    # OpenTelemetry spans per GraphQL operation and resolver (needs the `otel` extra); off by default.
    otel: bool = False
    # Issue 12 (browser clients): OMS_CORS_ORIGINS as given (None = unset: the environment's default, see
    # server/cors.py; "" = no cross-origin access); open subscription streams over HTTP per caller.
    cors_origins: str | None = None
    http_streams_per_caller: int = 50
    # writes, issue 16: an API key is served from the process's cache for key_cache_seconds (0 = off; revocation
    # empties every process's cache through the broadcast); a card placement whose payment step never finished
    # (a crash between reserving and confirming) is released by the expiry worker after placement_hold_seconds.
    key_cache_seconds: float = 60.0
    placement_hold_seconds: int = 120
    # planner (issue 15): compile a root query field's selection to one SQL statement whose JSON PostgreSQL
    # builds (resolvers/planner/); off = the ordinary resolvers only. OMS_READ_PLANNER=false|0|off turns it off.
    read_planner: bool = True
    # hooks, issue 17: webhook delivery (app/webhooks/). Private, loopback and link-local targets are refused
    # unless webhook_allow_private; an attempt is bounded by webhook_timeout_seconds; a failed one is retried after
    # webhook_retry_base_seconds * 2^(n-1) (with jitter, fractions allowed) until webhook_max_attempts or
    # webhook_max_age_hours, then DEAD; webhook_concurrency POSTs in flight per process.
    webhook_allow_private: bool = False
    webhook_max_attempts: int = 10
    webhook_retry_base_seconds: float = 10.0
    webhook_timeout_seconds: float = 10.0
    webhook_max_age_hours: float = 72.0
    webhook_concurrency: int = 8
    # drafts, issue 18: an OPEN draft order expires this many hours (fractions allowed) after its last change.
    draft_expiry_hours: float = 168.0
    # alerts, issue 19: the scanner (app/alerts/scanner.py) runs every alerts_interval_seconds; an alert is raised
    # when its cause has lasted the kind's hours (fractions allowed): unpaid, not shipped past the promise (grace),
    # tracking silent, stuck in CONFIRMED/PROCESSING. LOW_STOCK has no hours (products.low_stock_threshold).
    alerts_interval_seconds: float = 60.0
    alert_unpaid_hours: float = 48.0
    alert_not_shipped_hours: float = 0.0
    alert_tracking_silent_hours: float = 72.0
    alert_stuck_hours: float = 48.0
    # holds, issue 18: unpaid-order deadlines per payment method that leaves an order PENDING, in hours (fractions
    # allowed), from OMS_UNPAID_EXPIRY_HOURS "BANK_TRANSFER=72,PAY_BY_LINK=1" (BANK_TRANSFER falls back to
    # bank_transfer_expiry_hours; app/billing/config.py checks the method names); the order total from which the
    # AMOUNT_OVER risk rule without its own amount rates an order HIGH (OMS_RISK_HIGH_AMOUNT, in the order's currency).
    unpaid_expiry_hours: tuple[tuple[str, float], ...] = ()
    risk_high_amount: Decimal = Decimal("5000")
    # pickup, issue 19: UNCOLLECTED when a click-and-collect order has waited READY_FOR_PICKUP this many hours (fractions allowed)
    alert_uncollected_hours: float = 168.0
    # backorders visibility, issue 19 (gaps19): RECEIPT_LATE when units an order waits for are on a receipt this many hours
    # (fractions allowed) past its expectedAt without having arrived
    alert_receipt_late_hours: float = 24.0
    # reads7, session 7 (issue 15): admission of the read planner's statements (Database.read_json): at most this many in
    # flight per process, the others wait in arrival order (FIFO) in the process. 0: half of db_pool_size (at least 1): under
    # overload a read never opens an overflow connection (opened and closed again per request), the other half of the kept
    # connections stays free for writes and the ordinary resolvers, and PostgreSQL runs a bounded number at once; < 0: no limit.
    db_read_concurrency: int = 0
    # writes7, session 7: a card placement's two short transactions (before and after the provider's call) take one
    # of placement_slots per process, first come first served (0 = no limit): see app/flows/placement.py.
    placement_slots: int = 4

    @property
    def production(self) -> bool:
        return self.env == "production"

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            database_url=os.environ.get("DATABASE_URL") or None,
            data_dir=Path(os.environ.get("OMS_DATA_DIR") or ".oms"),
            broadcast_url=os.environ.get("BROADCAST_URL") or "memory://",
            env=os.environ.get("OMS_ENV") or "development",
            db_pool_size=_int("OMS_DB_POOL_SIZE", 20),
            live_poll_seconds=_float("OMS_LIVE_POLL_SECONDS", 1.0),
            ws_init_timeout_seconds=_float("OMS_WS_INIT_TIMEOUT", 10.0),
            payment_provider=os.environ.get("OMS_PAYMENT_PROVIDER") or "test",
            capture_moment=os.environ.get("OMS_CAPTURE_MOMENT") or "confirmation",
            invoice_moment=os.environ.get("OMS_INVOICE_MOMENT") or "confirmation",
            bank_transfer_expiry_hours=_int("OMS_BANK_TRANSFER_EXPIRY_HOURS", 72),
            expiry_interval_seconds=_int("OMS_PAYMENT_EXPIRY_INTERVAL_SECONDS", 60),
            invoice_series_prefix=os.environ.get("OMS_INVOICE_SERIES_PREFIX") or "F",
            credit_note_series_prefix=os.environ.get("OMS_CREDIT_NOTE_SERIES_PREFIX") or "R",
            seller_name=os.environ.get("OMS_SELLER_NAME") or "OMS Demo Shop S.L.",
            seller_tax_id=os.environ.get("OMS_SELLER_TAX_ID") or "ESB00000000",
            seller_address=os.environ.get("OMS_SELLER_ADDRESS") or "Calle Mayor 1, 28013 Madrid, ES",
            seller_email=os.environ.get("OMS_SELLER_EMAIL") or "billing@example.com",
            return_window_days=_int("OMS_RETURN_WINDOW_DAYS", 30),
            # Issue 13 (security)
            max_body_bytes=_int("OMS_MAX_BODY_BYTES", 1_000_000),
            ws_max_message_bytes=_int("OMS_WS_MAX_MESSAGE_BYTES", 262_144),
            max_depth=_int("OMS_MAX_DEPTH", 12),
            max_aliases=_int("OMS_MAX_ALIASES", 30),
            max_directives=_int("OMS_MAX_DIRECTIVES", 50),
            max_tokens=_int("OMS_MAX_TOKENS", 5000),
            max_query_cost=_int("OMS_MAX_QUERY_COST", 50_000),
            cost_bucket=_int("OMS_COST_BUCKET", 1_000_000),
            cost_restore_rate=_int("OMS_COST_RESTORE_RATE", 20_000),
            rate_limit_storage=os.environ.get("OMS_RATE_LIMIT_STORAGE") or "memory://",
            public_rate_per_address=os.environ.get("OMS_PUBLIC_RATE_PER_ADDRESS") or "60/minute",
            public_rate_per_order=os.environ.get("OMS_PUBLIC_RATE_PER_ORDER") or "10/minute",
            key_sweep_seconds=_float("OMS_KEY_SWEEP_SECONDS", 2.0),
            # issue 14
            db_lock_timeout_ms=_int("OMS_DB_LOCK_TIMEOUT_MS", 5000),
            db_statement_timeout_ms=_int("OMS_DB_STATEMENT_TIMEOUT_MS", 10_000),
            db_retry_budget_ms=_int("OMS_DB_RETRY_BUDGET_MS", 1000),
            db_pre_ping=(os.environ.get("OMS_DB_PRE_PING") or "").lower() in {"1", "true", "yes"},
            drain_seconds=_float("OMS_DRAIN_SECONDS", 5.0),
            log_format=os.environ.get("OMS_LOG_FORMAT") or ("json" if os.environ.get("OMS_ENV") == "production" else "console"),
            database_replica_url=os.environ.get("DATABASE_REPLICA_URL") or None,
            replica_max_wait_ms=_int("OMS_REPLICA_MAX_WAIT_MS", 200),
            otel=(os.environ.get("OMS_OTEL") or "").lower() in {"1", "true", "yes"},
            # Issue 12
            cors_origins=os.environ.get("OMS_CORS_ORIGINS"),
            http_streams_per_caller=_int("OMS_HTTP_STREAMS_PER_CALLER", 50),
            # writes, issue 16
            key_cache_seconds=_float("OMS_KEY_CACHE_SECONDS", 60.0),
            placement_hold_seconds=_int("OMS_PLACEMENT_HOLD_SECONDS", 120),
            # planner (issue 15)
            read_planner=(os.environ.get("OMS_READ_PLANNER") or "true").strip().lower() not in {"false", "0", "off", "no"},
            # hooks, issue 17
            webhook_allow_private=(os.environ.get("OMS_WEBHOOK_ALLOW_PRIVATE") or "").strip().lower() in {"1", "true", "yes"},
            webhook_max_attempts=_int("OMS_WEBHOOK_MAX_ATTEMPTS", 10),
            webhook_retry_base_seconds=_float("OMS_WEBHOOK_RETRY_BASE_SECONDS", 10.0),
            webhook_timeout_seconds=_float("OMS_WEBHOOK_TIMEOUT_SECONDS", 10.0),
            webhook_max_age_hours=_float("OMS_WEBHOOK_MAX_AGE_HOURS", 72.0),
            webhook_concurrency=_int("OMS_WEBHOOK_CONCURRENCY", 8),
            # drafts, issue 18
            draft_expiry_hours=_float("OMS_DRAFT_EXPIRY_HOURS", 168.0),
            # alerts, issue 19
            alerts_interval_seconds=_float("OMS_ALERTS_INTERVAL_SECONDS", 60.0),
            alert_unpaid_hours=_float("OMS_ALERT_UNPAID_HOURS", 48.0),
            alert_not_shipped_hours=_float("OMS_ALERT_NOT_SHIPPED_HOURS", 0.0),
            alert_tracking_silent_hours=_float("OMS_ALERT_TRACKING_SILENT_HOURS", 72.0),
            alert_stuck_hours=_float("OMS_ALERT_STUCK_HOURS", 48.0),
            # holds, issue 18
            unpaid_expiry_hours=parse_hours_map("OMS_UNPAID_EXPIRY_HOURS", os.environ.get("OMS_UNPAID_EXPIRY_HOURS") or ""),
            risk_high_amount=_decimal("OMS_RISK_HIGH_AMOUNT", Decimal("5000")),
            # pickup, issue 19
            alert_uncollected_hours=_float("OMS_ALERT_UNCOLLECTED_HOURS", 168.0),
            # backorders visibility, issue 19 (gaps19)
            alert_receipt_late_hours=_float("OMS_ALERT_RECEIPT_LATE_HOURS", 24.0),
            # reads7, session 7
            db_read_concurrency=_int("OMS_DB_READ_CONCURRENCY", 0),
            # writes7, session 7
            placement_slots=_int("OMS_PLACEMENT_SLOTS", 4),
        )
