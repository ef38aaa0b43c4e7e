"""exporters.finalize.fold_conv_affine: per-channel affine ops after a Conv folded into it."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from exporters.errors import ExportError
from exporters.finalize import fold_conv_affine, fold_file

C = 4


def _graph(nodes: list, inits: dict[str, np.ndarray], outputs: tuple[str, ...] = ("y",)) -> onnx.ModelProto:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 5, 6])
    ys = [helper.make_tensor_value_info(o, TensorProto.FLOAT, [None] * 4) for o in outputs]
    g = helper.make_graph(nodes, "g", [x], ys, [numpy_helper.from_array(v.astype(np.float32), k) for k, v in inits.items()])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    onnx.checker.check_model(m, full_check=True)
    return m


def _run(m: onnx.ModelProto, x: np.ndarray) -> list[np.ndarray]:
    return ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})


def _ops(m: onnx.ModelProto) -> list[str]:
    return [n.op_type for n in m.graph.node]


@pytest.fixture()
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


def test_a_keras_batchnorm_after_an_nhwc_transpose_folds_into_the_conv(rng) -> None:
    # Keras' inference BatchNorm as exported: Conv (NCHW) -> Transpose to NHWC -> (x - mean) * s + beta -> Relu.
    inits = {"W": rng.normal(0, 1, (C, 3, 3, 3)), "m": rng.normal(0, 1, (1, 1, 1, C)),
             "s": rng.uniform(0.5, 2, (1, 1, 1, C)), "t": rng.normal(0, 1, (1, 1, 1, C))}
    nodes = [helper.make_node("Conv", ["x", "W"], ["c"], pads=[1, 1, 1, 1], name="conv0"),
             helper.make_node("Transpose", ["c"], ["ct"], perm=[0, 2, 3, 1]),
             helper.make_node("Sub", ["ct", "m"], ["a"]), helper.make_node("Mul", ["a", "s"], ["b"]),
             helper.make_node("Add", ["b", "t"], ["d"]), helper.make_node("Relu", ["d"], ["y"])]
    m = _graph(nodes, inits)
    x = rng.normal(0, 1, (1, 3, 5, 6)).astype(np.float32)
    want = _run(m, x)[0]
    assert fold_conv_affine(m) == 3
    onnx.checker.check_model(m, full_check=True)
    assert _ops(m) == ["Conv", "Transpose", "Relu"]
    np.testing.assert_allclose(_run(m, x)[0], want, rtol=1e-5, atol=1e-5)
    assert {t.name for t in m.graph.initializer}.isdisjoint({"W", "m", "s", "t"})  # the unused ones are gone


def test_an_nchw_chain_with_a_bias_scalar_and_a_division_folds(rng) -> None:
    inits = {"W": rng.normal(0, 1, (C, 3, 1, 1)), "B": rng.normal(0, 1, C), "s": rng.uniform(0.5, 2, (1, C, 1, 1)),
             "k": np.array(2.0), "t": rng.normal(0, 1, (C, 1, 1))}
    nodes = [helper.make_node("Conv", ["x", "W", "B"], ["c"]),
             helper.make_node("Mul", ["s", "c"], ["a"]),  # the constant first: still x * s
             helper.make_node("Div", ["a", "k"], ["b"]), helper.make_node("Add", ["b", "t"], ["y"])]
    m = _graph(nodes, inits)
    x = rng.normal(0, 1, (1, 3, 5, 6)).astype(np.float32)
    want = _run(m, x)[0]
    assert fold_conv_affine(m) == 3 and _ops(m) == ["Conv"]
    assert m.graph.node[0].output[0] == "y"  # the graph output keeps its name
    np.testing.assert_allclose(_run(m, x)[0], want, rtol=1e-5, atol=1e-5)


def test_what_is_not_a_per_channel_affine_of_the_conv_output_stays(rng) -> None:
    x = rng.normal(0, 1, (1, 3, 5, 6)).astype(np.float32)
    W = rng.normal(0, 1, (C, 3, 1, 1))
    cases = {
        # c - x is not x shifted
        "constant minus x": ([helper.make_node("Conv", ["x", "W"], ["c"]), helper.make_node("Sub", ["v", "c"], ["y"])],
                             {"v": rng.normal(0, 1, (1, C, 1, 1))}, ("y",)),
        # a per-column (W axis, 6) constant is not per channel
        "per-column constant": ([helper.make_node("Conv", ["x", "W"], ["c"]), helper.make_node("Add", ["c", "v"], ["y"])],
                                {"v": rng.normal(0, 1, (1, 1, 1, 6))}, ("y",)),
        # the conv's output is also a graph output: its value must stay
        "output used twice": ([helper.make_node("Conv", ["x", "W"], ["c"]), helper.make_node("Mul", ["c", "v"], ["y"])],
                              {"v": rng.normal(0, 1, (1, C, 1, 1))}, ("y", "c")),
    }
    for name, (nodes, extra, outs) in cases.items():
        m = _graph(nodes, {"W": W, **extra}, outs)
        want = _run(m, x)
        ops = _ops(m)
        assert fold_conv_affine(m) == 0, name
        assert _ops(m) == ops, name
        for a, b in zip(_run(m, x), want):
            np.testing.assert_array_equal(a, b)


def test_a_conv_whose_output_feeds_two_nodes_is_left_alone(rng) -> None:
    inits = {"W": rng.normal(0, 1, (C, 3, 1, 1)), "v": rng.normal(0, 1, (1, C, 1, 1))}
    nodes = [helper.make_node("Conv", ["x", "W"], ["c"]), helper.make_node("Mul", ["c", "v"], ["a"]),
             helper.make_node("Add", ["c", "a"], ["y"])]
    m = _graph(nodes, inits)
    assert fold_conv_affine(m) == 0 and _ops(m) == ["Conv", "Mul", "Add"]


def test_fold_file_folds_an_export_in_place_keeping_its_metadata(rng, tmp_path) -> None:
    inits = {"W": rng.normal(0, 1, (C, 3, 3, 3)), "s": rng.uniform(0.5, 2, (1, 1, 1, C)),
             "t": rng.normal(0, 1, (1, 1, 1, C))}
    nodes = [helper.make_node("Conv", ["x", "W"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("Transpose", ["c"], ["ct"], perm=[0, 2, 3, 1]),
             helper.make_node("Mul", ["ct", "s"], ["a"]), helper.make_node("Add", ["a", "t"], ["y"])]
    m = _graph(nodes, inits)
    helper.set_model_props(m, {"edgevision": '{"task": "keypoints"}'})
    path = tmp_path / "m.onnx"
    onnx.save(m, str(path))
    x = rng.normal(0, 1, (1, 3, 5, 6)).astype(np.float32)
    want = _run(m, x)[0]
    assert fold_file(path) == 2
    folded = onnx.load(str(path))
    assert _ops(folded) == ["Conv", "Transpose"]
    assert {p.key: p.value for p in folded.metadata_props} == {"edgevision": '{"task": "keypoints"}'}
    np.testing.assert_allclose(_run(folded, x)[0], want, rtol=1e-5, atol=1e-5)
    assert fold_file(path) == 0  # nothing left to fold: the file is not rewritten


def test_fold_file_refuses_to_write_a_fold_that_changes_the_outputs(rng, tmp_path, monkeypatch) -> None:
    import exporters.finalize as fin

    inits = {"W": rng.normal(0, 1, (C, 3, 1, 1)), "s": rng.uniform(0.5, 2, (1, C, 1, 1))}
    m = _graph([helper.make_node("Conv", ["x", "W"], ["c"]), helper.make_node("Mul", ["c", "s"], ["y"])], inits)
    path = tmp_path / "m.onnx"
    onnx.save(m, str(path))
    data = path.read_bytes()
    real = fin.fold_conv_affine

    def broken(model):  # a fold that gets the scale wrong
        n = real(model)
        w = next(t for t in model.graph.initializer if "folded_W" in t.name)
        w.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(w) * 1.5, w.name))
        return n

    monkeypatch.setattr(fin, "fold_conv_affine", broken)
    with pytest.raises(ExportError, match="changes output 'y' by up to"):
        fold_file(path)
    assert path.read_bytes() == data


def test_consumers_lists_every_reader_of_a_tensor_in_graph_order() -> None:
    from exporters.finalize import consumers

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])
    nodes = [helper.make_node("Relu", ["x"], ["a"], name="r"), helper.make_node("Add", ["a", "a"], ["b"], name="add"),
             helper.make_node("Mul", ["x", "b"], ["y"], name="mul")]
    g = helper.make_graph(nodes, "g", [x], [y])
    users = consumers(g)
    assert {k: [n.name for n in v] for k, v in users.items()} == {"x": ["r", "mul"], "a": ["add", "add"], "b": ["mul"]}


# --- fold_pad_into_pool: Keras' MaxPooling2D(padding="same") ------------------------------------

def _pad_pool(pads: list[int], mode: str = "edge", kernel: int = 3, stride: int = 2, extra_reader: bool = False
              ) -> onnx.ModelProto:
    nodes = [helper.make_node("Pad", ["x", "pads"], ["p"], mode=mode),
             helper.make_node("MaxPool", ["p"], ["y"], kernel_shape=[kernel, kernel], strides=[stride, stride])]
    outputs = ("y",)
    if extra_reader:
        nodes.append(helper.make_node("Relu", ["p"], ["z"]))
        outputs = ("y", "z")
    return _pad_graph(nodes, pads, outputs)


def _pad_graph(nodes: list, pads: list[int], outputs: tuple[str, ...]) -> onnx.ModelProto:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 5, 6])
    ys = [helper.make_tensor_value_info(o, TensorProto.FLOAT, [None] * 4) for o in outputs]
    g = helper.make_graph(nodes, "g", [x], ys, [numpy_helper.from_array(np.array(pads, np.int64), "pads")])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    onnx.checker.check_model(m, full_check=True)
    return m


@pytest.mark.parametrize("pads", [[0, 0, 0, 0, 0, 0, 1, 1], [0, 0, 1, 0, 0, 0, 1, 2], [0, 0, 2, 2, 0, 0, 0, 0]])
def test_an_edge_pad_before_a_max_pool_folds_into_its_padding_exactly(rng, pads) -> None:
    from exporters.finalize import fold_pad_into_pool

    m = _pad_pool(pads)
    x = rng.normal(0, 1, (1, 3, 5, 6)).astype(np.float32)
    want = _run(m, x)
    assert fold_pad_into_pool(m) == 1
    assert _ops(m) == ["MaxPool"] and not m.graph.initializer
    onnx.checker.check_model(m, full_check=True)
    (got,) = _run(m, x)
    np.testing.assert_array_equal(got, want[0])


@pytest.mark.parametrize("kwargs", [
    dict(pads=[0, 0, 0, 0, 0, 0, 1, 1], mode="constant"),     # zeros are not the edge: the max could differ
    dict(pads=[0, 0, 0, 0, 0, 0, 3, 3]),                      # a window could lie wholly in the padding
    dict(pads=[0, 1, 0, 0, 0, 0, 1, 1]),                      # pads the channel axis
    dict(pads=[0, 0, 0, 0, 0, 0, 1, 1], extra_reader=True),   # something else reads the padded tensor
])
def test_pads_that_are_not_the_pools_own_stay(kwargs) -> None:
    from exporters.finalize import fold_pad_into_pool

    m = _pad_pool(**kwargs)
    before = _ops(m)
    assert fold_pad_into_pool(m) == 0 and _ops(m) == before
