"""The README's serve command end to end: embedded PostgreSQL, migrations, demo data, API key, a query, clean stop."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from tests.live_server import free_port, wait_ready

OMS = str(Path(sys.executable).with_name("oms"))


async def test_serve_demo_on_the_embedded_database(tmp_path):
    # given a machine with no DATABASE_URL
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "BROADCAST_URL")}
    env["OMS_DATA_DIR"] = str(tmp_path / "data")
    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("w") as output:
        server = subprocess.Popen([OMS, "serve", "--demo", "--port", str(port)], env=env, stdout=output, stderr=subprocess.STDOUT)
    try:
        # when it is ready (first start: the embedded PostgreSQL is initialised, then migrated and seeded)
        await wait_ready(f"http://127.0.0.1:{port}", server, 120, log=log.read_text)
        # then a key made with the CLI reads the demo orders in several statuses
        created = subprocess.run([OMS, "apikey", "create", "--name", "readme", "--scopes", "orders:read"], env=env, capture_output=True, text=True, check=True)
        token = created.stdout.strip().splitlines()[-1]
        body = httpx.post(f"http://127.0.0.1:{port}/graphql", headers={"Authorization": f"Bearer {token}"},
                          json={"query": "{ orderStats { totalOrders countByStatus } orders(first: 3) { edges { node { number lines { sku } } } } }"}).json()
        stats = body["data"]["orderStats"]
        assert stats["totalOrders"] >= 10 and len(stats["countByStatus"]) >= 3
        assert all(edge["node"]["lines"] for edge in body["data"]["orders"]["edges"])
        # seeding again changes nothing
        again = subprocess.run([OMS, "seed", "--demo"], env=env, capture_output=True, text=True, check=True)
        assert "already present" in again.stdout
        assert httpx.post(f"http://127.0.0.1:{port}/graphql", headers={"Authorization": f"Bearer {token}"},
                          json={"query": "{ orderStats { totalOrders } }"}).json()["data"]["orderStats"]["totalOrders"] == stats["totalOrders"]
        # and unknown routes stay 404, the public tracking query needs no key
        assert httpx.get(f"http://127.0.0.1:{port}/nope").status_code == 404
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
            raise
    assert server.returncode == 0, log.read_text()
    # the embedded PostgreSQL stopped with the app
    assert not (tmp_path / "data" / "pgdata" / "postmaster.pid").exists()
