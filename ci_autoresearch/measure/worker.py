"""Worker mode: each round starts fresh worker processes that time blocks of calls on request.

The protocol (``docs/worker-protocol.md``) is language-neutral: a worker announces itself with
``ready ci-autoresearch-worker/1``, then answers every ``run N`` on its stdin with ``done WALL CPU``
(seconds for the N calls) on its stdout, until its input ends. For Python, ``_pyworker.py`` speaks it
for ``benchmark.callable``, and can hold both sides in one process (``benchmark.worker.sides:
together``; requests then name the side: ``run N baseline``).

Why many short-lived processes rather than one long-lived worker per side: blocks within one process
agree to a fraction of a percent, but each process carries a fixed luck of its own (hash seed, memory
layout, core placement) worth a few percent, so two long-lived processes measure their luck with great
confidence. Here *the process is the unit*: a round is a fresh pair of workers (or one worker holding
both sides), each runs ``warmup_blocks`` blocks that are not counted and ``blocks`` that are, the
sides alternating block by block (ABBA), and the round's value for a side is the median (or mean,
``metrics.collection.aggregate``) of its blocks, per call. The rounds -- processes -- are what the
statistics count. The block size is calibrated once per comparison, by a worker started only for that,
to ``block_seconds``. With the workers pinned, the next round's start on the next CPU while a round
measures on its own, so a round costs its blocks, not its blocks and the interpreters' start-up.

This module holds the conversation and its bookkeeping; processes are started by the ``Launch``
function it is given (``worker_process.start_worker`` in real use), so the logic is tested with scripted
workers without starting any.
"""

from __future__ import annotations

import json
import math
import shlex
import statistics
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

from ci_autoresearch.config.model import Config, MetricSpec
from ci_autoresearch.measure.worker_lines import PROTOCOL, Block, error_of, parse_done, parse_ready
from ci_autoresearch.measure.worker_process import WorkerExit, WorkerGone, WorkerSilent, on_cpu

ADAPTER = Path(__file__).with_name("_pyworker.py")
CLOSE_GRACE = 5.0
"""Seconds a worker gets to exit after its input ends."""
CLOCK_SLACK = 0.001
"""How much longer than the tool saw a block take (seconds, plus 1 %) a worker may report it took."""
MAX_CALLS = 10**9

SideName = Literal["baseline", "candidate"]


class Channel(Protocol):
    """A started worker, as :class:`worker_process.WorkerProcess` is one."""

    stderr_path: Path

    def send(self, line: str) -> None: ...

    def read_line(self, timeout: float) -> str: ...

    def close(self, timeout: float) -> WorkerExit: ...

    def kill(self) -> None: ...

    def stderr_tail(self) -> str: ...


Launch = Callable[[str, Path, str], Channel]
"""``launch(command, cwd, name)``: start a worker; ``name`` names its log files."""

Pin = Callable[[int], AbstractContextManager[None]]
"""``pin(cpu)``: while inside, the workers started are bound to ``cpu`` (``worker_process.on_cpu``)."""


class WorkerFailed(Exception):
    """A worker died, hung, broke the protocol or reported a failing benchmark.

    ``side`` is the side it concerns (None when a worker holding both sides failed before saying which);
    ``message`` is the one line a person reads.
    """

    def __init__(self, side: SideName | None, message: str) -> None:
        super().__init__(message)
        self.side = side
        self.message = message


@dataclass(frozen=True, kw_only=True)
class WorkerPlan:
    """Worker mode as the configuration asks for it."""

    command: str | None  # a worker of the user's own; None: the Python adapter
    python: str
    callable: str | None
    args: tuple[object, ...]
    kwargs: Mapping[str, object]
    args_from: str | None
    together: bool
    pin: bool
    block_seconds: float
    warmup_blocks: int
    blocks: int
    timeout: float
    aggregate: Literal["median", "mean"]
    metrics: tuple[MetricSpec, ...] = ()  # the metrics the configuration measures (of WORKER_METRICS)

    @classmethod
    def from_config(cls, config: Config) -> WorkerPlan:
        b = config.benchmark
        w = b.worker_settings
        return cls(
            command=w.command,
            python=b.python,
            callable=b.callable,
            args=tuple(b.args) if isinstance(b.args, tuple) else (),
            kwargs=dict(b.args) if isinstance(b.args, Mapping) else {},
            args_from=b.args_from,
            together=w.sides == "together",
            pin=w.pin,
            block_seconds=w.block_seconds,
            warmup_blocks=w.warmup_blocks,
            blocks=w.blocks,
            timeout=b.timeout_seconds,
            aggregate=config.collection.aggregate,
            metrics=config.measured_metrics(),
        )

    def command_for(self, checkouts: Mapping[SideName, Path], order: Sequence[SideName]) -> str:
        """The shell command of a worker for ``checkouts`` (one side, or both in ``order``)."""
        if self.command:
            return self.command
        spec = {
            "callable": self.callable,
            "args": list(self.args),
            "kwargs": dict(self.kwargs),
            "args_from": self.args_from,
            "sides": {side: str(path) for side, path in checkouts.items()},
            "order": list(order),
            "together": len(checkouts) > 1,
        }
        return f"{self.python} {shlex.quote(str(ADAPTER))} {shlex.quote(json.dumps(spec))}"


@dataclass
class _Worker:
    """A started worker, which side(s) it serves, and where in the round it is (for messages)."""

    channel: Channel
    sides: tuple[SideName, ...]
    label: str
    targets: tuple[str, ...] = ()
    phase: str = "start"

    def whose(self, side: SideName | None = None) -> SideName | None:
        if side is not None:
            return side
        return self.sides[0] if len(self.sides) == 1 else None


@dataclass
class _Started:
    """Workers started and not yet known to be ready; closing ``stack`` kills them."""

    workers: list[_Worker]
    stack: ExitStack


class WorkerRounds:
    """The rounds of one comparison (or of one ref measured alone) in worker mode.

    ``checkouts``: the sides' working directories. :meth:`round` runs one round and returns each
    side's values (``wall_time`` and ``cpu_time`` per call, ``max_rss`` of its process when a process
    served one side); ``calls`` is the calibrated block size once known, ``processes`` how many
    workers measured a round so far. ``clock`` times each exchange, to check what a worker reports.
    ``cpus``: the CPUs workers may be pinned to (``plan.pin``): the ``k``-th start (the calibration,
    then each round) puts its workers on ``cpus[k % len(cpus)]`` alone, so that both sides share that
    CPU's state (its other load, its caches, its clock) and the rounds visit every CPU in turn; with
    fewer than two CPUs nothing is pinned. ``ahead``: when pinned, the next round's workers start on
    their CPU while this round measures on its own (:meth:`round`'s ``then``); use the rounds as a
    context manager so that workers started for a round that never comes are ended. A worker holding
    both sides imports them in turn baseline first, then candidate first (from worker to worker),
    whatever order its round measures them in.
    """

    def __init__(
        self,
        plan: WorkerPlan,
        launch: Launch,
        checkouts: Mapping[SideName, Path],
        *,
        clock: Callable[[], float] = time.perf_counter,
        cpus: Sequence[int] = (),
        pin: Pin = on_cpu,
    ) -> None:
        self.plan = plan
        self.launch = launch
        self.clock = clock
        self.cpus = tuple(cpus) if plan.pin and len(cpus) > 1 else ()
        self.pin = pin
        self.cpus_used: list[int] = []  # the CPU of each round (and the calibration) started, if pinned
        self.checkouts = dict(checkouts)
        self.calls: int | None = None
        self.processes = 0
        self.last_blocks: dict[SideName, list[Block]] = {}  # the measured blocks of the last round
        self.ahead = bool(self.cpus)
        self._next_workers: _Started | None = None
        self._together_starts = 0  # workers started holding both sides, for their import order

    # --- one conversation step ---------------------------------------------------------------------

    def _fail(self, worker: _Worker, side: SideName | None, what: str) -> WorkerFailed:
        who = worker.whose(side)
        name = f"the {who} worker" if who else "the worker (both sides)"
        tail = worker.channel.stderr_tail()
        return WorkerFailed(
            who,
            f"{name} {what} during {worker.phase} of {worker.label}"
            f"{': ' + tail if tail else ''}; logs in {worker.channel.stderr_path}",
        )

    def _read(self, worker: _Worker, side: SideName | None) -> str:
        while True:
            try:
                line = worker.channel.read_line(self.plan.timeout)
            except WorkerGone as gone:
                code = gone.returncode
                status = (
                    "was killed"
                    if (code or 0) < 0
                    else f"exited ({code}{': command not found' if code == 127 else ''})"
                )
                raise self._fail(worker, side, status) from None
            except WorkerSilent:
                raise self._fail(
                    worker,
                    side,
                    f"did not answer within {self.plan.timeout:g} s (benchmark.timeout_seconds) and was "
                    "killed,",
                ) from None
            if line.startswith("#"):
                continue
            failed = error_of(line, worker.targets)
            if failed is not None:
                target, message = failed
                named: SideName | None = target if target in ("baseline", "candidate") else side  # type: ignore[assignment]
                raise self._fail(worker, named, f"reported an error ({message.strip()[:300]})")
            return line

    def _ready(self, worker: _Worker) -> None:
        line = self._read(worker, None)
        targets = parse_ready(line)
        if targets is None:
            raise self._fail(
                worker, None, f"said {line[:100]!r} instead of `ready {PROTOCOL}` (docs/worker-protocol.md)"
            )
        if len(worker.sides) > 1 and set(targets) != set(worker.sides):
            raise self._fail(
                worker,
                None,
                f"announced targets {' '.join(targets) or '(none)'}, expected baseline candidate",
            )
        worker.targets = targets

    def _block(self, worker: _Worker, side: SideName, calls: int) -> Block:
        request = f"run {calls}" + (f" {side}" if worker.targets else "")
        started = self.clock()
        worker.channel.send(request)
        line = self._read(worker, side)
        seen = self.clock() - started
        block = parse_done(line, calls)
        if block is None:
            raise self._fail(
                worker, side, f"answered {line[:100]!r} to `{request}` instead of `done WALL CPU`"
            )
        if block.wall > seen * 1.01 + CLOCK_SLACK:
            raise self._fail(
                worker,
                side,
                f"reported {block.wall:g} s for a block that took {seen:g} s (the protocol counts seconds)",
            )
        return block

    # --- workers ------------------------------------------------------------------------------------

    def _start(self, order: Sequence[SideName], label: str) -> _Started:
        """Start workers for ``order`` (one per side, or one for both) on the next CPU in turn; they
        are not waited for."""
        groups: list[tuple[SideName, ...]] = [(s,) for s in order]
        if self.plan.together and len(order) > 1:
            # the side imported first alternates from worker to worker, not with the round's order, so
            # that a worker can start before its round's order is known (ahead)
            both = tuple(sorted(order))
            groups = [both if self._together_starts % 2 == 0 else both[::-1]]
            self._together_starts += 1
        started = _Started(workers=[], stack=ExitStack())
        try:
            with self._pinned():
                for sides in groups:
                    name = "both" if len(sides) > 1 else sides[0]
                    command = self.plan.command_for({s: self.checkouts[s] for s in sides}, sides)
                    channel = self.launch(command, self.checkouts[sides[0]], f"{name}.{label}.worker")
                    started.stack.callback(channel.kill)
                    started.workers.append(_Worker(channel=channel, sides=sides, label=label))
        except BaseException:
            started.stack.close()
            raise
        return started

    def _started_ahead(self, order: Sequence[SideName]) -> _Started | None:
        """The workers started ahead for this round, if they serve its sides; others are ended."""
        started, self._next_workers = self._next_workers, None
        if started is None:
            return None
        if sorted(side for w in started.workers for side in w.sides) == sorted(order):
            return started
        started.stack.close()
        return None

    @contextmanager
    def _workers(self, order: Sequence[SideName], label: str) -> Iterator[dict[SideName, _Worker]]:
        """The round's workers (started ahead, or now), once they are ready; ended afterwards,
        whatever happens."""
        started = self._started_ahead(order) or self._start(order, label)
        with started.stack:
            for worker in started.workers:
                worker.label = label
                self._ready(worker)
            yield {side: w for w in started.workers for side in w.sides}

    def close(self) -> None:
        """End the workers started ahead for a round that did not come."""
        started, self._next_workers = self._next_workers, None
        if started is not None:
            started.stack.close()

    def __enter__(self) -> WorkerRounds:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _pinned(self) -> AbstractContextManager[None]:
        """Where the next workers start: the next CPU in turn when pinning, else anywhere."""
        if not self.cpus:
            return nullcontext()
        cpu = self.cpus[len(self.cpus_used) % len(self.cpus)]
        self.cpus_used.append(cpu)
        return self.pin(cpu)

    def _close(self, worker: _Worker) -> WorkerExit:
        worker.phase = "exit"
        exit_ = worker.channel.close(CLOSE_GRACE)
        if exit_.returncode != 0:
            status = "was killed" if exit_.returncode < 0 else f"exited ({exit_.returncode})"
            raise self._fail(worker, None, f"{status} instead of 0 when its input ended")
        return exit_

    # --- calibration and rounds ---------------------------------------------------------------------

    def calibrate(self, side: SideName) -> int:
        """Find how many calls make a block of about ``block_seconds``, with a worker of ``side``
        started for that alone (its blocks count for nothing else)."""
        target = self.plan.block_seconds
        with self._workers([side], "calibration") as workers:
            worker = workers[side]
            worker.phase = "calibration"
            calls = 1
            while True:
                block = self._block(worker, side, calls)
                if block.wall >= target / 4 or calls >= MAX_CALLS:
                    break
                grow = target / block.wall
                calls = min(calls * 100, max(calls * 2, math.ceil(calls * grow / 2)), MAX_CALLS)
            self._close(worker)
        self.calls = max(1, min(MAX_CALLS, round(calls * target / block.wall)))
        return self.calls

    def round(
        self, order: Sequence[SideName], label: str, *, then: str | None = None
    ) -> dict[SideName, dict[str, float]]:
        """One round: fresh workers, warm-up blocks, then measured blocks alternating ABBA from
        ``order[0]``. Raises :class:`WorkerFailed`; nothing of a failed round is returned.

        ``then``: the label of the round expected next. Where :attr:`ahead` holds, that round's workers
        start on the next CPU while this round measures on its own, so a round costs its blocks
        rather than its blocks and two interpreter start-ups; they are ended by :meth:`close` if
        that round does not come."""
        calls = self.calls if self.calls is not None else self.calibrate(order[0])
        measured: dict[SideName, list[Block]] = {side: [] for side in order}
        with self._workers(order, label) as workers:
            if then is not None and self.ahead:
                self._next_workers = self._start(order, then)
            for i in range(self.plan.warmup_blocks):
                for side in order:
                    workers[side].phase = f"warm-up block {i + 1}"
                    self._block(workers[side], side, calls)
            for j in range(self.plan.blocks):
                for side in order if j % 2 == 0 else tuple(reversed(order)):
                    workers[side].phase = f"block {j + 1}"
                    measured[side].append(self._block(workers[side], side, calls))
            exits: dict[SideName, WorkerExit] = {}
            for worker in {id(w): w for w in workers.values()}.values():
                exit_ = self._close(worker)
                for side in worker.sides:
                    exits[side] = exit_
            self.processes += len({id(w) for w in workers.values()})
            shared = len(workers) > len({id(w) for w in workers.values()})
        self.last_blocks = measured
        return {side: self._values(measured[side], exits[side], shared=shared) for side in order}

    def _values(self, blocks: Sequence[Block], exit_: WorkerExit, *, shared: bool) -> dict[str, float]:
        combine = statistics.median if self.plan.aggregate == "median" else statistics.fmean
        values = {"wall_time": combine([b.wall / b.calls for b in blocks])}
        cpus = [b.cpu for b in blocks]
        if all(c is not None and c > 0.0 for c in cpus):
            values["cpu_time"] = combine([c / b.calls for c, b in zip(cpus, blocks, strict=True) if c])
        if not shared and exit_.max_rss > 0:
            values["max_rss"] = float(exit_.max_rss)
        return values
