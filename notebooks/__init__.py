"""The course's notebooks, installed as the package ``archlab.course`` (see archlab/shipped.py).

pyproject.toml maps this directory into the package, so that ``archlab course`` can copy the
notebooks from an installed wheel. This file makes it a regular package, which editable
installs need to find a mapped subpackage; JupyterLab started by archlab hides it.
"""
