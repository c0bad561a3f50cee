"""Ask your own question: host, image, ``--platform``, command in; transcript and why out.

What it is for
--------------
The notebooks ask the story's questions. A learner soon has their own: *what if I pull redis
on the Raspberry Pi? what does ``docker create --platform linux/s390x`` print on the qemu
host?* The explorer answers any combination of a shipped host profile, a lab image, a
``--platform`` value and a command (``pull``, ``run``, ``create`` or compose's ``up``),
offline from the shipped lab snapshot: the predicted transcript, the outcome in a few words,
and the rules that decided, each with its source.

How do I use it?
----------------
::

    from archlab import explorer
    explorer.form()                   # in Jupyter: an ipywidgets form (or plain text without)
    p = explorer.predict("run", "middleware", "multipass-ubuntu-arm64")
    print(explorer.report(p))         # the transcript, the outcome and the why, wrapped
    explorer.outcome_kind(p)          # 'exec format error'

==============  =============================================================================
input           values
==============  =============================================================================
host            any profile ``archlab hosts`` lists (``hosts.load_hosts()``)
image           a lab scenario (:func:`image_names`): ``busybox``, ``golang``, ``mysql``,
                ``mariadb``, ``redis``, ``ruby``, ``middleware``, ``armonly``, ``mislabelled``,
                and the artifacts (``signed``, ``referrers``, ``helm``, ``wasm``, ...)
platform        ``None`` (no ``--platform``) or any text Docker would be given
command         ``pull``, ``run``, ``create``, ``compose`` (``docker compose up`` or
                ``docker-compose up``, whichever the host profile's compose is)
==============  =============================================================================

The form needs ``ipywidgets`` (in ``archlab[lab]``). Without it, or outside a notebook,
:func:`form` returns a plain-text :class:`Fallback` that shows one prediction and says how to
ask for others with :func:`predict`; the notebook still runs and reads the same.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any, Final

from archlab import display
from archlab.errors import LabError

if TYPE_CHECKING:
    from archlab.simulate import ImageFacts, Prediction

__all__ = [
    "COMMANDS",
    "OUTCOME_KINDS",
    "PLATFORM_CHOICES",
    "Fallback",
    "decisive_line",
    "facts",
    "form",
    "image_names",
    "outcome_kind",
    "predict",
    "report",
]

#: The commands the explorer predicts.
COMMANDS: Final = ("pull", "run", "create", "compose")
#: ``--platform`` values offered in the form (any other text works with :func:`predict`).
PLATFORM_CHOICES: Final = (None, "linux/amd64", "linux/arm64", "linux/x86_64", "linux/arm/v7",
                           "linux/arm/v6", "linux/386", "linux/s390x", "linux/riscv64")
#: The few words :func:`outcome_kind` says, in the order a reader meets them.
OUTCOME_KINDS: Final = ("pulls", "created", "runs natively", "runs emulated",
                        "exec format error", "pull error", "fails")


def image_names() -> tuple[str, ...]:
    """The lab images the explorer knows, by scenario name."""
    from archlab.lab.scenarios import SCENARIO_NAMES

    return SCENARIO_NAMES


@cache
def facts(name: str) -> ImageFacts:
    """What a pull of lab image ``name`` would see, from the shipped snapshot (layers read)."""
    from archlab import notebook as nb
    from archlab.simulate import gather_facts_sync

    if name not in image_names():
        raise LabError(f"no lab image called {name!r}: choose one of {', '.join(image_names())}")
    client = nb.lab_client(layers=True)
    try:
        return gather_facts_sync(nb.lab_ref(name), client, layers=True)
    finally:
        client.close()


def predict(command: str, image: str, host: Any, platform: str | None = None, *,
            service: str | None = None) -> Prediction:
    """What ``command`` (see :data:`COMMANDS`) of lab ``image`` prints on ``host``.

    ``host`` is a profile name or a :class:`~archlab.hosts.Host`; ``platform`` the
    ``--platform`` text (``platform:`` in compose), or ``None``; ``service`` the compose
    service's name (default: the image's).
    """
    from archlab.simulate import (
        simulate_compose_service,
        simulate_create,
        simulate_pull,
        simulate_run,
    )

    if command not in COMMANDS:
        raise LabError(f"command {command!r}: choose one of {', '.join(COMMANDS)}")
    f = facts(image)
    platform = platform or None
    if command == "pull":
        return simulate_pull(f, host, platform=platform)
    if command == "run":
        return simulate_run(f, host, platform=platform)
    if command == "create":
        return simulate_create(f, host, platform=platform)
    return simulate_compose_service(f, host, platform, service=service or image)


def outcome_kind(prediction: Prediction) -> str:
    """The prediction in a few words, one of :data:`OUTCOME_KINDS`."""
    if prediction.run_mode == "native":
        return "runs natively"
    if prediction.run_mode == "emulated":
        return "runs emulated"
    if prediction.run_mode == "exec-format-error":
        return "exec format error"
    if prediction.error and "no matching manifest" in prediction.error:
        return "pull error"
    if prediction.exit_code == 0:
        return "created" if prediction.command.startswith("docker create") else "pulls"
    return "fails"


def decisive_line(prediction: Prediction) -> str:
    """The one line of the transcript that says how it ended (error, runc, program, warning)."""
    lines = [ln.text for ln in prediction.lines]
    for wanted in ("exec format error", "no matching manifest", "hello from", "does not match",
                   "WARNING"):
        hit = next((t for t in reversed(lines) if wanted in t), None)
        if hit is not None:
            return hit
    return lines[-1] if lines else "(nothing printed)"


def report(prediction: Prediction, engine: str | None = None, *,
           width: int = display.TEXT_WIDTH) -> str:
    """The transcript, the outcome and the rules that fired, as plain text that fits a screen.

    Digests are shortened. With ``engine`` (the host's Engine version) a last sentence says
    whether the lines were measured on a real Docker of that version.
    """
    code = "unknown" if prediction.exit_code is None else prediction.exit_code
    caveat = f"; {prediction.caveat}" if prediction.caveat else ""
    head = display.wrap(f"$ {prediction.command}    # on {prediction.host}{caveat}", width)
    # Docker's lines wrap with the transcript mark, so a continuation never reads as a line
    # Docker printed; the rest is prose, wrapped with an indent.
    printed = [display.wrap_transcript(display.shorten_digests(ln.text), width)
               for ln in prediction.lines]
    via = f" ({prediction.emulator})" if prediction.run_mode == "emulated" and \
        prediction.emulator else ""
    out = ["", f"outcome: {outcome_kind(prediction)}{via}, exit code {code}", "", "why:"]
    for n, step in enumerate(prediction.explanation, 1):
        out.append(f"{n:2}. {step.rule}: {step.detail}")
    if engine is not None:
        out += ["", calibration_note(prediction, engine)]
    return "\n".join([head, *printed, display.wrap("\n".join(out), width)])


#: The real Engine archlab's simulator is checked against, line for line (``this-machine``).
MEASURED_ENGINE: Final = "20.10.24"
MEASURED_ON: Final = f"an amd64 Docker Engine {MEASURED_ENGINE} (Debian's docker.io)"


def calibration_note(prediction: Prediction, engine: str) -> str:
    """In plain words: were the predicted lines compared with a real Docker of that version?

    archlab's simulator is measured against one real Engine, :data:`MEASURED_ON`; other 20.10
    releases take the same code path for these lines. For later versions, and for lines marked
    approximate, the wording comes from Docker's source code and issue reports.
    """
    rough = [ln for ln in prediction.lines if ln.approximate]
    total = len(prediction.lines)
    if prediction.caveat:  # Compose v2: its own output is not modelled at all
        return (f"{prediction.caveat}. None of these {total} lines was compared with a real "
                "run, and compose v2 prints its own progress display instead of some of them; "
                "the outcome follows the same rules either way.")
    if engine.startswith("20.10.") and not rough:
        if engine == MEASURED_ENGINE:
            return (f"Measured: archlab checks these lines word for word against {MEASURED_ON}, "
                    "the Engine of this host profile.")
        return (f"Measured on {MEASURED_ON}, word for word; Engine {engine} runs the same code "
                "for these lines, so it is expected to print them the same way.")
    n = len(rough) if engine.startswith("20.10.") else total
    why = (f"they follow Docker's source code and issue reports for Engine {engine}; nobody has "
           "compared them with a real Docker of that version here, so the exact wording may "
           "differ. The outcome follows the same rules either way.")
    if n == total:
        head = f"None of these {total} lines was measured" if total != 1 else \
            "This line was not measured"
        return f"{head}: {why}"
    were = "was" if n == 1 else "were"
    return (f"{n} of these {total} lines {were} not measured ({why[5:]}) The other lines were "
            f"measured on {MEASURED_ON}.")


# ------------------------------------------------------------------------------------ the form


@dataclass(frozen=True)
class Fallback:
    """The explorer without widgets: one prediction, and how to ask for another."""

    prediction: Prediction
    engine: str
    reason: str

    def __repr__(self) -> str:
        answer = report(self.prediction, self.engine)
        return (f"{self.reason}\n\n{answer}\n\nAsk another question with "
                "explorer.predict(command, image, host, platform), e.g.\n"
                "print(explorer.report(explorer.predict(\"run\", \"redis\", "
                "\"raspberry-pi-os-32\")))")


def _widgets_available() -> bool:
    return importlib.util.find_spec("ipywidgets") is not None


def form(
    host: str = "multipass-ubuntu-arm64",
    image: str = "middleware",
    platform: str | None = None,
    command: str = "run",
    *,
    hosts: Sequence[str] | None = None,
) -> Any:
    """The explorer: an ipywidgets form where available, else a plain-text :class:`Fallback`.

    The form's text shown before it is run (or where widgets cannot render) is the plain-text
    report of the initial choice, so a reader who only reads still sees an answer.
    """
    from archlab.hosts import get_host

    first = predict(command, image, host, platform)
    if not _widgets_available():
        return Fallback(first, get_host(host).engine,
                        "(ipywidgets is not installed: pip install 'archlab[lab]' for the form; "
                        "here is the plain-text explorer)")
    return _build_form(host, image, platform, command, hosts, first)


def _build_form(host: str, image: str, platform: str | None, command: str,
                hosts: Sequence[str] | None, first: Prediction) -> Any:
    import ipywidgets as w

    from archlab.hosts import get_host, load_hosts

    host_names = list(hosts) if hosts is not None else sorted(load_hosts())
    layout = w.Layout(width="auto")
    style = {"description_width": "70px"}
    host_w = w.Dropdown(options=host_names, value=host, description="host", layout=layout,
                        style=style)
    image_w = w.Dropdown(options=list(image_names()), value=image, description="image",
                         layout=layout, style=style)
    platform_w = w.Combobox(
        options=[p for p in PLATFORM_CHOICES if p], value=platform or "",
        placeholder="(none)", description="--platform", ensure_option=False, layout=layout,
        style=style)
    command_w = w.ToggleButtons(options=list(COMMANDS), value=command, description="command",
                                style={**style, "button_width": "90px"})
    out = w.HTML(layout=w.Layout(width="100%"))

    def show(prediction: Prediction, host_name: str) -> None:
        import html

        text = report(prediction, get_host(host_name).engine)
        out.value = (f'<pre style="white-space: pre; margin: 0; font-size: 13px">'
                     f"{html.escape(text)}</pre>")

    def update(_change: object = None) -> None:
        try:
            show(predict(command_w.value, image_w.value, host_w.value, platform_w.value or None),
                 host_w.value)
        except LabError as exc:  # an unusable combination: say why, keep the form
            import html

            out.value = f"<pre>{html.escape(str(exc))}</pre>"

    for widget in (host_w, image_w, platform_w, command_w):
        widget.observe(update, names="value")
    show(first, host)
    text = report(first, get_host(host).engine)

    class Explorer(w.VBox):  # text/plain shows the first answer where widgets cannot render
        def _repr_mimebundle_(self, **kwargs: Any) -> Any:
            bundle = super()._repr_mimebundle_(**kwargs)
            data = bundle[0] if isinstance(bundle, tuple) else bundle
            data["text/plain"] = (f"{text}\n\n(This is the explorer's first answer. Run the "
                                  "cell to change host, image,\n--platform and command.)")
            return bundle

    box = Explorer([w.HBox([host_w, image_w], layout=w.Layout(flex_flow="row wrap")),
                    w.HBox([platform_w]), command_w, out])
    box.add_class("archlab-explorer")
    return box
