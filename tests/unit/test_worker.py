"""Worker mode's conversation, with scripted workers in memory: exact blocks, order, and failure paths.

No process is started here (``tests/integration/test_worker.py`` runs real ones); the clock is a fake
that the scripted worker advances by the time its blocks report, so nothing depends on timing.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from ci_autoresearch.config.model import BenchmarkConfig, CollectionConfig, Config, WorkerConfig
from ci_autoresearch.measure.worker import (
    ADAPTER,
    SideName,
    WorkerFailed,
    WorkerPlan,
    WorkerRounds,
)
from ci_autoresearch.measure.worker_lines import PROTOCOL, Block, error_of, parse_done, parse_ready
from ci_autoresearch.measure.worker_process import WorkerExit, WorkerGone, WorkerSilent

CHECKOUTS: dict[SideName, Path] = {"baseline": Path("/co/base"), "candidate": Path("/co/cand")}


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


Behaviour = Callable[["Scripted", str], "str | BaseException | None"]


@dataclass
class Scripted:
    """A worker in memory: ``per_call`` seconds a call for each side it serves; ``behaviour`` may
    replace the answer to a request (a line, an exception to raise on reading, or None: the default)."""

    name: str
    cwd: Path
    command: str
    clock: Clock
    per_call: dict[str, float]
    log: list[str]
    ready: str = f"ready {PROTOCOL}"
    behaviour: Behaviour | None = None
    exit_code: int = 0
    requests: list[str] = field(default_factory=list)
    pending: list[str | BaseException] = field(default_factory=list)
    closed: bool = False
    killed: bool = False
    stderr_path: Path = Path("/logs/w.stderr.log")

    def __post_init__(self) -> None:
        self.pending.append(self.ready)
        self.log.append(f"start {self.name}")

    def send(self, line: str) -> None:
        self.requests.append(line)
        self.log.append(f"{self.name}: {line}")
        if self.behaviour is not None:
            answer = self.behaviour(self, line)
            if answer is not None:
                self.pending.append(answer)
                return
        words = line.split()
        calls = int(words[1])
        side = words[2] if len(words) == 3 else next(iter(self.per_call))
        wall = calls * self.per_call[side]
        self.clock.now += wall + 0.0001  # the block, and the pipe
        self.pending.append(f"done {wall:.9f} {wall * 0.9:.9f}")

    def read_line(self, timeout: float) -> str:
        item = self.pending.pop(0)
        if isinstance(item, BaseException):
            raise item
        return item

    def close(self, timeout: float) -> WorkerExit:
        self.closed = True
        self.log.append(f"close {self.name}")
        return WorkerExit(returncode=self.exit_code, max_rss=1000 + len(self.name))

    def kill(self) -> None:
        self.killed = True

    def stderr_tail(self) -> str:
        return "last words"


class Launcher:
    """Starts scripted workers; ``per_call[side]`` is the side's cost of a call."""

    def __init__(self, per_call: dict[str, float], **worker: object) -> None:
        self.clock = Clock()
        self.per_call = per_call
        self.log: list[str] = []
        self.workers: list[Scripted] = []
        self.worker = worker
        self.specs: list[dict[str, object]] = []

    def __call__(self, command: str, cwd: Path, name: str) -> Scripted:
        served = {s: self.per_call[s] for s in self.per_call if f"{s}." in name or name.startswith("both")}
        if command.startswith("python3 "):  # the adapter: its one argument is the spec
            self.specs.append(json.loads(shlex.split(command)[-1]))
        w = Scripted(
            name=name,
            cwd=cwd,
            command=command,
            clock=self.clock,
            per_call=served,
            log=self.log,
            **self.worker,  # type: ignore[arg-type]
        )
        if name.startswith("both") and w.ready == f"ready {PROTOCOL}":
            w.pending[0] = f"ready {PROTOCOL} baseline candidate"
        self.workers.append(w)
        return w


def plan(**kw: object) -> WorkerPlan:
    worker = WorkerConfig(**{"block_seconds": 0.01, "blocks": 3, **kw})  # type: ignore[arg-type]
    config = Config(
        path="x",
        hash="x",
        benchmark=BenchmarkConfig(callable="pkg.mod:func", args=(3,), worker=worker, timeout_seconds=7.0),
        collection=CollectionConfig(),
    )
    return WorkerPlan.from_config(config)


def session(launcher: Launcher, **kw: object) -> WorkerRounds:
    return WorkerRounds(plan(**kw), launcher, CHECKOUTS, clock=launcher.clock)


# --------------------------------------------------------------------------------------------------
# the protocol's lines


def test_protocol_lines() -> None:
    assert parse_ready(f"ready {PROTOCOL}") == ()
    assert parse_ready(f"ready {PROTOCOL} baseline candidate") == ("baseline", "candidate")
    assert parse_ready("ready ci-autoresearch-worker/2") is None
    assert parse_ready("hello") is None
    assert parse_done("done 0.5 0.25", 10) == Block(calls=10, wall=0.5, cpu=0.25)
    assert parse_done("done 0.5 -", 10) == Block(calls=10, wall=0.5, cpu=None)
    for bad in ("done 0 0", "done -1 0", "done nan 0", "done 1 -1", "done 1", "done x y", "ok 1 1"):
        assert parse_done(bad, 1) is None
    assert error_of("error candidate ImportError: no", ("baseline", "candidate")) == (
        "candidate",
        "ImportError: no",
    )
    assert error_of("error boom at 3", ()) == (None, "boom at 3")
    assert error_of("error", ()) == (None, "")
    assert error_of("done 1 1", ()) is None


def test_the_adapter_command_carries_the_callable_and_the_checkouts() -> None:
    p = plan()
    command = p.command_for(
        {"candidate": Path("/co/c d"), "baseline": Path("/co/b")}, ["candidate", "baseline"]
    )
    words = shlex.split(command)
    assert words[:2] == ["python3", str(ADAPTER)]
    assert json.loads(words[2]) == {
        "callable": "pkg.mod:func",
        "args": [3],
        "kwargs": {},
        "args_from": None,
        "sides": {"candidate": "/co/c d", "baseline": "/co/b"},
        "order": ["candidate", "baseline"],
        "together": True,
    }
    own = WorkerPlan(**{**p.__dict__, "command": "./my-worker --fast"})
    assert own.command_for({"baseline": Path("/co/b")}, ["baseline"]) == "./my-worker --fast"


# --------------------------------------------------------------------------------------------------
# calibration, rounds, blocks


def test_calibration_finds_the_calls_for_the_block_duration() -> None:
    """1 ms a call, blocks of 10 ms: 1 call (too short to judge), then 5 (long enough), so 10."""
    launcher = _same()
    rounds = session(launcher)
    assert rounds.calibrate("baseline") == 10
    assert launcher.log == [
        "start baseline.calibration.worker",
        "baseline.calibration.worker: run 1",
        "baseline.calibration.worker: run 5",
        "close baseline.calibration.worker",
    ]


def test_calibration_of_a_slow_call_is_one_call_a_block() -> None:
    launcher = Launcher({"baseline": 0.3, "candidate": 0.3})
    assert session(launcher).calibrate("baseline") == 1


def test_a_round_of_separate_workers_exactly() -> None:
    """Two fresh workers, one warm-up block each, three measured blocks alternating ABBA from the first
    side; each side's value is the median per call; each worker ends when its input ends."""
    launcher = Launcher({"baseline": 0.001, "candidate": 0.0008})
    rounds = session(launcher)
    rounds.calibrate("baseline")
    values = rounds.round(["candidate", "baseline"], "round1")
    assert launcher.log[4:] == [
        "start candidate.round1.worker",
        "start baseline.round1.worker",
        "candidate.round1.worker: run 10",
        "baseline.round1.worker: run 10",
        "candidate.round1.worker: run 10",
        "baseline.round1.worker: run 10",
        "baseline.round1.worker: run 10",
        "candidate.round1.worker: run 10",
        "candidate.round1.worker: run 10",
        "baseline.round1.worker: run 10",
        "close candidate.round1.worker",
        "close baseline.round1.worker",
    ]
    assert values["baseline"]["wall_time"] == pytest.approx(0.001)
    assert values["candidate"]["wall_time"] == pytest.approx(0.0008)
    assert values["candidate"]["cpu_time"] == pytest.approx(0.00072)
    assert values["baseline"]["max_rss"] == 1000 + len("baseline.round1.worker")
    assert [b.wall for b in rounds.last_blocks["baseline"]] == pytest.approx([0.01] * 3)
    assert rounds.processes == 2 and rounds.calls == 10
    assert all(w.closed for w in launcher.workers)
    rounds.round(["baseline", "candidate"], "round2")
    assert rounds.processes == 4
    assert len([line for line in launcher.log if "calibration" in line and "run" in line]) == 2  # once


def test_a_round_of_one_worker_holding_both_sides() -> None:
    """sides: together: one process, requests name the side in the round's order, and the peak RSS is
    nobody's alone; the side imported first alternates from worker to worker, whatever the round's order."""
    launcher = Launcher({"baseline": 0.001, "candidate": 0.0005})
    rounds = session(launcher, sides="together", blocks=2, warmup_blocks=0)
    values = rounds.round(["baseline", "candidate"], "round1")
    assert launcher.log[4:] == [
        "start both.round1.worker",
        "both.round1.worker: run 10 baseline",
        "both.round1.worker: run 10 candidate",
        "both.round1.worker: run 10 candidate",
        "both.round1.worker: run 10 baseline",
        "close both.round1.worker",
    ]
    assert launcher.specs[-1]["order"] == ["baseline", "candidate"]
    assert launcher.specs[-1]["together"] is True
    assert values["candidate"]["wall_time"] == pytest.approx(0.0005)
    assert "max_rss" not in values["baseline"] and "max_rss" not in values["candidate"]
    assert rounds.processes == 1
    for label, order in (("round2", ["baseline", "candidate"]), ("round3", ["candidate", "baseline"])):
        rounds.round(order, label)
        assert launcher.log[-3:-1] == [f"both.{label}.worker: run 10 {side}" for side in order[::-1]]
    assert [spec["order"] for spec in launcher.specs[-3:]] == [
        ["baseline", "candidate"],
        ["candidate", "baseline"],
        ["baseline", "candidate"],
    ]


class Pins:
    """Records the CPU each batch of workers was started on (instead of pinning this process)."""

    def __init__(self, launcher: Launcher) -> None:
        self.launcher = launcher
        self.cpus: list[int] = []

    @contextmanager
    def __call__(self, cpu: int) -> Iterator[None]:
        self.cpus.append(cpu)
        self.launcher.log.append(f"pin {cpu}")
        yield
        self.launcher.log.append("unpin")


def test_pinned_rounds_start_their_workers_on_one_cpu_each_in_turn() -> None:
    """The calibration and every round start their workers on one CPU, the next one each time; both
    workers of a round on the same; the pin is held while they start, not while they run."""
    launcher = _same()
    pins = Pins(launcher)
    rounds = WorkerRounds(plan(), launcher, CHECKOUTS, clock=launcher.clock, cpus=(0, 2, 5), pin=pins)
    for i in range(4):
        rounds.round(["baseline", "candidate"], f"round{i + 1}")
    assert pins.cpus == [0, 2, 5, 0, 2] == rounds.cpus_used
    first = launcher.log.index("pin 2")
    assert launcher.log[first : first + 4] == [
        "pin 2",
        "start baseline.round1.worker",
        "start candidate.round1.worker",
        "unpin",
    ]


def test_the_next_rounds_workers_start_on_the_next_cpu_while_a_round_measures() -> None:
    """With ``then``, once a round's workers are ready the next round's start on the next CPU, before
    the first block; that round takes them (ready already), and a round that does not come has its
    workers killed when the rounds close."""
    launcher = _same()
    pins = Pins(launcher)
    with WorkerRounds(plan(), launcher, CHECKOUTS, clock=launcher.clock, cpus=(0, 1), pin=pins) as rounds:
        rounds.round(["baseline", "candidate"], "round1", then="round2")
        rounds.round(["candidate", "baseline"], "round2", then="round3")
        ahead = [w for w in launcher.workers if ".round3." in w.name]
        assert [w.killed for w in ahead] == [False, False]
    log = launcher.log
    start = log.index("start baseline.round2.worker")
    assert log[start - 1 : start + 3] == [
        "pin 0",
        "start baseline.round2.worker",
        "start candidate.round2.worker",
        "unpin",
    ]
    blocks = [i for i, line in enumerate(log) if line.startswith("baseline.round1.worker: run ")]
    assert log.index("unpin", start) < blocks[0]  # before round 1's first block
    measuring = log[blocks[0] : log.index("close baseline.round1.worker")]
    assert not any(line.startswith("start ") for line in measuring)
    assert [w.name for w in launcher.workers].count("baseline.round2.worker") == 1  # taken, not started again
    assert pins.cpus == [0, 1, 0, 1] == rounds.cpus_used  # calibration, round 1, round 2, round 3
    assert rounds.processes == 4
    assert [w.killed for w in ahead] == [True, True] and not any(w.closed for w in ahead)


def test_workers_start_ahead_only_pinned() -> None:
    """Unpinned, a starting worker could share the CPU of the blocks measured meanwhile: nothing starts
    ahead. A worker holding both sides starts ahead like a pair, and the next round takes it."""
    launcher = _same()
    rounds = WorkerRounds(plan(pin=False), launcher, CHECKOUTS, clock=launcher.clock, cpus=(0, 1))
    rounds.round(["baseline", "candidate"], "round1", then="round2")
    assert not rounds.ahead and not any("round2" in w.name for w in launcher.workers)

    launcher = _same()
    pins = Pins(launcher)
    with WorkerRounds(
        plan(sides="together"), launcher, CHECKOUTS, clock=launcher.clock, cpus=(0, 1), pin=pins
    ) as rounds:
        rounds.round(["baseline", "candidate"], "round1", then="round2")
        first_block = launcher.log.index("both.round1.worker: run 10 baseline")
        assert launcher.log.index("start both.round2.worker") < first_block
        rounds.round(["baseline", "candidate"], "round2", then="round3")
    assert [w.name for w in launcher.workers].count("both.round2.worker") == 1
    assert [spec["order"] for spec in launcher.specs[1:]] == [
        ["baseline", "candidate"],
        ["candidate", "baseline"],
        ["baseline", "candidate"],
    ]
    assert [w.killed for w in launcher.workers if ".round3." in w.name] == [True]


def test_workers_started_ahead_for_other_sides_are_ended() -> None:
    launcher = _same()
    rounds = WorkerRounds(plan(), launcher, CHECKOUTS, clock=launcher.clock, cpus=(0, 1), pin=Pins(launcher))
    rounds.round(["baseline", "candidate"], "round1", then="round2")
    rounds.round(["baseline"], "round2")
    ahead = [w for w in launcher.workers if ".round2." in w.name]
    assert [w.name for w in ahead] == [
        "baseline.round2.worker",
        "candidate.round2.worker",
        "baseline.round2.worker",
    ]
    assert [w.killed for w in ahead[:2]] == [True, True] and ahead[2].closed


def test_no_pinning_when_told_not_to_or_with_one_cpu() -> None:
    for cpus, pin in (((0, 1), False), ((3,), True), ((), True)):
        launcher = _same()
        pins = Pins(launcher)
        rounds = WorkerRounds(plan(pin=pin), launcher, CHECKOUTS, clock=launcher.clock, cpus=cpus, pin=pins)
        rounds.round(["baseline", "candidate"], "round1")
        assert pins.cpus == [] and rounds.cpus_used == []


def test_one_side_alone_and_the_mean_of_blocks() -> None:
    launcher = Launcher({"baseline": 0.002, "candidate": 0.002})
    p = WorkerPlan(**{**plan().__dict__, "aggregate": "mean"})
    rounds = WorkerRounds(p, launcher, {"baseline": CHECKOUTS["baseline"]}, clock=launcher.clock)
    values = rounds.round(["baseline"], "run1")
    assert values["baseline"]["wall_time"] == pytest.approx(0.002)
    assert rounds.processes == 1
    assert [w.name for w in launcher.workers] == ["baseline.calibration.worker", "baseline.run1.worker"]


def test_comment_lines_are_skipped() -> None:
    def chatty(w: Scripted, line: str) -> str | None:
        if not line.endswith(" 1"):
            return None
        w.clock.now += 0.002
        w.pending.append("# warming the caches")
        return "done 0.001 0.001"

    launcher = _same(behaviour=chatty)
    assert session(launcher).calibrate("baseline") == 10


# --------------------------------------------------------------------------------------------------
# failures: one line, the side that failed, nothing half-measured returned


def _same(**worker: object) -> Launcher:
    return Launcher({"baseline": 0.001, "candidate": 0.001}, **worker)


def _fail(launcher: Launcher, order: list[SideName] | None = None, **kw: object) -> WorkerFailed:
    rounds = session(launcher, **kw)
    rounds.calls = 10
    with pytest.raises(WorkerFailed) as info:
        rounds.round(order or ["baseline", "candidate"], "round3")
    assert all(w.killed or w.closed for w in launcher.workers)  # none outlives the round
    return info.value


def _on(side: str, nth: int, answer: str | BaseException) -> Behaviour:
    """Answer the ``nth`` request (1-based) of the ``side`` worker with ``answer``."""

    def behaviour(w: Scripted, line: str) -> str | BaseException | None:
        if w.name.startswith(side) and len(w.requests) == nth:
            return answer
        return None

    return behaviour


def test_a_worker_that_dies_is_a_failed_run_of_its_side() -> None:
    failed = _fail(_same(behaviour=_on("candidate", 3, WorkerGone(3))))
    assert failed.side == "candidate"
    assert failed.message == (
        "the candidate worker exited (3) during block 2 of round3: last words; logs in /logs/w.stderr.log"
    )
    missing = _fail(_same(behaviour=_on("candidate", 1, WorkerGone(127))))
    assert missing.message.startswith("the candidate worker exited (127: command not found) during warm-up")
    killed = _fail(_same(behaviour=_on("baseline", 1, WorkerGone(-9))))
    assert killed.side == "baseline"
    assert killed.message.startswith("the baseline worker was killed during warm-up block 1 of round3")


def test_a_worker_that_hangs_is_killed_and_said_so() -> None:
    failed = _fail(_same(behaviour=_on("baseline", 2, WorkerSilent(7.0))))
    assert failed.side == "baseline"
    assert failed.message.startswith(
        "the baseline worker did not answer within 7 s (benchmark.timeout_seconds) and was killed, during "
        "block 1 of round3"
    )


def test_protocol_breaches_are_named() -> None:
    garbage = _fail(_same(behaviour=_on("candidate", 1, "garbage")))
    assert garbage.message.startswith(
        "the candidate worker answered 'garbage' to `run 10` instead of `done WALL CPU` during warm-up "
        "block 1"
    )
    too_long = _fail(_same(behaviour=_on("baseline", 1, "done 10.0 10.0")))
    assert too_long.message.startswith(
        "the baseline worker reported 10 s for a block that took 0 s (the protocol counts seconds)"
    )
    hello = _fail(_same(ready="hello"))
    assert hello.side == "baseline"
    assert hello.message.startswith(
        f"the baseline worker said 'hello' instead of `ready {PROTOCOL}` (docs/worker-protocol.md) during "
        "start of round3"
    )


def test_a_benchmark_error_names_its_side_even_in_a_shared_worker() -> None:
    error = _fail(
        Launcher(
            {"baseline": 0.001, "candidate": 0.001},
            behaviour=_on("both", 2, "error candidate ValueError: bad"),
        ),
        sides="together",
    )
    assert error.side == "candidate"
    assert error.message.startswith("the candidate worker reported an error (ValueError: bad) during")
    plain = _fail(_same(behaviour=_on("baseline", 2, "error boom")))
    assert plain.side == "baseline" and "reported an error (boom)" in plain.message


def test_a_shared_worker_that_dies_at_start_is_nobodys_failure() -> None:
    launcher = _same()
    launcher.worker["ready"] = "x"
    failed = _fail(launcher, sides="together")
    assert failed.side is None
    assert failed.message.startswith("the worker (both sides) said 'x' instead of")


def test_a_worker_that_exits_badly_at_the_end_fails_its_round() -> None:
    failed = _fail(_same(exit_code=2))
    assert failed.message.startswith("the baseline worker exited (2) instead of 0 when its input ended")
