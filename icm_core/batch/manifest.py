"""The job's record: a JSON manifest beside the outputs (settings, weights and reference hashes,
each target's status and timings), the journal between its rewrites, and the resume checks."""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ..api import InvalidInput, OutputError
from ..engines import engine_class
from .inputs import sha256_bytes
from .job import Job
from .targets import Target

MANIFEST_NAME = "icm-batch.json"
JOURNAL_NAME = "icm-batch.journal"  # finished targets since the manifest's last rewrite
MANIFEST_FORMAT = "icm-matting batch manifest"
MANIFEST_INTERVAL = 0.5  # seconds between manifest rewrites when targets finish faster than that


class Manifest:
    """The job's record, rewritten atomically as targets finish (at most every
    ``MANIFEST_INTERVAL`` seconds, and always at the end).  Between rewrites each finished
    target is appended to a journal beside it, so a job killed in between does not redo it."""

    def __init__(self, path: Path, header: dict, entries: dict[str, dict]):
        self.path = path
        self.journal = path.with_name(JOURNAL_NAME)
        self.header = header
        self.entries = entries
        self._saved = 0.0

    @classmethod
    def load(cls, path: Path) -> Manifest:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(data, dict) or data.get("format") != MANIFEST_FORMAT:
                raise ValueError("not a batch manifest")
            problem = _header_problem(data) or next(
                (f"targets[{number}]{wrong}" for number, entry in enumerate(data["targets"])
                 if (wrong := _entry_problem(entry))), "")
            if problem:
                raise ValueError(problem)
            entries = {entry["key"]: entry for entry in data.pop("targets")}
        except (OSError, ValueError, RecursionError) as error:  # RecursionError: nested too deep
            raise InvalidInput(f"{path} is not a readable batch manifest ({error}); "
                               "start again with --overwrite or another --out folder.") from None
        manifest = cls(path, data, entries)
        manifest._replay_journal()
        return manifest

    def _replay_journal(self) -> None:
        try:
            lines = self.journal.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            return
        for line in lines:
            try:
                entry = json.loads(line)
            except (ValueError, RecursionError):
                continue  # the line a kill cut short (or a hand-edited one)
            if not _entry_problem(entry) and entry["key"] in self.entries:
                self.entries[entry["key"]] = entry

    def finished(self, key: str) -> None:
        """Record a target whose outputs are written: a journal line now, the manifest soon."""
        with open(self.journal, "a", encoding="utf-8") as stream:
            stream.write(json.dumps(self.entries[key]) + "\n")
        self.save(force=False)

    def save(self, force: bool = True) -> None:
        from ..imageio import atomic_write_bytes

        now = time.monotonic()
        if not force and now - self._saved < MANIFEST_INTERVAL:
            return
        counts = Counter(entry["status"] for entry in self.entries.values())
        self.header["updated"] = timestamp()
        self.header["counts"] = {s: counts.get(s, 0) for s in ("done", "failed", "pending")}
        data = dict(self.header, targets=list(self.entries.values()))
        atomic_write_bytes(self.path, json.dumps(data, indent=1).encode("utf-8"))
        self.journal.unlink(missing_ok=True)
        self._saved = now


_STATUSES = ("done", "failed", "pending")


def _header_problem(data: dict) -> str:
    """What is wrong with a manifest's fields other than its targets, or "" (hand edits;
    a field may be absent: it then differs from any job's)."""
    for name in ("reference", "mask"):
        value = data.get(name, {})
        if not isinstance(value, dict) or not isinstance(value.get("sha256", ""), str):
            return f"{name} must be an object with a sha256 text"
    also = data.get("also", [])
    if not isinstance(also, list) or not all(isinstance(a, dict) and isinstance(a.get("sha256"), str)
                                             for a in also):
        return "also must be a list of objects with a sha256 text"
    for name in ("settings", "weights"):
        if not isinstance(data.get(name, {}), dict):
            return f"{name} must be an object"
    if not isinstance(data.get("targets"), list):
        return "targets must be a list"
    return ""


def _entry_problem(entry: Any) -> str:
    """What is wrong with one target entry (the field, as ".name must be …"), or "".  Only
    its key and status are needed; any other field may be absent or null."""
    if not isinstance(entry, dict):
        return " must be an object"
    rules = (("key", (str,), False), ("input", (str,), True), ("frame", (int,), True),
             ("input_sha256", (str,), True), ("outputs", (dict,), True),
             ("seconds", (int, float), True), ("attempts", (int,), True),
             ("error", (str,), True), ("timings", (dict,), True))
    for name, kinds, optional in rules:
        value = entry.get(name)
        if (value is None and not optional) or (value is not None and (
                not isinstance(value, kinds) or isinstance(value, bool))):
            kind = " or ".join({str: "text", int: "a whole number", float: "a number",
                                dict: "an object"}[k] for k in kinds)
            return f".{name} must be {kind}{' or null' if optional else ''}, not {value!r:.40}"
    if entry.get("status") not in _STATUSES:
        return f".status must be one of {', '.join(_STATUSES)}, not {entry.get('status')!r:.40}"
    if not all(isinstance(k, str) and isinstance(v, str)
               for k, v in (entry.get("outputs") or {}).items()):
        return ".outputs must map output kinds to file names"
    return ""


def timestamp() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def job_identity(job: Job, shot_memory: bool) -> dict:
    """Everything that, if changed, makes earlier results not this job's results."""
    from ..imageio import read_bytes

    settings = json.loads(json.dumps({
        "engine": job.engine, "engine_options": job.engine_options, **asdict(job.settings),
    }))
    settings["shot_memory"] = shot_memory
    return {
        "settings": settings,
        "weights": engine_class(job.engine).weights_fingerprint(job.engine_options),
        "reference": {"path": str(job.reference.resolve()), "sha256": sha256_bytes(read_bytes(job.reference))},
        "mask": {"path": str(job.mask.resolve()), "sha256": sha256_bytes(read_bytes(job.mask))},
        "also": [{"path": str(path.resolve()), "sha256": sha256_bytes(read_bytes(path))}
                 for pair in job.also for path in pair],
    }


def differences(old: dict, new: dict) -> list[str]:
    """What changed between a recorded job's identity (``old``, read from a manifest) and this
    job's, in words."""
    found = []
    for name in ("reference", "mask"):
        if old.get(name, {}).get("sha256") != new[name]["sha256"]:
            found.append(f"the {name} file differs ({new[name]['path']})")
    if [f["sha256"] for f in old.get("also", [])] != [f["sha256"] for f in new["also"]]:
        found.append("the extra references (--also) differ")
    if old.get("weights") != new["weights"]:
        found.append("the engine's weights differ")
    previous = old.get("settings", {})
    for key, value in new["settings"].items():
        if previous.get(key) != value:
            found.append(f"{key} was {previous.get(key)!r}, now {value!r}")
    return found


def open_manifest(job: Job, targets: list[Target], identity: dict, resume: bool,
                  overwrite: bool, execution: dict) -> tuple[Manifest, set[str]]:
    """The manifest to write, and the keys of targets the resumed job already planned (their
    output files, if any, are this job's own)."""
    path = job.out / MANIFEST_NAME
    old = None
    if path.exists() and resume:
        old = Manifest.load(path)
        changes = differences(old.header, identity)
        if changes:
            raise InvalidInput(
                f"Cannot resume the job in {job.out}: " + "; ".join(changes) + ". "
                "Resume with the same reference, mask and settings, or start again with "
                "--overwrite (or another --out folder)."
            )
    elif path.exists() and not overwrite:
        raise OutputError(
            f"{job.out} already holds a batch job ({MANIFEST_NAME}); pass --resume to continue "
            "it, --overwrite to start again, or choose another --out folder."
        )
    header = {
        "format": MANIFEST_FORMAT, "version": 1,
        "created": old.header.get("created") if old else timestamp(),
        "inputs": job.inputs, **identity, "execution": execution,
    }
    entries = {}
    for target in targets:
        entry = old.entries.get(target.key) if old else None
        outputs = {kind: str(p.relative_to(job.out)) for kind, p in target.outputs.items()}
        if entry is None or entry.get("outputs") != outputs:
            entry = {"key": target.key, "input": str(target.source), "frame": target.frame,
                     "input_sha256": None, "outputs": outputs, "status": "pending",
                     "seconds": None, "attempts": 0, "error": None}
        entries[target.key] = entry
    return Manifest(path, header, entries), set(old.entries) & set(entries) if old else set()


def is_done(entry: dict, sha: str | None, target: Target) -> bool:
    return (entry.get("status") == "done" and sha is not None and entry.get("input_sha256") == sha
            and all(p.exists() for p in target.outputs.values()))


