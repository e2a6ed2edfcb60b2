"""Back-translation (Sennrich et al. 2016, https://huggingface.co/papers/1511.06709; used for augmentation by UDA,
Xie et al. 2020, https://huggingface.co/papers/1904.12848) through any two transformers translation models, for
`datasets.Dataset.map(batched=True)`.

A text goes source → pivot with the forward model and pivot → source with the backward model (e.g. the Marian
models `Helsinki-NLP/opus-mt-en-de` and `Helsinki-NLP/opus-mt-de-en`); the result is a paraphrase that keeps the label.

Several GPUs: the standard `datasets` pattern, one process and one model copy per GPU::

    import multiprocess

    multiprocess.set_start_method("spawn")  # CUDA cannot be used in forked processes
    bt = BackTranslation("Helsinki-NLP/opus-mt-en-de", "Helsinki-NLP/opus-mt-de-en")
    train = train.map(bt, batched=True, batch_size=1024, with_indices=True, with_rank=True,
                      num_proc=torch.cuda.device_count())

The models are loaded lazily, in each process, on `cuda:<rank>` (the rank `with_rank=True` passes; on the GPU when
there is one, else on the CPU), so only names or paths travel to the worker processes. Model objects can be passed
too: each process then moves its own copy to its device on first use.
"""

from __future__ import annotations

import os

import torch
from tqdm.auto import tqdm

from hfmix.augment.eda import expand_rows
from hfmix.sampling import plan_seed


class BackTranslation:
    """Back-translation as a picklable callable for
    `Dataset.map(bt, batched=True, with_indices=True, with_rank=True)`: keeps every row and adds one
    back-translated copy after it, with `marker_column` True and `source_column` the source row's index (as `EDA`).

    Args:
        forward_model, backward_model: a model id / local path (loaded with `AutoModelForSeq2SeqLM`) or a loaded
            seq2seq model (anything with `.generate`).
        forward_tokenizer, backward_tokenizer: the tokenizers (default: loaded from the model's path). Any tokenizer
            with the usual `__call__(texts, padding=True, truncation=True, return_tensors="pt")` and
            `batch_decode(ids, skip_special_tokens=True)`.
        text_column: the column to translate; empty texts stay empty (they are not sent to the models).
        batch_size: texts per `generate` call (the map's own `batch_size` can be much larger).
        max_input_length: inputs are truncated to this many tokens.
        forward_prefix, backward_prefix: prepended to the inputs of each model, e.g. ">>fr<< " for multi-target
            Marian models.
        generation_kwargs: passed to `generate` (default greedy decoding, `max_new_tokens` = 256 or what the
            model's decoder positions allow, whichever is smaller). With
            `do_sample=True` the sampling is seeded from (seed, first row index) of each chunk.
        device: None picks `cuda:<rank % device count>` when CUDA is available, else the CPU.
        model_kwargs: passed to `from_pretrained` when loading by name (e.g. `{"torch_dtype": torch.float16}`).
        keep_original: keep the original rows (default); `False` returns only the back-translated rows.
        show_progress: a tqdm bar over the rows of each map batch (both directions).
    """

    def __init__(
        self,
        forward_model,
        backward_model,
        forward_tokenizer=None,
        backward_tokenizer=None,
        *,
        text_column: str = "text",
        batch_size: int = 32,
        max_input_length: int = 512,
        forward_prefix: str = "",
        backward_prefix: str = "",
        generation_kwargs: dict | None = None,
        device: str | torch.device | None = None,
        model_kwargs: dict | None = None,
        seed: int = 0,
        keep_original: bool = True,
        marker_column: str = "augmented",
        source_column: str = "source_index",
        show_progress: bool = True,
    ):
        for name, model, tokenizer in (
            ("forward_model", forward_model, forward_tokenizer),
            ("backward_model", backward_model, backward_tokenizer),
        ):
            if not isinstance(model, str) and not hasattr(model, "generate"):
                raise ValueError(f"{name} must be a model id, a path or a seq2seq model with .generate().")
            if not isinstance(model, str) and tokenizer is None:
                raise ValueError(f"{name} is a model object: pass its tokenizer too.")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}.")
        if not isinstance(text_column, str) or not text_column:
            raise ValueError(f"text_column must be a non-empty column name, got {text_column!r}.")
        self.models = (forward_model, backward_model)
        self.tokenizers = (forward_tokenizer, backward_tokenizer)
        self.prefixes = (forward_prefix, backward_prefix)
        self.text_column, self.batch_size, self.max_input_length = text_column, batch_size, max_input_length
        self.generation_kwargs = dict(generation_kwargs or {})
        self.device, self.model_kwargs, self.seed = device, dict(model_kwargs or {}), int(seed)
        self.keep_original, self.show_progress = bool(keep_original), show_progress
        self.marker_column, self.source_column = marker_column, source_column
        self._loaded: dict[str, tuple] = {}
        self._owner = os.getpid()

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_loaded"] = {}  # loaded models stay in the process that loaded them
        return state

    def _in_worker(self) -> None:
        """In a `Dataset.map(num_proc=...)` worker on the CPU: one torch thread per worker. The workers already
        split the cores, and a forked worker that enters the OpenMP pool its parent started can deadlock."""
        if os.getpid() != self._owner and torch.get_num_threads() != 1:
            torch.set_num_threads(1)

    def _device(self, rank: int | None) -> torch.device:
        if self.device is not None:
            return torch.device(self.device)
        if torch.cuda.is_available():
            return torch.device("cuda", (rank or 0) % torch.cuda.device_count())
        return torch.device("cpu")

    def _pipeline(self, device: torch.device) -> tuple:
        key = str(device)
        if key not in self._loaded:
            from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

            loaded = []
            for model, tokenizer in zip(self.models, self.tokenizers, strict=True):
                if isinstance(model, str):
                    tokenizer = tokenizer or AutoTokenizer.from_pretrained(model)
                    model = AutoModelForSeq2SeqLM.from_pretrained(model, **self.model_kwargs)
                elif isinstance(tokenizer, str):
                    tokenizer = AutoTokenizer.from_pretrained(tokenizer)
                loaded.append((model.to(device).eval(), tokenizer))
            self._loaded[key] = tuple(loaded)
        return self._loaded[key]

    def _translate(self, texts: list[str], model, tokenizer, prefix: str, device, first: int, bar) -> list[str]:
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # similar lengths: less padding
        out = [""] * len(texts)
        sampling = bool(self.generation_kwargs.get("do_sample"))
        for start in range(0, len(order), self.batch_size):
            chunk = order[start : start + self.batch_size]
            inputs = tokenizer(
                [prefix + texts[i] for i in chunk],
                padding=True,
                truncation=True,
                max_length=self.max_input_length,
                return_tensors="pt",
            )
            inputs = {k: v.to(device) for k, v in inputs.items() if k in ("input_ids", "attention_mask")}
            devices = [device] if device.type == "cuda" else []
            with torch.no_grad(), torch.random.fork_rng(devices=devices, enabled=sampling):
                if sampling:
                    torch.manual_seed(plan_seed(self.seed, first, start))
                generated = model.generate(**inputs, **_generation_options(model, self.generation_kwargs))
            for i, text in zip(chunk, tokenizer.batch_decode(generated, skip_special_tokens=True), strict=True):
                out[i] = text.strip()
            bar.update(len(chunk))
        return out

    def translate(self, texts: list[str | None], rank: int | None = None, first_index: int = 0) -> list[str]:
        """Back-translations of `texts` (empty or None texts give "")."""
        device = self._device(rank)
        (fwd, fwd_tok), (bwd, bwd_tok) = self._pipeline(device)
        keep = [i for i, t in enumerate(texts) if t and t.strip()]
        todo = [texts[i] for i in keep]
        desc = "back-translation" + (f" (rank {rank})" if rank is not None else "")
        disable = not self.show_progress or not todo
        with tqdm(total=2 * len(todo), desc=desc, position=rank or 0, leave=False, disable=disable) as bar:
            pivot = self._translate(todo, fwd, fwd_tok, self.prefixes[0], device, first_index, bar)
            back = self._translate(pivot, bwd, bwd_tok, self.prefixes[1], device, first_index, bar)
        out = [""] * len(texts)
        for i, text in zip(keep, back, strict=True):
            out[i] = text
        return out

    def __call__(
        self, batch: dict[str, list], indices: list[int] | None = None, rank: int | None = None
    ) -> dict[str, list]:
        if self.text_column not in batch:
            raise ValueError(
                f"text_column {self.text_column!r} is not in the batch; its columns are {list(batch)}. "
                "Pass BackTranslation(text_column=...) with one of them."
            )
        if isinstance(indices, int):  # map(with_rank=True) without with_indices passes the rank second
            indices, rank = None, indices
        self._in_worker()
        texts = batch[self.text_column]
        if indices is not None and len(indices) != len(texts):
            raise ValueError(f"Got {len(indices)} indices for a batch of {len(texts)} rows.")
        indices = list(indices) if indices is not None else [-1] * len(texts)
        new = self.translate(texts, rank=rank, first_index=indices[0] if indices else 0)
        chained = self.marker_column in batch and self.source_column in batch
        return expand_rows(
            batch,
            [[text] for text in new],
            self.text_column,
            batch[self.marker_column] if chained else [False] * len(texts),
            batch[self.source_column] if chained else indices,
            self.marker_column,
            self.source_column,
            self.keep_original,
        )

    def __repr__(self) -> str:
        names = [m if isinstance(m, str) else type(m).__name__ for m in self.models]
        return f"BackTranslation({names[0]!r} -> {names[1]!r}, text_column={self.text_column!r})"


def _generation_options(model: torch.nn.Module, options: dict) -> dict:
    """`options`, with a default length limit the model can hold: 256 new tokens or its decoder positions − 1."""
    if "max_new_tokens" in options or "max_length" in options:
        return options
    positions = getattr(getattr(model, "config", None), "max_position_embeddings", None)
    limit = 256 if not isinstance(positions, int) else max(1, min(256, positions - 1))
    return {**options, "max_new_tokens": limit}
