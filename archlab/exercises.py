"""Predict, then check: short exercises whose answers the library works out, hidden until asked.

What it is for
--------------
Reading that ``docker pull`` checks lists and not single manifests is one thing; predicting
what it does to an image you have not seen yet is another. Each notebook ends with two or
three exercises. The learner writes a prediction, a helper checks it against what archlab
computes (the simulator on the shipped lab snapshot, the ELF reader, the history, the compose
audit) and explains the answer with the same library. Nothing in the notebook gives the
answer away until the learner asks.

How do I use it?
----------------
In a notebook::

    ex = nb.exercise("02.1")   # shows the question and what a prediction may look like
    ex.check("")               # write your prediction between the quotes, run the cell
    ex.answer()                # or just show the answer, with its explanation

From Python::

    from archlab import exercises
    exercises.get("02.1").check("pull error").correct     # True or False
    [e.key for e in exercises.for_notebook("04")]         # ['04.1', '04.2', '04.3']

The rules
---------
=============================  ===============================================================
rule                           why
=============================  ===============================================================
the answer is computed, never  it cannot drift from what the library (and so the notebooks)
written down                   say; a change in the simulator changes the answer
a prediction is compared       ``Pull Error``, ``pull error.`` and ``no matching manifest``
after normalizing              are the same prediction; each exercise lists its choices and
                               the other spellings it accepts
an empty prediction is not     the stored notebook shows "no prediction yet", never the answer
wrong
=============================  ===============================================================
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Final

from archlab.errors import ArchlabError

if TYPE_CHECKING:
    from archlab.simulate import Prediction

__all__ = [
    "EXERCISES",
    "Exercise",
    "Solution",
    "Verdict",
    "for_notebook",
    "get",
    "normalize_answer",
]


class ExerciseError(ArchlabError, KeyError):
    """An exercise key that does not exist."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


@dataclass(frozen=True)
class Solution:
    """The right answer and why, as the library computes them."""

    answer: str
    why: str
    evidence: str = ""

    def _repr_markdown_(self) -> str:
        out = [f"**Answer: {self.answer}.** {self.why}"]
        if self.evidence:
            out += ["", "```", self.evidence, "```"]
        return "\n".join(out)

    def __repr__(self) -> str:
        return f"Answer: {self.answer}. {self.why}" + (f"\n\n{self.evidence}" if self.evidence
                                                       else "")


@dataclass(frozen=True)
class Verdict:
    """What :meth:`Exercise.check` says about one prediction."""

    key: str
    prediction: str
    correct: bool | None  # None: no prediction was written
    solution: Solution | None
    choices: tuple[str, ...]

    def _text(self, md: bool) -> str:
        code = "`" if md else ""
        if self.correct is None:
            options = ", ".join(f"{code}{c}{code}" for c in self.choices)
            return (f"No prediction yet. Write one between the quotes (for example one of: "
                    f"{options}) and run the cell again. To see the answer without predicting, "
                    f"run {code}ex.answer(){code}.")
        assert self.solution is not None
        head = (f"Right: {code}{self.prediction}{code}." if self.correct
                else f"Not quite: you predicted {code}{self.prediction}{code}, the answer is "
                     f"{code}{self.solution.answer}{code}.")
        body = f"{head} {self.solution.why}"
        if self.solution.evidence:
            fence = "```" if md else ""
            body += f"\n\n{fence}\n{self.solution.evidence}\n{fence}" if md else \
                f"\n\n{self.solution.evidence}"
        return body

    def _repr_markdown_(self) -> str:
        return self._text(True)

    def __repr__(self) -> str:
        from archlab import display

        return display.wrap(self._text(False))


_SPACES: Final = re.compile(r"\s+")


def normalize_answer(text: str) -> str:
    """Lower case, single spaces, no surrounding quotes, backticks or final full stop."""
    t = _SPACES.sub(" ", str(text).strip().strip("`'\"").strip().lower())
    return t.rstrip(".!").strip()


@dataclass(frozen=True)
class Exercise:
    """One "predict, then check" exercise (see the module docstring)."""

    key: str
    question: str
    choices: tuple[str, ...]
    solve: Callable[[], Solution] = field(repr=False, compare=False)
    aliases: Mapping[str, str] = field(default_factory=dict)
    #: A wrong prediction, for exercises whose answer is free text (a number, a platform).
    distractor: str = ""

    @property
    def notebook(self) -> str:
        return self.key.split(".")[0]

    def answer(self) -> Solution:
        """The answer and its explanation (computed now, with the library)."""
        return _solved(self.key)

    def check(self, prediction: str) -> Verdict:
        """Compare ``prediction`` with the computed answer and explain."""
        said = normalize_answer(prediction)
        if not said:
            return Verdict(self.key, "", None, None, self.choices)
        said = normalize_answer(self.aliases.get(said, said))
        solution = self.answer()
        correct = said == normalize_answer(solution.answer)
        return Verdict(self.key, prediction.strip(), correct, solution, self.choices)

    def _repr_markdown_(self) -> str:
        choices = ", ".join(f"`{c}`" for c in self.choices)
        return (f"**Exercise {self.key}.** {self.question}\n\n"
                f"Predict first: {choices}. Write it in the next cell, between the quotes.")

    def __repr__(self) -> str:
        from archlab import display

        return display.wrap(f"Exercise {self.key}. {self.question}\nPredict first: "
                            f"{', '.join(self.choices)}.")


@cache
def _solved(key: str) -> Solution:
    return get(key).solve()


# ------------------------------------------------------------------------------- solutions

#: How a prediction may name an outcome, and the outcome it means.
_OUTCOME_ALIASES: Final = {
    "no matching manifest": "pull error", "pull fails": "pull error", "fails at pull": "pull error",
    "native": "runs natively", "runs native": "runs natively", "natively": "runs natively",
    "emulated": "runs emulated", "runs under qemu": "runs emulated", "qemu": "runs emulated",
    "exec format": "exec format error", "enoexec": "exec format error",
    "pull": "pulls", "pulls fine": "pulls", "succeeds": "pulls",
}
_OUTCOME_CHOICES: Final = ("pull error", "exec format error", "runs natively", "runs emulated")
_YES_NO_ALIASES: Final = {"y": "yes", "n": "no", "true": "yes", "false": "no"}


def _simulated(command: str, image: str, host: str, platform: str | None = None) -> Solution:
    from archlab import display, explorer

    p: Prediction = explorer.predict(command, image, host, platform)
    kind = explorer.outcome_kind(p)
    line = display.shorten_digests(explorer.decisive_line(p))
    steps = [s for s in p.explanation if s.rule not in ("layer progress", "digest and status")]
    why = steps[-1].detail if steps else ""
    # Docker's own line: a continuation is marked, so it is not taken for a second line.
    return Solution(kind, f"On {host}, `{p.command}` ends with this line. Why: {why}.",
                    display.wrap_transcript(line))


def _inspected(name: str) -> tuple[object, object]:
    from archlab import notebook as nb
    from archlab.inspect import inspect

    client = nb.lab_client()
    try:
        return inspect(nb.lab_ref(name), client=client), client
    finally:
        client.close()


def _s_01_1() -> Solution:
    insp, _ = _inspected("mariadb")
    platforms = ", ".join(str(p) for p in insp.platforms)  # type: ignore[attr-defined]
    n = len(insp.entries)  # type: ignore[attr-defined]
    return Solution(str(n), f"lab/mariadb is a manifest list with {n} entries: {platforms}. "
                            "Each entry points at a separate image manifest by its digest.")


def _s_01_2() -> Solution:
    insp, _ = _inspected("golang")
    entry = insp.entries[0]  # type: ignore[attr-defined]
    return Solution("config", f"lab/golang is a single image manifest ({insp.media_type}), "  # type: ignore[attr-defined]
                              "which has no platform field; the platform "
                              f"{entry.config_platform} is written in the config it points to.")


def _s_01_3() -> Solution:
    from archlab import notebook as nb
    from archlab.inspect import inspect

    client = nb.lab_client()
    try:
        with client.trace() as log:
            inspect(nb.lab_ref("golang"), client=client)
    finally:
        client.close()
    said = "; ".join(f"{e.method} {e.url.split('/v2/', 1)[-1]}" for e in log)
    from archlab import display

    return Solution(str(len(log)), "one for the manifest, one for the config blob that holds "
                    "the platform.", display.wrap(display.shorten_digests(said)))


def _s_02_1() -> Solution:
    from archlab.errors import NoMatchingManifestError

    insp, _ = _inspected("mysql")
    try:
        insp.select("linux/arm64")  # type: ignore[attr-defined]
    except NoMatchingManifestError as exc:
        text = str(exc)
    else:  # pragma: no cover - the lab's mysql is amd64-only
        raise AssertionError("lab/mysql matched linux/arm64")
    printed = text.removeprefix("no matching manifest for ").split(" in the ")[0]
    return Solution(printed, "Docker prints the platform as it parsed it: two parts give no "
                    "variant. Without --platform an arm64 daemon prints its DefaultSpec, "
                    "linux/arm64/v8.", text)


def _s_02_2() -> Solution:
    from archlab import platforms

    a = platforms.normalize(platforms.parse("linux/aarch64"))
    b = platforms.normalize(platforms.parse("linux/arm64/v8"))
    same = a == b
    return Solution("yes" if same else "no", f"Both normalize to {a} and {b}: aarch64 is an alias "
                    "of arm64, and v8 is arm64's default variant, so it is dropped.")


def _s_02_3() -> Solution:
    insp, _ = _inspected("redis")
    entry = insp.select("linux/amd64")  # type: ignore[attr-defined]
    return Solution(str(entry.platform), "An amd64 daemon asks for linux/amd64 and the list has "
                    "that entry; 20.10 takes the first exact match in list order.")


def _s_03_1() -> Solution:
    from archlab import elf

    ident = elf.read_identity(elf.hello_binary("linux/s390x"))
    return Solution(str(ident.machine), f"e_machine {ident.machine} is {ident.machine_name}, "
                    "read from bytes 18-19 of the header, in the file's byte order "
                    f"({ident.byte_order}-endian for s390x).")


def _s_03_2() -> Solution:
    from archlab.hosts import get_host

    host = get_host("raspberry-pi-os-32")
    if host.runs_natively("linux/arm/v6"):
        answer = "runs natively"
        why = (f"The Pi's profile runs {', '.join(map(str, host.native))} natively, and an ARMv7 "
               "core also runs v6 and v5 code: 32-bit ARM is backward compatible.")
    elif host.emulator_for("linux/arm/v6"):
        answer, why = "runs emulated", "The profile emulates it."
    else:
        answer, why = "exec format error", "Nothing on the host runs it."
    return Solution(answer, why)


def _s_04_2() -> Solution:
    from archlab import explorer

    p = explorer.predict("run", "mysql", "m1-desktop-4.3", "linux/x86_64")
    warned = any("WARNING" in ln.text for ln in p.lines)
    return Solution("yes" if warned else "no", "An amd64 image was asked for and an amd64 image "
                    "arrived: create compares the image with the platform requested, not with "
                    "the host, so there is nothing to warn about. qemu then runs it.")


def _audit(service: str, host: str, column: str) -> str:
    from archlab import notebook as nb
    from archlab.compose import audit, load_compose

    client = nb.lab_client()
    try:
        frame = audit(load_compose(nb.story_compose(), env={}), [host], client=client)
    finally:
        client.close()
    row = frame[(frame["service"] == service) & (frame["host"] == host)].iloc[0]
    return str(row[column])


def _s_05_1() -> Solution:
    from archlab.compose import OUTCOME_WORDS

    outcome = OUTCOME_WORDS[_audit("redis", "multipass-ubuntu-arm64", "outcome")]
    return Solution(outcome, "redis is a list with a linux/arm64 entry, so the VM pulls a native "
                    "image: no pin, no emulation needed.")


def _s_05_2() -> Solution:
    kind = _audit("db", "multipass-ubuntu-arm64", "suggestion_kind")
    text = _audit("db", "multipass-ubuntu-arm64", "suggestion")
    from archlab import display

    return Solution(kind, "No arm64 mysql exists and the VM emulates nothing, so the audit "
                    "proposes the replacement Docker's documentation named.",
                    display.wrap(text))


def _s_06_1() -> Solution:
    from archlab import history

    df = history.load_history()
    tl = history.timeline(df, "mysql", "5.7")
    listed = any("linux/arm64" in ps for ps in tl["platforms"])
    return Solution("yes" if listed else "no", f"In all {len(tl)} snapshots of mysql:5.7 from "
                    f"{str(tl['date'].min())[:4]} to {str(tl['date'].max())[:4]} the list holds "
                    "linux/amd64 only.")


def _s_06_2() -> Solution:
    from archlab import notebook as nb
    from archlab.survey import survey

    client = nb.lab_client()
    try:
        result = survey([nb.lab_ref("golang")], ["linux/arm64"], client=client, progress=False)
    finally:
        client.close()
    outcome = str(result.outcomes.iloc[0, 0])
    return Solution(outcome, "A single image built for another platform: Docker pulls it without "
                    "a word, and only running its binary fails. A survey that reads the config "
                    "says so; one that reads only the manifest sees no platform at all.")


def _s_07_1() -> Solution:
    from archlab import versions

    case = versions.Case("pull", "pull", "armv7only", "multipass-ubuntu-arm64")
    old = versions.predict_case(case, "20.10.12")
    new = versions.predict_case(case, "29.1.2")
    from archlab import explorer

    kinds = (explorer.outcome_kind(old), explorer.outcome_kind(new))
    answer = {("pull error", "pulls"): "only 29 pulls it", ("pulls", "pulls"): "both pull it",
              ("pull error", "pull error"): "both fail"}.get(kinds, "only 20.10 pulls it")
    return Solution(answer, "Engine 23 and later let an arm64 host fall back to arm/v8, v7, v6, "
                    f"v5 entries; 20.10 matches exactly. 29 pulls {new.image_platform}.",
                    f"20.10: {explorer.decisive_line(old)}\n29.1: {explorer.decisive_line(new)}")


def _s_07_2() -> Solution:
    from archlab import explorer

    p = explorer.predict("run", "middleware", "apple-silicon-rosetta")
    return Solution(str(p.emulator or explorer.outcome_kind(p)),
                    "Docker Desktop 4.25 and later hand amd64 binaries to Apple's Rosetta "
                    "instead of qemu (the host profile says which emulator runs which platform).",
                    explorer.decisive_line(p))


def _outcome_exercise(key: str, question: str, command: str, image: str, host: str,
                      platform: str | None = None) -> Exercise:
    return Exercise(key, question, _OUTCOME_CHOICES,
                    lambda: _simulated(command, image, host, platform), _OUTCOME_ALIASES)


def _yes_no(key: str, question: str, solve: Callable[[], Solution]) -> Exercise:
    return Exercise(key, question, ("yes", "no"), solve, _YES_NO_ALIASES)


_LIST: Final = (
    _outcome_exercise(
        "00.1", "On host B (Ubuntu arm64 in Multipass, no emulation), what happens to "
        "`docker run` of the single amd64 image `lab/middleware`?",
        "run", "middleware", "multipass-ubuntu-arm64"),
    _outcome_exercise(
        "00.2", "On host A (the M1 Mac with Docker Desktop 4.3), what does `docker run` of "
        "`lab/mysql:5.7` (a list holding only linux/amd64), without any `--platform`, do?",
        "run", "mysql", "m1-desktop-4.3"),
    Exercise("01.1", "How many entries does the manifest list of `lab/mariadb` hold?",
             ("1", "2", "10"), _s_01_1, {"two": "2", "one": "1", "ten": "10"}),
    Exercise("01.2", "`lab/golang` is a single image manifest. Where is its platform written?",
             ("list entry", "manifest", "config"), _s_01_2,
             {"the config": "config", "image config": "config", "in the config": "config"}),
    Exercise("01.3", "How many HTTP requests does `inspect` of `lab/golang` send with a fresh "
             "client (no cache)?", ("1", "2", "3"), _s_01_3, {"one": "1", "two": "2",
                                                              "three": "3"}),
    Exercise("02.1", "`docker pull --platform linux/arm64 lab/mysql:5.7` fails. Which platform "
             "does its error message name?", ("linux/arm64", "linux/arm64/v8", "arm64"),
             _s_02_1),
    _yes_no("02.2", "Does `--platform linux/aarch64` match a list entry written "
            "`linux/arm64/v8`?", _s_02_2),
    Exercise("02.3", "On an amd64 host, which entry of `lab/redis:4-alpine` does Docker 20.10 "
             "pull?", ("linux/amd64", "linux/386", "linux/arm64/v8"), _s_02_3,
             {"amd64": "linux/amd64", "386": "linux/386", "arm64": "linux/arm64/v8"}),
    Exercise("03.1", "What `e_machine` number does the `linux/s390x` hello binary carry? "
             "(x86-64 is 62, AArch64 183.)", ("3", "22", "40", "62", "183"), _s_03_1),
    Exercise("03.2", "On the Raspberry Pi profile (32-bit Raspberry Pi OS, no emulation), what "
             "happens to a `linux/arm/v6` binary?", ("runs natively", "runs emulated",
                                                     "exec format error"), _s_03_2,
             _OUTCOME_ALIASES),
    _outcome_exercise(
        "04.1", "`lab/mislabelled` says arm64 in its list and config, but its binary is amd64. "
        "What does `docker run` do on host B?", "run", "mislabelled", "multipass-ubuntu-arm64"),
    _yes_no("04.2", "`docker run --platform linux/x86_64 lab/mysql:5.7` on host A: does Docker "
            "print a platform WARNING?", _s_04_2),
    _outcome_exercise(
        "04.3", "The mirror case: `docker run` of the single arm64 image `lab/armonly` on "
        "`this-machine` (amd64, no emulation)?", "run", "armonly", "this-machine"),
    Exercise("05.1", "In the audit of the story's stack, what is the outcome of the `redis` "
             "service on host B?", ("runs natively", "runs emulated", "exec format error",
                                   "pull error"), _s_05_1,
             {"runs-native": "runs natively", "native": "runs natively",
              "runs-emulated": "runs emulated", "exec-format-error": "exec format error",
              "pull-error": "pull error"}),
    Exercise("05.2", "Which kind of suggestion does the audit make for `db` on host B?",
             ("drop-pin", "pin", "replace", "tag", "emulate"), _s_05_2),
    _yes_no("06.1", "In the history of official images, did `mysql:5.7` ever list "
            "linux/arm64?", _s_06_1),
    Exercise("06.2", "What does a survey report for `lab/golang` (a single amd64 manifest) on "
             "linux/arm64?", ("native", "missing", "mismatch", "error"), _s_06_2),
    Exercise("07.1", "A list that holds only `linux/arm/v7`, pulled on an arm64 Linux host: "
             "which Engines pull it, 20.10 or 29?", ("both fail", "only 20.10 pulls it",
                                                     "only 29 pulls it", "both pull it"),
             _s_07_1, {"29": "only 29 pulls it", "20.10": "only 20.10 pulls it"}),
    Exercise("07.2", "On Apple silicon with Docker Desktop 4.25 or later, which emulator runs "
             "the amd64 `lab/middleware`?", ("qemu", "rosetta", "none"), _s_07_2),
    _outcome_exercise(
        "07.3", "On the Raspberry Pi (32-bit), what does `docker run lab/mariadb` (amd64 and "
        "arm64 only) do?", "run", "mariadb", "raspberry-pi-os-32"),
    _outcome_exercise(
        "08.1", "On `ubuntu-amd64-qemu`, what does `docker run --platform linux/s390x "
        "lab/busybox` do?", "run", "busybox", "ubuntu-amd64-qemu", "linux/s390x"),
    _outcome_exercise(
        "08.2", "On `linux-arm64-docker29` (Engine 29, containerd store, no emulation), what "
        "does `docker run lab/redis:4-alpine` do?", "run", "redis", "linux-arm64-docker29"),
)

#: Every exercise, by key (``"02.1"``), in notebook order.
EXERCISES: Final[Mapping[str, Exercise]] = {e.key: e for e in _LIST}


def get(key: str) -> Exercise:
    """The exercise called ``key`` (``"02.1"``)."""
    try:
        return EXERCISES[key]
    except KeyError:
        raise ExerciseError(f"no exercise {key!r}: the exercises are "
                            f"{', '.join(EXERCISES)}") from None


def for_notebook(number: str) -> list[Exercise]:
    """The exercises that end notebook ``number`` (``"02"``), in order."""
    return [e for e in EXERCISES.values() if e.notebook == number]
