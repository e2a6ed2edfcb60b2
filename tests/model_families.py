"""Tiny random models of every family hfmix promises (hidden size 32, 2 layers), built from configs, and batches
with real padding on either side. Nothing is downloaded."""

from __future__ import annotations

import torch
import transformers as tf


VOCAB, PAD = 100, 0
_ENCODER = dict(
    vocab_size=VOCAB, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=37,
    max_position_embeddings=64,
)  # fmt: skip
_DECODER = dict(_ENCODER, num_key_value_heads=2, pad_token_id=PAD)
_SEQ2SEQ = dict(
    vocab_size=VOCAB, d_model=32, encoder_layers=2, decoder_layers=2, encoder_attention_heads=2,
    decoder_attention_heads=2, encoder_ffn_dim=37, decoder_ffn_dim=37, max_position_embeddings=64,
    pad_token_id=PAD, bos_token_id=1, eos_token_id=2, decoder_start_token_id=1,
)  # fmt: skip

CONFIGS = {
    "bert": lambda: tf.BertConfig(**_ENCODER, pad_token_id=PAD),
    "roberta": lambda: tf.RobertaConfig(**_ENCODER, pad_token_id=1),
    "deberta-v2": lambda: tf.DebertaV2Config(**_ENCODER, pad_token_id=PAD),
    "gpt2": lambda: tf.GPT2Config(
        vocab_size=VOCAB,
        n_embd=32,
        n_layer=2,
        n_head=2,
        n_positions=64,
        pad_token_id=PAD,
        bos_token_id=1,
        eos_token_id=2,
    ),  # fmt: skip
    "llama": lambda: tf.LlamaConfig(**_DECODER),
    "qwen2": lambda: tf.Qwen2Config(**_DECODER),
    "bart": lambda: tf.BartConfig(**_SEQ2SEQ),
    "t5": lambda: tf.T5Config(
        vocab_size=VOCAB,
        d_model=32,
        d_kv=16,
        d_ff=37,
        num_layers=2,
        num_decoder_layers=2,
        num_heads=2,
        pad_token_id=PAD,
        eos_token_id=2,
        decoder_start_token_id=PAD,
    ),  # fmt: skip
}
ENCODERS = ("bert", "roberta", "deberta-v2")
DECODERS = ("gpt2", "llama", "qwen2")
ENCODER_DECODERS = ("bart", "t5")
ROPE_DECODERS = ("llama", "qwen2")


def family_model(family: str, head: str = "SequenceClassification", num_labels: int = 3, seed: int = 0):
    """A tiny random `<Family>For<head>` in eval mode (dropout off)."""
    torch.manual_seed(seed)
    config = CONFIGS[family]()
    config.num_labels = num_labels
    model_type = tf.models.auto.modeling_auto.MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES
    mapping = {
        "SequenceClassification": model_type,
        "TokenClassification": tf.models.auto.modeling_auto.MODEL_FOR_TOKEN_CLASSIFICATION_MAPPING_NAMES,
        "MultipleChoice": tf.models.auto.modeling_auto.MODEL_FOR_MULTIPLE_CHOICE_MAPPING_NAMES,
    }[head]
    return getattr(tf, mapping[config.model_type])(config).eval()


def with_lora(model):
    """The model wrapped in a LoRA adapter on every linear layer (the head trained in full)."""
    from peft import LoraConfig, get_peft_model

    return get_peft_model(model, LoraConfig(task_type="SEQ_CLS", r=4, target_modules="all-linear"))


def padded_batch(lengths: list[int], side: str, family: str, width: int = 10, seed: int = 1) -> dict:
    """Token ids (>= 5, never a special id) of the given lengths, padded with the family's pad id on `side`;
    encoder-decoders end each row with eos (BART and T5 pool or decode from it)."""
    g = torch.Generator().manual_seed(seed)
    pad = CONFIGS[family]().pad_token_id
    ids = torch.full((len(lengths), width), pad, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for row, length in enumerate(lengths):
        tokens = torch.randint(5, VOCAB, (length,), generator=g)
        if family in ENCODER_DECODERS:
            tokens[-1] = 2
        span = slice(0, length) if side == "right" else slice(width - length, width)
        ids[row, span], mask[row, span] = tokens, 1
    return {"input_ids": ids, "attention_mask": mask}


def real_positions(batch: dict, row: int) -> list[int]:
    return torch.nonzero(batch["attention_mask"][row]).reshape(-1).tolist()
