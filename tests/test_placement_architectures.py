"""Every level on every model family hfmix promises, with real padding on either side, with and without LoRA,
against direct computations: (a) a plan that mixes nothing is the plain forward; (b) at the pooled level each
mixed row's pooled representation is λ·h_i + (1 − λ)·h_j of both rows' own pooled tokens; (c) encoders: no token id
at a padding position changes a mixed logit; (d) every real token of the partner changes the mixed row; (e) a RoPE
decoder gives the same mixed logits for left and right padding. Unsupported combinations are refused at
construction, naming what works."""

from __future__ import annotations

import pytest
import torch
from tiny import (
    DECODERS,
    ENCODER_DECODERS,
    ENCODERS,
    ROPE_DECODERS,
    family_model,
    padded_batch,
    real_positions,
    with_lora,
)

from hfmix.model_parts import capture_head_input
from hfmix.placement import check_level, mixing
from hfmix.sampling import MixPlan


LENGTHS = [3, 9, 5, 7]  # row 0 (short) mixes with row 1 (long), row 1 with row 0; rows 2 and 3 are not mixed
PLAN = MixPlan(torch.tensor([1, 0, 2, 3]), torch.tensor([0.7, 0.4, 1.0, 1.0]), layer=1)
# Encoders pool position 0 (CLS), which left padding turns into padding: they are padded on the right, as their
# tokenizers do. Decoders and encoder-decoders are tested with both sides.
SIDES = {family: ("right",) if family in ENCODERS else ("right", "left") for family in ENCODERS + DECODERS}
SIDES.update({family: ("right", "left") for family in ENCODER_DECODERS})
SUPPORTED = [
    (family, level, side)
    for family in ENCODERS + DECODERS + ENCODER_DECODERS
    for level in (("pooled",) if family in ENCODER_DECODERS else ("embeddings", "hidden", "pooled"))
    for side in SIDES[family]
]
POOLED = [(family, side) for family in SIDES for side in SIDES[family]]


def _model(family: str, lora: bool):
    model = family_model(family)
    return with_lora(model).eval() if lora else model


def _mixed_logits(model, batch, plan=PLAN, level="hidden"):
    check_level(model, level)
    with torch.no_grad(), mixing(model, batch, plan, level) as forward_inputs:
        return model(**forward_inputs).logits


def _changed(batch, row, position):
    out = {k: v.clone() for k, v in batch.items()}
    out["input_ids"][row, position] = 5 + (int(out["input_ids"][row, position]) - 5 + 17) % 90
    if out["input_ids"][row, position] == 2:  # keep encoder-decoders' eos where it was
        out["input_ids"][row, position] = 7
    return out


@pytest.mark.parametrize("lora", [False, True], ids=["full", "lora"])
@pytest.mark.parametrize(("family", "level", "side"), SUPPORTED)
def test_a_plan_that_mixes_nothing_is_the_plain_forward(family, level, side, lora):
    model = _model(family, lora)
    batch = padded_batch(LENGTHS, side, family)
    with torch.no_grad():
        plain = model(**batch).logits
    identity = MixPlan(torch.arange(4), torch.ones(4), layer=1)
    torch.testing.assert_close(_mixed_logits(model, batch, identity, level), plain, rtol=0, atol=1e-6)
    mixed = _mixed_logits(model, batch, PLAN, level)
    torch.testing.assert_close(mixed[2:], plain[2:], rtol=0, atol=1e-6)  # unmixed rows of a mixed batch
    assert (mixed[:2] - plain[:2]).abs().max() > 1e-6  # ... and the mixed rows did change


@pytest.mark.parametrize("lora", [False, True], ids=["full", "lora"])
@pytest.mark.parametrize(("family", "side"), POOLED)
def test_b_pooled_level_mixes_each_rows_own_pooled_representation(family, side, lora):
    model = _model(family, lora)
    batch = padded_batch(LENGTHS, side, family)
    with torch.no_grad(), capture_head_input(model) as plain:
        model(**batch)
    own = plain[0]
    if own.dim() == 3:  # a last-token classifier scores every position: its pooled token is the last real one
        last = torch.tensor([real_positions(batch, row)[-1] for row in range(4)])
        own = own[torch.arange(4), last]
        if family in ENCODERS:  # RoBERTa-style heads pool the first token
            own = plain[0][:, 0]
    expected = PLAN.lam[:, None] * own + (1 - PLAN.lam[:, None]) * own[PLAN.index]
    with torch.no_grad(), mixing(model, batch, PLAN, "pooled") as kw:
        head = {}
        handle = _head_output_probe(model, head)
        model(**kw)
        handle.remove()
    mixed = head["input"]
    if mixed.dim() == 3:
        mixed = mixed[:, 0] if family in ENCODERS else mixed[torch.arange(4), last]
    torch.testing.assert_close(mixed, expected, rtol=1e-5, atol=1e-6)


def _head_output_probe(model, store):
    from hfmix.model_parts import find_head

    _, head = find_head(model)
    return head.register_forward_pre_hook(lambda module, args: store.setdefault("input", args[0]))


@pytest.mark.parametrize("level", ["embeddings", "hidden", "pooled"])
@pytest.mark.parametrize("family", ENCODERS)
def test_c_encoders_padding_token_ids_never_change_a_mixed_logit(family, level):
    model = _model(family, lora=False)
    batch = padded_batch(LENGTHS, "right", family)
    mixed = _mixed_logits(model, batch, PLAN, level)
    for row in range(4):
        for position in sorted(set(range(10)) - set(real_positions(batch, row))):
            changed = _mixed_logits(model, _changed(batch, row, position), PLAN, level)
            torch.testing.assert_close(changed, mixed, rtol=0, atol=1e-6)


@pytest.mark.parametrize("lora", [False, True], ids=["full", "lora"])
@pytest.mark.parametrize(("family", "level", "side"), SUPPORTED)
def test_d_every_real_token_of_the_partner_changes_the_mixed_row(family, level, side, lora):
    model = _model(family, lora)
    batch = padded_batch(LENGTHS, side, family)
    mixed = _mixed_logits(model, batch, PLAN, level)
    for row, partner in ((0, 1), (1, 0)):  # a short row with a long partner, and the reverse
        positions = real_positions(batch, partner)
        if family in ENCODER_DECODERS:
            positions = positions[:-1]  # keep the eos the head pools at
        for position in positions:
            changed = _mixed_logits(model, _changed(batch, partner, position), PLAN, level)
            assert (changed[row] - mixed[row]).abs().max() > 1e-7, (row, partner, position)


@pytest.mark.parametrize("lora", [False, True], ids=["full", "lora"])
@pytest.mark.parametrize("level", ["embeddings", "hidden", "pooled"])
@pytest.mark.parametrize("family", ROPE_DECODERS)
def test_e_rope_decoders_mix_the_same_whatever_the_padding_side(family, level, lora):
    model = _model(family, lora)
    right, left = padded_batch(LENGTHS, "right", family), padded_batch(LENGTHS, "left", family)
    with torch.no_grad():
        torch.testing.assert_close(model(**right).logits, model(**left).logits, rtol=0, atol=1e-5)
    torch.testing.assert_close(
        _mixed_logits(model, right, PLAN, level), _mixed_logits(model, left, PLAN, level), rtol=0, atol=1e-5
    )


@pytest.mark.parametrize("level", ["embeddings", "hidden"])
@pytest.mark.parametrize("family", ENCODER_DECODERS)
def test_encoder_decoders_refuse_the_levels_their_decoder_would_not_see(family, level):
    with pytest.raises(ValueError, match="encoder-decoder.*level='pooled'"):
        check_level(family_model(family), level)


def test_heads_hfmix_cannot_mix_are_refused_naming_the_supported_ones():
    import transformers as tf

    model = tf.BertForMaskedLM(tf.BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=2,
                                             num_attention_heads=2, intermediate_size=37))  # fmt: skip
    with pytest.raises(ValueError, match="BertForMaskedLM.*ForSequenceClassification.*ForMultipleChoice"):
        check_level(model, "hidden")


def test_right_padded_decoders_with_padding_between_tokens_are_refused():
    model = family_model("llama")
    batch = padded_batch(LENGTHS, "right", "llama")
    batch["attention_mask"][0, 1] = 0
    with pytest.raises(ValueError, match="padding between real tokens"):
        _mixed_logits(model, batch, PLAN, "hidden")


def test_token_classification_pooled_level_never_mixes_the_partners_padding_into_real_tokens():
    model = family_model("bert", head="TokenClassification")
    batch = padded_batch(LENGTHS, "right", "bert")
    seen = {}
    with torch.no_grad():
        handle = _head_output_probe(model, seen)
        model(**batch)
        handle.remove()
        plain = seen.pop("input")
        _mixed_logits(model, batch, PLAN, "pooled")
    with torch.no_grad(), mixing(model, batch, PLAN, "pooled") as kw:
        handle = _head_output_probe(model, seen)
        model(**kw)
        handle.remove()
    own, partner = batch["attention_mask"].bool(), batch["attention_mask"].bool()[PLAN.index]
    weight = torch.where(partner, PLAN.lam[:, None] * own, 1.0)[..., None]
    torch.testing.assert_close(seen["input"], weight * plain + (1 - weight) * plain[PLAN.index])
    row0_real_partner_pad = own[1] & ~partner[1]  # row 1 (long) is mixed with row 0 (short)
    assert row0_real_partner_pad.any()
    torch.testing.assert_close(seen["input"][1][row0_real_partner_pad], plain[1][row0_real_partner_pad])


def _choice_batch(side: str = "right", family: str = "bert") -> dict:
    rows = [padded_batch([3, 6], side, family, seed=s) for s in range(4)]
    return {key: torch.stack([row[key] for row in rows]) for key in rows[0]}  # (B=4, C=2, T)


@pytest.mark.parametrize("level", ["embeddings", "hidden", "pooled"])
def test_multiple_choice_mixes_whole_examples_choice_by_choice(level):
    model = family_model("bert", head="MultipleChoice")
    batch = _choice_batch()
    with torch.no_grad():
        plain = model(**batch).logits  # (4, 2)
    identity = MixPlan(torch.arange(4), torch.ones(4), layer=1)
    torch.testing.assert_close(_mixed_logits(model, batch, identity, level), plain, rtol=0, atol=1e-6)
    mixed = _mixed_logits(model, batch, PLAN, level)
    torch.testing.assert_close(mixed[2:], plain[2:], rtol=0, atol=1e-6)
    assert (mixed[:2] - plain[:2]).abs().max() > 1e-7
    if level == "pooled":  # the head input of choice c of example b is λ·h[b, c] + (1 − λ)·h[index[b], c]
        with torch.no_grad(), capture_head_input(model) as own:
            model(**batch)
        own = own[0].unflatten(0, (4, 2))
        seen = {}
        with torch.no_grad(), mixing(model, batch, PLAN, level) as kw:
            handle = _head_output_probe(model, seen)
            model(**kw)
            handle.remove()
        lam = PLAN.lam[:, None, None]
        torch.testing.assert_close(seen["input"].unflatten(0, (4, 2)), lam * own + (1 - lam) * own[PLAN.index])


@pytest.mark.parametrize("level", ["embeddings", "hidden", "pooled"])
@pytest.mark.parametrize("family", ["gpt2", "llama"])
def test_mix_trainer_trains_a_right_padded_decoder_with_lora_at_every_level(tmp_path, family, level):
    import transformers as tf
    from datasets import Dataset

    from hfmix import MixTrainer, MixupConfig

    model = with_lora(family_model(family))
    rows = padded_batch([3, 9, 5, 7, 4, 8], "right", family)
    data = Dataset.from_dict(
        {"input_ids": [r[m.bool()].tolist() for r, m in zip(rows["input_ids"], rows["attention_mask"], strict=True)],
         "label": [0, 1, 2, 0, 1, 2]}
    )  # fmt: skip

    def collate(features):
        width = max(len(f["input_ids"]) for f in features)
        ids = torch.tensor([f["input_ids"] + [0] * (width - len(f["input_ids"])) for f in features])
        mask = torch.tensor([[1] * len(f["input_ids"]) + [0] * (width - len(f["input_ids"])) for f in features])
        return {"input_ids": ids, "attention_mask": mask, "labels": torch.tensor([f["label"] for f in features])}

    before = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    args = tf.TrainingArguments(
        tmp_path, per_device_train_batch_size=3, max_steps=2, learning_rate=1e-2, report_to=[], use_cpu=True,
        remove_unused_columns=False, save_strategy="no",
    )  # fmt: skip
    trainer = MixTrainer(model=model, args=args, train_dataset=data, data_collator=collate,
                         mix_config=MixupConfig(level=level, layers=[1] if level == "hidden" else None))  # fmt: skip
    trainer.train()
    after = dict(model.named_parameters())
    assert all(torch.isfinite(after[n]).all() for n in before)
    assert any((after[n] - before[n]).abs().max() > 0 for n in before)


@pytest.mark.parametrize("side", ["right", "left"])
@pytest.mark.parametrize("level", ["embeddings", "hidden"])
@pytest.mark.parametrize("family", DECODERS)
def test_the_pooled_representation_recorded_for_the_contrastive_term_is_each_rows_last_real_token(family, level, side):
    from hfmix import MixupConfig
    from hfmix.mixed_forward import mixed_forward

    model = _model(family, lora=False)
    batch = padded_batch(LENGTHS, side, family)
    with torch.no_grad(), capture_head_input(model) as plain:
        model(**batch)
    last = torch.tensor([real_positions(batch, row)[-1] for row in range(4)])
    own = plain[0][torch.arange(4), last]
    with torch.no_grad():
        result = mixed_forward(model, batch, PLAN, MixupConfig(level=level, layers=[1] if level == "hidden" else None),
                               labels=torch.zeros(4, dtype=torch.long), record_pooled=True)  # fmt: skip
    torch.testing.assert_close(result.pooled[2:], own[2:], rtol=0, atol=1e-6)  # unmixed rows: their own last token
