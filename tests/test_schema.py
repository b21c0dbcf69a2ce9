"""The committed SDL is the schema the server serves, and it honours the shared API contract."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from graphql_schema.schema import schema

ROOT = Path(__file__).resolve().parent.parent
COMMITTED = ROOT / "graphql_schema" / "schema.graphql"
CHECKER = ROOT.parent / "shared" / "tools" / "check_contract.py"


def test_the_committed_sdl_is_the_served_schema():
    # `oms export-schema > graphql_schema/schema.graphql` after changing a type
    assert COMMITTED.read_text().strip() == schema.as_str().strip()


def test_the_committed_sdl_honours_the_contract():
    assert CHECKER.exists(), f"the contract checker is expected beside the repository: {CHECKER}"
    result = subprocess.run([sys.executable, str(CHECKER), str(COMMITTED)], capture_output=True, text=True)
    assert result.returncode == 0 and "honoured" in result.stdout, result.stdout + result.stderr
