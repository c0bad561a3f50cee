"""A survey's shards as tasks on an existing Dask cluster.

What it is for
--------------
Docker Hub counts anonymous pulls per address, so a survey of every official image's tags
gains from many machines, not only from more cores. ``survey(..., dask="tcp://scheduler:8786",
dataset=DIR)`` (``archlab survey --dask ADDRESS --dataset DIR``) splits the input into shards
(:func:`archlab.dataset.shard_of`), runs each as one task on the cluster you already have, and
merges what they wrote into ``DIR``. Dask schedules, retries lost workers and reports; archlab
brings no coordinator of its own. Install with ``pip install 'archlab[dask]'``.

::

    from archlab.survey import survey
    result = survey("refs.txt", ["linux/arm64"], dask="tcp://10.0.0.5:8786", dataset="/shared/s1")
    result.coverage            # read from /shared/s1 (Parquet) when first used

The rules
---------
==================  ===========================================================================
what                how
==================  ===========================================================================
input               read once, on the client, into ``DIR/input.txt``; every task reads it and
                    keeps its own shard, so positions (the order) are the single run's
shards             ``shards=`` (``--shards``), by default twice the workers, so that a slow
                    shard does not leave the other workers idle
a task              :func:`archlab.survey.survey` of one shard into ``DIR/shards/K-of-N``, with
                    a registry client of its own: the worker's cache and credentials, its own
                    rate-limit probe and budget (``budget=`` applies per shard), made with the
                    survey's ``client_options`` (``--insecure``, ``--no-cache``)
results             each task's Parquet dataset, merged into ``DIR`` (:func:`archlab.dataset.merge`)
                    when all are done; a rerun with the same ``DIR`` resumes every shard from
                    its journal
progress            each task sends its count of finished references to the client every
                    half second (Dask's worker events); the client draws one bar
storage             ``DIR`` must be one directory every worker and the client see (a shared
                    file system, or one machine)
==================  ===========================================================================
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from archlab.errors import ArchlabError

if TYPE_CHECKING:
    from archlab.survey import RefResult, SurveyResult

__all__ = ["INPUT", "SHARDS", "survey_on_dask"]

INPUT = "input.txt"
SHARDS = "shards"
_EVENT_SECONDS = 0.5


def _distributed() -> Any:
    try:
        import distributed
    except ImportError:
        raise ArchlabError("dask= needs Dask's distributed scheduler, which is not installed: "
                           "pip install 'archlab[dask]'") from None
    return distributed


def survey_on_dask(
    refs: str | os.PathLike[str] | Iterable[str],
    platforms: Sequence[str],
    *,
    dataset: str | os.PathLike[str] | None,
    address: Any,
    shards: int | None = None,
    on_result: Callable[[RefResult], None] | None = None,
    progress: bool | str = True,
    **settings: Any,
) -> SurveyResult:
    """Survey ``refs`` as ``shards`` tasks on the Dask cluster at ``address`` (a scheduler
    address or a ``distributed.Client``), into the dataset ``dataset`` (see the module
    docstring). ``settings`` are :func:`archlab.survey.survey`'s (``rule``, ``budget``,
    ``max_per_host``, ...). ``on_result`` is not available here (the results land on the
    workers); read the dataset instead."""
    distributed = _distributed()
    from archlab import dataset as ds
    from archlab.survey import _progress_bar

    if dataset is None:
        raise ArchlabError("dask= writes its results to a dataset every worker can reach; give "
                           "dataset= (--dataset DIR) on storage the workers share")
    if on_result is not None:
        raise ArchlabError("on_result= cannot see results that land on Dask workers; read the "
                           "dataset when the survey returns")
    if shards is not None and shards < 1:
        raise ArchlabError(f"shards must be 1 or more, got {shards}")
    platforms = tuple([platforms] if isinstance(platforms, str) else platforms)
    root = Path(dataset).resolve()
    root.mkdir(parents=True, exist_ok=True)
    count = _write_input(refs, root / INPUT)
    own = not isinstance(address, distributed.Client)
    client = distributed.Client(address) if own else address
    try:
        n = shards or max(1, 2 * len(client.scheduler_info().get("workers", {})))
        parts = [root / SHARDS / f"{k}-of-{n}" for k in range(1, n + 1)]
        topic = f"archlab-survey-{os.getpid()}-{time.time_ns()}"
        bar = _progress_bar(progress, count, 0)  # type: ignore[arg-type]
        done: dict[int, int] = {}

        def on_event(event: tuple[float, Any]) -> None:
            k, finished = event[1]
            done[k] = max(done.get(k, 0), finished)
            if bar is not None:
                bar.n = sum(done.values())
                bar.refresh()

        client.subscribe_topic(topic, on_event)
        futures = [client.submit(_shard_task, str(root / INPUT), platforms, str(part), (k, n),
                                 settings, topic, key=f"archlab-survey-shard-{k}-of-{n}-"
                                 f"{topic}", pure=False)
                   for k, part in zip(range(1, n + 1), parts, strict=True)]
        try:
            for future in distributed.as_completed(futures):
                future.result()  # a shard that failed outright raises here
        finally:
            client.unsubscribe_topic(topic)
            if bar is not None:
                bar.close()
    finally:
        if own:
            client.close()
    for sub in (ds.ROWS, ds.COVERAGE):
        for old in (root / sub).glob("part-*.parquet"):
            old.unlink()
    report = ds.merge([str(p) for p in parts], root, keep=(INPUT, SHARDS, ds.ROWS,
                                                           ds.COVERAGE, ds.META))
    return ds.load(report.dataset.path)


def _write_input(refs: str | os.PathLike[str] | Iterable[str], path: Path) -> int:
    """The input as one file the workers read (lines as given; each task makes them distinct)."""
    from archlab.dataset import iter_inputs

    n = 0
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        for text in iter_inputs(refs):
            fh.write(text + "\n")
            n += 1
    os.replace(tmp, path)
    return n


def _shard_task(input_path: str, platforms: tuple[str, ...], directory: str,
                shard: tuple[int, int], settings: dict[str, Any], topic: str) -> dict[str, Any]:
    """One shard on a worker: its own registry client (cache, credentials, rate-limit
    readings), its counts sent to the client as worker events."""
    from distributed import get_worker

    from archlab.survey import survey

    worker = get_worker()
    finished = 0
    last = 0.0

    def tell(result: RefResult) -> None:
        nonlocal finished, last
        finished += 1
        now = time.monotonic()
        if now - last >= _EVENT_SECONDS:
            last = now
            worker.log_event(topic, (shard[0], finished))

    result = survey(input_path, platforms, dataset=directory, shard=shard, progress=False,
                    on_result=tell, **settings)
    worker.log_event(topic, (shard[0], result.stats.refs))
    return {"shard": shard, "refs": result.stats.refs, "errors": result.stats.errors}
