"""abscopal: predicted benefit of adding stereotactic radiation to immunotherapy in NSCLC.

Research use only; not a medical device. This package is the top floor: the command line
(``abscopal.cli``) and the Python API (``abscopal.api``, imported on first use:
``from abscopal import simulate, build_features, train, load_model, predict, evaluate``). The
shared settings and atomic file output are in ``common``; the pipeline flows
``common -> cohorts -> features -> models -> training -> serving -> abscopal``
(tests/test_layers.py keeps every import pointing down).
"""

from common import __version__

_API = ("simulate", "build_features", "train", "load_model", "predict", "evaluate")
__all__ = ["__version__", *_API]


def __getattr__(name: str):
    # lazy, so that `import abscopal` (e.g. for --version) does not import the whole pipeline
    if name in _API:
        from abscopal import api

        return getattr(api, name)
    raise AttributeError(f"module 'abscopal' has no attribute {name!r}")
