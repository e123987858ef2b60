"""Targets sent to an executor and their outcomes settled: lost ones retried, files written,
failures and warnings said on stderr, the manifest's entries updated."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path
from typing import Any, Protocol

from ..api import OutputError
from .inputs import read_inputs
from .job import Outcome
from .manifest import Manifest, is_done
from .targets import Target


class Executor(Protocol):
    """Where targets are matted: :class:`.in_process.InProcess` (which also takes ``recall``
    for frames of a shot done by an earlier run), :class:`.process_pool.ProcessPool`,
    :class:`.ray_actors.RayActors`."""

    capacity: int  # targets handed over before waiting for an answer

    def submit(self, key: str, payload: Any, label: str) -> None: ...

    def next(self) -> tuple[str, Outcome]: ...

    def close(self, abort: bool = False) -> None: ...


class Dispatch:
    """One run's targets through an executor, counted as done, failed, skipped and warned."""

    def __init__(self, executor: Executor, targets: list[Target], manifest: Manifest | None,
                 bar, retries: int):
        self.executor, self.manifest, self.bar, self.retries = executor, manifest, bar, retries
        self.by_key = {t.key: t for t in targets}
        self.in_flight: dict[str, list] = {}  # key → [payload, attempts]
        self.counts: Counter = Counter()

    def run(self, targets: list[Target], resume: bool, shots: dict[str, str]) -> None:
        """Every target matted, or skipped when ``resume`` finds it done with the same input."""
        for target, payload, sha, read_error in read_inputs(targets):
            entry = self.manifest.entries[target.key] if self.manifest else None
            if resume and entry is not None and is_done(entry, sha, target):
                self._skip(target, payload, target.key in shots)
                continue
            if entry is not None:
                entry.update(status="pending", input_sha256=sha)
            self.in_flight[target.key] = [payload, 1]
            if read_error:
                self.settle(target.key, Outcome(error=read_error))
                continue
            while len(self.in_flight) > self.executor.capacity:
                self.settle(*self.executor.next())
            self.executor.submit(target.key, payload, target.label)
        while self.in_flight:
            self.settle(*self.executor.next())

    def _skip(self, target: Target, payload, in_shot: bool) -> None:
        if in_shot:  # its shot's memory learns from it as the earlier run's did
            self.executor.recall(target.key, payload, target.outputs["alpha"])
        self.counts["skipped"] += 1
        self.bar.total -= 1
        self.bar.refresh()

    def settle(self, key: str, outcome: Outcome) -> None:
        """A lost target is submitted again while retries are left; any other is finished."""
        target = self.by_key[key]
        payload, attempts = self.in_flight[key]
        if outcome.lost and attempts <= self.retries:
            self.in_flight[key][1] += 1
            self.executor.submit(key, payload, target.label)
            return
        del self.in_flight[key]
        if outcome.files is not None:
            outcome = _write_files(target, outcome)
        status = "failed" if outcome.error else "done"
        self.counts[status] += 1
        self.counts["warned"] += bool(outcome.warnings)
        self._say(target, outcome)
        if self.manifest:
            self._record(key, status, outcome, attempts)
        self.bar.set_postfix_str(target.label)
        self.bar.update()

    def _say(self, target: Target, outcome: Outcome) -> None:
        from tqdm import tqdm

        # a terminal's bar is cleared by tqdm.write; in a log the bar's line has no end
        own_line = "" if self.bar.disable or sys.stderr.isatty() else "\n"
        if outcome.error:
            tqdm.write(own_line + _failure_line(target, outcome.error), file=sys.stderr)
        for warning in outcome.warnings:
            tqdm.write(f"{own_line}icm-matting: {target.label}: warning: {warning}", file=sys.stderr)

    def _record(self, key: str, status: str, outcome: Outcome, attempts: int) -> None:
        self.manifest.entries[key].update(
            status=status, seconds=round(outcome.seconds, 4), attempts=attempts,
            error=outcome.error, warnings=list(outcome.warnings),
            timings={k: round(v, 4) for k, v in outcome.timings.items()})
        self.manifest.finished(key)


def _write_files(target: Target, outcome: Outcome) -> Outcome:
    """The outcome's files written together or not at all (no half-finished target)."""
    from ..imageio import atomic_write_files

    files: dict[Path, bytes] = {target.outputs[kind]: data for kind, data in outcome.files.items()}
    try:
        atomic_write_files(files)
    except OutputError as error:
        return Outcome(error=str(error), seconds=outcome.seconds)
    return outcome


def _failure_line(target: Target, error: str) -> str:
    """``icm-matting: LABEL: ERROR``, without the label when the error names the file first."""
    named = error.startswith((target.label, str(target.source), target.source.name))
    return f"icm-matting: {error if named else f'{target.label}: {error}'}"
