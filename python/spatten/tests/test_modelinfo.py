"""spatten.modelinfo finds the attention, LayerNorm and GELU chains."""

from conftest import shared_model
from spatten import modelinfo


def ops(chain):
    return [n.op_type for n in chain]


def test_tiny_bert_chains(tiny_models):
    v = modelinfo.GraphView(modelinfo.onnx.load(str(tiny_models("bert", 13)[0])))
    att = ops(v.attention_chain())
    assert att.count("Softmax") == 1 and att.count("MatMul") == 6  # Q, K, V, QK, PV, output
    assert ops(v.layernorm_chain()) == ["ReduceMean", "Sub", "Pow", "ReduceMean", "Add", "Sqrt", "Div", "Mul", "Add"]
    assert "Erf" in ops(v.gelu_chain())


def test_shared_gpt2_summary_shows_constants():
    text = modelinfo.summarize(str(shared_model("gpt2_pytorch1.4_opset11_no_past/GPT2Model.onnx")))
    assert "Split(" in text and "const[]=[0.044715]" in text and "const[]=[1.e-05]" in text
    assert "param[1x1x8x8]" in text  # the causal-mask buffer behind the Slice
