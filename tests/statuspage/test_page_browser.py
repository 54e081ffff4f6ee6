"""The public status page in a real headless browser: rendered DOM, desktop, phone and dark-mode screenshots."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import struct
import zlib
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from tests.api.test_status_api import start, summary_when
from tests.http.test_docs_browser import FLAGS

CHROMIUM = shutil.which("chromium")
DAYS = 90
UPTIME_LABEL = re.compile(r"\d{2} [A-Z][a-z]{2} \d{4}: (?:no data|\d{1,3}\.\d{2}% uptime)")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


def require_chromium() -> str:
    """Chromium's path; skip loudly without it, or fail under CI=true."""
    if CHROMIUM is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("chromium is missing: .ci/run installs Debian's chromium package")
        pytest.skip("SKIPPING BROWSER TEST: chromium is not installed (apt-get install chromium)")
    return CHROMIUM


async def chromium(profile: Path, *args: str) -> bytes:
    """Run headless Chromium offline with its own profile; its stdout. Killed if it outlives 60 s."""
    process = await asyncio.create_subprocess_exec(
        require_chromium(), *FLAGS, f"--user-data-dir={profile}", "--virtual-time-budget=8000", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, f"chromium {args} exited {process.returncode}: {err.decode()[-2000:]}"
    return out


async def screenshot(url: str, path: Path, width: int, height: int, *extra: str) -> bytes:
    await chromium(path.with_suffix(".profile"), *extra, f"--screenshot={path}", f"--window-size={width},{height}", url)
    data = await asyncio.to_thread(path.read_bytes)
    assert data.startswith(PNG_SIGNATURE), f"{path.name} is not a PNG"
    assert len(data) > 5 * 1024, f"{path.name} is only {len(data)} bytes: a blank page?"
    assert struct.unpack(">II", data[16:24]) == (width, height), f"{path.name} is not {width}x{height}"
    return data


@dataclass
class Node:
    tag: str
    attrs: dict[str, str]
    children: list[Node | str] = field(default_factory=list)

    def text(self) -> str:
        parts = (c if isinstance(c, str) else c.text() for c in self.children)
        return " ".join(" ".join(parts).split())

    def classes(self) -> set[str]:
        return set(self.attrs.get("class", "").split())

    def find_all(self, tag: str, cls: str | None = None) -> list[Node]:
        found = []
        for child in self.children:
            if isinstance(child, Node):
                if child.tag == tag and (cls is None or cls in child.classes()):
                    found.append(child)
                found.extend(child.find_all(tag, cls))
        return found

    def find(self, tag: str, cls: str | None = None) -> Node:
        found = self.find_all(tag, cls)
        assert found, f"no <{tag} class={cls!r}> in <{self.tag} {self.attrs}>"
        return found[0]


class TreeBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.root = Node("#document", {})
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {k: v or "" for k, v in attrs})
        self.stack[-1].children.append(node)
        if tag not in VOID:
            self.stack.append(node)

    def handle_endtag(self, tag: str) -> None:
        for depth in range(len(self.stack) - 1, 0, -1):
            if self.stack[depth].tag == tag:
                del self.stack[depth:]
                return

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)


def parse(html: str) -> Node:
    builder = TreeBuilder()
    builder.feed(html)
    builder.close()
    return builder.root


def mean_brightness(png: bytes) -> float:
    """Mean of all colour samples (0-255) of an 8-bit, non-interlaced RGB or RGBA PNG, standard library only."""
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", png[16:29])
    assert depth == 8 and colour in (2, 6) and interlace == 0, "an unexpected PNG format from chromium"
    channels = 3 if colour == 2 else 4
    idat, offset = bytearray(), 8
    while offset < len(png):
        (length,) = struct.unpack(">I", png[offset : offset + 4])
        if png[offset + 4 : offset + 8] == b"IDAT":
            idat += png[offset + 8 : offset + 8 + length]
        offset += 12 + length
    raw = zlib.decompress(idat)
    stride = width * channels
    previous = bytearray(stride)
    total = 0
    for y in range(height):
        kind, row = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):
            left = row[i - channels] if i >= channels else 0
            up = previous[i]
            if kind == 1:
                row[i] = (row[i] + left) & 0xFF
            elif kind == 2:
                row[i] = (row[i] + up) & 0xFF
            elif kind == 3:
                row[i] = (row[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                corner = previous[i - channels] if i >= channels else 0
                guess = left + up - corner
                pa, pb, pc = abs(guess - left), abs(guess - up), abs(guess - corner)
                row[i] = (row[i] + (left if pa <= pb and pa <= pc else up if pb <= pc else corner)) & 0xFF
        total += sum(row) - (sum(row[3::4]) if channels == 4 else 0)
        previous = row
    return total / (width * height * 3)


@pytest.mark.timeout(420)
async def test_the_status_page_renders_in_a_real_browser(
    aiohttp_client: Any, aiohttp_server: Any, tmp_path: Path
) -> None:
    require_chromium()
    client, _, _ = await start(aiohttp_client, aiohttp_server, tmp_path)
    await summary_when(client, lambda body: body["incidents"])
    url = str(client.make_url("/status"))

    dom = (await chromium(tmp_path / "dom.profile", "--dump-dom", url)).decode()
    assert "<script" not in dom
    document = parse(dom)
    assert document.find("title").text() == "Acme status"
    assert document.find("h1").text() == "Acme status"
    assert document.find("div", "banner").text() == "Major System Outage"
    components = {c.find("h3").text(): c for c in document.find_all("li", "component")}
    assert list(components) == ["API", "Payments"]
    assert components["API"].find("span", "status").text() == "Operational"
    assert components["Payments"].find("span", "status").text() == "Major outage"
    for name, component in components.items():
        bar = component.find("ul", "bar")
        assert bar.attrs["aria-label"] == f"{name}: daily uptime over the last {DAYS} days"
        cells = bar.find_all("li")
        assert len(cells) == DAYS, f"{name} has {len(cells)} uptime cells"
        for cell in cells:
            assert UPTIME_LABEL.fullmatch(cell.attrs.get("aria-label", "")), cell.attrs
            assert cell.attrs["tabindex"] == "0"
    sections = {section.find("h2").text(): section for section in document.find_all("section")}
    assert list(sections) == ["Active incidents", "Components", "Past incidents (14 days)"]
    (incident,) = sections["Active incidents"].find_all("article", "incident")
    assert incident.find("h3").text() == "Major outage: Payments"
    update = incident.find("div", "update").text()
    assert update.startswith("Investigating - We are investigating a problem affecting Payments.")

    # This Chromium turns prefers-color-scheme dark with --force-dark-mode; --force-prefers-color-scheme is ignored.
    shots = {
        "light": await screenshot(url, tmp_path / "status.png", 1280, 1600),
        "light phone": await screenshot(url, tmp_path / "status-phone.png", 390, 844),
        "dark": await screenshot(url, tmp_path / "status-dark.png", 1280, 1600, "--force-dark-mode"),
        "dark phone": await screenshot(url, tmp_path / "status-dark-phone.png", 390, 844, "--force-dark-mode"),
    }
    brightness = {name: mean_brightness(png) for name, png in shots.items()}
    for size in ("", " phone"):
        light, dark = brightness[f"light{size}"], brightness[f"dark{size}"]
        assert light > 180 and dark < 80, f"mean brightness (0-255): {brightness}"
