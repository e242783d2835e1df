"""Screenshots of the Temporal UI as an operator sees the bot (not part of `make test`).

    .venv/bin/python tools/ui_screenshots.py OUT_DIR [--chromium chromium] [--wait 240]

Brings up `dualmm demo --reset` on free ports in a temporary directory, waits until a
liquidation has finished (and the bot still runs), shoots with headless Chromium (DevTools
protocol over a pipe, standard library only) and stops everything it started:

- `list.png`: the workflow list filtered by the custom search attribute `DualmmBotId`;
- `liquidation.png`: a finished liquidation's summary, details and current details (User
  Metadata tab);
- `liquidation-history.png`: its event history, compact (activity summaries such as
  `place SELL 20 YES @ 0.53`, `check PASSIVE: 20 YES left`);
- `liquidation-timeline.png`: the same as a timeline;
- `liquidation-memo.png`: its memo (the market question, the bot);
- `bot.png`: the bot's (parent) workflow, summary and details.

Needs `chromium` (Debian: `apt-get install chromium`).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

from dualmm.devserver import free_port

BOT = "demo"  # the demo's bot id
WIDTH, HEIGHT = 1600, 1000
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--remote-debugging-pipe",
)


def _pipe_fds(read_end: int, write_end: int) -> None:
    """In the child: the pipe's ends as fd 3 and 4 (via copies, should either already be 3
    or 4), inheritable."""
    high_read, high_write = os.dup(read_end), os.dup(write_end)
    os.dup2(high_read, 3)
    os.dup2(high_write, 4)


class Browser:
    """Headless Chromium driven over `--remote-debugging-pipe` (fd 3 in, fd 4 out, each
    message JSON ended by a NUL byte)."""

    def __init__(self, binary: str, profile: Path) -> None:
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()
        self._proc = subprocess.Popen(
            [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "about:blank"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            # Python's own descriptors are close-on-exec; only 3 and 4 reach Chromium.
            close_fds=False,
            preexec_fn=lambda: _pipe_fds(to_browser_r, from_browser_w),
        )
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buffer = b""
        self._next_id = 0
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self._session = self.call("Target.attachToTarget", targetId=target, flatten=True)[
            "sessionId"
        ]
        self.call(
            "Emulation.setDeviceMetricsOverride",
            width=WIDTH,
            height=HEIGHT,
            deviceScaleFactor=1,
            mobile=False,
            session=True,
        )
        self.call("Page.enable", session=True)

    def call(self, method: str, session: bool = False, **params: Any) -> dict[str, Any]:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = self._session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._read()
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                result: dict[str, Any] = reply.get("result", {})
                return result

    def _read(self) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            chunk = os.read(self._from_browser, 1 << 20)
            if not chunk:
                raise RuntimeError("chromium closed the DevTools pipe")
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        parsed: dict[str, Any] = json.loads(raw)
        return parsed

    def evaluate(self, expression: str) -> Any:
        result = self.call(
            "Runtime.evaluate", expression=expression, returnByValue=True, session=True
        )
        return result.get("result", {}).get("value")

    def open(self, url: str, ready_text: str, settle: float = 1.5) -> None:
        """Load `url` and wait until the page shows `ready_text` (the UI renders in JS)."""
        self.call("Page.navigate", url=url, session=True)
        self.wait_text(ready_text, settle=settle)

    def wait_text(self, text: str, seconds: float = 90, settle: float = 1.5) -> None:
        deadline = time.monotonic() + seconds
        probe = f"document.body && document.body.innerText.includes({json.dumps(text)})"
        while not self.evaluate(probe):
            if time.monotonic() > deadline:
                self.shoot(Path(tempfile.gettempdir()) / "ui_screenshots-failed.png")
                shown = str(self.evaluate("document.body && document.body.innerText"))
                raise RuntimeError(f"the page never showed {text!r}; it shows: {shown[:1500]}")
            time.sleep(0.3)
        time.sleep(settle)  # let late requests and layout settle

    def scroll_to(self, heading: str) -> None:
        """Scroll the first heading that reads `heading` to the top of the window."""
        self.evaluate(
            "[...document.querySelectorAll('h1,h2,h3')]"
            f".find(e => e.textContent.trim().startsWith({json.dumps(heading)}))"
            "?.scrollIntoView({block: 'start'})"
        )
        time.sleep(1)

    def click(self, label: str) -> None:
        """Click the first button that reads `label`."""
        self.evaluate(
            "[...document.querySelectorAll('button,a')]"
            f".find(e => e.textContent.trim() === {json.dumps(label)})?.click()"
        )
        time.sleep(2)

    def shoot(self, path: Path) -> None:
        shot = self.call("Page.captureScreenshot", format="png", session=True)
        path.write_bytes(base64.b64decode(shot["data"]))
        shrink(path)
        print(f"  {path} ({path.stat().st_size // 1024} KB)", flush=True)

    def close(self) -> None:
        self._proc.terminate()
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()


def shrink(path: Path) -> None:
    """A 256-colour palette keeps a UI screenshot legible at a fraction of the size."""
    try:
        from PIL import Image
    except ImportError:
        return
    with Image.open(path) as image:
        small = image.convert("RGB").quantize(colors=256)
    small.save(path, optimize=True)


async def wait_for_liquidation(address: str, seconds: float) -> tuple[str, str]:
    """The (workflow id, run id) of the latest finished liquidation of the demo bot, once two
    have finished."""
    from temporalio.client import Client

    deadline = time.monotonic() + seconds
    while True:  # the demo starts the dev server first
        try:
            client = await Client.connect(address)
            break
        except RuntimeError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(1)
    query = (
        f"DualmmBotId = '{BOT}' AND WorkflowType = 'LiquidationWorkflow' "
        "AND ExecutionStatus = 'Completed'"
    )
    while time.monotonic() < deadline:
        # Two, so the list shows runs told apart by their attributes.
        finished = [w async for w in client.list_workflows(query)]
        if len(finished) >= 2:
            return finished[0].id, finished[0].run_id or ""
        await asyncio.sleep(3)
    raise RuntimeError(f"no liquidation finished within {seconds:.0f}s")


async def bot_run_id(address: str) -> str:
    from temporalio.client import Client

    client = await Client.connect(address)
    described = await client.get_workflow_handle(f"active-market-{BOT}").describe()
    return described.run_id or ""


# The list's columns as an operator would pick them (the UI's column picker keeps them in the
# browser's local storage): the custom search attributes tell the runs apart.
LIST_COLUMNS = ("Status", "Type", "DualmmStage", "DualmmOutcome", "Start", "End", "Workflow ID")


def shoot_all(browser: Browser, ui: str, out: Path, liquidation: tuple[str, str], bot: str) -> None:
    query = quote(f'DualmmBotId="{BOT}"')
    listing = f"{ui}/namespaces/default/workflows?query={query}"
    browser.open(listing, "active-market-demo")
    columns = {"default": [{"label": label} for label in LIST_COLUMNS]}
    browser.evaluate(
        "localStorage.setItem('namespace-workflow-table-columns', "
        f"{json.dumps(json.dumps(columns))})"
    )
    browser.open(listing, "active-market-demo")
    browser.shoot(out / "list.png")
    page = f"{ui}/namespaces/default/workflows/{quote(liquidation[0])}/{liquidation[1]}"
    # Details are Markdown in a sandboxed frame: wait for the summary, then the frame.
    browser.open(f"{page}/user-metadata", "Current Details", settle=4)
    browser.shoot(out / "liquidation.png")
    browser.open(f"{page}/history", "Workflow Execution Completed")
    browser.click("Compact")
    browser.scroll_to("Event History")
    browser.shoot(out / "liquidation-history.png")
    browser.open(f"{page}/timeline", "Timeline")
    browser.scroll_to("Timeline")
    browser.shoot(out / "liquidation-timeline.png")
    browser.open(f"{page}/memo", "question")
    browser.shoot(out / "liquidation-memo.png")
    bot_page = f"{ui}/namespaces/default/workflows/active-market-{BOT}/{bot}"
    browser.open(f"{bot_page}/user-metadata", "Current Details", settle=4)
    browser.shoot(out / "bot.png")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="directory for the PNGs")
    parser.add_argument("--chromium", default="chromium", help="the Chromium binary")
    parser.add_argument(
        "--wait", type=float, default=240, help="seconds to wait for a finished liquidation"
    )
    args = parser.parse_args()
    chromium = shutil.which(args.chromium)
    if chromium is None:
        print(f"error: {args.chromium} not found (apt-get install chromium)", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    temporal_port, ui_port = free_port(), free_port()
    address, ui = f"127.0.0.1:{temporal_port}", f"http://127.0.0.1:{ui_port}"
    with tempfile.TemporaryDirectory(prefix="dualmm-ui-") as tmp:
        var = Path(tmp) / "var"
        log = (Path(tmp) / "demo.log").open("w")
        demo = subprocess.Popen(
            [
                *(sys.executable, "-m", "dualmm", "demo", "--reset", "--var", str(var)),
                *("--temporal-port", str(temporal_port), "--ui-port", str(ui_port)),
                *("--duration", str(int(args.wait) + 300)),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        browser: Browser | None = None
        try:
            print(f"demo: Temporal {address}, UI {ui}; waiting for a liquidation", flush=True)
            liquidation = asyncio.run(wait_for_liquidation(address, args.wait))
            bot = asyncio.run(bot_run_id(address))
            print(f"shooting {liquidation[0]} (run {liquidation[1]})", flush=True)
            browser = Browser(chromium, Path(tmp) / "chromium")
            shoot_all(browser, ui, args.out, liquidation, bot)
        except Exception as exc:
            print(f"error: {exc}; the demo's log:", file=sys.stderr)
            log.flush()
            print((Path(tmp) / "demo.log").read_text()[-3000:], file=sys.stderr)
            return 1
        finally:
            if browser is not None:
                browser.close()
            demo.send_signal(signal.SIGINT)  # the demo stops its own processes in order
            try:
                demo.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(demo.pid, signal.SIGKILL)
                demo.wait()
            log.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
