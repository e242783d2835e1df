"""The optional payload codec: every payload Temporal stores, AES-GCM encrypted.

With DUALMM_CODEC_KEY set, every client and worker the project creates encrypts workflow and
activity arguments, results, signals, queries, memos and failure messages before they leave
the process, so the Temporal server (and whoever reads its database) sees only ciphertext.
`dualmm codec-server` decrypts for the Temporal UI of an authorised operator.

Each encrypted payload is the whole original payload (metadata and data) sealed with a random
12-byte nonce; its metadata names the key by a fingerprint, so after a rotation the previous
keys (DUALMM_CODEC_PREVIOUS_KEYS) still open old histories. The key id is authenticated too.
Payloads that are not encrypted pass through decode unchanged (histories from before the
codec was switched on stay readable).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import (
    DataConverter,
    DefaultFailureConverterWithEncodedAttributes,
    PayloadCodec,
)

from dualmm.config import ProcessSettings

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"
NONCE_BYTES = 12


class CodecError(ValueError):
    """A payload that cannot be decrypted: unknown key, wrong key or tampered with."""


def key_id(key: bytes) -> str:
    """A fingerprint naming the key in payload metadata (a truncated hash, never the key)."""
    return hashlib.sha256(b"dualmm codec key id\0" + key).hexdigest()[:16]


class AesGcmCodec(PayloadCodec):
    """Encrypts with the first key; decrypts with whichever key the payload names."""

    def __init__(self, key: bytes, previous: Sequence[bytes] = ()) -> None:
        self.key_id = key_id(key)
        self._ciphers = {key_id(k): AESGCM(k) for k in (*previous, key)}

    def encrypt(self, payload: Payload) -> Payload:
        nonce = os.urandom(NONCE_BYTES)
        kid = self.key_id.encode()
        sealed = self._ciphers[self.key_id].encrypt(nonce, payload.SerializeToString(), kid)
        return Payload(metadata={"encoding": ENCODING, KEY_ID: kid}, data=nonce + sealed)

    def decrypt(self, payload: Payload) -> Payload:
        if payload.metadata.get("encoding") != ENCODING:
            return payload
        kid = payload.metadata.get(KEY_ID, b"")
        cipher = self._ciphers.get(kid.decode("ascii", "replace"))
        if cipher is None:
            raise CodecError(
                f"payload encrypted with key id {kid[:32].decode('ascii', 'replace')!r}, "
                "which is neither DUALMM_CODEC_KEY nor in DUALMM_CODEC_PREVIOUS_KEYS"
            )
        data = payload.data
        try:
            plain = cipher.decrypt(data[:NONCE_BYTES], data[NONCE_BYTES:], kid)
        except InvalidTag:
            raise CodecError("payload failed authentication (tampered with or wrong key)") from None
        decoded = Payload()
        decoded.ParseFromString(plain)
        return decoded

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.encrypt(payload) for payload in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.decrypt(payload) for payload in payloads]


def codec(settings: ProcessSettings) -> AesGcmCodec | None:
    """The codec of DUALMM_CODEC_KEY (and previous keys), or None when it is unset."""
    keys = settings.codec_keys()
    return AesGcmCodec(keys[0], keys[1:]) if keys else None


def data_converter(settings: ProcessSettings) -> DataConverter:
    """The project's converter (pydantic), encrypting when DUALMM_CODEC_KEY is set.

    Failure messages and stack traces move into an encoded (so encrypted) attribute too.
    """
    from temporalio.contrib.pydantic import pydantic_data_converter

    encrypting = codec(settings)
    if encrypting is None:
        return pydantic_data_converter
    return dataclasses.replace(
        pydantic_data_converter,
        payload_codec=encrypting,
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )
