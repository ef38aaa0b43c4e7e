"""The sections of :mod:`calibration.synth`, one module each (private: import from
``calibration.synth``, whose names and docs are the public ones).

``layouts`` (plate types, sizes, characters, text rules), ``geometry``, ``rendering`` and
``scene`` (backgrounds, dirt, occluders, photometric) <- ``generator`` (:class:`PlateSceneGenerator`)
<- ``writer``; ``crops`` (rectified crops) needs ``geometry`` only. No module imports the package facade.
"""
