"""Sphinx configuration: numpydoc API reference, user guide, sphinx-gallery examples."""

import os
import sys

sys.path.insert(0, os.path.abspath(".."))

import torch  # noqa: E402

import skdeepcluster  # noqa: E402

# The gallery's networks are small: one thread is as fast as two on an idle
# machine, and many times faster on a busy shared one, where OpenMP threads
# wait for one another.
torch.set_num_threads(1)

project = "skdeepcluster"
author = "the skdeepcluster developers"
copyright = "2026, the skdeepcluster developers"
version = release = skdeepcluster.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.intersphinx",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

autosummary_generate = True
autodoc_default_options = {"members": True, "inherited-members": False}
# Single backticks are code, as in scikit-learn: ``ndarray of shape (`n_features_in_`,)``.
default_role = "literal"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
exclude_patterns = ["_build", "guide/_benchmark_table.rst", "guide/_peer_table.rst", "auto_examples/*.ipynb", "auto_examples/*.py", "auto_examples/*.zip"]
html_theme = "alabaster"
html_static_path = ["_static"]
intersphinx_mapping = {}  # no network here: no cross-project links

sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"plot_",
    "download_all_examples": False,
    "remove_config_comments": True,
    "abort_on_example_error": True,
}

suppress_warnings = ["config.cache"]


def _skip_generated_request_methods(app, what, name, obj, skip, options):
    """Leave out scikit-learn's generated ``set_*_request`` methods (metadata routing).

    Their docstrings point into scikit-learn's own documentation; the user guide
    says where they matter (graph methods with ``adjacency=``).
    """
    if name.startswith("set_") and name.endswith("_request"):
        return True
    return None


def setup(app):
    app.connect("autodoc-skip-member", _skip_generated_request_methods)
