"""Training recipes for the bundled default models (host side: torch).

* :mod:`training.lpl`: ``lpl_resnet18`` plate corners (seed 000).
* :mod:`training.ocr`: ``plate_ocr_crnn`` plate text (seed 003).
* ``python -m training lpl|ocr ...``: train, export, evaluate on the held-out synthetic set, bundle.

All data comes from :mod:`calibration.synth` (nothing is downloaded); every
model input is made by the edgevision kernel with the model's own config.
"""
