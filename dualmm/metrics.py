"""Metrics: one pipeline, the Temporal runtime's OpenTelemetry meter.

Workers export every metric through the Temporal Core runtime: the SDK's own (task latencies,
slots, polls, failures) and ours, to a Prometheus endpoint (`DUALMM_METRICS_PROMETHEUS`, e.g.
`0.0.0.0:9464`) or to an OpenTelemetry collector over OTLP (`DUALMM_METRICS_OTLP_URL`).
Workflow-side metrics use `workflow.metric_meter()`, which records nothing while a workflow
replays; activity-side ones `activity.metric_meter()`. Labels are ids, sides, stages, kinds:
never an argument, a price or a secret.

| metric | kind | labels |
|---|---|---|
| dualmm_orders_placed | counter | side |
| dualmm_orders_cancelled | counter | |
| dualmm_orders_rejected | counter | kind |
| dualmm_fills | counter | side |
| dualmm_venue_errors | counter | op, kind |
| dualmm_venue_latency | histogram (ms) | op |
| dualmm_liquidation_stage_transitions | counter | stage |
| dualmm_liquidations_finished | counter | outcome, exit_stage |
| dualmm_liquidation_duration | histogram (s) | outcome |
| dualmm_{realized,unrealized}_{profit,loss} | gauge (USDC, >= 0: P&L = profit - loss) | market |
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from temporalio.common import MetricMeter
    from temporalio.runtime import Runtime

    from dualmm.config import ProcessSettings
    from dualmm.exchange.base import Exchange


def runtime_for(config: ProcessSettings, role: str) -> Runtime:
    """A Temporal runtime exporting metrics as the settings say (none if neither is set),
    whose Core log lines (warnings and up) go through Python logging: one line per event in
    the process's format (dualmm.logs), not the Core's own."""
    import logging
    from datetime import timedelta

    from temporalio.runtime import (
        LogForwardingConfig,
        LoggingConfig,
        OpenTelemetryConfig,
        PrometheusConfig,
        Runtime,
        TelemetryConfig,
        TelemetryFilter,
    )

    logs = LoggingConfig(
        filter=TelemetryFilter(core_level="WARN", other_level="ERROR"),
        forwarding=LogForwardingConfig(logger=logging.getLogger("temporalio.core")),
    )
    tags = {"service": "dualmm", "role": role}
    if config.metrics_prometheus:
        metrics: Any = PrometheusConfig(
            bind_address=config.metrics_prometheus, durations_as_seconds=True
        )
    elif config.metrics_otlp_url:
        metrics = OpenTelemetryConfig(
            url=config.metrics_otlp_url,
            metric_periodicity=timedelta(seconds=10),
            durations_as_seconds=True,
        )
    else:
        return Runtime(telemetry=TelemetryConfig(logging=logs))
    return Runtime(telemetry=TelemetryConfig(logging=logs, metrics=metrics, global_tags=tags))


def _activity_meter() -> MetricMeter | None:
    from temporalio import activity

    try:
        return activity.metric_meter()
    except RuntimeError:  # not in an activity (a CLI command): nothing to record
        return None


def _kind(exc: BaseException) -> str:
    return type(exc).__name__


# Fill notices (dualmm.exchange.wake): a wait and a counter, not venue calls.
_NOT_VENUE_CALLS = frozenset({"fill_mark", "wait_for_fill", "wait_for_market"})


class MeteredExchange:
    """An Exchange that counts orders, fills and venue errors, and times every venue call,
    on the calling activity's meter, and logs each placement, cancel and refusal as one event
    line (`dualmm.logs`: the activity's workflow and run ids, the market and the order id).
    Everything else passes through."""

    def __init__(self, inner: Exchange) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if not inspect.iscoroutinefunction(attr) or name in _NOT_VENUE_CALLS:
            return attr
        return self._timed(name, attr)

    def _timed(self, op: str, call: Callable[..., Any]) -> Callable[..., Any]:
        async def timed(*args: Any, **kwargs: Any) -> Any:
            from dualmm.exchange.base import ExchangeError, NonRetryableError

            meter = _activity_meter()
            started = time.monotonic()
            try:
                result = await call(*args, **kwargs)
            except ExchangeError as exc:
                if meter is not None:
                    meter.create_counter("dualmm_venue_errors", "Venue errors").add(
                        1, {"op": op, "kind": _kind(exc)}
                    )
                    if op == "place_order" and isinstance(exc, NonRetryableError):
                        meter.create_counter("dualmm_orders_rejected", "Orders refused").add(
                            1, {"kind": _kind(exc)}
                        )
                if op == "place_order" and isinstance(exc, NonRetryableError):
                    _log_refusal(args, exc)
                raise
            finally:
                if meter is not None:
                    meter.create_histogram_timedelta(
                        "dualmm_venue_latency", "Venue call latency", "ms"
                    ).record(_elapsed(started), {"op": op})
            if meter is not None:
                _count(meter, op, args, result)
            _log_event(op, args, result)
            return result

        return timed


def _elapsed(started: float) -> Any:
    from datetime import timedelta

    return timedelta(seconds=time.monotonic() - started)


def _count(meter: MetricMeter, op: str, args: tuple[Any, ...], result: Any) -> None:
    if op == "place_order":
        side = str(getattr(args[0], "side", "?")) if args else "?"
        meter.create_counter("dualmm_orders_placed", "Orders placed").add(1, {"side": side})
    elif op == "place_orders":
        placed = meter.create_counter("dualmm_orders_placed", "Orders placed")
        for request, answer in zip(args[0] if args else (), result or (), strict=False):
            if not isinstance(answer, BaseException):
                placed.add(1, {"side": str(getattr(request, "side", "?"))})
    elif op == "cancel_order":
        meter.create_counter("dualmm_orders_cancelled", "Orders cancelled").add(1)
    elif op == "cancel_orders":
        cancelled = len(args[0]) if args else 0
        meter.create_counter("dualmm_orders_cancelled", "Orders cancelled").add(cancelled)
    elif op == "fills":
        fills = getattr(result, "fills", ())
        counter = meter.create_counter("dualmm_fills", "Fills seen (first report)")
        for fill in fills:
            counter.add(1, {"side": str(getattr(fill, "side", "?"))})


def _log_event(op: str, args: tuple[Any, ...], result: Any) -> None:
    from temporalio import activity

    if op == "place_order" and args:
        request = args[0]
        activity.logger.info(
            "order placed: %s %s @ %s (%s)",
            request.side,
            request.size,
            request.price,
            getattr(result, "status", "?"),
            extra={"market": request.market.condition_id, "order_id": result.order_id},
        )
    elif op == "place_orders" and args:
        for request, answer in zip(args[0], result or (), strict=False):
            if isinstance(answer, BaseException):
                _log_refusal((request,), answer)
            else:
                _log_event("place_order", (request,), answer)
    elif op == "cancel_order" and args:
        activity.logger.info("order cancelled", extra={"order_id": args[0]})
    elif op == "cancel_orders" and args:
        for order_id in args[0]:
            activity.logger.info("order cancelled", extra={"order_id": order_id})


def _log_refusal(args: tuple[Any, ...], exc: BaseException) -> None:
    from temporalio import activity

    request = args[0] if args else None
    market = getattr(getattr(request, "market", None), "condition_id", None)
    activity.logger.warning(
        "order refused: %s %s @ %s: %s",
        getattr(request, "side", "?"),
        getattr(request, "size", "?"),
        getattr(request, "price", "?"),
        exc,
        extra={"market": market, "kind": _kind(exc)},
    )


def metered(exchange: Exchange) -> Exchange:
    return cast("Exchange", MeteredExchange(exchange))
