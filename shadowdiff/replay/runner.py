"""Replay exchanges with bounded concurrency: a producer fills a bounded queue, workers
send each request (to the candidate, and to a live baseline when there is one), compare,
and hand the result to a sink. Setting `stop` ends the run after the in-flight exchanges."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from shadowdiff.compare import Comparison, compare_responses
from shadowdiff.compare.model import ERROR
from shadowdiff.exchange import Exchange
from shadowdiff.replay.client import Answer, ReplayClient, make_client, send
from shadowdiff.replay.plan import Target, plan_request
from shadowdiff.rules import RuleSet
from shadowdiff.store.writer import ExchangeResult


@dataclass(frozen=True, slots=True)
class ReplaySettings:
    target: Target
    baseline: Target | None = None
    concurrency: int = 16
    timeout: float = 10.0
    keep_host: bool = False
    workers: int = 1  # processes replaying shares of the recordings (replay only)


Sink = Callable[[ExchangeResult], None]
_DONE = None
log = logging.getLogger(__name__)


ExchangeQueue = asyncio.Queue[Exchange | None]
Producer = Callable[[ExchangeQueue], Awaitable[None]]


async def replay_exchanges(
    exchanges: Iterable[Exchange],
    settings: ReplaySettings,
    rules: RuleSet,
    sink: Sink,
    stop: asyncio.Event,
) -> None:
    """Replay an iterable of exchanges (a recording), feeding a bounded queue."""

    async def produce(queue: ExchangeQueue) -> None:
        await _produce(exchanges, queue, stop)

    await replay_from(produce, settings, rules, sink, stop, settings.concurrency * 2)


async def replay_from(
    produce: Producer,
    settings: ReplaySettings,
    rules: RuleSet,
    sink: Sink,
    stop: asyncio.Event,
    queue_size: int,
) -> None:
    """Workers replay what `produce` puts in a queue of `queue_size`, until it returns."""
    queue: ExchangeQueue = asyncio.Queue(maxsize=queue_size)
    async with make_client(settings.concurrency) as client:
        workers = [
            asyncio.create_task(_work(queue, client, settings, rules, sink, stop))
            for _ in range(settings.concurrency)
        ]
        try:
            await produce(queue)
            for _ in workers:
                await queue.put(_DONE)
            await asyncio.gather(*workers)
        except BaseException:  # cancelled (a second Ctrl-C) or failed: stop every worker
            for worker in workers:
                worker.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            raise


async def _produce(
    exchanges: Iterable[Exchange], queue: asyncio.Queue[Exchange | None], stop: asyncio.Event
) -> None:
    for exchange in exchanges:
        if stop.is_set():
            return
        await queue.put(exchange)


async def _work(
    queue: asyncio.Queue[Exchange | None],
    client: ReplayClient,
    settings: ReplaySettings,
    rules: RuleSet,
    sink: Sink,
    stop: asyncio.Event,
) -> None:
    while (exchange := await queue.get()) is not None:
        if stop.is_set():  # queued but not sent: dropped, not stored
            continue
        try:
            result = await replay_one(exchange, client, settings, rules)
        except Exception as exc:  # a bug on one exchange must not stop the run: store it
            log.warning("internal error on exchange %s: %r (stored as its error)", exchange.id, exc)
            log.debug("internal error on exchange %s", exchange.id, exc_info=True)
            result = ExchangeResult(
                exchange,
                _endpoint(exchange, rules),
                Comparison(ERROR, error=f"internal error: {exc!r}"),
            )
        sink(result)


def _endpoint(exchange: Exchange, rules: RuleSet) -> str:
    return rules.resolve(exchange.request.method, exchange.request.path).match


async def replay_one(
    exchange: Exchange, client: ReplayClient, settings: ReplaySettings, rules: RuleSet
) -> ExchangeResult:
    rule = rules.resolve(exchange.request.method, exchange.request.path)
    sends = [_send_to(settings.target, exchange, client, settings)]
    if settings.baseline is not None:
        sends.append(_send_to(settings.baseline, exchange, client, settings))
    answers = await asyncio.gather(*sends)
    candidate, live = answers[0], answers[1] if len(answers) > 1 else None
    baseline = live.response if live else exchange.baseline
    if candidate.response is None:
        comparison = Comparison(ERROR, error=candidate.error)
    elif live is not None and live.response is None:
        comparison = Comparison(ERROR, error=f"baseline: {live.error}")
    else:
        comparison = compare_responses(baseline, candidate.response, rule)
    return ExchangeResult(
        exchange,
        rule.match,
        comparison,
        baseline,
        candidate.response,
        candidate.latency_ms,
        live.latency_ms if live else None,
    )


async def _send_to(
    target: Target, exchange: Exchange, client: ReplayClient, settings: ReplaySettings
) -> Answer:
    planned = plan_request(exchange.request, target, settings.keep_host)
    return await send(client, planned, settings.timeout)
