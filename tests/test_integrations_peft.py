"""Every mixing level with every peft method (LoRA, P-tuning MLP/LSTM, prompt tuning, prefix tuning): only the
adapter trains, virtual tokens are never mixed, prefix tuning works on transformers 5, the recipe is saved with
the adapter."""

import json

import pytest
import tiny
import torch
from peft import (
    LoraConfig,
    PeftModel,
    PrefixTuningConfig,
    PromptEncoderConfig,
    PromptEncoderReparameterizationType,
    PromptTuningConfig,
    TaskType,
    get_peft_model,
)

from hfmix import MixTrainer, MixupConfig
from hfmix.integrations.peft import fix_prefix_tuning, needs_prefix_tuning_fix, virtual_token_count
from hfmix.placement import mixing


METHODS = {
    "lora": lambda: LoraConfig(task_type=TaskType.SEQ_CLS, r=4, target_modules=["query", "value"]),
    "p-tuning-mlp": lambda: PromptEncoderConfig(
        task_type=TaskType.SEQ_CLS,
        num_virtual_tokens=4,
        encoder_hidden_size=16,
        encoder_reparameterization_type=PromptEncoderReparameterizationType.MLP,
    ),
    "p-tuning-lstm": lambda: PromptEncoderConfig(
        task_type=TaskType.SEQ_CLS,
        num_virtual_tokens=4,
        encoder_hidden_size=16,
        encoder_reparameterization_type=PromptEncoderReparameterizationType.LSTM,
    ),
    "prompt-tuning": lambda: PromptTuningConfig(task_type=TaskType.SEQ_CLS, num_virtual_tokens=4),
    "prefix-tuning": lambda: PrefixTuningConfig(
        task_type=TaskType.SEQ_CLS, num_virtual_tokens=4, prefix_projection=True, encoder_hidden_size=16
    ),
}


def peft_model(method):
    torch.manual_seed(0)
    return get_peft_model(tiny.text_model("bert"), METHODS[method]())


@pytest.mark.parametrize("level", ["embeddings", "hidden", "pooled"])
@pytest.mark.parametrize("method", list(METHODS))
def test_every_peft_method_trains_only_its_adapter_at_every_level(tmp_path, method, level):
    model = peft_model(method)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    trainer = MixTrainer(
        model=model,
        args=tiny.make_args(tmp_path, max_steps=2),
        train_dataset=tiny.text_dataset(),
        data_collator=tiny.PadCollator(),
        mix_config=MixupConfig(level=level, alpha=1.0),
    )
    trainer.train()
    moved = {n for n, p in model.named_parameters() if not torch.equal(before[n], p)}
    assert moved and moved <= trainable
    assert moved - {n for n in moved if "classifier" in n}  # the adapter itself moved, not only the head
    assert all(h["mix_fraction"] == 1.0 for h in trainer.state.log_history if "mix_fraction" in h)


@pytest.mark.parametrize("method", ["prompt-tuning", "p-tuning-mlp"])
def test_virtual_tokens_are_never_mixed(method):
    model = peft_model(method).eval()
    virtual = virtual_token_count(model)
    assert virtual == 4
    batch = tiny.PadCollator()([tiny.text_dataset(n=4)[i] for i in range(4)])
    batch.pop("labels")
    plan = MixupConfig(level="hidden", layers=[1], alpha=1.0).sample_plan(
        4, generator=torch.Generator().manual_seed(0), num_layers=2
    )
    with torch.no_grad():
        plain = model(**batch, output_hidden_states=True).hidden_states[1]
        with mixing(model, batch, plan, "hidden") as forward:
            mixed = model(**forward, output_hidden_states=True).hidden_states[1]
    assert plain.shape[1] == batch["input_ids"].shape[1] + virtual
    torch.testing.assert_close(mixed[:, :virtual], plain[:, :virtual])  # the prompt positions: untouched
    real = batch["attention_mask"].bool() & batch["attention_mask"].bool()[plan.index]
    lam = plan.lam[:, None, None]
    expected = lam * plain[:, virtual:] + (1 - lam) * plain[plan.index, virtual:]
    torch.testing.assert_close(mixed[:, virtual:][real], expected[real], atol=1e-5, rtol=1e-5)


def test_prefix_tuning_fix_makes_the_prefix_train_and_matter():
    model = peft_model("prefix-tuning")
    batch = tiny.PadCollator()([tiny.text_dataset(n=4)[i] for i in range(4)])
    labels = batch.pop("labels")
    if needs_prefix_tuning_fix(model):
        with pytest.raises(ValueError, match="past key values"):
            model(**batch)
    assert fix_prefix_tuning(model) in (True, False) and not needs_prefix_tuning_fix(model)
    assert not fix_prefix_tuning(model)  # idempotent
    logits = model(**batch).logits
    torch.nn.functional.cross_entropy(logits, labels).backward()
    prefix = [p for n, p in model.named_parameters() if "prompt_encoder" in n]
    assert prefix and all(p.grad is not None and p.grad.abs().sum() > 0 for p in prefix)
    with torch.no_grad():
        for p in prefix:
            p.add_(torch.randn_like(p))
    assert not torch.allclose(model(**batch).logits, logits)  # the prefix changes the logits
    lora = peft_model("lora")
    assert not needs_prefix_tuning_fix(lora) and not fix_prefix_tuning(lora)  # nothing to do elsewhere
    assert not fix_prefix_tuning(tiny.text_model("bert"))


def test_the_adapter_is_saved_with_its_recipe_and_reloads(tmp_path):
    model = peft_model("p-tuning-mlp")
    trainer = MixTrainer(
        model=model,
        args=tiny.make_args(tmp_path, max_steps=1),
        train_dataset=tiny.text_dataset(),
        data_collator=tiny.PadCollator(),
        mix_config=MixupConfig(level="hidden"),
    )
    trainer.train()
    trainer.save_model(str(tmp_path / "adapter"))
    assert (tmp_path / "adapter" / "adapter_config.json").exists()
    assert json.loads((tmp_path / "adapter" / "mix_config.json").read_text())["level"] == "hidden"
    reloaded = PeftModel.from_pretrained(tiny.text_model("bert"), str(tmp_path / "adapter"))
    batch = tiny.PadCollator()([tiny.text_dataset(n=2)[i] for i in range(2)])
    batch.pop("labels")
    torch.testing.assert_close(reloaded.eval()(**batch).logits, model.eval()(**batch).logits)
