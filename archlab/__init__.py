"""archlab: make Docker's CPU-architecture behaviour visible, testable and surveyable.

Modules, one concept each:

==================  ==========================================================================
``reference``       image references, parsed and normalized as Docker does
``platforms``       os/arch/variant values, containerd's normalization and matchers per version
``manifests``       manifest lists, OCI indexes, image manifests, schema1, configs; digests
``registry``        the httpx client: auth, HEAD-first resolution, verification, cache, retries
``inspect``         one reference described entry by entry, as dataclasses and DataFrames
``lab``             tiny real multi-arch images and a local registry to teach and test with
==================  ==========================================================================
"""

__version__ = "0.1.0"
