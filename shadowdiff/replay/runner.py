"""Replay exchanges with bounded concurrency: a producer hands exchanges to a distributor,
which fills one bounded queue per output (target); each output's workers send each request
(to the candidate, and to a live baseline when there is one), compare, and hand the result
to the output's sink. Setting `stop` ends the run after the in-flight exchanges."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace

from shadowdiff.compare import Comparison, compare_responses
from shadowdiff.compare.model import ERROR, SKIPPED
from shadowdiff.compare.noise import NoiseEvidence
from shadowdiff.exchange import Exchange
from shadowdiff.replay.client import Answer, ReplayClient, make_client, send
from shadowdiff.replay.plan import Target, plan_request
from shadowdiff.rules import RuleSet
from shadowdiff.rules.model import EndpointRule
from shadowdiff.store.writer import ExchangeResult
from shadowdiff.traffic.rates import OutputLimit


@dataclass(frozen=True, slots=True)
class ReplaySettings:
    target: Target
    baseline: Target | None = None
    concurrency: int = 16
    timeout: float = 10.0
    keep_host: bool = False
    workers: int = 1  # processes replaying shares of the recordings (replay only)
    only_safe_methods: bool = False  # hold back POST, PUT, PATCH, DELETE... (stored: skipped)
    noise_share: float = 0.0  # --noise: the share of safe requests each build answers twice
    noise: NoiseEvidence | None = field(default=None, compare=False)  # one per run

    def measuring(self) -> ReplaySettings:
        """These settings with evidence of their own (one per target run), when measuring."""
        return replace(self, noise=NoiseEvidence()) if self.noise_share > 0 else self


Sink = Callable[[ExchangeResult], None]
_DONE = None
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
log = logging.getLogger(__name__)


ExchangeQueue = asyncio.Queue[Exchange | None]


@dataclass(slots=True)
class Output:
    """One target a replay sends to: its settings, where its results go, its `|N` or `|N%`."""

    settings: ReplaySettings
    sink: Sink
    limit: OutputLimit = field(default_factory=lambda: OutputLimit(None))
    shed: int = 0  # live traffic this output had no room for


class Distributor:
    """Hands each exchange to every output (or, with `split`, to the next one in turn, as
    GoReplay's --split-output), each under its rate limit, which counts what it refuses."""

    def __init__(
        self,
        outputs: Sequence[Output],
        queues: Sequence[ExchangeQueue],
        split: bool = False,
        draw: Callable[[], float] = random.random,
    ) -> None:
        self._pairs = list(zip(outputs, queues, strict=True))
        self._split, self._turn, self._draw = split, 0, draw

    def _chosen(self, exchange: Exchange) -> list[tuple[Output, ExchangeQueue]]:
        pairs = self._pairs
        if self._split:
            pairs = [pairs[self._turn]]
            self._turn = (self._turn + 1) % len(self._pairs)
        now = time.monotonic()
        return [(o, q) for o, q in pairs if o.limit.admits(now, self._draw())]

    async def put(self, exchange: Exchange) -> int:
        """Wait for room in each chosen output's queue (a replay of files); how many
        outputs took the exchange (0: every rate refused it)."""
        chosen = self._chosen(exchange)
        for _, queue in chosen:
            await queue.put(exchange)
        return len(chosen)

    def offer(self, exchange: Exchange) -> tuple[int, int]:
        """Put without waiting (live traffic): how many outputs took the exchange, and how
        many chosen outputs were full (shed)."""
        taken = full = 0
        for output, queue in self._chosen(exchange):
            try:
                queue.put_nowait(exchange)
                taken += 1
            except asyncio.QueueFull:
                output.shed += 1
                full += 1
        return taken, full


Producer = Callable[[Distributor], Awaitable[None]]


async def replay_exchanges(
    exchanges: Iterable[Exchange],
    settings: ReplaySettings,
    rules: RuleSet,
    sink: Sink,
    stop: asyncio.Event,
) -> None:
    """Replay an iterable of exchanges (a recording) to one target."""

    async def produce(distributor: Distributor) -> None:
        for exchange in exchanges:
            if stop.is_set():
                return
            await distributor.put(exchange)

    await replay_from(produce, [Output(settings, sink)], rules, stop, settings.concurrency * 2)


async def replay_from(
    produce: Producer,
    outputs: Sequence[Output],
    rules: RuleSet,
    stop: asyncio.Event,
    queue_size: int,
    split: bool = False,
) -> None:
    """Each output's workers replay what `produce` hands the distributor, until it returns."""
    queues: list[ExchangeQueue] = [asyncio.Queue(maxsize=queue_size) for _ in outputs]
    async with contextlib.AsyncExitStack() as clients:
        workers: list[asyncio.Task[None]] = []
        for output, queue in zip(outputs, queues, strict=True):
            client = await clients.enter_async_context(make_client(output.settings.concurrency))
            workers += [
                asyncio.create_task(_work(queue, client, output, rules, stop))
                for _ in range(output.settings.concurrency)
            ]
        try:
            await produce(Distributor(outputs, queues, split))
            for output, queue in zip(outputs, queues, strict=True):
                for _ in range(output.settings.concurrency):
                    await queue.put(_DONE)
            await asyncio.gather(*workers)
        except BaseException:  # cancelled (a second Ctrl-C) or failed: stop every worker
            for worker in workers:
                worker.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            raise


async def _work(
    queue: ExchangeQueue, client: ReplayClient, output: Output, rules: RuleSet, stop: asyncio.Event
) -> None:
    while (exchange := await queue.get()) is not None:
        if stop.is_set():  # queued but not sent: dropped, not stored
            continue
        try:
            result = await replay_one(exchange, client, output.settings, rules)
        except Exception as exc:  # a bug on one exchange must not stop the run: store it
            # the type only: an exception's text may quote a secret (the stored error is redacted)
            log.warning(
                "internal error on exchange %s: %s (stored)", exchange.id, type(exc).__name__
            )
            result = ExchangeResult(
                exchange,
                _endpoint(exchange, rules),
                Comparison(ERROR, error=f"internal error: {exc!r}"),
            )
        output.sink(result)


def _endpoint(exchange: Exchange, rules: RuleSet) -> str:
    return rules.resolve(exchange.request.method, exchange.request.path).match


def skip_reason(exchange: Exchange, rule: EndpointRule, settings: ReplaySettings) -> str | None:
    """Why an exchange is held back, not sent (stored as `skipped` with this reason)."""
    method = exchange.request.method.upper()
    if not rule.replays:
        return f"held back: the rule for {rule.match} says replay: false ({rule.where})"
    if settings.only_safe_methods and method not in SAFE_METHODS:
        return f"held back: {method} is not a safe method (--only-safe-methods)"
    return None


async def replay_one(
    exchange: Exchange, client: ReplayClient, settings: ReplaySettings, rules: RuleSet
) -> ExchangeResult:
    rule = rules.resolve(exchange.request.method, exchange.request.path)
    if (reason := skip_reason(exchange, rule, settings)) is not None:
        return ExchangeResult(exchange, rule.match, Comparison(SKIPPED, error=reason))
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
        if settings.noise is not None and _drawn_for_noise(exchange, settings):
            await _measure_noise(exchange, client, settings, rule, candidate, live)
    return ExchangeResult(
        exchange,
        rule.match,
        comparison,
        baseline,
        candidate.response,
        candidate.latency_ms,
        live.latency_ms if live else None,
    )


def _drawn_for_noise(exchange: Exchange, settings: ReplaySettings) -> bool:
    """Only safe methods are sent twice: a second POST could change what it measures."""
    if exchange.request.method.upper() not in SAFE_METHODS:
        return False
    return settings.noise_share >= 1 or random.random() < settings.noise_share


async def _measure_noise(
    exchange: Exchange,
    client: ReplayClient,
    settings: ReplaySettings,
    rule: EndpointRule,
    candidate: Answer,
    live: Answer | None,
) -> None:
    """Send the request again to the candidate (and the live baseline), after the first
    answers (Diffy's order: each build's two answers bracket the other build's), and count
    where each build disagreed with itself."""
    evidence = settings.noise
    assert evidence is not None and candidate.response is not None
    pairs = [("candidate", settings.target, candidate)]
    if live is not None and live.response is not None and settings.baseline is not None:
        pairs.append(("baseline", settings.baseline, live))
    again = await asyncio.gather(*(_send_to(t, exchange, client, settings) for _, t, _ in pairs))
    for (source, _, first), second in zip(pairs, again, strict=True):
        if first.response is not None and second.response is not None:
            evidence.observe(rule.match, source, first.response, second.response, rule)


async def _send_to(
    target: Target, exchange: Exchange, client: ReplayClient, settings: ReplaySettings
) -> Answer:
    planned = plan_request(exchange.request, target, settings.keep_host)
    return await send(client, planned, settings.timeout)
