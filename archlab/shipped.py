"""What archlab ships beside its code, and how to find it from a checkout, a wheel or a course.

What it is for
--------------
archlab answers offline from data it carries: the host profiles, the replacements the compose
audit suggests, the recorded lab snapshot, the story's compose files, the official-images
history, and the notebooks of the course. They live at the top of the repository (``data/``
and ``notebooks/``), and ``pyproject.toml`` maps those directories into the package:

=================  =====================  ===================================================
in the repository  in the package         holds
=================  =====================  ===================================================
``data/``          ``archlab.data``       ``hosts/*.yaml``, ``replacements.yaml``,
                                          ``snapshots/<name>/``, ``compose/story/``,
                                          ``history/official-images.csv``
``notebooks/``     ``archlab.course``     the notebooks, their README, ``my-compose/``
=================  =====================  ===================================================

Every lookup goes through :mod:`importlib.resources`, never through a path relative to the
source tree, so the same code finds the same files in a checkout (editable install), in an
installed wheel, and in a zip. Nothing here writes, except :func:`copy_course`.

How do I use it?
----------------
::

    from archlab import shipped
    shipped.data_path("hosts")                   # the directory of shipped host profiles
    shipped.snapshot_path("lab")                 # the recorded lab registry, by name
    shipped.snapshot_path("data/snapshots/lab")  # a path is a path
    shipped.copy_course("archlab-course")        # notebooks + data, ready for JupyterLab

The rules
---------
=============================  ===============================================================
rule                           why
=============================  ===============================================================
a snapshot given by a bare     ``--snapshot lab`` must work after ``pip install``, where
name (no ``/``, not ``.``)     nobody knows the path into site-packages; a directory of that
is a shipped one when archlab  name in the working directory does not shadow it (write
ships one of that name         ``./lab`` for that)
the course is a copy:          the learner edits and re-runs the notebooks; the installed
``notebooks/`` and ``data/``   package must stay as it was. The notebooks find ``../data``
side by side                   beside them exactly as in a checkout, so their stored outputs
                               (relative paths included) are the same in both
:func:`copy_course` never      a second run into the same directory refuses unless told to
overwrites silently            replace, so a learner's edited notebooks are not lost
=============================  ===============================================================
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from archlab.errors import ArchlabError

__all__ = [
    "COURSE_PACKAGE",
    "DATA_PACKAGE",
    "FIRST_NOTEBOOK",
    "CourseCopy",
    "copy_course",
    "course_dir",
    "data_path",
    "snapshot_names",
    "snapshot_path",
]

DATA_PACKAGE = "archlab.data"
COURSE_PACKAGE = "archlab.course"
#: The notebook a course starts with (``make lab`` and ``archlab course`` open it).
FIRST_NOTEBOOK = "00-Start-Here.ipynb"

# Files of the mapped packages that are packaging, not content.
_NOT_CONTENT = frozenset({"__init__.py", "__pycache__", ".ipynb_checkpoints"})


def _root(package: str) -> Path:
    root = resources.files(package)
    if not isinstance(root, Path):  # a zip import: give callers real files to open
        raise ArchlabError(f"archlab's {package} is not on a file system ({root}); install "
                           "archlab from a wheel or a checkout, not from a zip")
    return root


def data_path(*parts: str) -> Path:
    """A file or directory of the shipped data: ``data_path("hosts", "this-machine.yaml")``."""
    return _root(DATA_PACKAGE).joinpath(*parts)


def course_dir() -> Path:
    """The directory of the course's notebooks as shipped (``notebooks/`` in a checkout)."""
    return _root(COURSE_PACKAGE)


def snapshot_names() -> list[str]:
    """The names of the shipped snapshots (``["lab"]``)."""
    root = data_path("snapshots")
    return sorted(p.name for p in root.iterdir() if (p / "index.json").is_file())


def snapshot_path(value: str | Path) -> Path:
    """A snapshot directory: a shipped snapshot's name (``"lab"``), or any path."""
    text = str(value)
    if isinstance(value, str) and "/" not in text and not text.startswith("."):
        candidate = data_path("snapshots", text)
        if (candidate / "index.json").is_file():
            return candidate
    return Path(value)


@dataclass(frozen=True)
class CourseCopy:
    """Where :func:`copy_course` put the course."""

    root: Path
    notebooks: tuple[Path, ...]
    files: int

    @property
    def first(self) -> Path:
        """The notebook to open first."""
        return self.root / "notebooks" / FIRST_NOTEBOOK


def _copy_tree(source: Traversable, dest: Path) -> int:
    dest.mkdir(parents=True, exist_ok=True)
    copied = 0
    for item in sorted(source.iterdir(), key=lambda t: t.name):
        if item.name in _NOT_CONTENT:
            continue
        if item.is_dir():
            copied += _copy_tree(item, dest / item.name)
        else:
            (dest / item.name).write_bytes(item.read_bytes())
            copied += 1
    return copied


def copy_course(dest: str | Path, *, replace: bool = False) -> CourseCopy:
    """Copy the notebooks and the data they read into ``dest/notebooks`` and ``dest/data``.

    ``dest`` may exist (an empty directory, or one to add the course to); when it already
    holds a course (``dest/notebooks`` or ``dest/data``), this raises unless ``replace=True``,
    which removes those two directories first and nothing else.
    """
    root = Path(dest)
    if root.exists() and not root.is_dir():
        raise ArchlabError(f"{root}: exists and is not a directory; name a new directory")
    present = [root / d for d in ("notebooks", "data") if (root / d).exists()]
    if present and not replace:
        raise ArchlabError(f"{root}: already holds a course ({', '.join(p.name for p in present)}"
                           "); open it as it is, choose another directory, or replace it "
                           "(your edits there are then lost)")
    for old in present:
        shutil.rmtree(old) if old.is_dir() else old.unlink()
    files = _copy_tree(_root(COURSE_PACKAGE), root / "notebooks")
    files += _copy_tree(_root(DATA_PACKAGE), root / "data")
    notebooks = tuple(sorted((root / "notebooks").glob("*.ipynb")))
    return CourseCopy(root=root, notebooks=notebooks, files=files)
