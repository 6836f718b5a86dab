"""The runtime: a trained model on live skeleton streams.

- `serve.backends`: one interface (`predict(batch) -> logits`, plus the deployment contract) over
  a PyTorch checkpoint, an ONNX file in ONNX Runtime, or a TensorRT engine, chosen by the file.
- `serve.recognizer`: the live recogniser. Timestamped frames of any supported layout in, per
  person labels out; built on `serve.stream` (frame intake), `serve.tracker` (person slots) and
  `serve.buffer` (the recent past as a clip like the training clips).
- `python -m serve.replay`: a recorded clip through the live recogniser, frame by frame.

This package depends on `cocodiff.data`, `cocodiff.models`, the checkpoint and its contract, and
small base modules only (tests/test_boundary.py enforces it): never on training, `method/`, or a
command-line module.
"""
