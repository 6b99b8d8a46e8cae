"""Export the MNIST CNN to ONNX and run the file in ONNX Runtime.

The model is traced on one example image: every layer becomes an ONNX node, with the weights
under their state_dict names, and the batch dimension stays free ("batch"), so the file takes
any number of images. No training here (random weights): the point is that ONNX Runtime gives
what nerve gives.

    python examples/onnx_export.py            # needs onnx; onnxruntime to run the file
"""

import os
import tempfile

import numpy as np

import nerve
import nerve.onnx
from nerve import nn

nerve.manual_seed(0)
model = nn.Sequential(
    nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
    nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
    nn.Flatten(), nn.Linear(32 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, 10),
)

path = os.path.join(tempfile.mkdtemp(), "mnist_cnn.onnx")
proto = nerve.onnx.export(model, path, nerve.randn(1, 1, 28, 28), input_names=["image"],
                          output_names=["logits"])
print(f"wrote {path} ({os.path.getsize(path) / 1e6:.1f} MB)")
print("nodes:", " -> ".join(node.op_type for node in proto.graph.node))

images = nerve.randn(8, 1, 28, 28)
with nerve.no_grad():
    expected = model(images).numpy()
try:
    import onnxruntime
except ImportError:
    print("onnxruntime is not installed: pip install onnxruntime to run the file")
else:
    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    (logits,) = session.run(None, {"image": images.numpy()})
    print(f"ONNX Runtime, batch of {len(logits)}: predictions {logits.argmax(1).tolist()}")
    print(f"nerve:                   predictions {expected.argmax(1).tolist()}")
    print(f"max abs difference {np.abs(logits - expected).max():.2e}")
