"""The story replayed on the Docker people run today: which outcomes change, and why.

What it is for
--------------
The investigation happened on Docker Engine 20.10 in January 2022. Engines 23, 27 and 29 pick
from lists differently (fallbacks such as arm64 → arm/v7 and amd64 → 386), word some errors
differently, store images in containerd, and print runc 1.1's shorter ``exec`` line; Docker
Desktop runs amd64 with Rosetta; a Raspberry Pi with a 32-bit system calls itself
``linux/arm/v7``. This module asks the simulator the story's questions on each, from the same
images, and lays the answers side by side.

How do I use it?
----------------
::

    from archlab import versions
    versions.engine_table()                      # the Engines compared, and what each changed
    versions.outcome_grid(versions.ARM64_CASES)  # case x Engine on an arm64 Linux host
    versions.changed_lines("pull armv7only")     # the decisive line per Engine, where it differs
    versions.upgraded("multipass-ubuntu-arm64", "29.1.2")   # a profile, as if upgraded

==================  ============  ===========  ==========================================
Engine              image store   runc         what changes for the story
==================  ============  ===========  ==========================================
20.10.12            graphdriver   1.0.2        the story: exact list match, no fallbacks
23.0.6              graphdriver   1.1.7        fallbacks (arm64 takes arm/v8..v5, amd64 takes
                                               386); runc 1.1 prints ``exec /bin/hello: ...``
27.5.1              graphdriver   1.2.4        the pull ``--platform`` warning names the right
                                               tag (fixed in 24.0.1); mismatch text reworded
27.5.1              containerd    1.2.4        containerd's store: no post-pull warning,
                                               longer "no matching manifest" text
29.1.2              containerd    1.3.4        the containerd store is the default for new
                                               installs
==================  ============  ===========  ==========================================

The runc and containerd versions are those the Engine's static packages shipped with (see
:data:`ENGINES`); like the Engine lines for 23 and later, they were not measured on a real
machine here. The simulator marks such lines ``approximate``;
:func:`archlab.explorer.calibration_note` says so in plain words.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import cache
from typing import TYPE_CHECKING, Final

import pandas as pd

from archlab import display
from archlab.errors import LabError
from archlab.hosts import Host, get_host

if TYPE_CHECKING:
    from archlab.simulate import ImageFacts, Prediction

__all__ = [
    "AMD64_CASES",
    "ARM64_CASES",
    "ENGINES",
    "GRID_NOTE",
    "Case",
    "EngineRelease",
    "case_facts",
    "changed_lines",
    "engine_table",
    "outcome_grid",
    "predict_case",
    "store_after_pulls",
    "upgraded",
]


@dataclass(frozen=True)
class EngineRelease:
    """One Docker Engine release as a host would run it."""

    label: str
    engine: str
    image_store: str
    runc: str
    containerd: str
    changes: str


ENGINES: Final = (
    EngineRelease("20.10", "20.10.12", "graphdriver", "1.0.2", "1.4.12",
                  "the story's Engine: a list entry must match exactly, no fallbacks"),
    EngineRelease("23.0", "23.0.6", "graphdriver", "1.1.7", "1.6.21",
                  "fallbacks: arm64 takes arm/v8..v5, amd64 takes 386; runc 1.1 names the file"),
    EngineRelease("27.5", "27.5.1", "graphdriver", "1.2.4", "1.7.25",
                  "the pull --platform warning checks the tag that was pulled (24.0.1)"),
    EngineRelease("27.5 c8d", "27.5.1", "containerd", "1.2.4", "1.7.25",
                  "containerd image store: no post-pull warning, longer pull error"),
    EngineRelease("29.1 c8d", "29.1.2", "containerd", "1.3.4", "2.2.0",
                  "containerd image store by default for new installs"),
)


def engine_table() -> display.Table:
    """The Engines :func:`outcome_grid` compares, with their runc and what each changed."""
    rows = [{"Engine": e.engine, "image store": e.image_store, "runc": e.runc,
             "what changes": e.changes} for e in ENGINES]
    return display.table(pd.DataFrame(rows), index=False)


def upgraded(host: str | Host, engine: str | EngineRelease) -> Host:
    """``host`` as if its Docker were replaced by ``engine`` (a version or an
    :class:`EngineRelease`): same CPU, same emulation, that Engine's store and runc."""
    base = get_host(host)
    release = engine if isinstance(engine, EngineRelease) else _release(engine)
    return replace(base, name=f"{base.name} with Engine {release.label}",
                   engine=release.engine, image_store=release.image_store, runc=release.runc,
                   containerd=release.containerd, platforms_rules=None, path=None,
                   display_name=f"{base.display_name}, Engine {release.engine}"
                                f" ({release.image_store})")


def _release(engine: str) -> EngineRelease:
    for e in ENGINES:
        if engine in (e.engine, e.label):
            return e
    known = ", ".join(e.label for e in ENGINES)
    raise LabError(f"no Engine release {engine!r} here: choose one of {known}")


# ------------------------------------------------------------------------------ the cases


@dataclass(frozen=True)
class Case:
    """One command of the comparison: ``verb`` of ``image`` on ``host`` with ``platform``."""

    label: str
    verb: str
    image: str
    host: str
    platform: str | None = None


#: Extra lab images built in memory for the fallback cases (not in the snapshot).
_EXTRA: Final = {
    "armv7only": ("linux/arm/v7",),
    "i386only": ("linux/386",),
}

#: The story's commands and two fallback cases on an arm64 Linux host without emulation.
ARM64_CASES: Final = (
    Case("pull mysql:5.7 (amd64-only list)", "pull", "mysql", "multipass-ubuntu-arm64"),
    Case("run middleware (single amd64)", "run", "middleware", "multipass-ubuntu-arm64"),
    Case("run mysql --platform linux/x86_64", "run", "mysql", "multipass-ubuntu-arm64",
         "linux/x86_64"),
    Case("pull --platform linux/arm64 golang (single amd64)", "pull", "golang",
         "multipass-ubuntu-arm64", "linux/arm64"),
    Case("run an arm/v7-only list", "run", "armv7only", "multipass-ubuntu-arm64"),
    Case("run redis (OCI index, attestations)", "run", "redis-oci", "multipass-ubuntu-arm64"),
)

#: The mirror case on an amd64 host: a list that offers only 32-bit x86.
AMD64_CASES: Final = (
    Case("run a 386-only list", "run", "i386only", "ubuntu-amd64-qemu"),
    Case("run armonly (single arm64)", "run", "armonly", "ubuntu-amd64-qemu"),
)


@cache
def case_facts(image: str) -> ImageFacts:
    """Facts for a lab image (``redis-oci`` for an OCI twin) or one of the in-memory extras."""
    from archlab import explorer
    from archlab.lab import scenarios
    from archlab.simulate import facts_from_built

    if image in _EXTRA:
        spec = scenarios.ScenarioSpec(image, "latest", image, f"a list of {_EXTRA[image][0]}",
                                      "list", _EXTRA[image])
        built = scenarios.build_scenario(spec, oci=False)
        return facts_from_built(built.ref("127.0.0.1:5000"), built.built)
    if image.endswith("-oci"):
        from archlab import notebook as nb
        from archlab.simulate import gather_facts_sync

        client = nb.lab_client(layers=True)
        try:
            return gather_facts_sync(nb.lab_ref(image.removesuffix("-oci"), oci=True), client,
                                     layers=True)
        finally:
            client.close()
    return explorer.facts(image)


def predict_case(case: Case, engine: str | EngineRelease | None = None) -> Prediction:
    """One case's prediction, on its host as shipped (``engine=None``) or upgraded."""
    from archlab.simulate import simulate_pull, simulate_run

    host = get_host(case.host) if engine is None else upgraded(case.host, engine)
    simulate = simulate_pull if case.verb == "pull" else simulate_run
    return simulate(case_facts(case.image), host, platform=case.platform)


def _cell(p: Prediction) -> str:
    from archlab import explorer

    kind = explorer.outcome_kind(p)
    if kind == "pulls" and p.image_platform is not None:
        kind = f"pulls {p.image_platform}"
    elif kind in ("runs natively", "runs emulated", "exec format error") and p.image_platform:
        kind = f"{p.image_platform}: {kind}"
    if any("WARNING" in ln.text for ln in p.lines):
        kind += ", with a WARNING"
    return kind


#: Said under every outcome grid: what its cells are, how far they were measured, what c8d is.
GRID_NOTE: Final = ("Outcomes only, not printed lines: each follows the rules in Docker's "
                    "source, which archlab measured on Engine 20.10 only (the tables of printed "
                    "lines, changed_lines, say which lines were measured). \"c8d\": the "
                    "Engine keeps images in the containerd image store instead of the older "
                    "graphdriver store.")


def outcome_grid(cases: Sequence[Case] = ARM64_CASES,
                 engines: Sequence[EngineRelease] = ENGINES) -> display.Table:
    """Case x Engine: each outcome in a few words (platform pulled, how it ran, warnings)."""
    rows = {}
    for case in cases:
        rows[case.label] = {e.label: _cell(predict_case(case, e)) for e in engines}
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index.name = "command"
    return display.table(frame, caption=GRID_NOTE)


def changed_lines(case: Case, engines: Sequence[EngineRelease] = ENGINES) -> display.Table:
    """The decisive line each Engine prints for ``case``, with whether it was measured."""
    from archlab import explorer

    rows = []
    for e in engines:
        p = predict_case(case, e)
        line = explorer.decisive_line(p)
        exact = next((not ln.approximate for ln in p.lines if ln.text == line), True)
        measured = exact and e.engine.startswith("20.10.")
        rows.append({"Engine": e.label, "Docker prints": display.shorten_digests(line),
                     "exit code": p.exit_code,
                     "wording": (f"measured (amd64 Engine {explorer.MEASURED_ENGINE})"
                                 if measured else "from source, not measured")})
    return display.table(pd.DataFrame(rows), index=False)


def store_after_pulls(image: str = "busybox", host: str = "linux-arm64-docker29",
                      pulls: Sequence[str] = ("linux/arm64", "linux/amd64"),
                      engines: Sequence[EngineRelease] = ENGINES) -> display.Table:
    """What the image store holds under ``image``'s tag after ``docker pull --platform P`` for
    each of ``pulls`` in turn, per Engine: one image (graphdriver: the last pull replaces the
    tag) or several platforms under one tag (the containerd store)."""
    from archlab.reference import parse_reference
    from archlab.simulate import simulate_pull

    facts = case_facts(image)
    tag = str(parse_reference(str(facts.reference)))
    rows = []
    for e in engines:
        store = None
        for platform in pulls:
            store = simulate_pull(facts, upgraded(host, e), platform=platform,
                                  store=store).store_after
        held = [str(i.platform) for i in store.get(tag)] if store is not None else []
        rows.append({"Engine": e.label, "image store": e.image_store,
                     "the tag holds": ", ".join(held)})
    caption = ("After " + ", then ".join(f"docker pull --platform {p}" for p in pulls)
               + ". What the store holds, not lines Docker prints; it follows each store's "
               "rules in Docker's source.")
    return display.table(pd.DataFrame(rows), index=False, caption=caption)
