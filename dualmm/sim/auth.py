"""CLOB authentication as the simulator checks it: API keys, L1 and L2 headers, order signatures.

Written from Polymarket's documented scheme, not from py-clob-client-v2's signing code, so a
test that drives the real client against the simulator proves the client signs what the CLOB
verifies:

- L1 (`/auth/*`): an EIP-712 `ClobAuth` message signed by the wallet in POLY_ADDRESS.
- L2 (trading): HMAC-SHA256 of `timestamp + method + path + body` under the API secret.
- Orders: the V2 `Order` struct (CTF Exchange domain, version "2"), signed by the EOA
  (signature types 0-2) or wrapped ERC-7739 style for smart-contract wallets (type 3).

API keys are derived from a server secret and (address, nonce), so derive-api-key returns what
create-api-key made and a restarted simulator with the same secret honours the same keys.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from eth_abi.abi import encode as abi_encode
from eth_account import Account
from eth_account.messages import SignableMessage, encode_typed_data
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

# Polymarket's error strings.
INVALID_API_KEY = "Unauthorized/Invalid api key"
INVALID_L1_HEADERS = "Invalid L1 Request headers"
CANNOT_CREATE_KEY = "Could not create api key"
CANNOT_DERIVE_KEY = "Could not derive api key!"
INVALID_SIGNATURE = "invalid signature"
OWNER_MISMATCH = "the order owner has to be the owner of the API KEY"
SIGNER_MISMATCH = "the order signer address has to be the address of the API KEY"
MAKER_MISMATCH = "the order maker has to be the signer for EOA orders"

CLOB_AUTH_MESSAGE = "This message attests that I control the given wallet"
EXCHANGE_DOMAIN_NAME = "Polymarket CTF Exchange"
EXCHANGE_DOMAIN_VERSION = "2"
ZERO_BYTES32 = b"\x00" * 32

_ORDER_FIELDS = [
    {"name": "salt", "type": "uint256"},
    {"name": "maker", "type": "address"},
    {"name": "signer", "type": "address"},
    {"name": "tokenId", "type": "uint256"},
    {"name": "makerAmount", "type": "uint256"},
    {"name": "takerAmount", "type": "uint256"},
    {"name": "side", "type": "uint8"},
    {"name": "signatureType", "type": "uint8"},
    {"name": "timestamp", "type": "uint256"},
    {"name": "metadata", "type": "bytes32"},
    {"name": "builder", "type": "bytes32"},
]
# The EIP-712 domain of ClobAuth; an order's adds its verifying contract.
_DOMAIN_FIELDS = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
]
_ORDER_TYPE = "Order(" + ",".join(f"{f['type']} {f['name']}" for f in _ORDER_FIELDS) + ")"
# ERC-7739 nested typed data, as Polymarket deposit wallets (signature type 3) verify it.
_TYPED_DATA_SIGN_TYPEHASH = keccak(
    text="TypedDataSign(Order contents,string name,string version,uint256 chainId,"
    "address verifyingContract,bytes32 salt)" + _ORDER_TYPE
)
_WALLET_NAME_HASH = keccak(text="DepositWallet")
_WALLET_VERSION_HASH = keccak(text="1")
_SIGNATURE_LENGTH = 65

EOA, POLY_PROXY, POLY_GNOSIS_SAFE, POLY_1271 = 0, 1, 2, 3


class ApiError(Exception):
    """An error answer: HTTP `status` and `{"error": message}`, as the CLOB gives it."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class AuthFailure(ApiError):
    """A request that fails authentication (401 unless the CLOB answers it otherwise)."""

    def __init__(self, message: str, status: int = 401) -> None:
        super().__init__(status, message)


@dataclass(frozen=True)
class ApiKey:
    """L2 credentials and the wallet they belong to. `repr` never shows the secret parts."""

    key: str
    secret: str
    passphrase: str
    address: str
    nonce: int

    def __repr__(self) -> str:
        return f"ApiKey(key={self.key!r}, address={self.address!r}, nonce={self.nonce})"

    def as_json(self) -> dict[str, str]:
        return {"apiKey": self.key, "secret": self.secret, "passphrase": self.passphrase}


@dataclass(frozen=True)
class SignedOrder:
    """What a verified order signature proves: its hash (the order id) and the signing EOA."""

    order_hash: str
    signer_eoa: str


def _checksum(address: str) -> str:
    try:
        return str(to_checksum_address(address))
    except (ValueError, TypeError):
        raise AuthFailure(INVALID_L1_HEADERS) from None


def _same(given: str, expected: str) -> bool:
    """Constant-time comparison of header text (compare_digest refuses non-ASCII str)."""
    return hmac.compare_digest(given.encode("utf-8", "surrogateescape"), expected.encode())


def _timestamp_ok(text: str) -> bool:
    """Unix seconds (or milliseconds) as ASCII digits. Not checked for freshness: a scenario
    clock may run in the past."""
    return 0 < len(text) <= 13 and text.isascii() and text.isdigit()


def _recover(message: SignableMessage, signature: str) -> str:
    try:
        return str(Account.recover_message(message, signature=signature))
    except Exception:  # any malformed signature is just a bad signature
        raise AuthFailure(INVALID_SIGNATURE, status=400) from None


def _digest(message: SignableMessage) -> bytes:
    return bytes(keccak(b"\x19" + message.version + message.header + message.body))


def hmac_signature(secret: str, timestamp: str, method: str, path: str, body: str) -> str:
    """The L2 signature: url-safe base64 HMAC-SHA256 (the CLOB swaps ' for " in the body)."""
    message = f"{timestamp}{method}{path}{body.replace(chr(39), chr(34))}"
    digest = hmac.new(base64.urlsafe_b64decode(secret), message.encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(digest.digest()).decode()


class KeyRing:
    """API keys of the simulated CLOB, deterministic per (server secret, address, nonce)."""

    def __init__(self, server_secret: bytes, chain_id: int) -> None:
        self._server_secret = server_secret
        self.chain_id = chain_id
        self._lock = threading.Lock()
        self._keys: dict[str, ApiKey] = {}

    def _material(self, label: str, address: str, nonce: int) -> bytes:
        text = f"{label}:{address.lower()}:{nonce}".encode()
        return hmac.new(self._server_secret, text, hashlib.sha256).digest()

    def _credentials(self, address: str, nonce: int) -> ApiKey:
        return ApiKey(
            key=str(uuid.UUID(bytes=self._material("key", address, nonce)[:16], version=4)),
            secret=base64.urlsafe_b64encode(self._material("secret", address, nonce)).decode(),
            passphrase=self._material("passphrase", address, nonce).hex(),
            address=address,
            nonce=nonce,
        )

    def verify_l1(self, headers: Mapping[str, str]) -> tuple[str, int]:
        """The (checksummed address, nonce) whose EIP-712 ClobAuth signature is in the headers."""
        address = headers.get("POLY_ADDRESS", "")
        signature = headers.get("POLY_SIGNATURE", "")
        timestamp = headers.get("POLY_TIMESTAMP", "")
        nonce_text = headers.get("POLY_NONCE", "0") or "0"
        nonce_ok = len(nonce_text) <= 78 and nonce_text.isascii() and nonce_text.isdigit()
        if not (address and signature and _timestamp_ok(timestamp)) or not nonce_ok:
            raise AuthFailure(INVALID_L1_HEADERS)
        if int(nonce_text) >= 2**256:
            raise AuthFailure(INVALID_L1_HEADERS)
        address = _checksum(address)
        nonce = int(nonce_text)
        message = encode_typed_data(
            full_message={
                "primaryType": "ClobAuth",
                "types": {
                    "EIP712Domain": _DOMAIN_FIELDS,
                    "ClobAuth": [
                        {"name": "address", "type": "address"},
                        {"name": "timestamp", "type": "string"},
                        {"name": "nonce", "type": "uint256"},
                        {"name": "message", "type": "string"},
                    ],
                },
                "domain": {"name": "ClobAuthDomain", "version": "1", "chainId": self.chain_id},
                "message": {
                    "address": address,
                    "timestamp": timestamp,
                    "nonce": nonce,
                    "message": CLOB_AUTH_MESSAGE,
                },
            }
        )
        try:
            recovered = _recover(message, signature)
        except AuthFailure:
            raise AuthFailure(INVALID_L1_HEADERS) from None
        if recovered != address:
            raise AuthFailure(INVALID_L1_HEADERS)
        return address, nonce

    def create(self, headers: Mapping[str, str]) -> ApiKey:
        """POST /auth/api-key: a new key for (address, nonce); the CLOB refuses a second one."""
        address, nonce = self.verify_l1(headers)
        creds = self._credentials(address, nonce)
        with self._lock:
            if creds.key in self._keys:
                raise AuthFailure(CANNOT_CREATE_KEY, status=400)
            self._keys[creds.key] = creds
        return creds

    def derive(self, headers: Mapping[str, str]) -> ApiKey:
        """GET /auth/derive-api-key: the key create-api-key made for (address, nonce)."""
        address, nonce = self.verify_l1(headers)
        creds = self._credentials(address, nonce)
        with self._lock:
            if creds.key not in self._keys:
                raise AuthFailure(CANNOT_DERIVE_KEY, status=400)
        return creds

    def verify_l2(self, headers: Mapping[str, str], method: str, path: str, body: str) -> ApiKey:
        """The API key that signed this request (HMAC over timestamp, method, path, body)."""
        with self._lock:
            creds = self._keys.get(headers.get("POLY_API_KEY", ""))
        if creds is None:
            raise AuthFailure(INVALID_API_KEY)
        expected = hmac_signature(
            creds.secret, headers.get("POLY_TIMESTAMP", ""), method, path, body
        )
        checks = (
            _same(headers.get("POLY_PASSPHRASE", ""), creds.passphrase),
            _same(headers.get("POLY_SIGNATURE", ""), expected),
            headers.get("POLY_ADDRESS", "").lower() == creds.address.lower(),
            _timestamp_ok(headers.get("POLY_TIMESTAMP", "")),
        )
        if not all(checks):
            raise AuthFailure(INVALID_API_KEY)
        return creds

    def lookup(self, key: str) -> ApiKey | None:
        """The credentials of an API key (the caller checks what was presented with it)."""
        with self._lock:
            return self._keys.get(key)

    def keys_of(self, address: str) -> list[str]:
        with self._lock:
            return [k.key for k in self._keys.values() if k.address.lower() == address.lower()]

    def revoke(self, key: str) -> None:
        with self._lock:
            self._keys.pop(key, None)

    def verify_order(self, order: Mapping[str, Any], creds: ApiKey, exchange: str) -> SignedOrder:
        """Check a V2 order's EIP-712 signature; the order hash is the CLOB's order id.

        Types 0-2 are signed by the EOA in `signer` (for 1-2 the maker is a proxy or safe the
        EOA owns); type 3 is a smart-contract wallet (`signer` = the wallet) whose owner EOA
        signed the ERC-7739 wrapper. The signing EOA must own the API key.
        """
        try:
            message = encode_typed_data(
                full_message=_order_typed_data(order, self.chain_id, exchange)
            )
            signature_type = int(order["signatureType"])
            signature = str(order["signature"])
        except Exception as exc:  # missing, mistyped or out-of-range fields (uint256 too)
            reason = str(exc)[:120]
            raise AuthFailure(f"Invalid order payload: {reason}", status=400) from None
        order_hash = "0x" + _digest(message).hex()
        if signature_type == POLY_1271:
            eoa = _recover_wallet_owner(message, signature, str(order["signer"]), self.chain_id)
            if eoa.lower() != creds.address.lower():  # only the key owner's signature counts
                raise AuthFailure(INVALID_SIGNATURE, status=400)
        else:
            eoa = _recover(message, signature)
            if eoa.lower() != str(order["signer"]).lower():
                raise AuthFailure(INVALID_SIGNATURE, status=400)
            if signature_type == EOA and str(order["maker"]).lower() != eoa.lower():
                raise AuthFailure(MAKER_MISMATCH, status=400)
        if eoa.lower() != creds.address.lower():
            raise AuthFailure(SIGNER_MISMATCH, status=400)
        return SignedOrder(order_hash=order_hash, signer_eoa=eoa)


def _bytes32(value: object) -> bytes:
    raw = bytes.fromhex(str(value).removeprefix("0x").zfill(64))
    if len(raw) != 32:
        raise ValueError(f"not a bytes32: {value}")
    return raw


def _order_typed_data(order: Mapping[str, Any], chain_id: int, exchange: str) -> dict[str, Any]:
    side = order["side"]
    side_code = {"BUY": 0, "SELL": 1}[side] if isinstance(side, str) else int(side)
    return {
        "primaryType": "Order",
        "types": {
            "EIP712Domain": [
                *_DOMAIN_FIELDS,
                {"name": "verifyingContract", "type": "address"},
            ],
            "Order": _ORDER_FIELDS,
        },
        "domain": {
            "name": EXCHANGE_DOMAIN_NAME,
            "version": EXCHANGE_DOMAIN_VERSION,
            "chainId": chain_id,
            "verifyingContract": exchange,
        },
        "message": {
            "salt": int(order["salt"]),
            "maker": to_checksum_address(order["maker"]),
            "signer": to_checksum_address(order["signer"]),
            "tokenId": int(order["tokenId"]),
            "makerAmount": int(order["makerAmount"]),
            "takerAmount": int(order["takerAmount"]),
            "side": side_code,
            "signatureType": int(order["signatureType"]),
            "timestamp": int(order["timestamp"]),
            "metadata": _bytes32(order["metadata"]),
            "builder": _bytes32(order["builder"]),
        },
    }


def _recover_wallet_owner(
    message: SignableMessage, signature: str, wallet: str, chain_id: int
) -> str:
    """The EOA behind a type-3 signature: it signed TypedDataSign(contents=order) for `wallet`.

    For EIP-712 data, `header` is the exchange's domain separator and `body` the order's
    struct hash, which is all the wrapper needs.
    """
    try:
        raw = bytes.fromhex(signature.removeprefix("0x"))
    except ValueError:
        raise AuthFailure(INVALID_SIGNATURE, status=400) from None
    if len(raw) < _SIGNATURE_LENGTH:
        raise AuthFailure(INVALID_SIGNATURE, status=400)
    try:
        owner_wallet = to_checksum_address(wallet)
    except (ValueError, TypeError):
        raise AuthFailure(INVALID_SIGNATURE, status=400) from None
    wrapper = keccak(
        abi_encode(
            ["bytes32", "bytes32", "bytes32", "bytes32", "uint256", "address", "bytes32"],
            [
                _TYPED_DATA_SIGN_TYPEHASH,
                message.body,
                _WALLET_NAME_HASH,
                _WALLET_VERSION_HASH,
                chain_id,
                owner_wallet,
                ZERO_BYTES32,
            ],
        )
    )
    digest = keccak(b"\x19\x01" + message.header + wrapper)
    try:
        return str(Account._recover_hash(digest, signature=raw[:_SIGNATURE_LENGTH]))
    except Exception:  # any malformed signature is just a bad signature
        raise AuthFailure(INVALID_SIGNATURE, status=400) from None
