"""`hfmix.augment.eda`: EDA (each operation, determinism, num_proc, with_transform, errors) and the synonym sources."""

import collections
import pickle

import pytest
import tiny
import torch
import transformers as tf
from datasets import Dataset

from hfmix.augment import EDA, eda_augment, embedding_synonyms, load_thesaurus


tf.logging.set_verbosity_error()


SYNONYMS = {
    "good": ["great", "fine"],
    "bad": ["awful", "poor"],
    "car": ["auto", "vehicle"],
    "love": ["adore"],
    "road": ["street"],
    "happy": ["glad"],
}


TEXTS = [
    "good car on the road today",
    "",
    "bad",
    "I love this happy car, good!",
    "the worst road bad news drive",
    "Good",
]


def rows(texts=TEXTS):
    return Dataset.from_dict(
        {"text": texts, "label": [i % 3 for i in range(len(texts))], "id": list(range(len(texts)))}
    )


def only(op, rate=1.0, **kw):
    rates = dict(alpha_sr=0.0, alpha_ri=0.0, alpha_rs=0.0, p_rd=0.0)
    rates[op] = rate
    return EDA(**{"synonyms": SYNONYMS, **rates, **kw})


def test_keeps_rows_labels_and_marks_copies():
    out = rows().map(EDA(SYNONYMS, num_aug=3), batched=True, with_indices=True, batch_size=4)
    assert len(out) == 4 * len(TEXTS)
    assert out.column_names[-2:] == ["augmented", "source_index"] and set(out.column_names) >= {"text", "label", "id"}
    for k, row in enumerate(out):
        src = k // 4
        assert row["source_index"] == src and row["id"] == src and row["label"] == src % 3
        assert row["augmented"] == (k % 4 != 0)
        if not row["augmented"]:
            assert row["text"] == TEXTS[src]
    assert out.filter(lambda r: r["source_index"] == 1)["text"] == ["", "", "", ""]  # empty stays empty


def test_deterministic_and_independent_of_batch_size():
    a = rows().map(EDA(SYNONYMS, seed=3), batched=True, with_indices=True, batch_size=2)["text"]
    b = rows().map(EDA(SYNONYMS, seed=3), batched=True, with_indices=True, batch_size=100)["text"]
    c = rows().map(EDA(SYNONYMS, seed=4), batched=True, with_indices=True)["text"]
    assert a == b and a != c


def test_num_proc_two_equals_one():
    data = rows(TEXTS * 4)
    eda = EDA(SYNONYMS, num_aug=2, seed=7)
    one = data.map(eda, batched=True, with_indices=True, batch_size=5)
    two = data.map(eda, batched=True, with_indices=True, batch_size=5, num_proc=2)
    assert one.to_dict() == two.to_dict()
    assert pickle.loads(pickle.dumps(eda))(data[:3], [0, 1, 2]) == eda(data[:3], [0, 1, 2])  # plain pickle works


def test_function_form_with_fn_kwargs():
    kwargs = dict(synonyms=SYNONYMS, num_aug=2, seed=1)
    out = rows().map(eda_augment, batched=True, with_indices=True, fn_kwargs=kwargs)
    assert out["text"] == rows().map(EDA(**kwargs), batched=True, with_indices=True)["text"]


def test_synonym_replacement():
    eda = only("alpha_sr", num_aug=1)
    out = eda.augment("good car good", 0)[0].split()
    assert out[0] == out[2] and out[0] in SYNONYMS["good"] and out[1] in SYNONYMS["car"]  # every occurrence
    assert eda.augment("Good!", 0)[0] in ("Great!", "Fine!")  # case and punctuation kept
    assert eda.augment("the of and", 0)[0] == "the of and"  # stopwords and unknown words stay
    assert only("alpha_sr", rate=0.1, num_aug=1).augment("good car road", 0)[0].split().count("good") <= 1


def test_random_insertion_adds_synonyms():
    eda = only("alpha_ri", rate=0.5, num_aug=1)
    words = "good car zebra road".split()
    out = eda.augment(" ".join(words), 5)[0].split()
    added = collections.Counter(out) - collections.Counter(words)
    assert sum(added.values()) == 2 and set(added) <= {s for v in SYNONYMS.values() for s in v}
    assert eda.augment("zebra", 0) == ["zebra"]  # nothing to insert
    assert eda.augment("good", 0)[0].split()[0] in ("good", "great", "fine")


def test_random_swap_keeps_words():
    eda = only("alpha_rs", rate=0.5, num_aug=3)
    text = "a b c d e f g h"
    outs = eda.augment(text, 0)
    assert all(sorted(o.split()) == sorted(text.split()) for o in outs) and any(o != text for o in outs)
    assert eda.augment("one", 0) == ["one"] * 3 and eda.augment("", 0) == [""] * 3


def test_random_deletion():
    text = "a b c d e f"
    assert only("p_rd", rate=1.0, num_aug=1).augment(text, 0)[0] in text.split()  # keeps one word
    assert only("p_rd", rate=1.0, num_aug=1).augment("word", 0) == ["word"]
    kept = only("p_rd", rate=0.5, num_aug=20).augment(text, 0)
    assert all(set(o.split()) <= set(text.split()) for o in kept) and any(len(o.split()) < 6 for o in kept)


def test_copies_cycle_through_enabled_operations():
    eda = EDA(SYNONYMS, alpha_sr=0.0, alpha_ri=0.0, alpha_rs=0.5, p_rd=1.0, num_aug=4)
    outs = eda.augment("a b c d", 0)
    assert sorted(len(o.split()) for o in outs) == [1, 1, 4, 4]


def test_with_transform_on_the_fly():
    data = rows().with_transform(EDA(SYNONYMS, num_aug=1, keep_original=False, alpha_rs=0.5))
    row = data[0]
    assert row["augmented"] is True and row["label"] == 0 and sorted(row["text"].split()) != []
    batch = data[:6]
    assert len(batch["text"]) == 6 and batch["label"] == [0, 1, 2, 0, 1, 2]
    draws = {data[0]["text"] for _ in range(8)}
    assert len(draws) > 1  # a new augmentation at every access


def test_chained_passes_keep_source_index():
    once = rows().map(EDA(SYNONYMS, num_aug=1), batched=True, with_indices=True)
    twice = once.map(EDA(SYNONYMS, num_aug=1, seed=1), batched=True, with_indices=True)
    assert len(twice) == 4 * len(TEXTS)
    assert twice["source_index"] == [i for i in range(len(TEXTS)) for _ in range(4)]
    assert twice["augmented"][:4] == [False, True, True, True]


@pytest.mark.parametrize(
    "kwargs, field",
    [
        (dict(alpha_sr=1.5), "alpha_sr"),
        (dict(alpha_ri=-0.1), "alpha_ri"),
        (dict(alpha_rs="0.1"), "alpha_rs"),
        (dict(p_rd=2), "p_rd"),
        (dict(num_aug=0), "num_aug"),
        (dict(alpha_sr=0, alpha_ri=0, alpha_rs=0, p_rd=0), "all 0"),
        (dict(text_column=""), "text_column"),
        (dict(synonyms=None), "synonyms"),
        (dict(synonyms=3), "synonyms"),
    ],
)
def test_eda_errors(kwargs, field):
    with pytest.raises(ValueError, match=field):
        EDA(**{"synonyms": SYNONYMS, **kwargs})


def test_missing_text_column():
    with pytest.raises(ValueError, match="'sentence'.*columns are"):
        rows().map(EDA(SYNONYMS, text_column="sentence"), batched=True, with_indices=True)


def test_no_synonyms_needed_for_swap_and_deletion():
    out = rows().map(EDA(None, alpha_sr=0, alpha_ri=0), batched=True, with_indices=True)
    assert len(out) == 5 * len(TEXTS)


def test_callable_synonyms_and_thesaurus(tmp_path):
    eda = only("alpha_sr", num_aug=1, synonyms=lambda w: [w.upper() + "X", w])
    assert eda.augment("car", 0) == ["CARX"]
    path = tmp_path / "words.txt"
    path.write_text("happy,glad,joyful,content\nCar,auto\n")
    assert load_thesaurus(path) == {"happy": ["glad", "joyful", "content"], "car": ["auto"]}


def test_embedding_synonyms_whole_words_only(tmp_path):
    texts = [r["text"] for r in tiny.sentiment_rows(60)] * 3
    model_dir = tiny.save_tiny_text_model(tmp_path, texts)
    tokenizer = tf.AutoTokenizer.from_pretrained(model_dir)
    model = tf.AutoModel.from_pretrained(model_dir)
    table = embedding_synonyms(model, tokenizer, top_k=3, min_similarity=-1.0, skip_same_stem=False)
    vocab = tokenizer.get_vocab()
    assert table and all(len(v) == 3 for v in table.values())
    for word, near in table.items():
        assert word in vocab and word.isalpha() and len(word) >= 2 and word not in near
        assert all(w in vocab and not w.startswith("##") for w in near)
    # the same neighbours as a direct cosine search over the whole-word rows of the embedding matrix
    emb = torch.nn.functional.normalize(model.get_input_embeddings().weight.detach(), dim=-1)
    for word in list(table)[:5]:
        sims = {w: float(emb[vocab[w]] @ emb[vocab[word]]) for w in table if w != word}
        assert table[word] == sorted(sims, key=sims.get, reverse=True)[:3]
    assert len(embedding_synonyms(model, tokenizer, min_similarity=0.99)) == 0
