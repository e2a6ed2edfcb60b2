"""Placement: the layer stack and head are found on any architecture, and each level mixes what it says."""

import pytest
import tiny
import torch
from torch import nn

from hfmix import MixPlan, MixupConfig
from hfmix.functional import mixup, union_mask
from hfmix.placement import find_head, find_layer_stack, mixing


TEXT_STACKS = {
    "bert": "bert.encoder.layer",
    "roberta": "roberta.encoder.layer",
    "distilbert": "distilbert.transformer.layer",
    "deberta-v2": "deberta.encoder.layer",
    "electra": "electra.encoder.layer",
}
AUDIO_STACKS = {
    "wav2vec2": "wav2vec2.encoder.layers",
    "hubert": "hubert.encoder.layers",
    "ast": "audio_spectrogram_transformer.layers",
    "whisper": "encoder.layers",
}


def padded_batch(batch_size=4, length=9, seed=0):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, tiny.VOCAB, (batch_size, length), generator=g)
    mask = torch.ones(batch_size, length, dtype=torch.long)
    mask[1, 5:] = 0
    mask[3, 3:] = 0
    ids[mask == 0] = 0
    return {"input_ids": ids, "attention_mask": mask}


PLAN = MixPlan(torch.tensor([1, 0, 3, 2]), torch.tensor([0.3, 0.6, 0.8, 0.5]), layer=1)


@pytest.mark.parametrize("arch", TEXT_STACKS)
def test_layer_stack_of_text_models(arch):
    name, stack = find_layer_stack(tiny.text_model(arch))
    assert name == TEXT_STACKS[arch] and len(stack) == 2


@pytest.mark.parametrize("arch", AUDIO_STACKS)
def test_layer_stack_of_audio_models(arch):
    assert find_layer_stack(tiny.audio_model(arch))[0] == AUDIO_STACKS[arch]  # not the conv feature encoder


def test_layer_stack_and_head_through_peft_and_ddp_wrappers():
    from peft import LoraConfig, TaskType, get_peft_model

    model = get_peft_model(
        tiny.text_model("bert"), LoraConfig(task_type=TaskType.SEQ_CLS, r=4, target_modules=["query", "value"])
    )
    assert find_layer_stack(model)[0] == "base_model.model.bert.encoder.layer"
    assert find_head(model)[0] == "base_model.model.classifier"

    class Wrapper(nn.Module):  # what DDP / DataParallel look like from outside
        def __init__(self, module):
            super().__init__()
            self.module = module

    assert find_layer_stack(Wrapper(tiny.text_model("bert")))[0] == "bert.encoder.layer"


@pytest.mark.parametrize("arch", TEXT_STACKS)
@pytest.mark.parametrize("layer", [1, 2])
def test_hidden_level_mixes_hidden_state_k(arch, layer):
    model = tiny.text_model(arch).eval()
    batch = padded_batch()
    plan = MixPlan(PLAN.index, PLAN.lam, layer=layer)
    with torch.no_grad():
        clean = model(**batch, output_hidden_states=True)
        with mixing(model, batch, plan, "hidden") as kwargs:
            mixed = model(**kwargs, output_hidden_states=True)
    expected = mixup(clean.hidden_states[layer], plan.index, plan.lam, batch["attention_mask"])
    torch.testing.assert_close(mixed.hidden_states[layer], expected)  # the recorded state is the mixed one
    torch.testing.assert_close(mixed.hidden_states[layer - 1], clean.hidden_states[layer - 1])  # before: untouched
    assert not torch.allclose(mixed.logits, clean.logits)


def test_layers_after_k_attend_to_the_union_of_masks():
    model = tiny.text_model("bert").eval()
    batch = padded_batch()
    seen = []
    layer = model.bert.encoder.layer[1]
    with torch.no_grad():
        probe = layer.register_forward_pre_hook(lambda m, a, k: seen.append(a[1]), with_kwargs=True)
        model(**batch)
        probe.remove()
        with mixing(model, batch, PLAN, "hidden") as kwargs:  # the probe runs after the mixing hooks
            probe = layer.register_forward_pre_hook(lambda m, a, k: seen.append(a[1]), with_kwargs=True)
            model(**kwargs)
            probe.remove()
    own, widened = seen
    assert torch.equal(widened, union_mask(own, PLAN.index))
    assert widened[1, 0, 0].tolist() == [True] * 9  # row 1 (5 tokens) mixed with row 0 (9 tokens) sees all 9


def test_padding_never_reaches_real_positions_at_the_hidden_level():
    model = tiny.text_model("bert").eval()
    batch = padded_batch()

    def poison_padding(module, args, output):  # make layer 1's output at padded positions absurd
        output = output.clone()
        output[batch["attention_mask"] == 0] = 1e6
        return output

    with torch.no_grad(), mixing(model, batch, PLAN, "hidden") as kwargs:
        handle = model.bert.encoder.layer[0].register_forward_hook(poison_padding, prepend=True)  # before mixing
        out = model(**kwargs, output_hidden_states=True)
        handle.remove()
    real = union_mask(batch["attention_mask"], PLAN.index).bool()
    assert out.hidden_states[1][real].abs().max() < 1e3


@pytest.mark.parametrize("arch", AUDIO_STACKS)
def test_hidden_level_on_audio_models(arch):
    model = tiny.audio_model(arch).eval()
    rows = tiny.audio_dataset(arch, n=4)
    batch = tiny.PadCollator()([rows[i] for i in range(4)])
    batch.pop("labels")
    with torch.no_grad():
        clean = model(**batch, output_hidden_states=True)
        with mixing(model, batch, PLAN, "hidden") as kwargs:
            mixed = model(**kwargs, output_hidden_states=True)
    assert mixed.hidden_states[1].shape == clean.hidden_states[1].shape
    if "attention_mask" not in batch:
        torch.testing.assert_close(mixed.hidden_states[1], mixup(clean.hidden_states[1], PLAN.index, PLAN.lam))
    else:
        assert not torch.allclose(mixed.hidden_states[1], clean.hidden_states[1])


def test_embeddings_level_equals_mixing_inputs_embeds_by_hand():
    model = tiny.text_model("bert").eval()
    batch = padded_batch()
    with torch.no_grad():
        with mixing(model, batch, PLAN, "embeddings") as kwargs:
            mixed = model(**kwargs).logits
        embeds = model.get_input_embeddings()(batch["input_ids"])
        by_hand = model(
            inputs_embeds=mixup(embeds, PLAN.index, PLAN.lam, batch["attention_mask"]),
            attention_mask=union_mask(batch["attention_mask"], PLAN.index),
        ).logits
    torch.testing.assert_close(mixed, by_hand)  # the same logits as mixing inputs_embeds by hand ...
    own, partner = batch["attention_mask"].bool(), batch["attention_mask"].bool()[PLAN.index]
    union_ids = torch.where(own | ~partner, batch["input_ids"], batch["input_ids"][PLAN.index])
    assert torch.equal(kwargs["input_ids"], union_ids)  # ... with token ids kept, the partner's where only it is real
    assert not torch.equal(union_ids, batch["input_ids"])  # the caller's batch is not modified


def test_pooled_level_mixes_the_head_input():
    model = tiny.text_model("bert").eval()
    batch = padded_batch()
    with torch.no_grad():
        with mixing(model, batch, PLAN, "pooled") as kwargs:
            mixed = model(**kwargs).logits
        pooled = model.bert(**batch).pooler_output
        torch.testing.assert_close(mixed, model.classifier(mixup(pooled, PLAN.index, PLAN.lam)))


def test_inputs_level_mixes_waveforms_without_padding():
    batch = {"input_values": torch.randn(4, 50), "attention_mask": torch.ones(4, 50, dtype=torch.long)}
    batch["attention_mask"][0, 30:] = 0
    batch["input_values"][0, 30:] = 0.0
    with mixing(tiny.audio_model("wav2vec2"), batch, PLAN, "inputs") as kwargs:
        mixed = kwargs["input_values"]
    x = batch["input_values"]
    torch.testing.assert_close(mixed[0, :30], 0.3 * x[0, :30] + 0.7 * x[1, :30])
    torch.testing.assert_close(mixed[0, 30:], x[1, 30:])  # own padding: the partner's signal, at full weight
    torch.testing.assert_close(mixed[1, 30:], x[1, 30:])  # partner's padding is not mixed in
    assert kwargs["attention_mask"][0].tolist() == [1] * 50


def test_levels_that_cannot_work_say_which_do():
    with pytest.raises(ValueError, match="level='inputs'.*'hidden' or 'pooled'"):
        with mixing(tiny.audio_model("wav2vec2"), {"input_values": torch.randn(4, 1600)}, PLAN, "embeddings"):
            pass
    with pytest.raises(ValueError, match="Token ids cannot be interpolated"):
        with mixing(tiny.text_model("bert"), padded_batch(), PLAN, "inputs"):
            pass
    from transformers import BertModel

    with pytest.raises(ValueError, match="no `classifier`, `score` or `classification_head` head"):
        find_head(BertModel(tiny.text_config("bert")))
    with pytest.raises(ValueError, match=r"\[5\] past the model's depth of 2 layers"):
        MixupConfig(level="hidden", layers=[1, 5]).resolve_layers(2)


def test_default_layers_scale_tmix_to_the_depth():
    config = MixupConfig(level="hidden")
    assert config.resolve_layers(12) == (7, 9, 12)
    assert config.resolve_layers(6) == (4, 5, 6)
    assert config.resolve_layers(2) == (1, 2)
