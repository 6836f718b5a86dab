"""int8 static quantization of an exported graph, calibrated on real training clips.

    write_int8(deploy_onnx, out, calibration_clips)     # NAME.int8.onnx beside NAME.deploy.onnx

ONNX Runtime's own static quantizer (`onnxruntime.quantization.quantize_static`) rewrites the
graph's convolutions and matrix products as QDQ pairs: int8 weights per output channel, uint8
activations with ranges measured on the calibration clips (min-max). On processors with AVX512
VNNI or AVX-VNNI, ONNX Runtime runs them as int8 dot products, several times the fp32 rate.

This is a lower-precision option, never the default: its logits are not within the float32
bound of the trained model, so it is not verified against that bound; `agreement` measures
what it changes (top-1 agreement with the float32 graph, largest logit difference) and the
command prints it. Measure accuracy on a real test split before serving it
(benchmarks/runtime_accuracy.py). The file keeps the source's metadata (the deployment contract,
so any runtime preprocesses as training did), with precision "int8".
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from cocodiff.atomic import atomic_write_bytes
from cocodiff.errors import CocodiffError
from export.graph import INPUT
from export.metadata import attach

CALIBRATION_BATCH = 8


def int8_path(onnx_file: Path) -> Path:
    """NAME.int8.onnx beside NAME.onnx or NAME.deploy.onnx."""
    return onnx_file.with_name(f"{onnx_file.name.removesuffix('.onnx').removesuffix('.deploy')}.int8.onnx")


class _Clips:
    """onnxruntime's CalibrationDataReader protocol over an array of clips, a few at a time."""

    def __init__(self, clips: np.ndarray):
        self.batches = iter(np.array_split(clips, max(1, len(clips) // CALIBRATION_BATCH)))

    def get_next(self):
        batch = next(self.batches, None)
        return None if batch is None else {INPUT: np.ascontiguousarray(batch, dtype=np.float32)}


def write_int8(source: Path, out: Path, calibration_clips: np.ndarray) -> Path:
    """Quantize the ONNX file `source` to `out` (written atomically); the clips are (K, M, T, V, C)."""
    import onnx
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    if calibration_clips is None or len(calibration_clips) == 0:
        raise CocodiffError("int8 quantization needs calibration clips from the training data "
                            "(pass --data FILE and --calib-split NAME)")
    metadata = {entry.key: entry.value for entry in onnx.load(str(source), load_external_data=False).metadata_props}
    with tempfile.TemporaryDirectory() as folder:
        prepared, quantized = Path(folder) / "prepared.onnx", Path(folder) / "int8.onnx"
        quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
        quantize_static(str(prepared), str(quantized), _Clips(np.asarray(calibration_clips)),
                        quant_format=QuantFormat.QDQ, per_channel=True, activation_type=QuantType.QUInt8,
                        weight_type=QuantType.QInt8, op_types_to_quantize=["Conv", "MatMul"])
        model = onnx.load(str(quantized))
    attach(model, {**metadata, "precision": "int8"})
    atomic_write_bytes(out, model.SerializeToString())
    return out


def agreement(reference: Path, quantized: Path, clips: np.ndarray) -> dict:
    """Top-1 agreement and the largest logit difference of `quantized` against `reference`."""
    from export.verify import session

    runners = [session(Path(path).read_bytes()) for path in (reference, quantized)]
    want, got = (runner.run(["logits"], {INPUT: np.asarray(clips, dtype=np.float32)})[0] for runner in runners)
    return {"top1_agreement": float((want.argmax(1) == got.argmax(1)).mean()),
            "max_abs_difference": float(np.abs(want - got).max()), "logit_scale": float(np.abs(want).max()),
            "clips": len(clips)}
