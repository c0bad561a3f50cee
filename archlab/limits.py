"""Every bound archlab enforces, in one place.

What it is for
--------------
archlab reads registries it does not control, files people paste in, and its own cache and
snapshots on disk. Each of those inputs could be endless, slow or deeply nested, by accident or
on purpose. Every size, count, depth and deadline that stops such an input lives here, as a
named constant, so that a reviewer can see all of them at once and a user can find the one to
raise.

How do I use it?
----------------
Import the constant where the bound is applied; never write the number itself::

    from archlab import limits
    if len(body) > limits.MAX_MANIFEST_BYTES: ...

Most bounds are also parameters of the function or class that applies them (the table says
which), defaulting to the constant here: pass a larger value where you trust the source.

Time is bounded in layers: ``IO_TIMEOUT`` notices a silent socket, ``REQUEST_DEADLINE`` ends
an attempt however slowly its bytes trickle, ``RETRY_BUDGET`` ends the retries, and a survey's
``REFERENCE_DEADLINE`` ends one reference whatever it waits for. A registry that accepts the
connection and never answers therefore costs 30 s (three read timeouts), where it cost 157 s
before there were deadlines; one that trickles costs the same.

The table
---------
=============================  ===========  ===================================================
constant                       default      what it bounds (and where to override it)
=============================  ===========  ===================================================
``MAX_MANIFEST_BYTES``         4 MiB        one manifest, list or index read from a registry
                                            (``RegistryClient(max_manifest_bytes=)``); real
                                            ones are a few KiB
``MAX_CONFIG_BYTES``           4 MiB        one image config blob
                                            (``RegistryClient(max_config_bytes=)``)
``MAX_SNAPSHOT_BLOB_BYTES``    4 MiB        a JSON blob a snapshot records
                                            (``RecordingTransport(max_blob_bytes=)``)
``MAX_SNAPSHOT_INDEX_BYTES``   64 MiB       a snapshot's ``index.json`` (the lab's is ~100 KiB)
``MAX_SNAPSHOT_LAYERS_BYTES``  256 MiB      layers one ``record(include_layers=True)`` keeps
                                            in all; the rest are listed as skipped
``MAX_SNAPSHOT_BYTES``         512 MiB      all the bodies of one snapshot, read into memory
                                            by ``load_snapshot``
``MAX_LAYER_BYTES``            64 MiB       one compressed layer fetched to read a file from
                                            it (lab runs, ``gather_facts(layers=True)``), or
                                            kept in a snapshot
``MAX_MEMBER_BYTES``           256 MiB      one file unpacked from a layer
                                            (``emulation.extract_file(max_bytes=)``)
``MAX_SYMLINK_HOPS``           16           symbolic links followed to find one file in a
                                            layer (Linux's own limit is 40)
``MAX_LAYER_UNPACKED_BYTES``   256 MiB      one layer once decompressed, headers included: the
                                            time a gzip bomb can cost
                                            (``layers.LayerLimits``)
``MAX_LAYER_MEMBERS``          100,000      entries in one layer (big distribution images
                                            have tens of thousands)
``MAX_TAR_HEADER_BYTES``       64 KiB       one pax extended header or GNU long name/link
                                            record, refused before it is read (a path is at
                                            most 4 KiB on Linux)
``MAX_LAYER_METADATA_BYTES``   16 MiB       names, link targets and extension headers of
                                            one layer in all: the memory its index takes
``MAX_ENTRYPOINT_READ_BYTES``  4 MiB        of an image's entrypoint file read for its ELF
                                            header and a lab hello line (``gather_facts``)
``EXEC_HEAD_BYTES``            4 KiB        of the file a container would start (and of its
                                            ``#!`` interpreter and ELF loader), read by
                                            ``archlab verify``: the ELF header, program headers
                                            and ``PT_INTERP`` path, or the ``#!`` line
``MAX_EXEC_HEADS_BYTES``       4 MiB        such starts kept per layer while it is scanned
                                            (every executable passed); past it a file that is
                                            wanted later is read again
                                            (``archlab.rootfs``)
``MAX_SHEBANG_DEPTH``          4            ``#!`` interpreters followed from one command
                                            (Linux's own limit, ``BINPRM_MAX_RECURSION``)
``CACHE_MAX_BYTES``            256 MiB      the on-disk content cache
                                            (``ContentCache(max_bytes=)``); also the most
                                            read from one cache file
``MAX_CACHE_SIDECAR_BYTES``    64 KiB       one cache ``.meta.json`` sidecar (real ones are
                                            ~150 bytes; a larger one is ignored)
``IO_TIMEOUT``                 10 s         one connect, or one silence between two reads or
                                            writes (``RegistryClient(timeout=)``)
``REQUEST_DEADLINE``           15 s         one attempt of one request, from connect to the
                                            last byte of the body, redirects and token fetch
                                            included: a body or headers trickled a byte at a
                                            time cannot stretch it; half the retry budget, so
                                            a trickled attempt leaves time for one more
                                            (``RegistryClient(request_deadline=)``)
``RETRY_BUDGET``               30 s         one request with all its attempts, backoffs and
                                            ``Retry-After`` waits: the most a silent or
                                            trickling server costs (``RegistryClient(
                                            retry_budget=)``); a wait that would overrun it
                                            is not begun
``LAYER_DEADLINE``             300 s        the same budget for one layer blob (up to
                                            ``MAX_LAYER_BYTES``, 220 KB/s at worst)
                                            (``RegistryClient(layer_deadline=)``)
``REFERENCE_DEADLINE``         60 s         one reference of a survey, all its requests
                                            (``survey(reference_deadline=)``); past it the
                                            reference is a row with its error
``PROBE_DEADLINE``             10 s         a survey's rate-limit probe (one HEAD per host, all
                                            hosts at once); a host that has not answered by
                                            then is surveyed without a known limit
                                            (``survey(probe_deadline=)``)
``RETRIES``                    4            attempts after the first for 429, 5xx and
                                            connection errors (``RegistryClient(retries=)``)
``RETRY_BACKOFF``              0.25 s       first backoff step; doubles with jitter
``MAX_RETRY_AFTER``            60 s         the longest ``Retry-After`` archlab waits for
                                            (``RegistryClient(max_retry_after=)``), if the
                                            retry budget has that much left
``MAX_REDIRECTS``              10           redirects followed for one request (Go's HTTP
                                            client, and so Docker, stops at 10 too)
``MAX_TOKEN_BYTES``            256 KiB      one token issuer's answer, read as it streams
                                            (real ones are 1-5 KiB)
``MAX_ERROR_BODY_BYTES``       4 KiB        the part of an error answer kept to quote; the
                                            rest is never read
``MAX_TAG_PAGE_BYTES``         4 MiB        one page of ``tags/list``
``MAX_TAG_PAGES``              200          pages of one ``tags/list`` followed through
                                            ``Link`` headers; past it ``list_tags`` raises
                                            ``TooLargeError``, never a silent partial list
                                            (``list_tags(max_pages=)``)
``MAX_TAGS``                   100,000      tags of one repository, the same way
                                            (``list_tags(max_tags=)``)
``PER_HOST``                   8            requests in flight to one registry host
                                            (``RegistryClient(per_host=)``, ``--max-per-host``)
``SURVEY_WINDOW``              10,000       references of a survey read ahead of their answers
                                            (queued or in flight): what bounds its memory
                                            however long the input; also the hashes of seen
                                            inputs kept in a Python set before they are packed
                                            into a numpy array (``archlab.dataset``)
``SURVEY_RECENT``              1,024        answers a survey keeps to give another spelling
                                            of the same image (``busybox`` after
                                            ``busybox:latest``) without asking again; also the
                                            parsed manifests and configs it keeps by digest
``SURVEY_RECENT_ROWS``         16,384       rows those kept answers may hold in all: with
                                            ``--all-tags`` one answer is a whole repository
                                            (every tag), and 1,024 of them would not be flat
``TAG_INDEX_REPOS``            16           repositories whose tag hints the tag index keeps in
                                            memory (``archlab.cache.TagIndex``); the others
                                            are read from disk again when asked for
``DATASET_PART_REFS``          2,000        references per Parquet part of a survey dataset:
                                            the rows held while one part is written or merged
``HELPER_TIMEOUT``             10 s         one run of a docker credential helper
``MAX_HELPER_OUTPUT_BYTES``    1 MiB        what archlab holds of a credential helper's
                                            stdout or stderr; a real answer is < 4 KiB
``LAB_START_TIMEOUT``          10 s         the lab registry answering after it starts
``LAB_STOP_TIMEOUT``           5 s          the lab registry exiting after SIGTERM
``JUPYTER_START_TIMEOUT``      30 s         JupyterLab answering after ``archlab course``
                                            starts it
``JUPYTER_STOP_TIMEOUT``       10 s         JupyterLab exiting after SIGTERM
``JUPYTER_LOG_TAIL_LINES``     15           lines of JupyterLab's log quoted when it fails to
                                            start or exits
``JUPYTER_LOG_TAIL_BYTES``     8 KiB        how much of the log's end is read for them
``MAX_VARIANT_LEVEL``          16           CPU variant levels listed below a platform's own
                                            (``linux/amd64/v3`` → v2, v1); real ones top out at
                                            amd64 v4 and arm v8
``TAG_LOOKUPS``                5            tags the compose audit inspects per image when it
                                            looks for one with the host's architecture
                                            (``--max-tag-lookups``)
``HUB_PAGE_SIZE``              100          tags asked for per page of Docker Hub's tag listing:
                                            the API's own maximum (``hub_tags(page_size=)``)
``MAX_HUB_PAGES``              2,000        pages of Docker Hub's tag listing followed for one
                                            repository: 200,000 tags, where the largest
                                            official repositories hold about 10,000; stops a
                                            ``next`` chain that never ends
                                            (``hub_tags(max_pages=)``)
``MAX_HUB_PAGE_BYTES``         8 MiB        one page of Docker Hub's tag listing; 100 tags with
                                            ten images each are about 300 KiB
                                            (``hub_tags(max_page_bytes=)``)
``MAX_INPUT_FILE_BYTES``       4 MiB        one file a person or archlab wrote: compose file,
                                            ``.env``, Dockerfile, replacements, host profile,
                                            docker ``config.json``, cache tag hints,
                                            ``lab.json`` (``decoding.read_file(max_bytes=)``)
``MAX_LIST_FILE_BYTES``        64 MiB       a file that grows with a survey: a reference list,
                                            a results file (JSON lines), a snapshot's
                                            ``index.json`` (the reading function's ``max_bytes=``)
``MAX_JSON_BYTES``             4 MiB        one JSON document when its caller names no other
                                            cap (``decoding.load_json(max_bytes=)``)
``MAX_JSON_DEPTH``             64           arrays and objects nested in one JSON document,
                                            checked before parsing; real ones nest < 10
                                            (``decoding.load_json(max_depth=)``)
``MAX_YAML_BYTES``             1 MiB        one YAML document (compose, hosts, replacements);
                                            PyYAML's safe composer reads ~150 KiB/s, so this
                                            also bounds the time (``decoding.load_yaml(...)``)
``MAX_YAML_DEPTH``             64           collections nested in one YAML document
``MAX_YAML_ALIASES``           1,000        ``*alias`` uses in one YAML document
``MAX_YAML_NODES``             100,000      nodes of one YAML document with every alias
                                            expanded: what stops a "billion laughs" file
                                            before it takes memory (the red team saw 5.8 GB)
=============================  ===========  ===================================================
"""

from __future__ import annotations

from typing import Final

KiB: Final = 1024
MiB: Final = 1024 * KiB

MAX_MANIFEST_BYTES: Final = 4 * MiB
MAX_CONFIG_BYTES: Final = 4 * MiB
MAX_SNAPSHOT_BLOB_BYTES: Final = 4 * MiB
MAX_SNAPSHOT_INDEX_BYTES: Final = 64 * MiB
MAX_SNAPSHOT_LAYERS_BYTES: Final = 256 * MiB
MAX_SNAPSHOT_BYTES: Final = 512 * MiB
MAX_LAYER_BYTES: Final = 64 * MiB
MAX_MEMBER_BYTES: Final = 256 * MiB
MAX_SYMLINK_HOPS: Final = 16
MAX_LAYER_UNPACKED_BYTES: Final = 256 * MiB
MAX_LAYER_MEMBERS: Final = 100_000
MAX_TAR_HEADER_BYTES: Final = 64 * KiB
MAX_LAYER_METADATA_BYTES: Final = 16 * MiB
MAX_ENTRYPOINT_READ_BYTES: Final = 4 * MiB
EXEC_HEAD_BYTES: Final = 4 * KiB
MAX_EXEC_HEADS_BYTES: Final = 4 * MiB
MAX_SHEBANG_DEPTH: Final = 4
CACHE_MAX_BYTES: Final = 256 * MiB
MAX_CACHE_SIDECAR_BYTES: Final = 64 * KiB

IO_TIMEOUT: Final = 10.0
REQUEST_DEADLINE: Final = 15.0
RETRY_BUDGET: Final = 30.0
LAYER_DEADLINE: Final = 300.0
REFERENCE_DEADLINE: Final = 60.0
PROBE_DEADLINE: Final = 10.0
RETRIES: Final = 4
RETRY_BACKOFF: Final = 0.25
MAX_RETRY_AFTER: Final = 60.0
MAX_REDIRECTS: Final = 10
MAX_TOKEN_BYTES: Final = 256 * KiB
MAX_ERROR_BODY_BYTES: Final = 4 * KiB
MAX_TAG_PAGE_BYTES: Final = 4 * MiB
MAX_TAG_PAGES: Final = 200
MAX_TAGS: Final = 100_000
PER_HOST: Final = 8
SURVEY_WINDOW: Final = 10_000
SURVEY_RECENT: Final = 1024
SURVEY_RECENT_ROWS: Final = 16_384
DATASET_PART_REFS: Final = 2000
TAG_INDEX_REPOS: Final = 16

HELPER_TIMEOUT: Final = 10.0
MAX_HELPER_OUTPUT_BYTES: Final = 1 * MiB
LAB_START_TIMEOUT: Final = 10.0
LAB_STOP_TIMEOUT: Final = 5.0

JUPYTER_START_TIMEOUT: Final = 30.0
JUPYTER_STOP_TIMEOUT: Final = 10.0
JUPYTER_LOG_TAIL_LINES: Final = 15
JUPYTER_LOG_TAIL_BYTES: Final = 8 * KiB

MAX_VARIANT_LEVEL: Final = 16
TAG_LOOKUPS: Final = 5
HUB_PAGE_SIZE: Final = 100
MAX_HUB_PAGES: Final = 2000
MAX_HUB_PAGE_BYTES: Final = 8 * MiB

MAX_INPUT_FILE_BYTES: Final = 4 * MiB
MAX_LIST_FILE_BYTES: Final = 64 * MiB
MAX_JSON_BYTES: Final = 4 * MiB
MAX_JSON_DEPTH: Final = 64
MAX_YAML_BYTES: Final = 1 * MiB
MAX_YAML_DEPTH: Final = 64
MAX_YAML_ALIASES: Final = 1000
MAX_YAML_NODES: Final = 100_000
