"""What docker-compose 1.x prints, line for line: ``pull``, ``up``, ``run`` and ``create``.

The story's stack was started with docker-compose; on the Ubuntu VM that was the Python compose
v1 (1.25.0 from apt). :mod:`archlab.simulate` predicts what the Engine does; this module wraps
it in what compose v1 itself prints around it (``Pulling db (...)...``, ``Creating ... done``,
``Attaching to``, the ``exited with code`` line, its error lines and exit codes), for a service
with ``image:`` or with a ``build:`` on the classic builder.

How do I use it?
================

::

    from archlab.compose_v1 import Service, predict
    svc = Service("db", "127.0.0.1:5000/lab/mysql:5.7", platform="linux/x86_64")
    p = predict("up --exit-code-from", svc, facts, "this-machine", project="story")
    print(p.transcript())      # the lines, stdout and stderr in the order each stream has them
    p.compare(out, err, code)  # [] when a real run printed exactly that

``facts`` are the image's :class:`~archlab.simulate.ImageFacts` (with ``layers=True``, so the
entrypoint's output is known), or ``None`` when the registry has no such image. A ``build:``
service passes its Dockerfile's instructions (:func:`archlab.dockerfile.parse_dockerfile`) and
the facts of its one base image.

What was measured, and what was cited
=====================================

Every line below was checked against Debian's docker-compose **1.29.2** (``--ansi never``,
output captured, not a terminal) on the private Engine 20.10.24 of ``this-machine``, by
``tests/test_compose_oracle.py``. For compose **1.25.0** (Ubuntu 20.04, the story's VM) the
same code paths exist (``compose@1.25.0:compose/service.py``, ``cli/main.py``) and no source
says the wording differs, so the same lines are predicted, marked ``approximate`` (not
measured). Compose v2 and BuildKit are not modelled here (:mod:`archlab.simulate` marks them).

==============================  ===========================================================
what compose v1 does            the lines (``E`` stderr, ``O`` stdout)
==============================  ===========================================================
pulls a missing image           ``E Pulling db (127.0.0.1:5000/lab/mysql:5.7)...`` (no tag
                                written: ``lab/ghost:``, an empty tag), then the
                                Engine's pull stream without per-layer lines: ``O 5.7:
                                Pulling from lab/mysql``, ``O Digest: ...``, ``O Status:
                                ...``, and the Engine's post-pull ``WARNING: image with
                                reference ...`` (20.10.8+, single-arch image, ``platform:``)
the pull fails                  the Engine's error text, raw (no ``ERROR:``, no ``Error
                                response from daemon:``), ``E``; exit code 1
``platform:``                   used for the pull (and the build) only: the container is
                                created without a platform, and the Engine's create warning
                                ("The requested image's platform ...") is **not printed**
``up -d``                       ``E Creating <project>_<service>_1 ... `` and ``... done``
``up S``                        ``O Attaching to <container>``, each container line as ``O
                                <service>_1  | <line>``, ``O <container> exited with code
                                N``; exit code 0 whatever N is
``up --exit-code-from S``       ``E using --exit-code-from implies
                                --abort-on-container-exit`` first; as ``up S`` (runc's
                                exec format error is a container line too), then ``O
                                Aborting on container exit...``; exit code N, and N printed
                                alone on stderr when it is not 0
``run --rm S``                  ``E Creating <project>_<service>_run ... done``; the
                                container's stdout and stderr on compose's own; N alone on
                                stderr when not 0; exit code N
``create``                      ``E The create command is deprecated. Use the up command
                                with the --no-start flag instead.`` first
``build:``                      ``E Building S``; the classic builder's stream on stdout
                                (``Step i/n : ...``, the base's pull with layer lines, `` --->
                                <id>``); a failing ``RUN`` prints the container's stderr in
                                red (``\\x1b[91m``), then ``E The command '...' returned a
                                non-zero code: 1`` and ``E Service 'S' failed to build :
                                Build failed``, exit code 1; ``up`` adds ``E Image for service
                                S was built because it did not already exist. ...``
==============================  ===========================================================

IDs that differ on every run (containers, built images) and the build context's size are
matched by pattern; `` ---> [Warning] IPv4 forwarding is disabled.`` appears only where the
daemon runs with IP forwarding off (the lab daemon does), so it is optional.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Literal

from archlab import decoding
from archlab.dockerfile import Instruction
from archlab.errors import ArchlabError, InvalidReferenceError
from archlab.hosts import Host, _version_tuple, get_host
from archlab.reference import parse_reference
from archlab.simulate import (
    ImageFacts,
    LocalStore,
    OutputLine,
    Prediction,
    Step,
    runc_exec_error,
    simulate_pull,
    simulate_run,
)

__all__ = ["VERBS", "Service", "not_found_text", "predict"]

Verb = Literal["pull --no-parallel", "up", "up -d", "up --exit-code-from", "run --rm", "create"]
#: The compose commands this module predicts (``S`` is the service, where one is named).
VERBS: Final[tuple[Verb, ...]] = ("pull --no-parallel", "up", "up -d", "up --exit-code-from",
                                  "run --rm", "create")
#: The lines ``up --exit-code-from S`` prints that a plain ``up S`` does not.
EXIT_CODE_FROM_ONLY: Final = ("using --exit-code-from implies --abort-on-container-exit",
                              "Aborting on container exit...")
_ID: Final = r"[0-9a-f]{12}"
_LAYER: Final = r"[0-9a-f]{12}: .*"
_MEASURED: Final = "docker-compose 1.29.2 on docker.io 20.10.24 (tests/test_compose_oracle.py)"
_V1_SOURCE: Final = "compose@1.25.0:compose/service.py#L391-395, L1235; cli/main.py"


@dataclass(frozen=True)
class Service:
    """One compose service as compose v1 runs it."""

    name: str
    image: str | None  # as interpolated; None for a build without image:
    platform: str | None = None
    build: Sequence[Instruction] | None = None  # the Dockerfile's instructions, for build:


def not_found_text(ref: str) -> str:
    """The Engine's error for a tag a registry answers 404 for (distribution 2.8): the
    reference in its familiar form, tag included (``mysql`` -> ``mysql:latest``)."""
    try:
        shown = parse_reference(ref).familiar()
    except InvalidReferenceError:
        shown = ref
    return f"manifest for {shown} not found: manifest unknown: manifest unknown"


class _Out:
    def __init__(self, approximate: bool) -> None:
        self.lines: list[OutputLine] = []
        self.steps: list[Step] = []
        self.approximate = approximate
        self.chosen: str | None = None  # the manifest the pull chose

    def o(self, text: str, **kw: object) -> None:
        kw.setdefault("approximate", self.approximate)
        self.lines.append(OutputLine("stdout", text, **kw))  # type: ignore[arg-type]

    def e(self, text: str, **kw: object) -> None:
        self.lines.append(OutputLine("stderr", text, approximate=self.approximate, **kw))  # type: ignore[arg-type]

    def step(self, rule: str, detail: str) -> None:
        self.steps.append(Step(rule, detail, _MEASURED if not self.approximate else _V1_SOURCE))


def predict(
    verb: Verb,
    service: Service,
    facts: ImageFacts | None,
    host: Host | str,
    *,
    project: str,
    version: str | None = None,
) -> Prediction:
    """``docker-compose --ansi never -p PROJECT VERB [S]`` on an empty image store.

    ``facts`` describe ``service.image`` (or the build's base); ``None`` means the registry
    has no such tag. ``version`` defaults to the host profile's compose.
    """
    host = get_host(host)
    version = version or host.compose or ""
    v = _version_tuple(version) if version else (0, 0, 0)
    if not (1, 0, 0) <= v < (2, 0, 0):
        raise ValueError(f"compose {version or '(none)'} is not compose v1; archlab.simulate "
                         "predicts compose v2")
    out = _Out(approximate=v[:2] != (1, 29))
    svc = service.name
    container = f"{project}_{svc}_run" if verb == "run --rm" else f"{project}_{svc}_1"
    command = f"docker-compose -p {project} {verb}" + (
        f" {svc}" if verb in ("up", "up --exit-code-from", "run --rm") else "")

    def done(code: int | None, **kw: object) -> Prediction:
        return Prediction(command=command, host=host.name, lines=tuple(out.lines),
                          exit_code=code, explanation=tuple(out.steps), **kw)  # type: ignore[arg-type]

    if verb == "create":
        out.e("The create command is deprecated. Use the up command with the --no-start flag "
              "instead.")
    if verb == "up --exit-code-from":
        out.e(EXIT_CODE_FROM_ONLY[0])

    if service.build is not None:
        if verb == "pull --no-parallel":
            out.step("nothing to pull", "a service with build: and no image: is skipped")
            return done(0)
        built = _build(out, service, facts, host, project, verb)
        if built is None:
            return done(1)
        store, image_text = built
    else:
        assert service.image is not None
        pulled = _pull(out, service, facts, host)
        if pulled is None:
            return done(1, error=out.lines[-1].text)  # the Engine's error, as printed
        store, image_text = pulled
    if verb == "pull --no-parallel":
        return done(0)

    out.e(f"Creating {container} ... ")
    out.e(f"Creating {container} ... done")
    out.step("compose v1 creates without platform",
             "platform: went to the pull only; the Engine checks the image against the host and "
             "may warn, but compose v1 does not print the create warning")
    assert facts is not None
    run = simulate_run(facts, host, store=store, typed=image_text)
    if verb in ("up -d", "create"):
        return done(0, image_platform=run.image_platform, warnings=run.warnings)
    code = run.exit_code
    said = list(run.container_output or ())
    common = dict(image_platform=run.image_platform, run_mode=run.run_mode,
                  container_output=run.container_output, error=run.error,
                  warnings=run.warnings, chosen_digest=out.chosen)
    if code is None:  # facts without layers: what the entrypoint does is not known
        if verb != "run --rm":
            out.o(f"Attaching to {container}")
        out.step("entrypoint unknown", "the image's layers were not read, so what its "
                 "entrypoint prints, and its exit code, are left out")
        return done(None, **common)
    if verb == "run --rm":
        for text in said:
            out.o(text)
        if run.error:
            out.e(run.error)
    else:
        out.o(f"Attaching to {container}")
        for text in [*said, *([run.error] if run.error else [])]:
            out.o(f"{svc}_1  | {text}")
        out.o(f"{container} exited with code {code}")
        if verb == "up":
            out.step("exit code", "a plain up exits 0 whatever the container returned")
            return done(0, **common)
        out.o(EXIT_CODE_FROM_ONLY[1])
    if code:
        out.e(str(code))
        out.step("exit code on stderr", "a container exit code other than 0 is also printed "
                 "alone on stderr")
    out.step("exit code", f"compose exits with the container's code ({code})")
    return done(code, **common)


def _pull(out: _Out, service: Service, facts: ImageFacts | None, host: Host
          ) -> tuple[LocalStore, str] | None:
    """The pull of an image service: (store after, image text), or None when it fails."""
    image = service.image
    assert image is not None
    out.e(f"Pulling {service.name} ({_repo_tag(image)})...")
    out.step("compose pulls", f"compose v1 pulls {image} with platform "
             f"{service.platform!r} (the Engine parses it)")
    if facts is None:
        out.e(not_found_text(image))
        out.step("no such tag", "the registry answers 404; the Engine's error is printed raw, "
                 "exit code 1")
        return None
    p = simulate_pull(facts, host, platform=service.platform, typed=image)
    for ln in p.lines:
        if ln.stream == "stdout" and not _is_layer(ln.text) and ln.text != str(
                facts.reference) and ln.text != "Using default tag: latest":
            out.o(ln.text, optional=ln.optional)
    out.steps += p.explanation
    out.chosen = p.chosen_digest
    if p.error is not None:
        out.e(p.error)
        out.step("pull fails", "compose prints the Engine's error raw and exits 1")
        return None
    return p.store_after, image


def _repo_tag(image: str) -> str:
    """The image as compose v1 names it: repository, separator, tag, where the tag is ``""``
    when none is written (measured: ``Pulling ghost (127.0.0.1:5000/lab/ghost:)...``)."""
    if "@" in image:
        return image
    repo, sep, tag = image.rpartition(":")
    if not sep or "/" in tag:
        return f"{image}:"
    return f"{repo}:{tag}"


def _is_layer(text: str) -> bool:
    return len(text) > 14 and text[12:14] == ": " and all(c in "0123456789abcdef"
                                                          for c in text[:12])


def _build(out: _Out, service: Service, facts: ImageFacts | None, host: Host, project: str,
           verb: str) -> tuple[LocalStore, str] | None:
    """The classic builder's stream for a one-stage Dockerfile; None when the build fails."""
    svc = service.name
    steps = list(service.build or ())
    out.e(f"Building {svc}")
    out.o("Sending build context to Docker daemon  <size>",
          pattern=r"Sending build context to Docker daemon  \S+")
    out.o("")
    n = len(steps)
    store = LocalStore()
    image_text = ""
    seen_from = False
    for k, ins in enumerate(steps, 1):
        out.o(f"Step {k}/{n} : {ins.original}")
        if ins.cmd == "ARG" and not seen_from:
            continue  # a global ARG only declares: no container, no image
        if ins.cmd == "FROM":
            seen_from = True
            if facts is None:
                out.e(not_found_text(ins.args.split()[0]))
                return _build_failed(out, svc)
            image_text = str(facts.reference)  # ARGs expanded: what the daemon pulls
            p = simulate_pull(facts, host, platform=service.platform, typed=image_text)
            for ln in p.lines:
                if ln.stream == "stdout" and ln.text not in (str(facts.reference),
                                                             "Using default tag: latest"):
                    out.lines.append(OutputLine("stdout", ln.text, optional=ln.optional,
                                                pattern=ln.pattern, group=ln.group,
                                                approximate=out.approximate))
            if p.error is not None:
                out.e(p.error)
                return _build_failed(out, svc)
            store = p.store_after
            image = store.get(image_text)[0]
            out.o(f" ---> {image.config_digest.split(':')[1][:12]}")
            continue
        if ins.cmd not in ("RUN", "COPY", "ADD"):  # WORKDIR, ENV, ...: a container commits
            measured = ins.cmd == "WORKDIR"
            out.o(" ---> [Warning] IPv4 forwarding is disabled. Networking will not work.",
                  optional=True)
            out.o(" ---> Running in <id>", pattern=rf" ---> Running in {_ID}",
                  approximate=out.approximate or not measured)
            out.o("Removing intermediate container <id>",
                  pattern=rf"Removing intermediate container {_ID}",
                  approximate=out.approximate or not measured)
        if ins.cmd == "RUN":
            run = simulate_run(facts, host, store=store, typed=image_text,  # type: ignore[arg-type]
                               args=())
            out.o(" ---> [Warning] IPv4 forwarding is disabled. Networking will not work.",
                  optional=True)
            for w in run.warnings:
                out.o(f" ---> [Warning] {w}")
            out.o(" ---> Running in <id>", pattern=rf" ---> Running in {_ID}")
            argv = _exec_argv(ins)
            if run.run_mode != "exec-format-error" and run.error is None:
                # What the RUN prints is known only when it runs the image's own entrypoint
                # binary (the lab's hello); otherwise the base's platform decides alone.
                entry = list(run.container_output or ())
                if argv[:1] == _entrypoint(facts, store, image_text)[:1]:  # type: ignore[arg-type]
                    for text in entry:
                        out.o(text)
            if run.run_mode == "exec-format-error":
                # runc names the binary the RUN execs (the shell for the shell form)
                out.o(f"\x1b[91m{runc_exec_error(host.runc, argv[0])}")
                out.o("\x1b[0m")
                command = " ".join(argv)
                out.e(f"The command '{command}' returned a non-zero code: {run.exit_code}")
                out.step("RUN fails", "the RUN's container cannot exec the base's binaries: "
                         "the build stops")
                return _build_failed(out, svc)
            out.o("Removing intermediate container <id>",
                  pattern=rf"Removing intermediate container {_ID}")
        out.o(" ---> <id>", pattern=rf" ---> {_ID}")
    out.o("Successfully built <id>", pattern=rf"Successfully built {_ID}")
    out.o(f"Successfully tagged {project}_{svc}:latest")
    if verb != "pull --no-parallel":
        out.e(f"Image for service {svc} was built because it did not already exist. To rebuild "
              "this image you must use `docker-compose build` or `docker-compose up --build`.")
    return store, image_text


def _entrypoint(facts: ImageFacts, store: LocalStore, image_text: str) -> list[str]:
    """The argv the image would run by itself (entrypoint, then cmd)."""
    image = store.get(image_text)[0]
    config = facts.configs.get(image.config_digest)
    return [*(config.entrypoint or ()), *(config.cmd or ())] if config is not None else []


def _exec_argv(ins: Instruction) -> list[str]:
    try:  # within the depth limit: RUN [[[[... made json.loads raise RecursionError
        argv = decoding.load_json(ins.args, what="RUN", max_bytes=max(len(ins.args), 1))
    except ArchlabError:
        return ["/bin/sh", "-c", ins.args]
    return argv if isinstance(argv, list) else ["/bin/sh", "-c", ins.args]


def _build_failed(out: _Out, svc: str) -> None:
    out.e(f"Service '{svc}' failed to build : Build failed")
    out.step("build fails", "compose reports the failed build and exits 1")
    return None
