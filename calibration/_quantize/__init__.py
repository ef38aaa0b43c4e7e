"""The sections of :mod:`calibration.quantize`, one module each (private: import from
``calibration.quantize``, whose names and docs are the public ones).

``common`` (formats, results, small helpers) <- ``graph`` (QDQ graph surgery) <- ``static``
<- ``sensitivity`` <- ``accuracy_aware``; ``dynamic_fp16``, ``tensorrt`` and ``side_by_side``
(the variants report: an adapter over the latency engine, ``calibration/_latency/``) use
``common`` only. No module imports the package facade.
"""
