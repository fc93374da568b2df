"""Sphinx configuration of the skcrystal documentation."""

import skcrystal

project = "skcrystal"
author = "the skcrystal developers"
release = skcrystal.__version__
extensions = ["sphinx.ext.autodoc", "sphinx.ext.autosummary", "numpydoc"]
autosummary_generate = True
numpydoc_show_class_members = False
html_theme = "pydata_sphinx_theme"
exclude_patterns = ["_build"]
