"""The simulator under hostile HTTP (issue 11, its simulator part): every malformed request gets
a 4xx JSON error, bodies are bounded in size and in read time, nothing crashes it, and a
hypothesis fuzz of its HTTP API finds no 500."""

from __future__ import annotations

import json
import string
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from eth_account import Account
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from py_clob_client_v2.config import get_contract_config
from py_clob_client_v2.constants import BYTES32_ZERO
from py_clob_client_v2.order_utils import ExchangeOrderBuilderV2
from py_clob_client_v2.order_utils.model.order_data_v2 import OrderDataV2
from py_clob_client_v2.order_utils.model.side import Side as SdkSide
from py_clob_client_v2.order_utils.model.signature_type_v2 import SignatureTypeV2
from py_clob_client_v2.signer import Signer
from sim_helpers import START, Flat, market_info, raw_socket, registered_key, reward_terms

from dualmm.sim.auth import ApiKey, hmac_signature
from dualmm.sim.clock import ManualClock
from dualmm.sim.market import SimMarket
from dualmm.sim.rules import VenueRules
from dualmm.sim.server import Faults, SimServer
from dualmm.sim.venue import SimVenue
from dualmm.sim.wire import Request

ROUTES = [
    ("GET", "/"),
    ("GET", "/time"),
    ("GET", "/tick-size"),
    ("GET", "/book"),
    ("POST", "/books"),
    ("GET", "/midpoint"),
    ("POST", "/midpoints"),
    ("GET", "/price"),
    ("POST", "/prices"),
    ("GET", "/spread"),
    ("GET", "/prices-history"),
    ("GET", "/sampling-markets"),
    ("GET", "/rewards/markets/current"),
    ("GET", "/markets/0xhostile"),
    ("GET", "/clob-markets/0xhostile"),
    ("POST", "/auth/api-key"),
    ("GET", "/auth/derive-api-key"),
    ("POST", "/order"),
    ("POST", "/orders"),
    ("DELETE", "/order"),
    ("DELETE", "/orders"),
    ("DELETE", "/cancel-market-orders"),
    ("GET", "/data/orders"),
    ("GET", "/data/trades"),
    ("GET", "/data/order/0x01"),
    ("GET", "/balance-allowance"),
    ("GET", "/order-scoring"),
    ("POST", "/orders-scoring"),
    ("POST", "/_sim/advance"),
    ("POST", "/_sim/tick-size"),
    ("POST", "/_sim/fail-trade"),
    ("GET", "/_sim/ledger"),
]


def hostile_venue() -> SimVenue:
    info = market_info("0xhostile", "301", "302", **reward_terms("10"))
    market = SimMarket(info, Flat("0.5"), START, book_seed="hostile")
    return SimVenue([market], ManualClock(START), rules=VenueRules.harsh())


@pytest.fixture(scope="module")
def server() -> Iterator[SimServer]:
    with SimServer(hostile_venue(), admin=True, read_timeout_s=1.0) as running:
        yield running


@pytest.fixture(scope="module")
def creds(server: SimServer) -> ApiKey:
    return registered_key(server, Account.create().address)


def raw(server: SimServer, data: bytes, timeout: float = 10.0) -> tuple[int | None, Any]:
    """Send raw bytes; the status and JSON body answered (None: closed without an answer)."""
    with raw_socket(server, timeout) as sock:
        sock.sendall(data)
        chunks = []
        while True:
            try:
                chunk = sock.recv(65536)
            except (TimeoutError, ConnectionResetError):
                break
            if not chunk:
                break
            chunks.append(chunk)
            if b"\r\n\r\n" in b"".join(chunks):
                head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
                length = next(
                    (
                        int(line.split(b":")[1])
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length:")
                    ),
                    None,
                )
                if length is not None and len(body) >= length:
                    break
    answer = b"".join(chunks)
    if not answer:
        return None, None
    head, _, body = answer.partition(b"\r\n\r\n")
    status = int(head.split(b" ")[1])
    return status, json.loads(body) if body else None


def http(method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: sim", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    if "Content-Length" not in (headers or {}):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def l2_headers(
    creds: ApiKey, method: str, path: str, body: str = "", **over: str
) -> dict[str, str]:
    timestamp = over.pop("POLY_TIMESTAMP", str(int(START.timestamp())))
    headers = {
        "POLY_ADDRESS": creds.address,
        "POLY_API_KEY": creds.key,
        "POLY_PASSPHRASE": creds.passphrase,
        "POLY_TIMESTAMP": timestamp,
        "POLY_SIGNATURE": hmac_signature(creds.secret, timestamp, method, path, body),
    }
    headers.update(over)
    return headers


def assert_client_error(status: int | None, body: Any) -> None:
    assert status is not None and 400 <= status < 500, (status, body)
    assert isinstance(body, dict) and isinstance(body.get("error"), str), body


# --- the transport ------------------------------------------------------------------------


def test_deeply_nested_json_is_refused_before_parsing(server: SimServer) -> None:
    """100,000 '[' killed the server (SIGSEGV) once a dependency had raised the recursion limit."""
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(100_000)
    try:
        status, body = raw(server, http("POST", "/books", b"[" * 100_000))
    finally:
        sys.setrecursionlimit(limit)
    assert_client_error(status, body)
    assert raw(server, http("GET", "/time"))[0] == 200  # still alive


@pytest.mark.parametrize("length", ["-1", "abc", "1e3", "99999999999999999999"])
def test_a_bad_content_length_is_a_400(server: SimServer, length: str) -> None:
    assert_client_error(*raw(server, http("POST", "/books", b"[]", {"Content-Length": length})))


def test_a_body_too_large_is_a_413(server: SimServer) -> None:
    status, body = raw(server, http("POST", "/books", b"", {"Content-Length": str(2**30)}))
    assert status == 413 and "error" in body


def test_a_body_that_never_arrives_is_answered_408_after_the_read_timeout(
    server: SimServer,
) -> None:
    status, body = raw(server, http("POST", "/books", b"[", {"Content-Length": "100"}))
    assert status == 408 and "error" in body


def test_an_unknown_method_and_a_garbage_request_line_get_json_errors(server: SimServer) -> None:
    assert_client_error(*raw(server, http("BREW", "/time")))
    assert_client_error(*raw(server, b"\x00\x01garbage\r\n\r\n"))


def test_fifty_concurrent_connections_are_all_answered(server: SimServer) -> None:
    def ask(_: int) -> int | None:
        return raw(server, http("GET", "/midpoint?token_id=301"))[0]

    with ThreadPoolExecutor(max_workers=50) as pool:
        statuses = list(pool.map(ask, range(400)))
    assert statuses.count(200) == len(statuses)


# --- requests the endpoints used to answer with a 500 -------------------------------------


@pytest.mark.parametrize("seconds", ["Infinity", "1e400", "-5", "NaN", '"inf"', "1e30"])
def test_advance_by_a_non_finite_or_huge_time_is_a_400(server: SimServer, seconds: str) -> None:
    body = f'{{"seconds": {seconds}}}'.encode()
    assert_client_error(*raw(server, http("POST", "/_sim/advance", body)))


def test_a_5000_digit_cursor_is_a_400(server: SimServer) -> None:
    path = "/sampling-markets?next_cursor=" + "1" * 5000
    assert_client_error(*raw(server, http("GET", path)))


def test_l1_headers_with_a_5000_digit_nonce_or_garbage_timestamp_are_refused(
    server: SimServer,
) -> None:
    account = Account.create()
    base = {"POLY_ADDRESS": account.address, "POLY_SIGNATURE": "0x00", "POLY_TIMESTAMP": "1"}
    for over in ({"POLY_NONCE": "9" * 5000}, {"POLY_TIMESTAMP": "yesterday"}):
        assert_client_error(*raw(server, http("GET", "/auth/derive-api-key", b"", base | over)))


def test_l2_garbage_timestamp_and_non_ascii_headers_are_refused(
    server: SimServer, creds: ApiKey
) -> None:
    ok = l2_headers(creds, "GET", "/data/orders")
    assert raw(server, http("GET", "/data/orders", b"", ok))[0] == 200
    garbage = l2_headers(creds, "GET", "/data/orders", POLY_TIMESTAMP="not-a-time")
    assert raw(server, http("GET", "/data/orders", b"", garbage))[0] == 401
    accented = l2_headers(creds, "GET", "/data/orders", POLY_PASSPHRASE="pässphrase")
    assert raw(server, http("GET", "/data/orders", b"", accented))[0] == 401
    signed = l2_headers(creds, "GET", "/data/orders", POLY_SIGNATURE="sïgnature")
    assert raw(server, http("GET", "/data/orders", b"", signed))[0] == 401


def signed_order(
    server: SimServer, key: bytes, maker_amount: int, taker_amount: int, **fields: str
) -> dict[str, Any]:
    signer = Signer(key.hex() if isinstance(key, bytes) else key, 137)
    contracts = get_contract_config(137)
    builder = ExchangeOrderBuilderV2(contracts.exchange_v2, 137, signer, generate_salt=lambda: "7")
    data = OrderDataV2(
        maker=signer.address(),
        tokenId="301",
        makerAmount=str(maker_amount),
        takerAmount=str(taker_amount),
        side=SdkSide.BUY,
        signer=signer.address(),
        signatureType=SignatureTypeV2.EOA,
        timestamp="1772452800000",
        metadata=BYTES32_ZERO,
        builder=BYTES32_ZERO,
        expiration=fields.pop("expiration", "0"),
    )
    order = builder.build_signed_order(data)
    as_json: dict[str, Any] = order.dict() if hasattr(order, "dict") else dict(order.__dict__)
    as_json.update(fields)
    return as_json


@pytest.fixture(scope="module")
def trader(server: SimServer) -> tuple[Any, ApiKey]:
    account = Account.create()
    return account, registered_key(server, account.address)


@pytest.mark.parametrize(
    ("maker", "taker", "fields"),
    [
        (2**200 * 10**6, 2**201 * 10**6, {}),  # 2**200 shares, signed
        (2**300, 10, {}),  # past uint256
        (-5, 10, {}),
        (5_000_000, 10_000_000, {"signature": "0xnot-hex-at-all"}),
        (5_000_000, 10_000_000, {"expiration": "253402300800"}),  # year 10000
        (5_000_000, 10_000_000, {"expiration": "1e30"}),
        (5_000_000, 10_000_000, {"expiration": "inf"}),
        (5_000_000, 10_000_000, {"salt": "9" * 5000}),
    ],
)
def test_hostile_orders_are_400s(
    server: SimServer,
    trader: tuple[Any, ApiKey],
    maker: int,
    taker: int,
    fields: dict[str, str],
) -> None:
    account, creds = trader
    try:
        order = signed_order(server, bytes(account.key), maker, taker, **fields)
    except Exception:  # the SDK refuses to sign it: send it unsigned, as an attacker would
        order = {
            "salt": "7",
            "maker": account.address,
            "signer": account.address,
            "tokenId": "301",
            "makerAmount": str(maker),
            "takerAmount": str(taker),
            "side": "BUY",
            "signatureType": 0,
            "timestamp": "1772452800000",
            "metadata": BYTES32_ZERO,
            "builder": BYTES32_ZERO,
            "expiration": "0",
            "signature": "0x" + "11" * 65,
            **fields,
        }
    body = json.dumps({"order": order, "owner": creds.key, "orderType": "GTC"})
    headers = l2_headers(creds, "POST", "/order", body)
    assert_client_error(*raw(server, http("POST", "/order", body.encode(), headers)))


# --- the fuzz -----------------------------------------------------------------------------

text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)
digits = st.text(alphabet=string.digits, min_size=1, max_size=5000)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | text | digits,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
    max_leaves=12,
)
bodies = st.one_of(
    text,
    json_values.map(lambda v: json.dumps(v)),
    st.integers(1, 5000).map(lambda n: "[" * n),
    st.builds(
        lambda order, owner, kind: json.dumps({"order": order, "owner": owner, "orderType": kind}),
        st.dictionaries(
            st.sampled_from(
                [
                    "salt",
                    "maker",
                    "signer",
                    "tokenId",
                    "makerAmount",
                    "takerAmount",
                    "side",
                    "signatureType",
                    "timestamp",
                    "metadata",
                    "builder",
                    "expiration",
                    "signature",
                ]
            ),
            json_values,
        ),
        text,
        text,
    ),
)
queries = st.dictionaries(
    st.sampled_from(
        [
            "token_id",
            "side",
            "market",
            "next_cursor",
            "startTs",
            "endTs",
            "interval",
            "fidelity",
            "asset_id",
            "asset_type",
            "order_id",
            "id",
            "after",
            "before",
            "maker_address",
        ]
    ),
    st.one_of(text, digits, st.just("301")),
    max_size=4,
)
header_maps = st.dictionaries(
    st.sampled_from(
        [
            "POLY_ADDRESS",
            "POLY_API_KEY",
            "POLY_PASSPHRASE",
            "POLY_TIMESTAMP",
            "POLY_SIGNATURE",
            "POLY_NONCE",
        ]
    ),
    st.one_of(text, digits),
    max_size=6,
)


@settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    route=st.one_of(st.sampled_from(ROUTES), st.tuples(st.sampled_from(["GET", "POST"]), text)),
    query=queries,
    headers=header_maps,
    body=bodies,
    signed=st.booleans(),
)
def test_fuzz_no_request_gets_a_500(
    server: SimServer,
    creds: ApiKey,
    route: tuple[str, str],
    query: dict[str, str],
    headers: dict[str, str],
    body: str,
    signed: bool,
) -> None:
    method, path = route
    if signed:  # a valid key signs it, so the endpoint itself sees the hostile input
        headers = l2_headers(creds, method, path, body) | {
            k: v for k, v in headers.items() if k == "POLY_NONCE"
        }
    server.set_faults(Faults())
    reply = server.serve(Request(method=method, path=path, query=query, headers=headers, body=body))
    assert reply.status < 500, (method, path, reply.body)
    json.dumps(reply.body)  # always a JSON answer
    if reply.status >= 400:
        assert isinstance(reply.body, dict) and isinstance(reply.body.get("error"), str)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=300))
def test_fuzz_raw_bytes_never_kill_the_server(data: bytes) -> None:
    global _RAW_SERVER
    if _RAW_SERVER is None:
        _RAW_SERVER = SimServer(hostile_venue(), read_timeout_s=0.3).start()
    status, _ = raw(_RAW_SERVER, data, timeout=5.0)
    assert status is None or status < 500
    assert raw(_RAW_SERVER, http("GET", "/time"))[0] == 200


_RAW_SERVER: SimServer | None = None


@pytest.fixture(scope="module", autouse=True)
def _stop_raw_server() -> Iterator[None]:
    yield
    global _RAW_SERVER
    if _RAW_SERVER is not None:
        _RAW_SERVER.stop()
        _RAW_SERVER = None


def test_the_admin_paths_need_admin(creds: ApiKey) -> None:
    with SimServer(hostile_venue()) as closed:
        status, body = raw(closed, http("GET", "/_sim/ledger"))
    assert status == 404 and "error" in body
    assert threading.active_count() > 0
