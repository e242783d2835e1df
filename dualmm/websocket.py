"""The WebSocket wire protocol (RFC 6455), just what the user channel needs on both ends.

The simulator serves Polymarket's user channel on its threaded stdlib HTTP server and the bot
listens to it from its asyncio worker, so this is a small pure-Python codec rather than a
dependency: the handshake's accept key, frames (masked from the client, plain from the
server), and messages reassembled from fragments, every length bounded before it is read.
"""

from __future__ import annotations

import base64
import hashlib
import os
import struct
from dataclasses import dataclass

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

CONTINUATION, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
_DATA = (CONTINUATION, TEXT, BINARY)
_CONTROL = (CLOSE, PING, PONG)

# Close codes.
NORMAL, GOING_AWAY, PROTOCOL_ERROR, UNSUPPORTED = 1000, 1001, 1002, 1003
INVALID_DATA, POLICY_VIOLATION, TOO_BIG, RESTARTING = 1007, 1008, 1009, 1012

MAX_CONTROL_PAYLOAD = 125


class ProtocolError(Exception):
    """The peer broke the protocol; `code` is the close code to answer with."""

    def __init__(self, message: str, code: int = PROTOCOL_ERROR) -> None:
        super().__init__(message)
        self.code = code


def accept_key(key: str) -> str:
    """The Sec-WebSocket-Accept answer to a Sec-WebSocket-Key."""
    digest = hashlib.sha1((key + GUID).encode(), usedforsecurity=False).digest()
    return base64.b64encode(digest).decode()


def valid_client_key(key: str) -> bool:
    """A Sec-WebSocket-Key must be 16 random bytes in base64."""
    try:
        return len(base64.b64decode(key.encode("ascii"), validate=True)) == 16
    except (ValueError, UnicodeEncodeError):
        return False


def new_client_key() -> str:
    return base64.b64encode(os.urandom(16)).decode()


def encode_frame(opcode: int, payload: bytes, *, mask: bool, fin: bool = True) -> bytes:
    """One frame; clients mask (`mask=True`), servers never do."""
    length = len(payload)
    head = bytes([(0x80 if fin else 0) | opcode])
    mask_bit = 0x80 if mask else 0
    if length < 126:
        head += bytes([mask_bit | length])
    elif length < 1 << 16:
        head += bytes([mask_bit | 126]) + struct.pack("!H", length)
    else:
        head += bytes([mask_bit | 127]) + struct.pack("!Q", length)
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + unmask(payload, key)


def close_payload(code: int, reason: str = "") -> bytes:
    return struct.pack("!H", code) + reason.encode()[: MAX_CONTROL_PAYLOAD - 2]


def parse_close(payload: bytes) -> tuple[int | None, str]:
    if len(payload) < 2:
        return None, ""
    (code,) = struct.unpack("!H", payload[:2])
    return code, payload[2:].decode("utf-8", "replace")


@dataclass(frozen=True)
class Header:
    """A frame's first bytes: what is still to read (`extra` length bytes, a 4-byte mask)."""

    fin: bool
    opcode: int
    masked: bool
    length7: int

    @property
    def extra(self) -> int:
        return {126: 2, 127: 8}.get(self.length7, 0)


def parse_header(two: bytes, *, expect_masked: bool) -> Header:
    """Check the first two bytes of a frame (reserved bits, opcode, masking, control rules)."""
    b0, b1 = two[0], two[1]
    header = Header(
        fin=bool(b0 & 0x80), opcode=b0 & 0x0F, masked=bool(b1 & 0x80), length7=b1 & 0x7F
    )
    if b0 & 0x70:
        raise ProtocolError("reserved bits set (no extension was negotiated)")
    if header.opcode not in _DATA + _CONTROL:
        raise ProtocolError(f"unknown opcode {header.opcode:#x}")
    if header.masked != expect_masked:
        raise ProtocolError("client frames must be masked" if expect_masked else "masked frame")
    if header.opcode in _CONTROL and (not header.fin or header.length7 > MAX_CONTROL_PAYLOAD):
        raise ProtocolError("control frames must be short and unfragmented")
    return header


def payload_length(header: Header, extra: bytes, max_size: int) -> int:
    """The payload length from the length bytes, refused above `max_size`."""
    length = int.from_bytes(extra, "big") if header.extra else header.length7
    if length > max_size:
        raise ProtocolError(f"frame of {length} bytes (at most {max_size})", TOO_BIG)
    return length


def unmask(payload: bytes, key: bytes) -> bytes:
    """XOR with the 4-byte mask key (masking and unmasking are the same)."""
    if not payload:
        return payload
    repeated = (key * (len(payload) // 4 + 1))[: len(payload)]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")).to_bytes(
        len(payload), "big"
    )


class Assembler:
    """Data frames into messages (fragments joined, at most `max_size` bytes in all); control
    frames pass through at once. `feed` returns (opcode, payload) of a whole message or None."""

    def __init__(self, max_size: int) -> None:
        self._max = max_size
        self._opcode: int | None = None
        self._parts: list[bytes] = []
        self._size = 0

    def feed(self, header: Header, payload: bytes) -> tuple[int, bytes] | None:
        if header.opcode in _CONTROL:
            return header.opcode, payload
        if header.opcode == CONTINUATION:
            if self._opcode is None:
                raise ProtocolError("continuation frame without a message to continue")
        elif self._opcode is not None:
            raise ProtocolError("new message before the last one ended")
        else:
            self._opcode = header.opcode
        self._size += len(payload)
        if self._size > self._max:
            raise ProtocolError(f"message over {self._max} bytes", TOO_BIG)
        self._parts.append(payload)
        if not header.fin:
            return None
        message = (self._opcode, b"".join(self._parts))
        self._opcode, self._parts, self._size = None, [], 0
        return message


def decode_text(payload: bytes) -> str:
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError:
        raise ProtocolError("text message is not UTF-8", INVALID_DATA) from None
