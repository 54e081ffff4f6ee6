"""The docs page renders in a real headless browser with no internet access."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
from pathlib import Path

import pytest

from tests.conftest import MakeClient

CHROMIUM = shutil.which("chromium")
# Flags that keep Chromium off the network entirely (this machine has none).
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
)  # fmt: skip


async def rendered_dom(url: str, profile: Path) -> str:
    process = await asyncio.create_subprocess_exec(
        CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "--virtual-time-budget=8000", "--dump-dom", url,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(process.communicate(), timeout=60)
    return out.decode()


async def test_swagger_ui_renders_every_route_offline(make_client: MakeClient, tmp_path: Path) -> None:
    if CHROMIUM is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("chromium is missing: .ci/run installs Debian's chromium package")
        pytest.skip("SKIPPING BROWSER TEST: chromium is not installed (apt-get install chromium)")
    client = await make_client()
    dom = await rendered_dom(str(client.make_url("/docs")), tmp_path / "profile")
    rendered = set(re.findall(r'class="opblock-summary-path" data-path="([^"]+)"', dom))
    document = await (await client.get("/openapi.json")).json()
    assert rendered == set(document["paths"]), "Swagger UI did not render the OpenAPI document"
    assert "OAS 3.1" in dom
