"""The speed suite and its peer case, run from a checkout: ``python -m benchmarks [--full]``.

Not part of the installed package: they read the checkout (``priors/``, ``tests/reference_model.py``)
and write ``benchmarks/results/``. See docs/performance.md.
"""
