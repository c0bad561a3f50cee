"""Image references, parsed and normalized the way Docker does it.

``mysql``, ``docker.io/library/mysql:latest`` and ``index.docker.io/library/mysql`` all name
the same image. Docker turns each of them into one canonical form before it talks to a registry,
and it turns that form back into a short one when it prints it. This module does both, with
the rules of the ``distribution/reference`` Go package (``ParseNormalizedNamed``, then
``TagNameOnly``, and ``FamiliarString`` for display).

How do I use it?
----------------
::

    >>> ref = parse_reference("mysql:5.7")
    >>> str(ref)
    'docker.io/library/mysql:5.7'
    >>> ref.familiar(), ref.path, ref.api_host, ref.api_ref
    ('mysql:5.7', 'library/mysql', 'registry-1.docker.io', '5.7')
    >>> parse_reference("Mysql:5.7")
    Traceback (most recent call last):
    ...
    archlab.errors.InvalidReferenceError: invalid reference "Mysql:5.7": repository name "Mysql"...

:func:`parse_reference` returns a frozen :class:`Reference`. Every invalid input raises
:class:`~archlab.errors.InvalidReferenceError`, which quotes the input and names the bad part.

Grammar
-------
::

    reference  := name [ ":" tag ] [ "@" digest ]
    name       := [ registry "/" ] component ( "/" component )*
    registry   := host [ ":" port ]
    host       := label ( "." label )*  |  "[" ipv6-hex-and-colons "]"
    label      := [A-Za-z0-9] | [A-Za-z0-9] [A-Za-z0-9-]* [A-Za-z0-9]
    component  := [a-z0-9]+ ( separator [a-z0-9]+ )*
    separator  := "." | "_" | "__" | "-"+
    tag        := [A-Za-z0-9_] [A-Za-z0-9_.-]{0,127}
    digest     := algorithm ":" lowercase-hex     sha256: 64, sha384: 96, sha512: 128 digits

Three rules sit on top of that grammar:

- **Is the first component a registry?** Only if it contains ``.`` or ``:``, is exactly
  ``localhost``, or has an uppercase letter. Otherwise the whole name is a Docker Hub path.
  So ``circleci/golang`` is on Docker Hub, while ``localhost/golang`` and ``MyHost/golang``
  are not. A registry name may be uppercase; a repository path may not.
- **Length.** The full normalized name (``registry/path``, with ``library/`` added) has at
  most 255 characters. Docker 20.10 counts it this way. distribution/reference v0.6.0 (2024)
  counts only the path, so newer Docker accepts up to 255 characters after the registry.
  archlab keeps the stricter rule, because every Docker version accepts what it accepts.
- **IPv6.** Bracketed IPv6 registries (``[::1]:5000/x``) entered the grammar in 2022, after
  the copy vendored by Docker 20.10, which refuses them. They are accepted here.
- **Image IDs.** A bare 64-digit lowercase hex string is an image ID, not a name. Docker
  refuses it ("cannot specify 64-byte hexadecimal strings"). ``docker.io/<64 hex>`` is a name.

Normalization
-------------
::

    input                             normalized, str(ref)                  familiar()
    busybox                           docker.io/library/busybox:latest      busybox:latest
    mysql:5.7                         docker.io/library/mysql:5.7           mysql:5.7
    circleci/golang                   docker.io/circleci/golang:latest      circleci/golang:latest
    docker.io/mysql                   docker.io/library/mysql:latest        mysql:latest
    index.docker.io/library/mysql     docker.io/library/mysql:latest        mysql:latest
    library/foo/bar                   docker.io/library/foo/bar:latest      library/foo/bar:latest
    registry-1.docker.io/library/x    registry-1.docker.io/library/x:latest  (same as normalized)
    localhost/foo                     localhost/foo:latest                  (same)
    127.0.0.1:5000/lab/mysql:5.7      127.0.0.1:5000/lab/mysql:5.7          (same)
    Foo.Example.com/bar               Foo.Example.com/bar:latest            (same; host case kept)
    [::1]:5000/x                      [::1]:5000/x:latest                   (same)
    ghcr.io/o/i@sha256:<hex>          ghcr.io/o/i@sha256:<hex>              (same; no tag added)
    mysql:5.7@sha256:<hex>            docker.io/library/mysql:5.7@sha256:<hex>
                                                                            mysql:5.7@sha256:<hex>

``latest`` is added only when neither a tag nor a digest was given. Pass ``default_tag=None``
to keep "no tag" visible, for example when auditing compose files for unpinned images.

Docker Hub's three names
------------------------
- ``docker.io`` is the name used in references, on screen and in normalization. moby's
  ``registry/config.go`` calls it ``DefaultNamespace``, and ``Reference.registry`` holds it.
- ``index.docker.io`` is the legacy v1 index name. The reference package rewrites it to
  ``docker.io``. It survives as the key of Docker Hub credentials in ``config.json``
  (``https://index.docker.io/v1/``).
- ``registry-1.docker.io`` is the host that serves the v2 HTTP API (moby's default v2
  registry). :attr:`Reference.api_host` maps ``docker.io`` to it. The reference package does
  **not** rewrite it: ``registry-1.docker.io/mysql`` keeps that registry, gets no
  ``library/`` prefix, and is not :attr:`~Reference.is_docker_hub`.

Familiar form
-------------
:meth:`Reference.familiar` drops ``docker.io/`` and, for one-component official images,
``library/``. It is what ``docker images`` and ``docker pull`` print. The ``Pulling from``
line shows the *path* (``library/mysql``), which is :attr:`Reference.path`. Docker has one
quirk here, and this module keeps it: a Docker Hub path whose first component looks like a
registry (``docker.io/foo.bar/baz`` → ``foo.bar/baz``) gets a familiar form that parses back
with ``foo.bar`` as the registry, or not at all (``docker.io/a_b.c/d``). Real Docker Hub
namespaces cannot contain dots, so this does not happen in practice.

Why not docker-image-py?
------------------------
docker-image-py (realityone/docker-image-py, not a dependency) ports the same regular
expressions but stops at parsing. ``nginx`` comes back with an empty host and no
``library/``. The digest is matched by shape only, so its algorithm and length are never
checked. There is no familiar form and no Docker Hub host mapping. At the commit read
(036fa69), a reference with both a tag and a digest is refused as "repository name must have
at least one component". Normalization is the part archlab needs, so the grammar is written
here in plain Python, with one error message per rule.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from dataclasses import dataclass, replace

from archlab.decoding import first_unprintable, shown
from archlab.errors import InvalidReferenceError

__all__ = [
    "DEFAULT_TAG",
    "DOCKER_HUB_API_HOST",
    "DOCKER_HUB_DOMAIN",
    "LEGACY_DOCKER_HUB_DOMAIN",
    "MAX_NAME_LENGTH",
    "Reference",
    "parse_reference",
    "split_docker_domain",
]

DOCKER_HUB_DOMAIN = "docker.io"
LEGACY_DOCKER_HUB_DOMAIN = "index.docker.io"
DOCKER_HUB_API_HOST = "registry-1.docker.io"
OFFICIAL_PREFIX = "library/"
DEFAULT_TAG = "latest"
MAX_NAME_LENGTH = 255

# Go's \w is ASCII-only; Python's is Unicode, so spell the classes out.
_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
_LABEL = r"(?:[A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9])"
_REGISTRY = re.compile(rf"(?:{_LABEL}(?:\.{_LABEL})*|\[[A-Fa-f0-9:]+\])(?::[0-9]+)?")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_TAG_BAD_CHAR = re.compile(r"[^A-Za-z0-9_.-]")
_ALGORITHM = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*")
_HEX = re.compile(r"[0-9A-Fa-f]+")
_IMAGE_ID = re.compile(r"[a-f0-9]{64}")
# The algorithms go-digest registers in Docker, with their hex lengths.
_DIGEST_HEX_LENGTHS = {"sha256": 64, "sha384": 96, "sha512": 128}

_COMPONENT_RULE = (
    'a path component is lowercase letters and digits, joined by one ".", one or two "_",'
    ' or any number of "-"'
)
_TAG_RULE = (
    'a tag is 1 to 128 characters from letters, digits, "_", "." and "-",'
    ' and must not start with "." or "-"'
)
_REGISTRY_RULE = (
    'a registry is a host name (letters, digits and inner "-", dot-separated), an IPv4 address'
    ' or a bracketed IPv6 address, optionally followed by ":PORT"'
)
_SHAPE = 'expected NAME[:TAG][@DIGEST], e.g. "mysql:5.7" or "ghcr.io/owner/image@sha256:<64 hex>"'


# ---------------------------------------------------------------------------------------------
# One function per rule. Each returns what is wrong as a phrase, or None. parse_reference and
# Reference.__post_init__ wrap the same phrases in their own context.


def _registry_problem(registry: str) -> str | None:
    if not _REGISTRY.fullmatch(registry):
        return f'registry "{registry}" is invalid: {_REGISTRY_RULE}'
    return None


def _path_problem(path: str) -> str | None:
    if not path:
        return f"the repository name is empty; {_SHAPE}"
    if path != path.lower():
        return f'repository name "{path}" must be lowercase (did you mean "{path.lower()}"?)'
    for component in path.split("/"):
        if not component:
            return (
                f'repository name "{path}" has an empty path component'
                ' (a leading, trailing or doubled "/")'
            )
        if not _COMPONENT.fullmatch(component):
            return (
                f'path component "{component}" of repository "{path}" is invalid:'
                f" {_COMPONENT_RULE}"
            )
    return None


def _tag_problem(tag: str) -> str | None:
    if not tag:
        return 'the tag after ":" is empty; drop the ":" or write a tag such as "latest"'
    if _TAG.fullmatch(tag):
        return None
    if tag[0] in ".-":
        why = f'it starts with "{tag[0]}"'
    elif bad := _TAG_BAD_CHAR.search(tag):
        why = f'"{bad.group()}" is not allowed'
    else:
        why = f"it is {len(tag)} characters long"
    return f'tag "{tag}" is invalid ({why}): {_TAG_RULE}'


def _digest_problem(digest: str) -> str | None:
    algorithm, colon, encoded = digest.partition(":")
    if not colon or not _ALGORITHM.fullmatch(algorithm) or not _HEX.fullmatch(encoded):
        return (
            f'digest "{digest}" is invalid: expected ALGORITHM:HEX,'
            ' e.g. "sha256:" followed by 64 lowercase hex digits'
        )
    want = _DIGEST_HEX_LENGTHS.get(algorithm)
    if want is None:
        return (
            f'digest algorithm "{algorithm}" is not supported:'
            " use sha256 (64 hex digits), sha384 (96) or sha512 (128)"
        )
    if len(encoded) != want:
        return f'digest "{digest}" has {len(encoded)} hex digits; {algorithm} needs {want}'
    if encoded != encoded.lower():
        return f'digest "{digest}" must use lowercase hex digits'
    return None


def _length_problem(name: str) -> str | None:
    if len(name) > MAX_NAME_LENGTH:
        return (
            f"the full name is {len(name)} characters long"
            f' ("{name[:40]}..."); at most {MAX_NAME_LENGTH} are allowed'
        )
    return None


def _looks_like_registry(first: str) -> bool:
    """Docker's test for "is this first path component a registry?"."""
    return "." in first or ":" in first or first == "localhost" or first != first.lower()


@functools.lru_cache(maxsize=256)  # asked on every request and every redirect hop
def is_loopback_host(host: str) -> bool:
    """True for ``localhost``, ``127.x.y.z`` and ``::1`` (bare or ``[::1]``), with or without a
    port. Names are not resolved. The registry client uses the same rule for plain HTTP."""
    name = host
    if name.startswith("["):
        name = name[1 : name.find("]")]
    elif name.count(":") == 1:
        name = name.split(":", 1)[0]
    if name.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def split_docker_domain(name: str) -> tuple[str, str]:
    """Split a name into ``(registry, rest)`` the way Docker's ``splitDockerDomain`` does.

    ``rest`` keeps any ``:tag`` that followed the name. Docker Hub names come back as
    ``docker.io`` with ``library/`` added to one-component paths, and ``index.docker.io``
    becomes ``docker.io``. Nothing is validated here; :func:`parse_reference` does that.

    >>> split_docker_domain("mysql:5.7")
    ('docker.io', 'library/mysql:5.7')
    >>> split_docker_domain("localhost:5000/lab/mysql")
    ('localhost:5000', 'lab/mysql')
    """
    domain, rest, _ = _split_domain(name)
    return domain, rest


def _split_domain(name: str) -> tuple[str, str, bool]:
    """:func:`split_docker_domain`, plus whether ``library/`` was added."""
    first, slash, rest = name.partition("/")
    if not slash:
        domain, rest = DOCKER_HUB_DOMAIN, name
    elif first == LEGACY_DOCKER_HUB_DOMAIN:
        domain = DOCKER_HUB_DOMAIN
    elif _looks_like_registry(first):
        domain = first
    else:
        domain, rest = DOCKER_HUB_DOMAIN, name
    # Decided on the text with its tag, as Docker does: "mysql:5.7" has no "/", so it is official.
    if domain == DOCKER_HUB_DOMAIN and "/" not in rest:
        return domain, OFFICIAL_PREFIX + rest, True
    return domain, rest, False


@dataclass(frozen=True)
class Reference:
    """A normalized image reference: ``registry/repository[:tag][@digest]``.

    Build one with :func:`parse_reference`. The constructor checks the same rules and also
    refuses values that are not in normalized form (``index.docker.io``, or ``docker.io``
    without ``library/``), so that ``parse_reference(str(ref)) == ref`` always holds.
    """

    registry: str
    """Normalized registry, ``docker.io`` for Docker Hub, otherwise ``host[:port]`` as written."""
    repository: str
    """Path inside the registry, e.g. ``library/mysql`` or ``lab/mysql``."""
    tag: str | None = None
    digest: str | None = None

    def __post_init__(self) -> None:
        problem = (
            _registry_problem(self.registry)
            or _path_problem(self.repository)
            or (self.tag is not None and _tag_problem(self.tag))
            or (self.digest is not None and _digest_problem(self.digest))
            or _length_problem(self.name)
        )
        if not problem and not _looks_like_registry(self.registry):
            problem = (
                f'registry "{self.registry}" would be read back as part of the repository path:'
                ' Docker only treats a first component as a registry if it contains "." or ":",'
                ' is "localhost" or has an uppercase letter'
            )
        if not problem and self.registry == LEGACY_DOCKER_HUB_DOMAIN:
            problem = f'registry "{self.registry}" is not normalized; write "{DOCKER_HUB_DOMAIN}"'
        if not problem and self.registry == DOCKER_HUB_DOMAIN and "/" not in self.repository:
            problem = (
                f'Docker Hub repository "{self.repository}" is not normalized;'
                f' write "{OFFICIAL_PREFIX}{self.repository}"'
            )
        if problem:
            raise InvalidReferenceError(f"invalid Reference: {problem}")

    # -- names ---------------------------------------------------------------------------------

    @property
    def name(self) -> str:
        """``registry/repository``, e.g. ``docker.io/library/mysql``."""
        return f"{self.registry}/{self.repository}"

    @property
    def path(self) -> str:
        """The repository path, as the ``<tag>: Pulling from library/mysql`` line shows it."""
        return self.repository

    def __str__(self) -> str:
        text = self.name
        if self.tag is not None:
            text += f":{self.tag}"
        if self.digest is not None:
            text += f"@{self.digest}"
        return text

    def familiar_name(self) -> str:
        """The name as Docker prints it: ``mysql``, ``circleci/golang``, ``localhost/foo``."""
        if self.registry != DOCKER_HUB_DOMAIN:
            return self.name
        short = self.repository.removeprefix(OFFICIAL_PREFIX)
        # library/foo/bar keeps its prefix: only one-component official names are shortened.
        return self.repository if "/" in short else short

    def familiar(self) -> str:
        """The whole reference as Docker prints it: ``mysql:5.7``, ``mysql@sha256:…``."""
        text = self.familiar_name()
        if self.tag is not None:
            text += f":{self.tag}"
        if self.digest is not None:
            text += f"@{self.digest}"
        return text

    # -- where to send requests ----------------------------------------------------------------

    @property
    def is_docker_hub(self) -> bool:
        """True for ``docker.io``, Docker's official index; ``registry-1.docker.io`` is not."""
        return self.registry == DOCKER_HUB_DOMAIN

    @property
    def api_host(self) -> str:
        """``host[:port]`` to send HTTP to: ``registry-1.docker.io`` for Docker Hub."""
        return DOCKER_HUB_API_HOST if self.is_docker_hub else self.registry

    @property
    def is_loopback(self) -> bool:
        """True for ``localhost``, 127.0.0.0/8 and ``[::1]``, with or without a port.

        These are the registries Docker talks plain HTTP to without being told to
        (its default insecure ranges are 127.0.0.0/8 and ::1/128). Names other than
        ``localhost`` are not resolved, so ``myhost.local`` is False even if it is local.
        """
        return is_loopback_host(self.registry)

    @property
    def pinned(self) -> bool:
        """True when a digest fixes the content, whatever the tag says."""
        return self.digest is not None

    @property
    def api_ref(self) -> str:
        """What goes in ``/v2/<repository>/manifests/<api_ref>``.

        The digest when there is one (the registry ignores the tag then, as Docker does),
        otherwise the tag, otherwise ``latest``: that is what ``docker pull`` would ask for.
        """
        return self.digest or self.tag or DEFAULT_TAG

    # -- variations ----------------------------------------------------------------------------

    def with_tag(self, tag: str) -> Reference:
        """The same reference with ``tag``; a digest stays, like Docker's ``WithTag``."""
        return replace(self, tag=tag)

    def with_digest(self, digest: str) -> Reference:
        """The same reference pinned to ``digest``; the tag stays, like Docker's ``WithDigest``."""
        return replace(self, digest=digest)


# A survey parses each of its references several times (plan, queue, request); the result is
# an immutable value, so a bounded memo is safe. Errors are not memoised: they raise again.
@functools.lru_cache(maxsize=4096)
def parse_reference(text: str, *, default_tag: str | None = DEFAULT_TAG) -> Reference:
    """Parse and normalize ``text`` as ``docker pull`` would.

    ``default_tag`` is added when the text has neither a tag nor a digest; pass ``None``
    to leave such a reference without a tag. Raises
    :class:`~archlab.errors.InvalidReferenceError` naming the part that is wrong.
    """

    def invalid(problem: str) -> InvalidReferenceError:
        return InvalidReferenceError(f'invalid reference "{text}": {problem}')

    if not text:
        raise invalid(f"the reference is empty; {_SHAPE}")
    if (at := first_unprintable(text)) is not None:
        raise InvalidReferenceError(
            f'invalid reference "{shown(text)}": character {at + 1} is '
            f"{shown(text[at])}, which is not printable; a reference is printable text"
            + (" (a byte-order mark: save the file without one)" if text[at] == "\ufeff"
               else "")
        )
    if _IMAGE_ID.fullmatch(text):
        raise invalid(
            "a bare 64-digit hex string is an image ID, not a name"
            " (Docker: cannot specify 64-byte hexadecimal strings);"
            " to pin a digest write NAME@sha256:<hex>"
        )

    # No part of the grammar before the digest may contain "@", so the first one starts it.
    name_and_tag, at, digest = text.partition("@")
    registry, rest, added_library = _split_domain(name_and_tag)
    # After the registry is split off, the first ":" can only start the tag.
    path, colon, tag = rest.partition(":")
    # Messages quote the path as the user wrote it, without the library/ we added.
    written = path.removeprefix(OFFICIAL_PREFIX) if added_library else path
    if not written:
        raise invalid(f"the repository name is empty; {_SHAPE}")

    problem = (
        # Docker checks case first, so "Mysql" says "lowercase", not "invalid format".
        (written != written.lower() and _path_problem(written))
        or _registry_problem(registry)
        or _path_problem(written)
        or (colon and _tag_problem(tag))
        or (at and _digest_problem(digest))
        or _length_problem(f"{registry}/{path}")
    )
    if problem:
        raise invalid(problem)

    tag_value = tag if colon else None
    digest_value = digest if at else None
    if tag_value is None and digest_value is None and default_tag is not None:
        if bad := _tag_problem(default_tag):
            raise InvalidReferenceError(f"invalid default_tag: {bad}")
        tag_value = default_tag
    return Reference(registry, path, tag_value, digest_value)
