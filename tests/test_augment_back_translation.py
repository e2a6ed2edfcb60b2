"""`hfmix.augment.back_translation`: back-translation through tiny random Marian models with a word-level
tokenizer built offline (`tiny.marian_pair`)."""

import pickle

import pytest
import tiny
import torch
import transformers as tf
from datasets import Dataset

from hfmix.augment import BackTranslation


tf.logging.set_verbosity_error()


def direct_back_translation(models, tokenizer, text):
    ids = tokenizer([text], return_tensors="pt")
    pivot = tokenizer.batch_decode(models[0].generate(**ids, max_new_tokens=6), skip_special_tokens=True)[0].strip()
    ids = tokenizer([pivot], return_tensors="pt")
    return tokenizer.batch_decode(models[1].generate(**ids, max_new_tokens=6), skip_special_tokens=True)[0].strip()


def bt_rows():
    texts = [r["text"].split("#")[0].strip() for r in tiny.sentiment_rows(7)] + [""]
    return Dataset.from_dict({"text": texts, "label": list(range(len(texts)))})


def test_back_translation_batched():
    (fwd, bwd), tokenizer = tiny.marian_pair()
    bt = BackTranslation(fwd, bwd, tokenizer, tokenizer, batch_size=3, generation_kwargs={"max_new_tokens": 6})
    data = bt_rows()
    out = data.map(bt, batched=True, with_indices=True, batch_size=5)
    assert len(out) == 2 * len(data)
    assert out["augmented"] == [False, True] * len(data)
    assert out["source_index"] == [i for i in range(len(data)) for _ in range(2)]
    assert out["label"] == [i for i in range(len(data)) for _ in range(2)]
    assert out["text"][::2] == data["text"] and out["text"][-1] == ""  # empty text stays empty
    expected = [direct_back_translation((fwd, bwd), tokenizer, t) for t in data["text"][:-1]]
    assert out["text"][1:-2:2] == expected and len(set(expected)) > 1
    assert bt._loaded and pickle.loads(pickle.dumps(bt))._loaded == {}  # loaded copies never travel to workers


def test_back_translation_with_rank_loads_lazily_per_process(tmp_path):
    paths, _ = tiny.marian_pair(tmp_path)
    bt = BackTranslation(*paths, generation_kwargs={"max_new_tokens": 6}, show_progress=False)
    data = bt_rows()
    one = data.map(bt, batched=True, with_indices=True, with_rank=True, batch_size=4)
    two = data.map(bt, batched=True, with_indices=True, with_rank=True, batch_size=4, num_proc=2)
    assert one.to_dict() == two.to_dict() and len(two) == 2 * len(data)
    assert bt._device(1).type == ("cuda" if torch.cuda.is_available() else "cpu")
    only_new = BackTranslation(*paths, keep_original=False, generation_kwargs={"max_new_tokens": 6})
    replaced = data.map(only_new, batched=True, with_rank=True)  # rank without indices
    assert replaced["augmented"] == [True] * len(data) and replaced["text"] == one["text"][1::2]


def test_back_translation_errors():
    (fwd, bwd), tokenizer = tiny.marian_pair()
    with pytest.raises(ValueError, match="forward_model"):
        BackTranslation(object(), bwd, tokenizer, tokenizer)
    with pytest.raises(ValueError, match="backward_model.*tokenizer"):
        BackTranslation(fwd, bwd, tokenizer)
    with pytest.raises(ValueError, match="batch_size"):
        BackTranslation(fwd, bwd, tokenizer, tokenizer, batch_size=0)
    bt = BackTranslation(fwd, bwd, tokenizer, tokenizer, text_column="sentence")
    with pytest.raises(ValueError, match="'sentence'"):
        bt({"text": ["a"]}, [0])


def test_back_translation_default_length_fits_the_model(tmp_path):
    """Without generation options the output length is capped by the model's decoder positions."""
    paths, _ = tiny.marian_pair(tmp_path)
    out = Dataset.from_dict({"text": ["good great happy"]}).map(
        BackTranslation(*paths, show_progress=False), batched=True, with_indices=True
    )
    assert out["augmented"] == [False, True] and isinstance(out["text"][1], str)
