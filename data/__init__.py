"""archlab's shipped data, installed as the package ``archlab.data`` (see archlab/shipped.py).

pyproject.toml maps this directory into the package instead of copying it, so a checkout, an
editable install and a wheel all reach it through importlib.resources. This file makes it a
regular package, which editable installs need to find a mapped subpackage.
"""
