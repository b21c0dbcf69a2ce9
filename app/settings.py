"""Settings read once from the environment (see the runtime contract)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    return int(raw) if raw else default


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str | None = None
    data_dir: Path = Path(".oms")
    broadcast_url: str = "memory://"
    env: str = "development"
    db_pool_size: int = 20
    max_page_size: int = 100
    order_number_prefix: str = "SO"
    currency: str = "EUR"
    extra: dict[str, str] = field(default_factory=dict)

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
        )
