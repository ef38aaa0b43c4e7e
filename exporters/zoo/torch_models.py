"""PyTorch reference architectures, written here (torchvision/timm are not used).

Every builder returns an :class:`exporters.zoo.Built`: the untrained module plus
its ``edgevision`` config. Conventions: inputs are NCHW float32 batches made by
the edgevision kernel from uint8 BGR images (``swap_rb`` gives RGB where the
config says so); sizes are ``(height, width)`` pixels.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from calibration.plate_alphabet import ADS, PROVINCES
from edgevision.checks import check_size, is_int
from edgevision.errors import InvalidArgumentError

from . import CORNER_NAMES, Built

IMAGENET_MEAN = (0.485, 0.456, 0.406)  # RGB, after scale 1/255
IMAGENET_STD = (0.229, 0.224, 0.225)

#: Slot-0 classes of the plate OCR: the 31 province characters (CCPD order; no CCPD "O" placeholder), then
#: 使, which opens embassy plates (使 + 6 digits). 32 classes.
PLATE_PROVINCES: tuple[str, ...] = tuple(PROVINCES[:31]) + ("使",)
#: Classes of the other slots: 24 letters (no I, O), 10 digits, "" = no character (the 8th slot of a
#: 7-character plate; CCPD writes it as the placeholder "O"), as in seed 003; then the last characters
#: of special plates: 警 (police), 学 (coach), 挂 (trailer), 港 and 澳 (Hong Kong and Macau cross-border),
#: 领 (consulate). 41 classes; the first 35 are seed 003's, in its order, so older weights grow into them
#: (``training.from_onnx.state_from_onnx(grown=...)``).
PLATE_SPECIALS: tuple[str, ...] = tuple("警学挂港澳领")
PLATE_SYMBOLS: tuple[str, ...] = tuple(ADS[:34]) + ("",) + PLATE_SPECIALS


def _size(size: Any, name: str = "size") -> tuple[int, int]:
    """``(height, width)`` from an int or a pair (:func:`edgevision.checks.check_size`; every error an
    InvalidArgumentError, as the builders have always raised)."""
    return check_size(size, name, error=InvalidArgumentError)


# --- ResNet-18 (He et al. 2015), the BasicBlock variant ------------------------------------


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        idt = x if self.downsample is None else self.downsample(x)
        y = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(y)) + idt)


class ResNet18Encoder(nn.Module):
    """ResNet-18 up to global average pooling: (N, 3, H, W) -> (N, 512)."""

    def __init__(self, in_channels: int = 3, widths: Sequence[int] = (64, 128, 256, 512)) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, widths[0], 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        layers, cin = [], widths[0]
        for i, w in enumerate(widths):
            stride = 1 if i == 0 else 2
            layers.append(nn.Sequential(BasicBlock(cin, w, stride), BasicBlock(w, w)))
            cin = w
        self.layer1, self.layer2, self.layer3, self.layer4 = layers
        self.out_features = widths[-1]
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        for blk in self.modules():  # zero-init the last BN of each residual branch (Goyal et al.)
            if isinstance(blk, BasicBlock):
                nn.init.zeros_(blk.bn2.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(F.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)


class LPLResNet18(nn.Module):
    """Plate corner regressor (seed 000): ResNet-18 encoder, then Linear-ReLU-Linear to 8 values.

    Output ``keypoints`` (N, 8): x0, y0, ..., x3, y3 of the corners TL, TR, BR, BL,
    normalized to the letterboxed model input (x / width, y / height).
    """

    def __init__(self, hidden: int = 256) -> None:
        super().__init__()
        self.encoder = ResNet18Encoder()
        self.head = nn.Sequential(nn.Linear(self.encoder.out_features, hidden), nn.ReLU(inplace=True),
                                  nn.Linear(hidden, 8))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(x))


def lpl_resnet18(size: Any = 128, hidden: int = 256) -> Built:
    """The plate-corner model; ``size``: the square (or (h, w)) letterbox input in pixels (default 128)."""
    h, w = _size(size)
    cfg = {"task": "keypoints", "name": "lpl_resnet18",
           "preprocess": {"size": [h, w], "mode": "letterbox", "swap_rb": True, "mean": list(IMAGENET_MEAN),
                          "std": list(IMAGENET_STD), "pad_value": 114},
           "decoder": {"num_keypoints": 4, "normalized": True, "names": list(CORNER_NAMES)},
           "input_name": "images", "output_names": ["keypoints"], "layout": "NCHW"}
    return Built("lpl_resnet18", "torch", LPLResNet18(hidden), cfg, (3, h, w))


# --- CCPD plate OCR (seed 003) ------------------------------------------------------------


class PlateOCR(nn.Module):
    """Seed 003's OCR: a CNN that turns a 64 x 32*S plate crop into S columns, one per character slot.

    With ``lstm=True`` a 2-layer bidirectional LSTM (128 per direction) runs over the
    columns first. Outputs: ``province`` (N, 1, 31) logits for slot 0 and ``symbols``
    (N, S-1, 35) logits for slots 1..S-1; with ``rows=True`` also ``rows`` (N, 2):
    logits for "the crop shows one row of text" / "two rows" (a double-row plate,
    which :class:`edgevision.PlateReader` then re-reads with its rows side by side),
    from the mean and max of the CNN columns.

    With ``ctc_classes=C`` (the CTC variant, :func:`plate_ocr_ctc`) the last stage keeps
    4 columns per slot and one head gives ``ctc`` (N, 4*S, C) logits over time steps
    (class 0 the blank) instead of the province and symbol heads; the text's length is
    free, and a character need not sit in a fixed column of the crop.
    """

    def __init__(self, num_slots: int = 7, lstm: bool = False, dropout: float = 0.2,
                 num_provinces: int = len(PLATE_PROVINCES), num_symbols: int = len(PLATE_SYMBOLS),
                 rows: bool = False, ctc_classes: int = 0) -> None:
        super().__init__()
        p = dropout
        self.num_slots = num_slots
        # The CTC variant keeps the width of the third stage (4 columns per slot) in its last
        # stage: same layers and weight shapes, so a slots model's weights load into it.
        last = (2, 1) if ctc_classes else (2, 2)
        self.cnn = nn.Sequential(
            nn.Conv2d(3, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.Dropout2d(p), nn.MaxPool2d(2, 2),
            nn.Conv2d(32, 64, 3, padding=1, stride=(2, 1)), nn.BatchNorm2d(64), nn.ReLU(), nn.Dropout2d(p),
            nn.MaxPool2d(2, 2),
            nn.Conv2d(64, 128, 3, padding=1), nn.BatchNorm2d(128), nn.ReLU(), nn.Dropout2d(p), nn.MaxPool2d(2, 2),
            nn.Conv2d(128, 256, 3, padding=1, stride=last), nn.ReLU(), nn.MaxPool2d(last, last),
        )
        self.lstm = nn.LSTM(256, 128, num_layers=2, batch_first=True, dropout=p, bidirectional=True) if lstm else None
        feat = 256
        if ctc_classes:
            self.ctc = nn.Linear(feat, ctc_classes)
        else:
            self.province = nn.Linear(feat, num_provinces)
            self.symbols = nn.Linear(feat, num_symbols)
        self.rows = nn.Linear(2 * 256, 2) if rows else None

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        c = self.cnn(x)                       # (N, 256, 1, S), S = 4 * num_slots for CTC
        c = c.flatten(2).transpose(1, 2)      # (N, S, 256)
        f = self.lstm(c)[0] if self.lstm is not None else c
        out = (self.ctc(f),) if hasattr(self, "ctc") else (self.province(f[:, :1]), self.symbols(f[:, 1:]))
        if self.rows is not None:
            out += (self.rows(torch.cat([c.mean(1), c.amax(1)], 1)),)
        return out


def _check_ocr_args(num_slots: Any, rows: Any) -> None:
    """The arguments every plate OCR builder takes, checked."""
    if not is_int(num_slots) or not 2 <= num_slots <= 16:
        raise InvalidArgumentError(f"num_slots: expected an int in 2..16 (characters per plate), got {num_slots!r}")
    if not isinstance(rows, bool):
        raise InvalidArgumentError(f"rows: expected a bool (add the one-row/two-row head), got {rows!r}")


def _plate_ocr_config(name: str, task: str, num_slots: int, rows: bool, decoder: dict[str, Any],
                      outputs: list[str], **extra: Any) -> dict[str, Any]:
    """The config of a plate OCR of ``num_slots`` characters (input 64 x 32*num_slots, stretched,
    ImageNet-normalized RGB): ``decoder`` and ``outputs`` are the heads'; ``rows=True`` adds the
    one-row/two-row head (``decoder.rows``, output ``rows``, the split of
    :data:`edgevision.plates.TWO_ROW_SPLIT`)."""
    from edgevision.plates import TWO_ROW_SPLIT

    if rows:
        decoder = {**decoder, "rows": {"output": "rows", "split": dict(TWO_ROW_SPLIT)}}
        outputs = [*outputs, "rows"]
    return {"task": task, "name": name, **extra,
            "preprocess": {"size": [64, 32 * num_slots], "mode": "stretch", "swap_rb": True,
                           "mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD)},
            "decoder": decoder, "input_name": "images", "output_names": outputs, "layout": "NCHW"}


def _plate_ocr(name: str, lstm: bool, num_slots: int, dropout: float, rows: bool) -> Built:
    _check_ocr_args(num_slots, rows)
    decoder = {"heads": [
        {"output": "province", "charset": list(PLATE_PROVINCES), "slots": [0]},
        {"output": "symbols", "charset": list(PLATE_SYMBOLS), "slots": list(range(1, num_slots))}]}
    cfg = _plate_ocr_config(name, "slots_ocr", num_slots, rows, decoder, ["province", "symbols"])
    return Built(name, "torch", PlateOCR(num_slots, lstm, dropout, rows=rows), cfg, (3, 64, 32 * num_slots))


#: The CTC OCR's characters, blank excluded (its class ``k + 1`` is ``PLATE_CTC_CHARSET[k]``):
#: the provinces, then the letters, digits and special characters.
PLATE_CTC_CHARSET: tuple[str, ...] = PLATE_PROVINCES + tuple(c for c in PLATE_SYMBOLS if c)


def plate_ocr_ctc(num_slots: int = 8, dropout: float = 0.2, rows: bool = True) -> Built:
    """Seed 003's CNN + BiLSTM with a CTC head (``task="ctc_ocr"``): input 64 x 32*num_slots
    (64x256 for up to 8 characters), 4*num_slots time steps, class 0 the blank, the charset
    :data:`PLATE_CTC_CHARSET`, readings held to the plate formats
    (``decoder.pattern``: :data:`edgevision.plates.PLATE_TEXT_PATTERN`); with the
    one-row/two-row head (``decoder.rows``) unless ``rows=False``. Its layers have the shapes
    of :func:`plate_ocr_crnn`'s (the heads aside), so a slots model's weights can start it."""
    from edgevision.plates import PLATE_TEXT_PATTERN

    _check_ocr_args(num_slots, rows)
    cfg = _plate_ocr_config("plate_ocr_ctc", "ctc_ocr", num_slots, rows,
                            {"blank": 0, "layout": "NTC", "pattern": PLATE_TEXT_PATTERN}, ["ctc"],
                            charset=list(PLATE_CTC_CHARSET))
    model = PlateOCR(num_slots, True, dropout, rows=rows, ctc_classes=len(PLATE_CTC_CHARSET) + 1)
    return Built("plate_ocr_ctc", "torch", model, cfg, (3, 64, 32 * num_slots))


def plate_ocr_cnn(num_slots: int = 7, dropout: float = 0.2, rows: bool = False) -> Built:
    """Seed 003's CNN plate reader; input 64 x 32*num_slots (64x224 for 7 characters).
    ``rows=True`` adds the one-row/two-row head (``decoder.rows``)."""
    return _plate_ocr("plate_ocr_cnn", False, num_slots, dropout, rows)


def plate_ocr_crnn(num_slots: int = 7, dropout: float = 0.2, rows: bool = True) -> Built:
    """Seed 003's CNN + BiLSTM plate reader; input 64 x 32*num_slots (64x224 for 7 characters),
    with the one-row/two-row head (``decoder.rows``) unless ``rows=False``."""
    return _plate_ocr("plate_ocr_crnn", True, num_slots, dropout, rows)


# --- A tiny anchor-free detector with the YOLOv8 output layout (seed 002) -----------------


class ConvBNAct(nn.Sequential):
    def __init__(self, cin: int, cout: int, k: int = 3, s: int = 1) -> None:
        super().__init__(nn.Conv2d(cin, cout, k, s, k // 2, bias=False), nn.BatchNorm2d(cout), nn.SiLU())


def anchor_grid(size: tuple[int, int], strides: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """The anchor points of an anchor-free head: the centres of every ``stride`` cell of an input
    of ``size`` (height, width) pixels, row-major per level, levels in ``strides`` order.
    Returns ``(points (1, 2, A) x, y in input pixels, strides (1, 1, A))``."""
    h, w = size
    pts, strd = [], []
    for s in strides:
        gy, gx = torch.meshgrid(torch.arange(h // s), torch.arange(w // s), indexing="ij")
        pts.append(torch.stack([(gx.flatten() + 0.5) * s, (gy.flatten() + 0.5) * s], 0))
        strd.append(torch.full((h // s * (w // s),), float(s)))
    return torch.cat(pts, 1)[None], torch.cat(strd)[None, None]


def top_down(lat: nn.ModuleList, p3: torch.Tensor, p4: torch.Tensor, p5: torch.Tensor
             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The top-down FPN of the anchor-free heads: the stride-8, -16 and -32 features ``p3``, ``p4``,
    ``p5`` through their 1x1 lateral convs ``lat``, each level plus the next coarser one upsampled
    (nearest, x2). Returns ``(f3, f4, f5)``."""
    f5 = lat[2](p5)
    f4 = lat[1](p4) + F.interpolate(f5, scale_factor=2.0, mode="nearest")
    f3 = lat[0](p3) + F.interpolate(f4, scale_factor=2.0, mode="nearest")
    return f3, f4, f5


def ltrb_to_xywh(anchors: torch.Tensor, ltrb: torch.Tensor) -> torch.Tensor:
    """Box sides ``(N, 4, A)`` (left, top, right, bottom distances from the anchor points ``(1, 2, A)``,
    pixels) -> ``(N, 4, A)`` ``cx, cy, w, h``."""
    x1y1 = anchors - ltrb[:, :2]
    x2y2 = anchors + ltrb[:, 2:]
    return torch.cat([(x1y1 + x2y2) / 2, x2y2 - x1y1], 1)


class YoloTiny(nn.Module):
    """Backbone (strides 8/16/32), a top-down FPN, and one decoupled head per level.

    Output ``output0`` (N, 4 + classes, A): boxes ``cx, cy, w, h`` in model-input
    pixels, then per-class sigmoid scores, for A anchor points (the centres of the
    stride-8, -16 and -32 cells, row-major per level). Box sides are
    ``softplus(raw) * stride`` from the anchor point (left, top, right, bottom).
    """

    strides = (8, 16, 32)

    def __init__(self, num_classes: int, size: tuple[int, int], width: int = 16) -> None:
        super().__init__()
        c = width
        h, w = size
        if h % 32 or w % 32:
            raise InvalidArgumentError(f"size: height and width must be multiples of 32 (stride 32), got {size}")
        self.stem = nn.Sequential(ConvBNAct(3, c, 3, 2), ConvBNAct(c, 2 * c, 3, 2), ConvBNAct(2 * c, 2 * c))
        self.s8 = nn.Sequential(ConvBNAct(2 * c, 4 * c, 3, 2), ConvBNAct(4 * c, 4 * c))
        self.s16 = nn.Sequential(ConvBNAct(4 * c, 8 * c, 3, 2), ConvBNAct(8 * c, 8 * c))
        self.s32 = nn.Sequential(ConvBNAct(8 * c, 16 * c, 3, 2), ConvBNAct(16 * c, 16 * c))
        n = 4 * c
        self.lat = nn.ModuleList([nn.Conv2d(ch, n, 1) for ch in (4 * c, 8 * c, 16 * c)])
        self.smooth = nn.ModuleList([ConvBNAct(n, n) for _ in self.strides])
        self.box = nn.ModuleList([nn.Conv2d(n, 4, 1) for _ in self.strides])
        self.cls = nn.ModuleList([nn.Conv2d(n, num_classes, 1) for _ in self.strides])
        for conv in self.cls:  # start with low scores (RetinaNet's prior)
            nn.init.constant_(conv.bias, -4.6)
        anchors, strides = anchor_grid((h, w), self.strides)
        self.register_buffer("anchors", anchors, persistent=False)                # (1, 2, A)
        self.register_buffer("anchor_strides", strides, persistent=False)         # (1, 1, A)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p3 = self.s8(self.stem(x))
        p4 = self.s16(p3)
        boxes, scores = [], []
        for i, f in enumerate(top_down(self.lat, p3, p4, self.s32(p4))):
            f = self.smooth[i](f)
            boxes.append(self.box[i](f).flatten(2))
            scores.append(self.cls[i](f).flatten(2))
        ltrb = F.softplus(torch.cat(boxes, 2)) * self.anchor_strides         # (N, 4, A)
        return torch.cat([ltrb_to_xywh(self.anchors, ltrb), torch.sigmoid(torch.cat(scores, 2))], 1)


def yolo_tiny(size: Any = 320, labels: Sequence[str] = ("plate",), width: int = 16) -> Built:
    """The tiny detector; ``size`` multiple of 32 (default 320), one class per label."""
    h, w = _size(size)
    labels = list(labels)
    if not labels or not all(isinstance(s, str) and s for s in labels):
        raise InvalidArgumentError(f"labels: expected a non-empty list of class names, got {labels!r}")
    cfg = {"task": "detection", "name": "yolo_tiny", "labels": labels,
           "preprocess": {"size": [h, w], "mode": "letterbox", "swap_rb": True, "pad_value": 114},
           "decoder": {"layout": "yolov8", "conf_threshold": 0.25, "iou_threshold": 0.45},
           "input_name": "images", "output_names": ["output0"], "layout": "NCHW"}
    return Built("yolo_tiny", "torch", YoloTiny(len(labels), (h, w), width), cfg, (3, h, w))


# --- The tutorial models of seed 002 -------------------------------------------------------


class TutorialMLP(nn.Module):
    """784 -> 100 -> 50 -> 10 perceptron on a flattened 28x28 gray image; outputs logits."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(784, 100), nn.ReLU(), nn.Linear(100, 50), nn.ReLU(),
                                 nn.Linear(50, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class TutorialLSTM(nn.Module):
    """Seed 002's LSTMModel: rows of a (N, 1, T, F) gray image are T steps of F features; logits of the last step."""

    def __init__(self, input_dim: int = 30, hidden_dim: int = 120, layer_dim: int = 1, output_dim: int = 15) -> None:
        super().__init__()
        self.lstm = nn.LSTM(input_dim, hidden_dim, layer_dim, batch_first=True)
        self.fc = nn.Linear(hidden_dim, output_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(x.flatten(1, 2))   # (N, T, F): channel axis of 1 folded away
        return self.fc(out[:, -1, :])


def tutorial_mlp() -> Built:
    """MNIST-style digits: gray 28x28, stretched, MNIST mean/std."""
    cfg = {"task": "classification", "name": "tutorial_mlp", "labels": [str(i) for i in range(10)],
           "preprocess": {"size": [28, 28], "mode": "stretch", "channels": 1, "mean": 0.1307, "std": 0.3081},
           "decoder": {"top_k": 3, "softmax": True},
           "input_name": "images", "output_names": ["logits"], "layout": "NCHW"}
    return Built("tutorial_mlp", "torch", TutorialMLP(), cfg, (1, 28, 28))


def tutorial_lstm(steps: int = 30, features: int = 30, hidden: int = 120, classes: int = 15) -> Built:
    """Seed 002's sizes: input_dim 30, hidden 120, 1 layer, 15 classes; image steps x features, gray."""
    cfg = {"task": "classification", "name": "tutorial_lstm",
           "preprocess": {"size": [steps, features], "mode": "stretch", "channels": 1},
           "decoder": {"top_k": 3, "softmax": True},
           "input_name": "images", "output_names": ["logits"], "layout": "NCHW"}
    return Built("tutorial_lstm", "torch", TutorialLSTM(features, hidden, 1, classes), cfg, (1, steps, features))
