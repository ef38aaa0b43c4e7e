"""Keras 3 reference architectures (functional API), run on the torch backend (no TensorFlow).

Every builder returns an :class:`exporters.zoo.Built`: the untrained
``keras.Model`` plus its ``edgevision`` config, ready for
:func:`exporters.keras_export.export_keras`. Conventions:

- inputs are NHWC float32 batches (Keras' ``channels_last``) that the edgevision
  kernel makes from uint8 BGR images (``swap_rb: true`` gives RGB, as Keras
  image pipelines load them); the graph input is named ``images``;
- sizes are ``(height, width)`` in pixels; points are ``(x, y)``;
- corners are 4 points clockwise from top-left: TL, TR, BR, BL;
- the defaults are small so that tests stay fast; each builder documents the
  arguments of a full-size model.

Importing this module imports keras (with ``KERAS_BACKEND=torch`` unless keras
was already imported) and registers the custom layers below for
``keras.saving.load_model``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from edgevision.checks import check_int, check_size, is_real
from edgevision.errors import InvalidArgumentError

from ..keras_backend import import_keras
from . import CORNER_NAMES, Built

keras = import_keras()
ops = keras.ops
layers = keras.layers

#: Corner names of the keypoint models: clockwise from top-left (the same as the plate models).
#: Screen classes of the meter model (seed 001, stage 1).
METER_SCREEN_CLASSES = ("analog", "digital", "illegible")
#: Classes of the digit detector (seed 001, stage 2): ten digits and the area after the decimal point.
METER_DIGIT_CLASSES = tuple(str(i) for i in range(10)) + ("decimal",)
#: The smallest input Xception takes (height and width, pixels).
XCEPTION_MIN_SIZE = 71


def _positive_floats(values: Any, name: str) -> tuple[float, ...]:
    try:
        out = tuple(float(v) for v in values)
    except (TypeError, ValueError):
        out = ()
    if not out or not all(math.isfinite(v) and v > 0 for v in out):
        raise InvalidArgumentError(f"{name}: expected a non-empty sequence of positive numbers, got {values!r}")
    return out


# --- building blocks ------------------------------------------------------------------------


def conv_bn(x: Any, filters: int, kernel: int, strides: int, name: str) -> Any:
    """Conv2D ("same" padding, no bias, He init) -> BatchNormalization -> ReLU."""
    x = layers.Conv2D(filters, kernel, strides=strides, padding="same", use_bias=False, name=f"{name}_conv",
                      kernel_initializer="he_normal")(x)
    x = layers.BatchNormalization(name=f"{name}_bn")(x)
    return layers.ReLU(name=f"{name}_relu")(x)


def separable_block(x: Any, filters: int, strides: int, name: str) -> Any:
    """MobileNet's depthwise-separable block: depthwise 3x3 (stride) -> BN -> ReLU -> pointwise 1x1 -> BN -> ReLU.

    Kernels use He initialization with the true fan-in (9 for a depthwise 3x3 filter;
    Keras' default counts the channels too), so an untrained network keeps its
    activation scale through the stages instead of shrinking it ~3x per block.
    """
    x = layers.DepthwiseConv2D(3, strides=strides, padding="same", use_bias=False, name=f"{name}_dw",
                               depthwise_initializer=keras.initializers.RandomNormal(stddev=math.sqrt(2 / 9)))(x)
    x = layers.BatchNormalization(name=f"{name}_dw_bn")(x)
    x = layers.ReLU(name=f"{name}_dw_relu")(x)
    return conv_bn(x, filters, 1, 1, f"{name}_pw")


def light_backbone(x: Any, width: int, name: str = "backbone") -> list[Any]:
    """A MobileNet-v1-like backbone; returns the feature maps at strides 8, 16 and 32.

    Channels: ``width`` at stride 2, ``2*width`` at 4, ``4*width`` at 8,
    ``8*width`` at 16, ``16*width`` at 32.
    """
    x = conv_bn(x, width, 3, 2, f"{name}_stem")                     # stride 2
    x = separable_block(x, 2 * width, 2, f"{name}_s4")               # stride 4
    x = separable_block(x, 2 * width, 1, f"{name}_s4b")
    x = separable_block(x, 4 * width, 2, f"{name}_s8")               # stride 8
    c3 = separable_block(x, 4 * width, 1, f"{name}_s8b")
    x = separable_block(c3, 8 * width, 2, f"{name}_s16")             # stride 16
    c4 = separable_block(x, 8 * width, 1, f"{name}_s16b")
    x = separable_block(c4, 16 * width, 2, f"{name}_s32")            # stride 32
    c5 = separable_block(x, 16 * width, 1, f"{name}_s32b")
    return [c3, c4, c5]


# --- meter reading, stage 1: screen corners + screen class (seed 001) ----------------------


@keras.saving.register_keras_serializable(package="edgevision")
class SoftArgmax2D(layers.Layer):
    """Heatmap logits (N, H, W, K) -> the K points' expected positions (N, 2 K), normalized.

    Each channel is a softmax over its H x W cells; a point is the probability-weighted mean of
    the cell centres ``((col + 0.5) / W, (row + 0.5) / H)``: ``x0, y0, x1, y1, ...`` in [0, 1] of
    the input that the heatmap spans (integral regression, Sun et al. 2018; DSNT, Nibali et al.
    2018). Differentiable, sub-cell precise, and in the graph: the exported model outputs points as
    a regressor's would (``decoder.normalized``), so the runtime decodes it unchanged.
    """

    def call(self, logits: Any) -> Any:
        _, h, w, k = logits.shape
        cols = (np.arange(w, dtype=np.float32) + 0.5) / w
        rows = (np.arange(h, dtype=np.float32) + 0.5) / h
        grid = np.stack([np.tile(cols, h), np.repeat(rows, w)], axis=1)                  # (H W, 2): x, y
        p = ops.softmax(ops.reshape(logits, (-1, h * w, k)), axis=1)                     # (N, H W, K)
        pts = ops.matmul(ops.transpose(p, (0, 2, 1)), ops.convert_to_tensor(grid, dtype=logits.dtype))
        return ops.reshape(pts, (-1, 2 * k))                                               # (N, 2 K)

    def compute_output_shape(self, shape: Any) -> tuple:
        return (shape[0], 2 * shape[-1])


def meter_corners(size: Any = (128, 128), backbone_width: int = 16, hidden: int = 128,
                  dropout: float = 0.2, pool: str = "avg") -> Built:
    """Seed 001, stage 1: the meter screen's 4 corners and its class, from a letterboxed photo.

    Outputs, in this order:

    - ``corners`` (N, 8): ``x0, y0, ..., x3, y3`` of the screen corners TL, TR, BR,
      BL (clockwise from top-left *relative to the screen*, so a rotated meter
      keeps its reading order), normalized to the letterboxed model input
      (x / width, y / height; sigmoid, so in [0, 1]);
    - ``screen_class`` (N, 3): softmax over ``analog``, ``digital``, ``illegible``.

    The edgevision task is ``keypoints``: the points from the first output, the screen
    class from ``screen_class`` (``decoder.class_output``; ``KeypointsResult.label`` and
    ``score``); the class names are the top-level ``labels``. Input: RGB (``swap_rb``), ``scale`` 1/255,
    letterboxed. Default is small (128x128, width 16: about 0.2 M parameters); a
    full-size model is e.g. ``size=(256, 256), backbone_width=32, hidden=256``.

    ``pool``: how the stride-32 features reach the dense layer. ``"avg"`` is global
    average pooling (position enters only through the borders); ``"flatten"`` first
    reduces them to ``hidden // 4`` channels (1x1 conv, BN, ReLU) and flattens the
    grid, so the dense layer sees *where* each feature is, which is what a corner
    regressor needs (+0.04 M parameters at the defaults). ``"heatmap"``: no dense corner
    regressor; an FPN (1x1 laterals to ``hidden // 2`` channels, nearest upsampling + add) brings
    the stride-32 and stride-16 features to stride 8, a separable block and a 1x1 conv give one
    heatmap per corner, and :class:`SoftArgmax2D` turns each into its expected position (what
    ``training.meter_screen`` uses: translation-equivariant, sub-cell precise). The class head is
    then a dense layer on the global average of the stride-32 features. ``Built.notes``
    ``training_model`` (heatmap only) also outputs the heatmap logits (N, H / 8, W / 8, 4),
    for an auxiliary loss on their shape.
    """
    h, w = check_size(size, minimum=32, error=InvalidArgumentError)
    width = check_int(backbone_width, "backbone_width", minimum=1, expected="a positive int", error=InvalidArgumentError)
    hidden = check_int(hidden, "hidden", minimum=1, expected="a positive int", error=InvalidArgumentError)
    if not is_real(dropout) or not 0 <= dropout < 1:
        raise InvalidArgumentError(f"dropout: expected a number in [0, 1), got {dropout!r}")
    if pool not in ("avg", "flatten", "heatmap"):
        raise InvalidArgumentError(f"pool: expected 'avg', 'flatten' or 'heatmap', got {pool!r}")
    inputs = keras.Input((h, w, 3), name="images")
    c3, c4, c5 = light_backbone(inputs, width)
    notes: dict[str, Any] = {}
    if pool == "heatmap":
        if h % 32 or w % 32:
            raise InvalidArgumentError(f"size: the heatmap head needs a multiple of 32, got {size!r}")
        fw = max(1, hidden // 2)
        p = conv_bn(c5, fw, 1, 1, "lat5")
        p = layers.Add(name="top4")([conv_bn(c4, fw, 1, 1, "lat4"), layers.UpSampling2D(2, name="up4")(p)])
        p = layers.Add(name="top3")([conv_bn(c3, fw, 1, 1, "lat3"), layers.UpSampling2D(2, name="up3")(p)])
        p = separable_block(p, fw, 1, "hm")
        logits = layers.Conv2D(4, 1, name="heatmaps")(p)
        corners = SoftArgmax2D(name="corners")(logits)
    if pool == "flatten":
        x = conv_bn(c5, max(1, hidden // 4), 1, 1, "reduce")
        x = layers.Flatten(name="pool")(x)
    else:
        x = layers.GlobalAveragePooling2D(name="pool")(c5)
    x = layers.Dense(hidden, activation="relu", name="fc")(x)
    if dropout:
        x = layers.Dropout(dropout, name="dropout")(x)
    if pool != "heatmap":
        corners = layers.Dense(8, activation="sigmoid", name="corners")(x)
    screen = layers.Dense(len(METER_SCREEN_CLASSES), activation="softmax", name="screen_class")(x)
    if pool == "heatmap":
        notes["training_model"] = keras.Model(inputs, [corners, screen, logits], name="meter_corners_train")
    model = keras.Model(inputs, [corners, screen], name="meter_corners")
    cfg = {"task": "keypoints", "name": "meter_corners", "labels": list(METER_SCREEN_CLASSES),
           "preprocess": {"size": [h, w], "mode": "letterbox", "swap_rb": True, "scale": 1 / 255, "pad_value": 114},
           "decoder": {"num_keypoints": 4, "normalized": True, "names": list(CORNER_NAMES),
                       "class_output": "screen_class"},
           "input_name": "images", "output_names": ["corners", "screen_class"], "layout": "NHWC"}
    return Built("meter_corners", "keras", model, cfg, (h, w, 3), notes)


# --- meter reading, stage 2: RetinaNet-style digit detector (seed 001) ---------------------

#: Box-delta scaling of the keras.io RetinaNet example (and of Faster R-CNN): (x, y, w, h).
BOX_VARIANCE = (0.1, 0.1, 0.2, 0.2)
#: exp() clip of the predicted log-size deltas (torchvision's log(1000 / 16)).
_LOG_SIZE_CLIP = math.log(1000.0 / 16)


def retinanet_anchors(size: tuple[int, int], strides: Sequence[int] = (8, 16, 32),
                      sizes: Sequence[float] | None = None, scales: Sequence[float] = (1.0, 2 ** (1 / 3), 2 ** (2 / 3)),
                      ratios: Sequence[float] = (1.0, 2.0)) -> np.ndarray:
    """Anchor boxes ``(K, 4)`` as ``cx, cy, w, h`` in model-input pixels (float32).

    Order: level by level (``strides``), then cells row-major (y, then x), then
    the ``len(scales) * len(ratios)`` anchors of a cell (scale-major) - the order
    of a ``(N, H, W, A * k)`` head output reshaped to ``(N, H * W * A, k)``.
    Anchor ``(s, r)`` at level ``l`` has area ``(sizes[l] * s)**2`` and
    ``height / width = r``; centres are the cell centres ``((x + 0.5) * stride,
    (y + 0.5) * stride)``. ``sizes`` default: ``4 * stride`` (RetinaNet's 32 px at stride 8).
    """
    h, w = size
    sizes = [4.0 * s for s in strides] if sizes is None else list(sizes)
    out = []
    for stride, base in zip(strides, sizes):
        fh, fw = -(-h // stride), -(-w // stride)
        wh = np.array([[base * s / math.sqrt(r), base * s * math.sqrt(r)] for s in scales for r in ratios])
        gy, gx = np.meshgrid(np.arange(fh), np.arange(fw), indexing="ij")
        centres = np.stack([(gx.ravel() + 0.5) * stride, (gy.ravel() + 0.5) * stride], 1)      # (H*W, 2)
        a = np.concatenate([np.repeat(centres, len(wh), 0), np.tile(wh, (len(centres), 1))], 1)
        out.append(a)
    return np.concatenate(out, 0).astype(np.float32)


@keras.saving.register_keras_serializable(package="edgevision")
class AnchorBoxDecoder(layers.Layer):
    """RetinaNet box deltas + class logits -> the YOLOv8 detection layout, in the graph.

    Inputs: ``box_deltas`` (N, K, 4) as ``(dx, dy, dw, dh)`` relative to the K
    anchors of :func:`retinanet_anchors` (scaled by :data:`BOX_VARIANCE`), and
    ``class_logits`` (N, K, C). Output (N, 4 + C, K): ``cx, cy, w, h`` in
    model-input pixels, then the C sigmoid scores - what
    ``edgevision.decoders.decode_detection(layout="yolov8")`` reads.

    ``cx = anchor_cx + dx * 0.1 * anchor_w``, ``w = anchor_w * exp(min(dw * 0.2, log(1000/16)))``
    (the same for y, h). The anchors are recomputed from the config, never stored as weights.
    """

    def __init__(self, image_size: Sequence[int], strides: Sequence[int] = (8, 16, 32),
                 sizes: Sequence[float] | None = None, scales: Sequence[float] = (1.0, 2 ** (1 / 3), 2 ** (2 / 3)),
                 ratios: Sequence[float] = (1.0, 2.0), box_variance: Sequence[float] = BOX_VARIANCE,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.image_size = tuple(int(v) for v in image_size)
        self.strides = tuple(int(s) for s in strides)
        self.sizes = None if sizes is None else tuple(float(s) for s in sizes)
        self.scales = tuple(float(s) for s in scales)
        self.ratios = tuple(float(r) for r in ratios)
        self.box_variance = tuple(float(v) for v in box_variance)
        self.anchors = retinanet_anchors(self.image_size, self.strides, self.sizes, self.scales, self.ratios)

    def call(self, box_deltas: Any, class_logits: Any) -> Any:
        anchors = ops.convert_to_tensor(self.anchors, dtype=box_deltas.dtype)        # (K, 4)
        d = box_deltas * ops.convert_to_tensor(np.array(self.box_variance, np.float32), dtype=box_deltas.dtype)
        cxcy = d[..., :2] * anchors[:, 2:] + anchors[:, :2]
        wh = ops.exp(ops.minimum(d[..., 2:], _LOG_SIZE_CLIP)) * anchors[:, 2:]
        out = ops.concatenate([cxcy, wh, ops.sigmoid(class_logits)], axis=-1)       # (N, K, 4 + C)
        return ops.transpose(out, (0, 2, 1))

    def compute_output_shape(self, box_deltas_shape: Any, class_logits_shape: Any) -> tuple:
        return (box_deltas_shape[0], 4 + class_logits_shape[-1], box_deltas_shape[1])

    def get_config(self) -> dict[str, Any]:
        return super().get_config() | {"image_size": list(self.image_size), "strides": list(self.strides),
                                       "sizes": None if self.sizes is None else list(self.sizes),
                                       "scales": list(self.scales), "ratios": list(self.ratios),
                                       "box_variance": list(self.box_variance)}


def meter_digits(size: Any = (96, 256), num_classes: int = 11, backbone_width: int = 16, fpn_width: int = 64,
                 head_depth: int = 2, scales: Sequence[float] = (1.0, 2 ** (1 / 3), 2 ** (2 / 3)),
                 ratios: Sequence[float] = (1.0, 2.0), prior: float = 0.01,
                 labels: Sequence[str] | None = None) -> Built:
    """Seed 001, stage 2: a RetinaNet-style detector of the digits (and the decimal area) on the meter screen.

    - backbone: :func:`light_backbone` (depthwise-separable stages), features at strides 8, 16, 32;
    - FPN: 1x1 laterals to ``fpn_width`` channels, top-down nearest upsampling + add,
      3x3 smoothing -> P3, P4, P5 (no P6/P7: digits are large relative to a screen crop);
    - anchors per cell: ``scales`` x ``ratios`` (height / width; digits are tall),
      base size 4 x stride (see :func:`retinanet_anchors`);
    - class and box subnets shared across levels (``head_depth`` 3x3 conv + ReLU, then
      a 3x3 conv to A*C logits, bias ``-log((1 - prior) / prior)``, and to A*4 deltas);
    - decoded in the graph by :class:`AnchorBoxDecoder` to ``detections`` (N, 4 + C, K):
      ``cx, cy, w, h`` in model-input pixels then sigmoid scores (edgevision's
      ``yolov8`` detection layout), so ``edgevision.Predictor`` decodes it with its stock NMS.

    ``Built.notes`` holds ``training_model`` (the same layers, outputs ``box_deltas``
    (N, K, 4) and ``class_logits`` (N, K, C) for the focal / smooth-L1 losses),
    ``anchors`` (K, 4) ``cx, cy, w, h`` pixels and ``box_variance``.

    ``size`` must be a multiple of 32. Labels default to ``0``..``9`` and ``decimal``
    (``num_classes`` 11). Full size: e.g. ``backbone_width=32, fpn_width=128, head_depth=4``.
    """
    h, w = check_size(size, multiple=32, error=InvalidArgumentError)
    num_classes = check_int(num_classes, "num_classes", minimum=1, expected="a positive int", error=InvalidArgumentError)
    width = check_int(backbone_width, "backbone_width", minimum=1, expected="a positive int", error=InvalidArgumentError)
    fpn = check_int(fpn_width, "fpn_width", minimum=1, expected="a positive int", error=InvalidArgumentError)
    depth = check_int(head_depth, "head_depth", minimum=1, expected="a positive int", error=InvalidArgumentError)
    scales = _positive_floats(scales, "scales")
    ratios = _positive_floats(ratios, "ratios")
    if not is_real(prior) or not 0 < prior < 1:
        raise InvalidArgumentError(f"prior: expected a probability in (0, 1), got {prior!r}")
    if labels is None:
        if num_classes != len(METER_DIGIT_CLASSES):
            raise InvalidArgumentError(f"labels: required when num_classes ({num_classes}) is not "
                                       f"{len(METER_DIGIT_CLASSES)} (the default digit classes)")
        labels = METER_DIGIT_CLASSES
    labels = list(labels)
    if len(labels) != num_classes or not all(isinstance(s, str) and s for s in labels):
        raise InvalidArgumentError(f"labels: expected {num_classes} non-empty class names, got {labels!r}")
    strides = (8, 16, 32)
    num_anchors = len(scales) * len(ratios)

    inputs = keras.Input((h, w, 3), name="images")
    c3, c4, c5 = light_backbone(inputs, width)
    p5 = layers.Conv2D(fpn, 1, name="fpn_lateral5")(c5)
    p4 = layers.Add(name="fpn_merge4")([layers.Conv2D(fpn, 1, name="fpn_lateral4")(c4),
                                        layers.UpSampling2D(2, name="fpn_up5")(p5)])
    p3 = layers.Add(name="fpn_merge3")([layers.Conv2D(fpn, 1, name="fpn_lateral3")(c3),
                                        layers.UpSampling2D(2, name="fpn_up4")(p4)])
    levels = [layers.Conv2D(fpn, 3, padding="same", name=f"fpn_smooth{i}")(p) for i, p in zip((3, 4, 5), (p3, p4, p5))]

    def subnet(kind: str, out_channels: int, bias: float) -> list[Any]:
        convs = [layers.Conv2D(fpn, 3, padding="same", activation="relu", name=f"{kind}_head_conv{i}",
                               kernel_initializer=keras.initializers.RandomNormal(stddev=0.01))
                 for i in range(depth)]
        final = layers.Conv2D(out_channels, 3, padding="same", name=f"{kind}_head_out",
                              kernel_initializer=keras.initializers.RandomNormal(stddev=0.01),
                              bias_initializer=keras.initializers.Constant(bias))
        outs = []
        for lvl, f in zip((3, 4, 5), levels):      # the same layers (shared weights) on every level
            for conv in convs:
                f = conv(f)
            outs.append(layers.Reshape((-1, out_channels // num_anchors), name=f"{kind}_flat{lvl}")(final(f)))
        return outs

    deltas = layers.Concatenate(axis=1, name="box_deltas")(subnet("box", num_anchors * 4, 0.0))
    logits = layers.Concatenate(axis=1, name="class_logits")(
        subnet("class", num_anchors * num_classes, -math.log((1 - prior) / prior)))
    decoder = AnchorBoxDecoder((h, w), strides, None, scales, ratios, name="detections")
    detections = decoder(deltas, logits)
    model = keras.Model(inputs, detections, name="meter_digits")
    training_model = keras.Model(inputs, [deltas, logits], name="meter_digits_train")
    cfg = {"task": "detection", "name": "meter_digits", "labels": labels,
           "preprocess": {"size": [h, w], "mode": "letterbox", "swap_rb": True, "scale": 1 / 255, "pad_value": 114},
           "decoder": {"layout": "yolov8", "conf_threshold": 0.25, "iou_threshold": 0.45},
           "input_name": "images", "output_names": ["detections"], "layout": "NHWC"}
    notes = {"training_model": training_model, "anchors": decoder.anchors, "box_variance": BOX_VARIANCE}
    return Built("meter_digits", "keras", model, cfg, (h, w, 3), notes)


#: How :func:`meter_digit_cls` pools its last feature map (h/4 x w/4) before the dense softmax.
DIGIT_POOLS = ("avg", "rows", "flatten")


def meter_digit_cls(size: Any = (32, 20), width: int = 24, num_classes: int = 10, pool: str = "avg") -> Built:
    """Seed 001, stage 2: the digit classifier that reads every ``digit`` box of ``meter_digits``.

    Input: a digit crop, ``size`` (h, w) = 32x20 like haverland's real drum crops
    (``calibration.meter_synth.digit_crop`` makes one from a box), RGB (``swap_rb``),
    ``pixel / 255``, stretched. Layers: a 3x3 conv-BN-ReLU stem (``width``), four
    depthwise-separable blocks (``2*width`` stride 2, ``2*width``, ``4*width`` stride 2,
    ``4*width``), pooling, dropout, a dense softmax over the digits ``0``..``9`` (output
    ``probs`` (N, 10); about 15 k parameters at width 24). ``pool`` (:data:`DIGIT_POOLS`):
    ``avg`` global average pooling; ``rows`` averages each row of the h/4 x w/4 feature map
    and keeps the rows apart, so the dense layer sees *where* a half-rolled drum digit's edges
    are (its tenths); ``flatten`` keeps every cell.

    Trained with soft targets for half-rolled drum digits (3.7 -> 0.3 on ``3``, 0.7 on
    ``4``), so the probabilities also give the drum position: the circular expectation
    ``angle(sum_k p_k exp(2 pi i k / 10)) * 10 / (2 pi)`` (``training.meter_digits.position_from_probs``).
    """
    h, w = check_size(size, error=InvalidArgumentError)
    width = check_int(width, "width", minimum=1, expected="a positive int", error=InvalidArgumentError)
    n = check_int(num_classes, "num_classes", minimum=2, expected="an int >= 2", error=InvalidArgumentError)
    if pool not in DIGIT_POOLS:
        raise InvalidArgumentError(f"pool: expected one of {', '.join(DIGIT_POOLS)}, got {pool!r}")
    inputs = keras.Input((h, w, 3), name="images")
    x = conv_bn(inputs, width, 3, 1, "cls_stem")
    x = separable_block(x, 2 * width, 2, "cls_b1")
    x = separable_block(x, 2 * width, 1, "cls_b2")
    x = separable_block(x, 4 * width, 2, "cls_b3")
    x = separable_block(x, 4 * width, 1, "cls_b4")
    if pool == "avg":
        x = layers.GlobalAveragePooling2D(name="cls_pool")(x)
    else:
        if pool == "rows":
            x = layers.AveragePooling2D((1, int(x.shape[2])), name="cls_pool")(x)
        x = layers.Flatten(name="cls_flatten")(x)
    x = layers.Dropout(0.2, name="cls_dropout")(x)
    probs = layers.Dense(n, activation="softmax", name="probs")(x)
    model = keras.Model(inputs, probs, name="meter_digit_cls")
    cfg = {"task": "classification", "name": "meter_digit_cls", "labels": [str(i) for i in range(n)],
           "preprocess": {"size": [h, w], "mode": "stretch", "swap_rb": True, "scale": 1 / 255},
           "decoder": {"top_k": 1, "softmax": False},
           "input_name": "images", "output_names": ["probs"], "layout": "NHWC"}
    return Built("meter_digit_cls", "keras", model, cfg, (h, w, 3))


# --- captcha matching: Xception embedding (seed 004) ----------------------------------------


def siamese_xception(size: Any = (XCEPTION_MIN_SIZE, XCEPTION_MIN_SIZE), embedding_dim: int = 128) -> Built:
    """Seed 004: the embedding branch of the Siamese captcha matcher.

    ``keras.applications.Xception(include_top=False, weights=None, pooling="avg")``
    (no download: untrained), then a linear ``projection`` to ``embedding_dim`` and
    L2 normalization: output ``embedding`` (N, embedding_dim), unit length, so the
    Euclidean distance of two embeddings ranks like their cosine similarity.

    This is the deployable model. The Siamese pair head of seed 004 (the shared
    encoder on two crops and a Euclidean-distance layer, trained with a KL loss)
    is training-time only: at inference edgevision embeds the crops and matches
    them with ``EmbeddingResult.nearest`` / ``edgevision.nearest_match``.

    Input: RGB (``swap_rb``), ``(pixel / 255 - 0.5) / 0.5`` = Xception's own
    ``preprocess_input`` (x / 127.5 - 1), crops stretched to ``size``. Xception needs
    at least 71x71 (the default, for speed); the ImageNet size is 299x299.
    """
    h, w = check_size(size, minimum=XCEPTION_MIN_SIZE, error=InvalidArgumentError)
    dim = check_int(embedding_dim, "embedding_dim", minimum=1, expected="a positive int", error=InvalidArgumentError)
    inputs = keras.Input((h, w, 3), name="images")
    backbone = keras.applications.Xception(include_top=False, weights=None, input_shape=(h, w, 3), pooling="avg")
    x = backbone(inputs)
    x = layers.Dense(dim, name="projection")(x)
    emb = layers.UnitNormalization(name="embedding")(x)
    model = keras.Model(inputs, emb, name="siamese_xception")
    cfg = {"task": "embedding", "name": "siamese_xception",
           "preprocess": {"size": [h, w], "mode": "stretch", "swap_rb": True, "scale": 1 / 255,
                          "mean": 0.5, "std": 0.5},
           "decoder": {"normalize": True},
           "input_name": "images", "output_names": ["embedding"], "layout": "NHWC"}
    return Built("siamese_xception", "keras", model, cfg, (h, w, 3))


def xception_block(x: Any, filters: int, name: str, *, strides: int = 2, convs: int = 2) -> Any:
    """One Xception residual block: ``convs`` x (ReLU -> SeparableConv2D 3x3 -> BN), then, for
    ``strides=2``, MaxPool 3x3 stride 2 ("same"); the shortcut is a strided 1x1 Conv2D + BN
    (or the identity when the shape is kept), added to the result."""
    shortcut = x
    if strides != 1 or x.shape[-1] != filters:
        shortcut = layers.Conv2D(filters, 1, strides=strides, padding="same", use_bias=False,
                                 name=f"{name}_short_conv")(x)
        shortcut = layers.BatchNormalization(name=f"{name}_short_bn")(shortcut)
    for i in range(convs):
        x = layers.ReLU(name=f"{name}_relu{i}")(x)
        x = layers.SeparableConv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_sep{i}")(x)
        x = layers.BatchNormalization(name=f"{name}_bn{i}")(x)
    if strides != 1:
        x = layers.MaxPooling2D(3, strides=strides, padding="same", name=f"{name}_pool")(x)
    return layers.Add(name=f"{name}_add")([x, shortcut])


def xception_small(x: Any, width: int = 16, middle: int = 2, name: str = "xs") -> Any:
    """A narrow Xception (entry, middle and exit flows, as in Chollet 2017) for small inputs.

    Channels: stem ``width`` (stride 2) and ``2*width``; entry blocks ``4*width`` and
    ``8*width`` (strides 4 and 8 of the input); ``middle`` identity blocks of 3
    separable convolutions at ``8*width``; exit block ``12*width`` (stride 16), then a
    separable ``16*width`` convolution + BN + ReLU and global average pooling:
    returns ``(N, 16*width)``. Full Xception is ``width=32`` with 8 middle blocks of
    728 channels and 1536/2048 exit channels (20.8 M parameters); ``width=16, middle=2``
    has about 0.4 M.
    """
    x = conv_bn(x, width, 3, 2, f"{name}_stem1")
    x = conv_bn(x, 2 * width, 3, 1, f"{name}_stem2")
    x = xception_block(x, 4 * width, f"{name}_entry1")
    x = xception_block(x, 8 * width, f"{name}_entry2")
    for i in range(middle):
        x = xception_block(x, 8 * width, f"{name}_middle{i}", strides=1, convs=3)
    x = xception_block(x, 12 * width, f"{name}_exit")
    x = layers.SeparableConv2D(16 * width, 3, padding="same", use_bias=False, name=f"{name}_exit_sep")(x)
    x = layers.BatchNormalization(name=f"{name}_exit_bn")(x)
    x = layers.ReLU(name=f"{name}_exit_relu")(x)
    return layers.GlobalAveragePooling2D(name=f"{name}_pool")(x)


def siamese_xception_small(size: Any = (64, 64), width: int = 16, middle: int = 2,
                           embedding_dim: int = 128) -> Built:
    """Seed 004's embedding branch at edge size: :func:`xception_small`, a linear
    ``projection`` to ``embedding_dim`` and L2 normalization (output ``embedding``,
    (N, embedding_dim), unit length; Euclidean distance ranks like cosine similarity).

    The backbone is the layers named ``xs_*``; :mod:`training.siamese` trains it, then
    freezes it and fine-tunes ``projection`` as a Siamese pair network (seed 004).
    Input: RGB (``swap_rb``), ``(pixel / 255 - 0.5) / 0.5``, crops stretched to ``size``
    = (height, width) pixels, each >= 32 (the trained model: 64 x 64).
    """
    h, w = check_size(size, minimum=32, error=InvalidArgumentError)
    width = check_int(width, "width", minimum=4, expected="an int >= 4", error=InvalidArgumentError)
    middle = check_int(middle, "middle", minimum=0, expected="an int >= 0", error=InvalidArgumentError)
    dim = check_int(embedding_dim, "embedding_dim", minimum=1, expected="a positive int", error=InvalidArgumentError)
    inputs = keras.Input((h, w, 3), name="images")
    x = xception_small(inputs, width, middle)
    x = layers.Dense(dim, name="projection")(x)
    emb = layers.UnitNormalization(name="embedding")(x)
    model = keras.Model(inputs, emb, name="siamese_xception_small")
    cfg = {"task": "embedding", "name": "siamese_xception_small",
           "preprocess": {"size": [h, w], "mode": "stretch", "swap_rb": True, "scale": 1 / 255,
                          "mean": 0.5, "std": 0.5},
           "decoder": {"normalize": True},
           "input_name": "images", "output_names": ["embedding"], "layout": "NHWC"}
    return Built("siamese_xception_small", "keras", model, cfg, (h, w, 3),
                 {"width": width, "middle": middle, "embedding_dim": dim})


__all__ = ["CORNER_NAMES", "METER_SCREEN_CLASSES", "METER_DIGIT_CLASSES", "BOX_VARIANCE", "AnchorBoxDecoder",
           "retinanet_anchors", "conv_bn", "separable_block", "light_backbone", "meter_corners", "meter_digits",
           "meter_digit_cls",
           "siamese_xception", "xception_block", "xception_small", "siamese_xception_small"]
