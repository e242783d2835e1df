"""The venue's reads on asyncio: GETs answered and failing exactly as py-clob-client-v2's.

The SDK is blocking. Reads are most of a worker's requests (three per liquidation check), and
run in threads they fight the event loop for the GIL and queue on the SDK's one connection
pool, delaying workflow tasks. So reads run on the event loop with aiohttp; orders, cancels
and heartbeats (few, and signed by the SDK) stay in threads.
"""

from __future__ import annotations

import asyncio
import binascii
import json
import ssl
import threading
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import certifi
import httpx
from py_clob_client_v2.constants import END_CURSOR, INITIAL_CURSOR
from py_clob_client_v2.exceptions import PolyApiException, PolyException
from py_clob_client_v2.http_helpers import helpers as sdk_http

from dualmm.exchange.base import AuthError
from dualmm.exchange.clob_wire import page_cursor
from dualmm.exchange.errors import from_sdk


class AsyncReads:
    """GETs on one aiohttp session, with the SDK's headers, timeout and answers: the JSON body
    of a 200, else the SDK's exception for it, mapped to the Exchange protocol's errors.
    (aiohttp, not httpx's AsyncClient: the latter cost more CPU per read than the threads.)"""

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:  # made in the loop that uses it
            # The CA bundle the SDK's httpx trusts (certifi), not whatever the image has.
            tls = ssl.create_default_context(cafile=certifi.where())
            self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=tls))
            # An adapter dropped unclosed (a CLI command, a test) drops its connections
            # quietly, not with aiohttp's "Unclosed client session" error at collection.
            weakref.finalize(self, _drop, self._session)
        return self._session

    async def get(
        self,
        url: str,
        headers: dict[str, str] | None = None,
        params: dict[str, Any] | None = None,
    ) -> Any:
        sent = sdk_http._overload_headers(sdk_http.GET, dict(headers or {}))
        # The SDK's client holds the process's timeout (configure_http_timeout).
        timeout = aiohttp.ClientTimeout(total=sdk_http._http_client.timeout.read)
        try:
            async with self._http().get(
                url, headers=sent, params=params, timeout=timeout
            ) as answer:
                status, retry_after = answer.status, answer.headers.get("Retry-After")
                text = await answer.text()
        except (aiohttp.ClientError, TimeoutError):
            raise from_sdk(PolyApiException(error_msg="Request exception!")) from None
        try:
            body = json.loads(text)
        except ValueError:
            body = text
        if status != 200:
            refused = PolyApiException(error_msg=body)
            refused.status_code = status
            raise from_sdk(refused, retry_after)
        return body

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def _drop(session: aiohttp.ClientSession) -> None:
    """Close a session's connections without its loop (which may be gone)."""
    connector = session.connector
    session.detach()
    if connector is not None:
        connector._close()


def sdk_headers(make: Callable[[], dict[str, str]]) -> dict[str, str]:
    """Headers from the SDK (e.g. its L2 signature), its refusals mapped like its calls'."""
    try:
        return make()
    except PolyException as exc:
        raise from_sdk(exc) from None


async def all_pages_async(fetch: Callable[[str], Awaitable[Any]]) -> list[dict[str, Any]]:
    """clob_wire.all_pages for an async fetch."""
    items: list[dict[str, Any]] = []
    cursor = INITIAL_CURSOR
    seen: set[str] = set()
    while cursor != END_CURSOR:
        page = await fetch(page_cursor(cursor, seen))
        items.extend(page.get("data") or [])
        cursor = page.get("next_cursor") or END_CURSOR
    return items


def configure_http_timeout(seconds: float) -> None:
    """Set the timeout of py-clob-client-v2's process-wide httpx client
    (`py_clob_client_v2.http_helpers.helpers._http_client`, 5 s by default), and have it
    keep each answer's Retry-After (the SDK's exceptions drop the headers)."""
    client = sdk_http._http_client
    client.timeout = httpx.Timeout(seconds)
    hooks = client.event_hooks
    if _keep_retry_after not in hooks["response"]:
        client.event_hooks = {**hooks, "response": [*hooks["response"], _keep_retry_after]}


_last_answer = threading.local()  # per SDK thread: the Retry-After of its latest answer


def _keep_retry_after(response: httpx.Response) -> None:
    _last_answer.retry_after = response.headers.get("Retry-After")


async def in_thread(fn: Callable[..., Any], *args: Any) -> Any:
    """Run a blocking SDK call in a thread, mapping its errors to the protocol's."""
    return await asyncio.to_thread(_mapped, fn, *args)


def _mapped(fn: Callable[..., Any], *args: Any) -> Any:
    _last_answer.retry_after = None
    try:
        return fn(*args)
    except PolyException as exc:
        raise from_sdk(exc, getattr(_last_answer, "retry_after", None)) from None
    except binascii.Error:
        raise AuthError("the API secret is not valid base64") from None
