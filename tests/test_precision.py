"""Mixed precision where CI can run it: bf16 through the CPU's autocast, against float32, and the GPU check's CPU
part (benchmarks/gpu_check.py runs end to end on a CPU, skipping what needs CUDA and saying why)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from test_grad_cache import first_batch, gradients
from training_worker import make_trainer

ROOT = Path(__file__).resolve().parents[1]
TOLERANCE = 5e-2  # relative: bf16 keeps 8 bits of mantissa, about 4e-3 per rounding, over a few layers


def flat(model) -> torch.Tensor:
    return torch.cat([g.flatten() for g in gradients(model).values()])


def test_a_bf16_batch_on_the_cpu_stays_within_tolerance_of_float32():
    fp32, bf16 = make_trainer(dropout=False, precision="fp32"), make_trainer(dropout=False, precision="bf16")
    assert bf16.autocast_dtype == torch.bfloat16  # asked for, it is not silently float32
    batch = first_batch(fp32)
    loss, bf16_loss = fp32.forward_backward(batch, 1.0), bf16.forward_backward(batch, 1.0)
    assert abs(bf16_loss - loss) / loss < TOLERANCE
    error = float((flat(bf16.model) - flat(fp32.model)).norm() / flat(fp32.model).norm())
    assert 0 < error < TOLERANCE  # not 0: the bf16 path ran


def test_a_few_bf16_steps_on_the_cpu_follow_float32():
    fp32 = make_trainer(dropout=False, precision="fp32", n_epochs=1).train()
    bf16 = make_trainer(dropout=False, precision="bf16", n_epochs=1).train()
    assert len(bf16.steps) == 6
    for a, b in zip(bf16.steps, fp32.steps):
        assert a["loss"] == pytest.approx(b["loss"], rel=TOLERANCE)


def test_fp16_asked_for_on_the_cpu_warns_and_trains_in_float32():
    with pytest.warns(UserWarning, match="precision='fp16' needs an NVIDIA GPU"):
        trainer = make_trainer(precision="fp16")
    assert trainer.autocast_dtype is None and trainer.scaler is None


def test_the_gpu_check_runs_on_a_cpu_and_says_what_it_skipped(tmp_path):
    # Without ../shared's trained model, as on a user's machine: the random model, pooled by mean. Pooled by [CLS]
    # (before), its near-uniform scores left bf16's gradient 5.6% off fp32's, beyond the 5% tolerance.
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "gpu_check.py"),
            "--precision-model",
            str(tmp_path / "no-such-model"),
            "--json",
            str(tmp_path / "gpu_check.json"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((tmp_path / "gpu_check.json").read_text())
    checks = {row["check"]: row for row in summary["precision"]}
    assert set(checks) == {
        "fp32 vs fp32",
        "bf16 vs fp32",
        "cached vs whole batch 64, fp32",
        "cached vs whole batch 64, bf16",
    }  # fp16 needs CUDA
    assert summary["precision_model"] == "the random model, pooled by mean"
    assert all(row["passed"] for row in checks.values())
    assert checks["cached vs whole batch 64, fp32"]["gradient_error"] < 1e-4
    assert summary["throughput"] == summary["t4"] == "skipped: no CUDA GPU here"
    assert summary["encoding"]["dpr_nb_passages_per_second"] > 0


def test_the_gpu_checks_flops_per_question_are_counted_by_hand(tmp_path):
    """MFU's numerator on a 2-layer, 64-wide BERT: the query's 4 tokens and the passage pair's 6, by hand; and a
    passage longer than the passage length counts at that length."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import gpu_check

    from dpr_nb.data.dpr_file import DPRExample, Passage
    from dpr_nb.model.encoders import tiny_encoder

    encoder = tiny_encoder()
    encoder.model.save_pretrained(tmp_path)
    encoder.tokenizer.save_pretrained(tmp_path)
    positive, negative = Passage("velmora", "river osk"), Passage("osk", "river " * 40)
    example = DPRExample("where velmora", [], [positive], [negative])  # [CLS] where velmora [SEP]: 4 tokens

    def forward(tokens):  # 2 layers of width 64: 4 w^2 + 2 w (4 w) weights per layer, 2 FLOPs each, and attention
        return 2 * 2 * (4 * 64 * 64 + 2 * 64 * 256) * tokens + 4 * 2 * 64 * tokens**2

    expected = 3 * (forward(4) + forward(6) + forward(16))  # [CLS] velmora [SEP] river osk [SEP]; the long one cut
    assert gpu_check.flops_per_question(str(tmp_path), [example], (64, 16)) == expected
    assert (
        gpu_check.peak_tflops("NVIDIA H100 PCIe", None) == 756
        and gpu_check.peak_tflops("NVIDIA H100 80GB HBM3", None) == 989
    )
    assert gpu_check.peak_tflops("Some GPU", None) is None and gpu_check.peak_tflops("Some GPU", 100.0) == 100
