"""Sphinx configuration of the skcrystal documentation.

Build with ``make docs`` from the repository root (warnings are errors). The examples of
``../examples`` run during the build (sphinx-gallery); ``-D plot_gallery=0`` skips them.
"""

import contextlib
import importlib.util
import io
import os
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import skcrystal

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "sphinxext"))

project = "skcrystal"
author = "the skcrystal developers"
copyright = "the skcrystal developers"
release = skcrystal.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]
# The changelog is Markdown: rendered by myst-parser where it is installed, shown as its
# Markdown source otherwise (see _changelog_source below).
HAVE_MYST = importlib.util.find_spec("myst_parser") is not None
if HAVE_MYST:
    extensions.append("myst_parser")

source_suffix = {".rst": "restructuredtext"}
templates_path = ["_templates"]
exclude_patterns = ["_build", "generated/backreferences", "**.ipynb_checkpoints"]
root_doc = "index"
rst_epilog = f"""
.. |CLASSES| replace:: ``{skcrystal.CLASSES!r}``
"""

# -- autodoc / autosummary / numpydoc -------------------------------------------------------
autosummary_generate = True
# Public faces (skcrystal.io) list in __all__ what they import from private modules.
autosummary_ignore_module_all = False
autodoc_default_options = {"member-order": "bysource"}
autodoc_typehints = "none"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

# -- MyST (only for the changelog, which is Markdown) ---------------------------------------
myst_heading_anchors = 2
MYST_CHANGELOG = """\
.. include:: ../CHANGELOG.md
   :parser: myst_parser.sphinx_
"""

# -- sphinx-gallery -------------------------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": "plot_",
    "within_subsection_order": "gallery_order.ExampleOrder",
    "image_scrapers": ("matplotlib",),
    "backreferences_dir": "generated/backreferences",
    "doc_module": ("skcrystal",),
    "remove_config_comments": True,
    "capture_repr": (),  # the examples print what they want shown
    "show_memory": False,
    "matplotlib_animations": False,
}

# -- HTML -----------------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"skcrystal {release}"
html_theme_options = {
    "navbar_align": "left",
    "show_toc_level": 2,
    "navigation_with_keys": False,
}
html_static_path = []


# -- The command line's help, written at build time so that the page never goes stale -------
def _write_cli_help():
    from skcrystal.cli import build_parser

    target = HERE / "generated" / "cli"
    target.mkdir(parents=True, exist_ok=True)
    os.environ["COLUMNS"] = "92"
    for command in (None, "classify", "fingerprint", "train"):
        buffer = io.StringIO()
        argv = ["--help"] if command is None else [command, "--help"]
        with contextlib.redirect_stdout(buffer), contextlib.suppress(SystemExit):
            build_parser().parse_args(argv)
        name = "skcrystal" if command is None else command
        text = buffer.getvalue()
        path = target / f"{name}.txt"
        if (
            not path.exists() or path.read_text() != text
        ):  # unchanged files keep the build incremental
            path.write_text(text)


_write_cli_help()


def _changelog_source(app, docname, source):
    """With myst-parser, render ``CHANGELOG.md`` instead of showing its source."""
    if docname == "changelog" and HAVE_MYST:
        source[0] = MYST_CHANGELOG


def setup(app):
    app.connect("source-read", _changelog_source)
