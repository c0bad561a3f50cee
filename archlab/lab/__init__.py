"""The local lab: real programs started on 127.0.0.1 so archlab can be shown and tested offline.

``archlab.lab.server`` runs Debian's ``docker-registry`` (CNCF distribution 2.8) with a throwaway
configuration; see its docstring for the configuration written, the auth variants and what the
registry answers. ``scenarios`` are the lab's images and artifacts (built by ``images``),
``instance`` is ``archlab lab up``, ``dockerd`` the real Docker the simulator answers to, and
``offline`` the lab without a registry: the shipped snapshot with its layers rebuilt.
"""
