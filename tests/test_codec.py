"""The optional payload codec (DUALMM_CODEC_KEY) and `dualmm codec-server`.

With the key set, Temporal stores only ciphertext: no payload of a real workflow run holds the
market's condition id, a client without the key cannot read the result, a client with it can,
and the codec server decrypts a history payload for the UI over HTTP.
"""

from __future__ import annotations

import base64
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from google.protobuf import json_format
from google.protobuf.message import Message
from liquidation_harness import one_market, running_liquidation
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from dualmm.codec import ENCODING, KEY_ID, AesGcmCodec, CodecError, codec, data_converter, key_id
from dualmm.codec_server import CodecServer
from dualmm.config import ProcessSettings
from dualmm.domain.types import Stage
from dualmm.errors import UsageError
from dualmm.process import load_settings
from dualmm.temporal_bin import TEST_SERVER, temporal_binary
from workflows.liquidation import LiquidationWorkflow

KEY = bytes(range(32))
OLD_KEY = bytes(range(100, 132))
PLAIN = Payload(metadata={"encoding": b"json/plain"}, data=b'{"condition_id":"0xfeed"}')
UI_ORIGIN = "http://localhost:8233"


def test_round_trip_with_a_fresh_nonce_per_payload() -> None:
    aes = AesGcmCodec(KEY)
    first, second = aes.encrypt(PLAIN), aes.encrypt(PLAIN)
    assert first.metadata["encoding"] == ENCODING
    assert first.metadata[KEY_ID] == key_id(KEY).encode()
    assert b"0xfeed" not in first.SerializeToString()
    assert b"json/plain" not in first.SerializeToString()  # the metadata is sealed too
    assert first.data[:12] != second.data[:12] and first.data != second.data
    assert aes.decrypt(first) == aes.decrypt(second) == PLAIN


def test_a_payload_without_encryption_passes_through_decode() -> None:
    assert AesGcmCodec(KEY).decrypt(PLAIN) == PLAIN


@pytest.mark.parametrize("where", [0, 12, -1])  # the nonce, the ciphertext, the tag
def test_a_tampered_payload_fails_to_decode(where: int) -> None:
    aes = AesGcmCodec(KEY)
    sealed = aes.encrypt(PLAIN)
    data = bytearray(sealed.data)
    data[where] ^= 0x01
    tampered = Payload(metadata=dict(sealed.metadata), data=bytes(data))
    with pytest.raises(CodecError, match="failed authentication"):
        aes.decrypt(tampered)


def test_a_payload_under_another_key_fails_with_its_key_id() -> None:
    sealed = AesGcmCodec(OLD_KEY).encrypt(PLAIN)
    with pytest.raises(CodecError, match=key_id(OLD_KEY)):
        AesGcmCodec(KEY).decrypt(sealed)
    # The key id is authenticated: relabelling a payload does not get it decrypted.
    relabelled = Payload(
        metadata={**sealed.metadata, KEY_ID: key_id(KEY).encode()}, data=sealed.data
    )
    with pytest.raises(CodecError, match="failed authentication"):
        AesGcmCodec(KEY, [OLD_KEY]).decrypt(relabelled)


def test_rotation_encrypts_with_the_new_key_and_still_reads_the_old() -> None:
    old = AesGcmCodec(OLD_KEY).encrypt(PLAIN)
    rotated = AesGcmCodec(KEY, [OLD_KEY])
    assert rotated.decrypt(old) == PLAIN
    assert rotated.encrypt(PLAIN).metadata[KEY_ID] == key_id(KEY).encode()


def test_settings_read_hex_or_base64_keys_and_previous_keys() -> None:
    settings = ProcessSettings(
        codec_key=KEY.hex(), codec_previous_keys=f" {base64.b64encode(OLD_KEY).decode()} "
    )
    assert settings.codec_keys() == [KEY, OLD_KEY]
    aes = codec(settings)
    assert aes is not None and aes.key_id == key_id(KEY)
    assert KEY.hex() not in repr(settings) and KEY.hex() not in str(settings)


def test_without_a_key_nothing_changes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DUALMM_CODEC_KEY", "")
    settings = load_settings()
    assert codec(settings) is None
    assert data_converter(settings) is pydantic_data_converter


@pytest.mark.parametrize(
    ("var", "value"),
    [
        ("DUALMM_CODEC_KEY", "not-a-key"),
        ("DUALMM_CODEC_KEY", "ab" * 31),  # 31 bytes of hex
        ("DUALMM_CODEC_KEY", base64.b64encode(b"k" * 16).decode()),  # AES-128 is not enough
        ("DUALMM_CODEC_PREVIOUS_KEYS", f"{KEY.hex()},oops-secret"),
        ("DUALMM_CODEC_TOKEN", "short"),
    ],
)
def test_a_bad_codec_setting_is_one_line_naming_it(
    monkeypatch: pytest.MonkeyPatch, var: str, value: str
) -> None:
    monkeypatch.setenv("DUALMM_CODEC_KEY", KEY.hex())
    monkeypatch.setenv(var, value)
    with pytest.raises(UsageError) as raised:
        load_settings()
    message = str(raised.value)
    assert message.startswith(f"{var}: ") and "\n" not in message
    assert value not in message and "oops-secret" not in message  # never echoes the secret


def _payloads(message: Message) -> Iterator[Payload]:
    """Every Payload inside a history event (inputs, results, failures, memos) but its search
    attributes: the server indexes those, so no codec ever sees them (ours hold no data, only
    the SDK's patch ids)."""
    if isinstance(message, Payload):
        yield message
        return
    for field, value in message.ListFields():
        if field.message_type is None or field.name == "search_attributes":
            continue
        if field.message_type.GetOptions().map_entry:
            values = [v for v in value.values() if isinstance(v, Message)]
        elif isinstance(value, Message):
            values = [value]
        else:  # a repeated field
            values = list(value)
        for item in values:
            yield from _payloads(item)


@contextmanager
def codec_server(aes: AesGcmCodec, token: str | None = None) -> Iterator[str]:
    server = CodecServer(("127.0.0.1", 0), aes, UI_ORIGIN, token)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.url
    finally:
        server.shutdown()
        server.server_close()


async def test_a_workflow_run_leaves_only_ciphertext_in_temporal(task_queue: str) -> None:
    settings = ProcessSettings(codec_key=KEY.hex())
    async with await WorkflowEnvironment.start_time_skipping(
        data_converter=data_converter(settings),
        test_server_existing_path=temporal_binary(TEST_SERVER),
    ) as env:
        scenario = one_market([(0, "0.545"), (7200, "0.545")])
        condition_id = scenario.markets[0].condition_id
        async with running_liquidation(env, task_queue, scenario) as run:
            await run.wait_status(lambda s: s.order is not None)  # queries decode fine
            await run.handle.signal(LiquidationWorkflow.force_exit)
            result = await run.handle.result()
        assert (result.condition_id, result.exit_stage) == (condition_id, Stage.MARKET)

        plain = Client(
            env.client.service_client,
            namespace=env.client.namespace,
            data_converter=pydantic_data_converter,
        )
        handle = plain.get_workflow_handle(run.handle.id)
        history = await handle.fetch_history()
        # The SDK core's own bookkeeping is the only payload it writes without the codec: its
        # patch markers (workflow.patched ids) and a local activity's marker `data` (sequence,
        # attempt, activity type, times). No data of ours is in them; a local activity's
        # `result` is ours, encrypted.
        core: list[Payload] = []
        for event in history.events:
            marker = event.marker_recorded_event_attributes
            if marker.marker_name == "core_patch":
                core.extend(_payloads(event))
            elif marker.marker_name == "core_local_activity":
                core.extend(marker.details["data"].payloads)
        ours = [
            p
            for event in history.events
            for p in _payloads(event)
            if not any(p is c or p == c for c in core)
        ]
        assert len(ours) >= 5  # input, activity inputs and results, signal, result
        for payload in ours:
            assert payload.metadata["encoding"] == ENCODING
        for payload in ours + core:
            assert condition_id.encode() not in payload.SerializeToString()
            assert condition_id.removeprefix("0x").encode() not in payload.SerializeToString()
        with pytest.raises(Exception, match="encoding"):  # without the key it cannot read
            await handle.result()

        start = history.events[0].workflow_execution_started_event_attributes.input
        body = json_format.MessageToDict(start)
        with codec_server(AesGcmCodec(KEY)) as url, httpx.Client(base_url=url) as http:
            decoded = http.post("/decode", json=body, headers={"Origin": UI_ORIGIN})
            assert decoded.status_code == 200, decoded.text
            assert decoded.headers["Access-Control-Allow-Origin"] == UI_ORIGIN
            back = json_format.ParseDict(decoded.json(), Payloads())
            assert back.payloads[0].metadata["encoding"] == b"json/plain"
            assert condition_id.encode() in back.payloads[0].data


def test_the_codec_server_answers_the_ui_preflight_and_round_trips() -> None:
    with codec_server(AesGcmCodec(KEY)) as url, httpx.Client(base_url=url) as http:
        preflight = http.request(
            "OPTIONS",
            "/decode",
            headers={
                "Origin": UI_ORIGIN,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type,x-namespace",
            },
        )
        assert preflight.status_code == 204
        assert preflight.headers["Access-Control-Allow-Origin"] == UI_ORIGIN
        assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
        assert "X-Namespace" in preflight.headers["Access-Control-Allow-Headers"]
        # Another origin gets no CORS grant: the browser will not show it anything.
        other = http.request("OPTIONS", "/decode", headers={"Origin": "http://evil.example"})
        assert "Access-Control-Allow-Origin" not in other.headers

        body = json_format.MessageToDict(Payloads(payloads=[PLAIN]))
        encoded = http.post("/encode", json=body)
        assert encoded.status_code == 200
        sealed = json_format.ParseDict(encoded.json(), Payloads()).payloads[0]
        assert sealed.metadata["encoding"] == ENCODING
        decoded = http.post("/decode", json=encoded.json())
        assert json_format.ParseDict(decoded.json(), Payloads()).payloads == [PLAIN]

        sealed.data = sealed.data[:-1] + bytes([sealed.data[-1] ^ 1])
        tampered = http.post("/decode", json=json_format.MessageToDict(Payloads(payloads=[sealed])))
        assert tampered.status_code == 400 and "failed authentication" in tampered.text
        assert http.post("/decode", content=b"not json").status_code == 400
        assert http.post("/elsewhere", json=body).status_code == 404


def test_the_codec_server_checks_the_bearer_token() -> None:
    token = "t" * 32
    body = json_format.MessageToDict(Payloads(payloads=[PLAIN]))
    with codec_server(AesGcmCodec(KEY), token) as url, httpx.Client(base_url=url) as http:
        assert http.post("/encode", json=body).status_code == 401
        wrong = http.post("/encode", json=body, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        right = http.post("/encode", json=body, headers={"Authorization": f"Bearer {token}"})
        assert right.status_code == 200


async def test_status_reads_an_encrypted_failure_message() -> None:
    """With the codec, failure messages are encrypted; `dualmm status` still shows them."""
    from types import SimpleNamespace

    from temporalio.api.failure.v1 import Failure
    from temporalio.exceptions import ApplicationError

    from dualmm.status import failure_message

    converter = data_converter(ProcessSettings(codec_key=KEY.hex()))
    failure = Failure()
    await converter.encode_failure(ApplicationError("market 0xfeed refused the order"), failure)
    assert b"0xfeed" not in failure.SerializeToString()
    client: Any = SimpleNamespace(data_converter=converter)
    assert await failure_message(client, failure) == "market 0xfeed refused the order"
    other: Any = SimpleNamespace(
        data_converter=data_converter(ProcessSettings(codec_key=OLD_KEY.hex()))
    )
    assert await failure_message(other, failure) == "Encoded failure"  # the wrong key
    plain: Any = SimpleNamespace(data_converter=pydantic_data_converter)
    unencrypted = Failure()
    await pydantic_data_converter.encode_failure(ApplicationError("plain"), unencrypted)
    assert await failure_message(plain, unencrypted) == "plain"


async def test_orchestrate_with_the_key_writes_only_ciphertext(
    dev_env: WorkflowEnvironment,
) -> None:
    """The CLI's client encrypts (`dualmm.runtime.connect`, which the worker uses too): the
    bot's start input and memo are ciphertext, and a client with the key reads them."""
    import os
    import subprocess
    import sys

    from workflows.active_market import ActiveMarketInput
    from workflows.contracts import active_market_workflow_id

    bot = f"codec-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "DUALMM_TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
        "DUALMM_TASK_QUEUE": f"no-worker-{bot}",  # nobody runs it: only the start matters
        "DUALMM_EXCHANGE": "sim",
        "DUALMM_CLOB_URL": "http://127.0.0.1:9",
        "DUALMM_CODEC_KEY": base64.b64encode(KEY).decode(),
    }
    started = subprocess.run(
        [sys.executable, "-m", "dualmm", "orchestrate", "--bot-id", bot, "--position-limit", "61"],
        capture_output=True, text=True, timeout=120, env=env, check=False,
    )  # fmt: skip
    handle = dev_env.client.get_workflow_handle(active_market_workflow_id(bot))
    try:
        assert started.returncode == 0, started.stderr
        history = await handle.fetch_history()
        attributes = history.events[0].workflow_execution_started_event_attributes
        (sealed,) = attributes.input.payloads
        assert sealed.metadata["encoding"] == ENCODING
        assert bot.encode() not in sealed.data
        for field in attributes.memo.fields.values():
            assert field.metadata["encoding"] == ENCODING
        keyed = Client(
            dev_env.client.service_client,
            namespace=dev_env.client.namespace,
            data_converter=data_converter(ProcessSettings(codec_key=KEY.hex())),
        )
        (start,) = keyed.data_converter.payload_converter.from_payloads(
            [AesGcmCodec(KEY).decrypt(sealed)], [ActiveMarketInput]
        )
        assert start.config.bot_id == bot and start.config.market_maker.position_limit == 61
        memo = await (await keyed.get_workflow_handle(handle.id).describe()).memo()
        assert memo["bot_id"] == bot

        again = subprocess.run(
            [sys.executable, "-m", "dualmm", "orchestrate", "--bot-id", bot],
            capture_output=True, text=True, timeout=120, env=env, check=False,
        )  # fmt: skip
        assert again.returncode == 0 and "attached" in again.stdout, again.stderr
    finally:
        await handle.terminate("test over")
