"""What the training path of a saved CoCoDiff run actually generates, measured against real features.

    python benchmarks/generator_diagnostics.py runs/NAME [--data data/ucla.pkl] [--out diagnostics.jsonl]

The run's last.pt gives the backbone and the auxiliary as training left them. Real features are
the training clips under the evaluation pipeline (no augmentation); generated features are what
one training step would make of them (`CoCoDiff.training_path`, on a copy, so no statistic
moves), pooled as the classifier sees them. Reported, in one JSON line:

- geometry: drift from the source feature, distance to the real class centre and the generated
  spread, in units of the real within-class radius (`cocodiff.method.feature_metrics`);
- fidelity: a linear probe fitted on real training features only, scored on real validation
  features and on the generated ones; k-NN precision and recall against real features;
- gradient interference: the cosine, on the backbone's parameters, between the gradient of the
  real cross-entropy and that of the auxiliary's weighted loss, over augmented training batches;
- the run's last-epoch train and validation top-1 (the generalisation gap).
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import tempfile
from pathlib import Path

import torch
import torch.nn.functional as F

from cocodiff.checkpoint import load_checkpoint
from cocodiff.config import config_from_dict
from cocodiff.data.dataset import SkeletonDataset, load_data
from cocodiff.data.pipelines import InferencePipeline, train_pipeline
from cocodiff.method.feature_metrics import class_geometry, knn_precision_recall, probe_accuracy
from cocodiff.training.distributed import Dist
from cocodiff.training.loop import Trainer


def restored_trainer(run_dir: Path, data_path: str | None) -> Trainer:
    checkpoint = load_checkpoint(run_dir / "last.pt")
    config = config_from_dict(checkpoint["config"], str(run_dir / "last.pt"))
    if data_path:
        config.data.dataset = data_path
    if not config.method.enabled:
        sys.exit(f"{run_dir}: was trained without the CoCoDiff auxiliary; nothing is generated")
    trainer = Trainer(config, load_data(config.data), Path(tempfile.mkdtemp()), Dist(), torch.device("cpu"))
    trainer.load_train_state(checkpoint, str(run_dir / "last.pt"))
    return trainer


def clips(dataset: SkeletonDataset, indices: list[int], epoch: int | None = None, size: int = 64):
    for start in range(0, len(indices), size):
        chunk = indices[start:start + size]
        items = [dataset[(epoch, i) if epoch is not None else i] for i in chunk]
        yield torch.stack([x for x, _ in items]), torch.tensor([y for _, y in items])


@torch.no_grad()
def pooled_features(trainer: Trainer, samples, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(real pooled, generated pooled, labels) for `samples` under the evaluation pipeline."""
    model, aux = trainer.model.eval(), copy.deepcopy(trainer.auxiliary).train()
    dataset = SkeletonDataset(samples, InferencePipeline(trainer.contract))
    torch.manual_seed(seed)
    real, generated, labels = [], [], []
    for x, y in clips(dataset, list(range(len(dataset)))):
        features = model.encoder.forward_features(x.float())
        x0, _, _, made = aux.training_path(features, y)
        real.append(model.classifier.pool(features))
        generated.append(aux.latent.pool(aux.standardiser.inverse(made, like=x0)))
        labels.append(y)
    return torch.cat(real), torch.cat(generated), torch.cat(labels)


def gradient_interference(trainer: Trainer, batches: int, seed: int) -> float:
    """Mean cosine between d CE(real) / d backbone and d (auxiliary loss) / d backbone."""
    model, aux = copy.deepcopy(trainer.model).train(), copy.deepcopy(trainer.auxiliary).train()
    dataset = SkeletonDataset(trainer.data.train, train_pipeline(trainer.config.data, trainer.data.layout),
                              seed=seed, augment=True)
    params = list(model.encoder.parameters())
    order = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(seed)).tolist()
    size = trainer.config.optim.batch_size
    cosines = []
    for x, y in clips(dataset, order[:batches * size], epoch=0, size=size):
        features, logits = model.features_and_logits(x.float())
        ce = torch.autograd.grad(F.cross_entropy(logits, y), params, retain_graph=True, allow_unused=True)
        extra = torch.autograd.grad(aux.weighted(aux(features, y, model.classifier)), params, allow_unused=True)
        flat = [torch.cat([(g if g is not None else torch.zeros_like(p)).flatten() for g, p in zip(gs, params)])
                for gs in (ce, extra)]
        if flat[1].norm() > 0:
            cosines.append(float(F.cosine_similarity(flat[0], flat[1], dim=0)))
    return statistics.mean(cosines) if cosines else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path, help="a run directory holding last.pt and metrics.jsonl")
    parser.add_argument("--data", help="the prepared data file, if it moved since training")
    parser.add_argument("--batches", type=int, default=8, help="training batches for the gradient cosine")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, help="append the JSON line here too")
    args = parser.parse_args()
    torch.set_num_threads(1)
    trainer = restored_trainer(args.run, args.data)
    classes = len(trainer.data.classes)
    real, generated, labels = pooled_features(trainer, trainer.data.train, args.seed)
    val_real, _, val_labels = pooled_features(trainer, trainer.data.val, args.seed)
    precision, recall = knn_precision_recall(real, generated, labels)
    probe = probe_accuracy(real, labels, {"real_train": (real, labels), "real_val": (val_real, val_labels),
                                          "generated_train": (generated, labels)}, num_classes=classes)
    with torch.no_grad():
        own = 100.0 * float((trainer.model.classifier.head(generated).argmax(1) == labels).float().mean())
    history = [json.loads(line) for line in (args.run / "metrics.jsonl").read_text().splitlines() if line.strip()]
    last = [h for h in history if "val_top1" in h][-1]
    result = {"run": args.run.name, "method": {k: v for k, v in trainer.config.method.__dict__.items()},
              **class_geometry(real, generated, labels, classes),
              "knn_precision": precision, "knn_recall": recall,
              "probe_top1_real_train": probe["real_train"], "probe_top1_real_val": probe["real_val"], "probe_top1_generated": probe["generated_train"],
              "own_classifier_top1_generated": own,
              "gradient_cosine_ce_vs_auxiliary": gradient_interference(trainer, args.batches, args.seed),
              "train_top1": last["train_top1"], "val_top1": last["val_top1"]}
    line = json.dumps(result)
    print(line)
    if args.out:
        with open(args.out, "a") as handle:
            handle.write(line + "\n")


if __name__ == "__main__":
    main()
