"""benchmarks/vs_published.py: what it compares must be the same network, and it must say when
it cannot run. (The timings themselves are the benchmark's business, not a test's.)"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import vs_published  # noqa: E402
from cocodiff.models import build_recognizer  # noqa: E402
from cocodiff.models.ctrgcn import published_state_dict  # noqa: E402

REFERENCE = vs_published.DEFAULT_REFERENCE


def test_without_the_published_code_it_says_so_and_stops(tmp_path, capsys):
    assert vs_published.main(["--reference", str(tmp_path / "nowhere")]) == 0
    out = capsys.readouterr().out
    assert out.startswith("skipped: the published CTR-GCN code is not at") and "--reference" in out


def test_ratio_summary_is_the_median_of_paired_ratios():
    summary = vs_published.ratio_summary([10.0, 12.0, 30.0, 8.0, 10.0], [5.0, 4.0, 10.0, 4.0, 2.0])
    assert summary["ratio"] == pytest.approx(3.0)  # ratios 2, 3, 3, 2, 5
    low, high = summary["ci95"]
    assert 2.0 <= low <= 3.0 <= high <= 5.0


@pytest.mark.skipif(not (REFERENCE / "model" / "ctrgcn.py").is_file(), reason="../shared/reference is not here")
def test_the_published_code_computes_our_logits_from_our_weights():
    torch.manual_seed(0)
    ours = build_recognizer("ctrgcn", "ntu25", 3, 60, base_channels=64, num_persons=2).double().eval()
    with torch.no_grad():
        for name, parameter in ours.named_parameters():
            if name.endswith("alpha"):
                parameter.fill_(0.5)  # the refinement on: at its initial 0 it would not be compared
    published = vs_published.published_model(REFERENCE, published_state_dict(ours)).double().eval()
    x = torch.from_numpy(vs_published.clips(2)[:, :, :16].astype(np.float64))
    with torch.no_grad():
        want = published(vs_published.to_published(x))
        got = ours(x)
    assert torch.allclose(got, want, rtol=0, atol=1e-10)
