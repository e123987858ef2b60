"""The executor over Ray actors on a cluster or this machine (``--ray``).  Ray is an optional
dependency (the ``batch`` extra), imported only here."""

from __future__ import annotations

import os
from pathlib import Path

from .. import install_hint
from ..api import InvalidInput
from ..engines.base import encode_references
from .job import MatteSettings, Outcome, matte_one
from .threads import set_threads, worker_environment

PER_ACTOR = 2  # targets queued per actor: one computing, one waiting, so actors never idle


class _Matter:
    """The actor: an engine, and the shared reference once it is handed over."""

    def __init__(self, engine_name: str, options: dict, cpus: int):
        from ..engines import get_engine

        set_threads(cpus)
        self.engine = get_engine(engine_name, **options)
        self.reference = None

    def encode(self, pairs: list):
        return encode_references(self.engine, pairs)

    def use(self, reference) -> None:
        self.reference = reference

    def matte(self, payload, label: str, settings: MatteSettings) -> Outcome:
        return matte_one(self.engine, self.reference, payload, label, settings)


def _ray():
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # never phone home
    try:
        import ray
    except ImportError:
        raise InvalidInput(f"--ray needs Ray: run `{install_hint('batch')}` in the icm-matting "
                           "folder (or `pip install ray`).") from None
    return ray


def _actor_environment() -> dict[str, str]:
    """Thread limits, and this copy of icm_core first on the path (a checkout or an editable
    install may not be what the workers' Python would otherwise import)."""
    import icm_core

    root = str(Path(icm_core.__file__).resolve().parent.parent)
    path = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)
    return {**worker_environment(), "PYTHONPATH": path}


class RayActors:
    """Executor (see :mod:`icm_core.batch.dispatch`) over Ray actors: one engine per actor, the
    reference encoded once (by one actor) and shared with every actor through Ray's object
    store, targets dispatched to the least busy actor.  An actor that dies (killed, out of
    memory, node lost) is replaced and its targets come back as lost, for bounded retries."""

    def __init__(self, address: str | None, actors: int | None, engine_name: str, options: dict,
                 pairs: list, settings: MatteSettings, gpu: bool,
                 cpus: int = 1):
        ray = self.ray = _ray()
        self.started_ray = not ray.is_initialized()
        if self.started_ray:
            try:
                ray.init(address=address or None, include_dashboard=False, log_to_driver=False,
                         logging_level="WARNING")
            except ConnectionError as error:
                raise InvalidInput(f"Cannot reach the Ray cluster at {address!r}: {error}") from None
        self.actors = []
        try:
            self._start(actors, cpus, engine_name, options, pairs, settings, gpu)
        except BaseException as error:
            self.close()
            if isinstance(error, ray.exceptions.RayTaskError):  # the engine refused the reference
                raise error.as_instanceof_cause() from None
            raise

    def _start(self, actors, cpus, engine_name, options, pairs, settings, gpu) -> None:
        ray = self.ray
        count = actors or max(1, int(ray.cluster_resources().get("CPU", 1)) // cpus)
        self.actor_class = ray.remote(_Matter).options(
            num_cpus=cpus, num_gpus=1 if gpu else 0,  # Ray gives each actor a GPU of its own
            runtime_env={"env_vars": _actor_environment()},
        )
        self.engine_args = (engine_name, options, cpus)
        self.settings = ray.put(settings)
        self.actors = [self.actor_class.remote(*self.engine_args) for _ in range(count)]
        # Encoded once, on one actor; every actor reads the same object from the store.
        self.reference = self.actors[0].encode.remote(pairs)
        ray.get(self.reference)  # a reference the engine refuses fails the job here
        for actor in self.actors:
            actor.use.remote(self.reference)
        self.capacity = PER_ACTOR * count
        self.running: dict = {}  # object ref → (key, actor)

    def submit(self, key: str, payload, label: str) -> None:
        load = {actor: 0 for actor in self.actors}
        for _, actor in self.running.values():
            if actor in load:  # not one that died and whose lost targets are still coming back
                load[actor] += 1
        actor = min(self.actors, key=load.__getitem__)
        self.running[actor.matte.remote(payload, label, self.settings)] = (key, actor)

    def next(self) -> tuple[str, Outcome]:
        ray = self.ray
        (ready,), _ = ray.wait(list(self.running), num_returns=1)
        key, actor = self.running.pop(ready)
        try:
            return key, ray.get(ready)
        except ray.exceptions.RayTaskError as error:  # a bug in our code, not a lost worker
            raise error.as_instanceof_cause() from None
        except (ray.exceptions.RayActorError, ray.exceptions.WorkerCrashedError,
                ray.exceptions.ObjectLostError, ray.exceptions.OutOfMemoryError) as error:
            self._replace(actor)
            return key, Outcome(error=f"Ray worker lost: {type(error).__name__}", lost=True)

    def _replace(self, actor) -> None:
        if actor in self.actors:
            self.actors.remove(actor)
            fresh = self.actor_class.remote(*self.engine_args)
            fresh.use.remote(self.reference)
            self.actors.append(fresh)

    def close(self, abort: bool = False) -> None:
        for actor in self.actors:
            self.ray.kill(actor)
        if self.started_ray:
            self.ray.shutdown()
