"""Start a torch model from an exported ONNX file: fine-tune a bundled default without its checkpoint.

The ONNX files the exporters write are inference graphs: each BatchNorm is folded
into the convolution before it, LSTM weights are in ONNX's gate order and packed
per direction, and a ``Linear`` became ``MatMul`` by a transposed weight plus
``Add``. :func:`state_from_onnx` undoes each of these for a torch module of the
same architecture and checks the result against ONNX Runtime, so a wrong mapping
fails loudly instead of training from garbage.

A folded convolution comes back as the folded weights with an identity
BatchNorm after it. In training mode a BatchNorm normalizes by batch statistics,
so :func:`recalibrate_batchnorm` then measures each such layer's input mean and
variance on real batches and sets ``running_mean``/``running_var`` to them and
``weight``/``bias`` to ``sqrt(var + eps)``/``mean``: the layer is still the
identity in eval mode, and nearly so in training mode. A convolution exported
without a bias has its folded bias in ``<conv>.weight_bias``: it becomes the
BatchNorm's shift, kept through the recalibration.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edgevision.errors import InvalidArgumentError

#: ONNX LSTM gate order is (i, o, f, c); torch's is (i, f, g=c, o): torch gate k is ONNX gate _LSTM_GATES[k].
_LSTM_GATES = (0, 2, 3, 1)


def _lstm_gates(a: np.ndarray, hidden: int) -> np.ndarray:
    """Reorders the 4 gate blocks (each ``hidden`` rows) of an ONNX LSTM tensor into torch's order."""
    return np.concatenate([a[g * hidden:(g + 1) * hidden] for g in _LSTM_GATES], 0)


def grow_rows(name: str, w: np.ndarray, own: Any, grown: list[str] | None) -> np.ndarray | None:
    """``w`` as the value of the model tensor ``own`` (named ``name``): ``w`` itself when the
    shapes match; with ``grown`` (a list), ``own``'s values with ``w`` in its first rows when
    ``w`` has fewer rows and the other dimensions match (classes appended to a head; ``name``
    is appended to ``grown``); else ``None``."""
    want = tuple(own.shape)
    if tuple(w.shape) == want:
        return w
    if grown is not None and w.ndim == len(want) and w.ndim >= 1 and tuple(w.shape[1:]) == want[1:] \
            and w.shape[0] < want[0]:
        out = own.detach().cpu().numpy().copy()
        out[: w.shape[0]] = w
        grown.append(name)
        return out
    return None


def state_from_onnx(model: Any, path: str | Path, grown: list[str] | None = None
                    ) -> tuple[dict[str, Any], list[str]]:
    """The torch ``state_dict`` of ``model`` recovered from the ONNX file at ``path``.

    Returns ``(state, folded)``: every tensor of ``model.state_dict()`` (raises
    :class:`InvalidArgumentError` naming the first one the file does not provide),
    and the names of the BatchNorm modules that were folded (set to the identity;
    see :func:`recalibrate_batchnorm`).

    ``grown``: a list to allow grown heads. A tensor of the file with fewer rows than
    the model's (a classifier with classes appended at the end, the other dimensions
    equal) fills the model's first rows; the new rows keep the model's own (fresh)
    values, and the tensor's name is appended to ``grown``.
    """
    import onnx
    import torch
    from onnx import numpy_helper

    path = Path(path)
    if not path.is_file():
        raise InvalidArgumentError(f"init: {path} is not a file")
    try:
        graph = onnx.load(str(path)).graph
    except Exception as e:  # noqa: BLE001 - onnx raises several types for a bad file
        raise InvalidArgumentError(f"init: {path} is not a readable ONNX model ({e})") from None
    inits = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    own = model.state_dict()
    state: dict[str, np.ndarray] = {}

    def fits(name: str, w: np.ndarray) -> np.ndarray | None:
        return grow_rows(name, w, own[name], grown)

    for k in own:  # tensors exported under their torch names
        if k in inits and (w := fits(k, inits[k])) is not None:
            state[k] = w
    consumers: dict[str, list[Any]] = {}
    for n in graph.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    for n in graph.node:  # Linear = MatMul(x, W^T) + "<name>.bias"
        if n.op_type == "MatMul" and n.input[1] in inits:
            for c in consumers.get(n.output[0], []):
                bias = next((i for i in c.input if i.endswith(".bias") and i in inits), None)
                if c.op_type == "Add" and bias is not None:
                    name = bias[: -len(".bias")] + ".weight"
                    w = inits[n.input[1]].T
                    if name in own and (w := fits(name, w)) is not None:
                        state[name] = w
    lstms = [n for n in graph.node if n.op_type == "LSTM"]
    lstm_mods = [(name, m) for name, m in model.named_modules() if isinstance(m, torch.nn.LSTM)]
    if lstms or lstm_mods:
        if len(lstm_mods) != 1 or lstm_mods[0][1].num_layers != len(lstms):
            raise InvalidArgumentError(
                f"init: {path} has {len(lstms)} LSTM layers; the model's LSTMs do not match them")
        name, m = lstm_mods[0]
        H = m.hidden_size
        for layer, node in enumerate(lstms):
            W, R, B = (inits[node.input[i]] for i in (1, 2, 3))
            for d, sfx in enumerate(("", "_reverse")[: 1 + int(m.bidirectional)]):
                state[f"{name}.weight_ih_l{layer}{sfx}"] = _lstm_gates(W[d], H)
                state[f"{name}.weight_hh_l{layer}{sfx}"] = _lstm_gates(R[d], H)
                state[f"{name}.bias_ih_l{layer}{sfx}"] = _lstm_gates(B[d, : 4 * H], H)
                state[f"{name}.bias_hh_l{layer}{sfx}"] = _lstm_gates(B[d, 4 * H:], H)
    folded: list[str] = []
    modules = list(model.named_modules())
    for idx, (name, m) in enumerate(modules):  # BatchNorms folded away: identity
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and f"{name}.weight" not in state:
            c = m.num_features
            state[f"{name}.weight"] = np.ones(c, np.float32)
            # A convolution without a bias gets the folded one as "<conv>.weight_bias" (torch's
            # exporter): it becomes this BatchNorm's shift. The convolution is the last one
            # before the BatchNorm in module order (Conv, BatchNorm, activation blocks).
            conv = next((n for n, cm in reversed(modules[:idx]) if isinstance(cm, torch.nn.modules.conv._ConvNd)), None)
            shift = inits.get(f"{conv}.weight_bias") if conv is not None and f"{conv}.bias" not in own else None
            state[f"{name}.bias"] = (np.asarray(shift, np.float32) if shift is not None and shift.shape == (c,)
                                     else np.zeros(c, np.float32))
            state[f"{name}.running_mean"] = np.zeros(c, np.float32)
            state[f"{name}.running_var"] = np.full(c, 1.0 - m.eps, np.float32)
            state[f"{name}.num_batches_tracked"] = np.zeros((), np.int64)
            folded.append(name)
    missing = [k for k in own if k not in state]
    if missing:
        raise InvalidArgumentError(f"init: {path} provides no tensor for {missing[0]!r} "
                                   f"({len(missing)} of {len(own)} missing); is it this architecture?")
    return {k: torch.as_tensor(np.array(v, copy=True)).to(own[k].dtype) for k, v in state.items()}, folded


def check_against_onnx(model: Any, path: str | Path, inputs: np.ndarray, atol: float = 1e-3,
                       grown: bool = False) -> float:
    """Max abs difference between ``model`` (eval mode) and ONNX Runtime on ``inputs`` (N, C, H, W float32)
    over every output; raises :class:`InvalidArgumentError` when it exceeds ``atol``. ``grown``: the
    model's heads may have more classes than the file's (:func:`state_from_onnx`); the file's
    classes, the first ones of each output's last axis, are compared."""
    import torch

    from edgevision.backends import load_runner

    runner = load_runner(str(path), backend="onnxruntime", device="cpu")
    ref = runner.infer({runner.inputs[0].name: inputs}, check=False)
    was = model.training
    model.eval()
    with torch.no_grad():
        got = model(torch.from_numpy(inputs))
    model.train(was)
    got = got if isinstance(got, (tuple, list)) else (got,)
    if len(got) != len(ref):
        raise InvalidArgumentError(f"init: {path} has {len(ref)} outputs, the model {len(got)}")
    def common(g: Any, r: np.ndarray) -> np.ndarray:
        g = g.numpy()
        if grown and g.shape[:-1] == r.shape[:-1] and g.shape[-1] > r.shape[-1]:
            g = g[..., : r.shape[-1]]
        if g.shape != r.shape:
            raise InvalidArgumentError(f"init: an output of {path} has shape {r.shape}, the model's {g.shape}")
        return g - r

    err = max(float(np.abs(common(g, r)).max()) for g, r in zip(got, ref))
    if not err <= atol:
        raise InvalidArgumentError(f"init: the weights recovered from {path} differ from it by {err:.3g} (> {atol})")
    return err


def load_from_onnx(model: Any, path: str | Path, batches: list[Any], *, check: int,
                   grown: list[str] | None = None) -> dict[str, Any]:
    """Starts ``model`` from the exported ONNX file at ``path``: :func:`state_from_onnx`, loaded on the
    CPU, checked against ONNX Runtime (:func:`check_against_onnx`) on the first ``check`` inputs of
    ``batches[0]``, the folded BatchNorms recalibrated on ``batches`` (input tensors, as the model
    takes them), then moved back to the model's device. ``grown``: as in :func:`state_from_onnx`.

    Returns ``{"tensors", "max_abs_error", "batchnorm_recalibrated" (names), "recalibration_images"}``.
    """
    dev = next(model.parameters()).device
    state, folded = state_from_onnx(model, path, grown=grown)
    model.cpu().load_state_dict(state)
    err = check_against_onnx(model, path, batches[0][:check].numpy(), grown=bool(grown))
    recalibrate_batchnorm(model, folded, batches)
    model.to(dev)
    return {"tensors": len(state), "max_abs_error": err, "batchnorm_recalibrated": folded,
            "recalibration_images": sum(len(b) for b in batches)}


def recalibrate_batchnorm(model: Any, names: list[str], batches: Any) -> None:
    """Gives the identity BatchNorms ``names`` their input statistics (see the module docs).

    ``batches``: an iterable of input tensors for ``model``. Runs in eval mode, so no
    other state changes.
    """
    import torch

    mods = dict(model.named_modules())
    sums: dict[str, list[Any]] = {n: [0.0, 0.0, 0] for n in names}
    hooks = []
    for n in names:
        def hook(_m: Any, inp: Any, _out: Any, n: str = n) -> None:
            x = inp[0].detach().double().transpose(0, 1).flatten(1)  # (C, everything else)
            s = sums[n]
            s[0] = s[0] + x.sum(1)
            s[1] = s[1] + (x * x).sum(1)
            s[2] += x.shape[1]
        hooks.append(mods[n].register_forward_hook(hook))
    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            for b in batches:
                model(b)
    finally:
        for h in hooks:
            h.remove()
        model.train(was)
    for n in names:
        s0, s1, count = sums[n]
        if not count:
            raise InvalidArgumentError("batches: expected at least one input batch")
        mean = s0 / count
        var = (s1 / count - mean * mean).clamp(min=0)
        m = mods[n]
        with torch.no_grad():
            # Keep the layer's eval-mode function (the identity, or a shift by a folded bias):
            # (x - mean) / s * w + b == (x - m0) / s0 * w0 + b0 for every x.
            m0, w0, b0 = m.running_mean.double(), m.weight.double(), m.bias.double()
            ratio = w0 / (m.running_var.double() + m.eps).sqrt()
            m.running_mean.copy_(mean.float())
            m.running_var.copy_(var.float())
            m.weight.copy_(((var + m.eps).sqrt() * ratio).float())
            m.bias.copy_((b0 + (mean - m0) * ratio).float())
