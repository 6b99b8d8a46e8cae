"""ONNX export: ``nerve.onnx.export(model, "model.onnx", example_input)``.

The model's forward pass is traced on the example input, as ``torch.onnx.export`` does: every
operation it runs (a layer's fused operation, or the indexing, reshapes, arithmetic and
reductions of a custom Module's forward) becomes ONNX nodes, with the parameters and buffers as
initializers under their ``state_dict`` names. The file runs in ONNX Runtime and anything else
that reads ONNX; a model that cannot be exported raises :class:`OnnxExportError` (a
``ValueError``) naming the operation or layer and the module it ran in.

Needs the ``onnx`` package (``pip install onnx``; ``onnxruntime`` to run the file). ``import
nerve`` does not import this package: ``import nerve.onnx``.
"""

from nerve.onnx.exporter import export
from nerve.onnx.graph import OnnxExportError

__all__ = ["export", "OnnxExportError"]
