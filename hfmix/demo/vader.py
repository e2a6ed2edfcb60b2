"""The VADER ground truth (Hutto & Gilbert, ICWSM 2014): sentences rated by about 20 people each on -4..4, the
score being their mean, in four subsets: tweets (4,200), movies (10,605), amazon (3,708) and nyt (5,190).

It ships only in the vaderSentiment 3.3.2 *source* distribution, as `additional_resources/hutto_ICWSM_2014.tar.gz`
(the wheel lacks it): `fetch_vader` downloads that sdist from PyPI with pip once into a cache directory.
Regression on the scores, or binary classification by their sign (`vader_sign_dataset`).
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile

from datasets import Dataset


VADER = "vaderSentiment==3.3.2"
SDIST = "vaderSentiment-3.3.2.tar.gz"
INNER = "hutto_ICWSM_2014.tar.gz"
SUBSETS = {"tweets": "tweets", "movies": "movieReviewSnippets", "amazon": "amazonReviewSnippets", "nyt": "nytEditorialSnippets"}  # fmt: skip


def default_cache_dir() -> str:
    return os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "hfmix", "vader")


def fetch_vader(cache_dir: str | None = None) -> str:
    """The vaderSentiment sdist in `cache_dir`, downloaded from PyPI with pip the first time."""
    cache_dir = cache_dir or default_cache_dir()
    path = os.path.join(cache_dir, SDIST)
    if os.path.isfile(path):
        return path
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", VADER, "-d", cache_dir]
    print("Fetching the VADER ratings (the vaderSentiment source distribution) from PyPI:\n  " + " ".join(command))
    os.makedirs(cache_dir, exist_ok=True)
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0 or not os.path.isfile(path):
        raise RuntimeError(
            f"`pip download` of {VADER} failed (exit {done.returncode}): {(done.stderr or done.stdout).strip()[-500:]}\n"
            f"Download {SDIST} from PyPI yourself and pass its path (--data PATH; or a *_GroundTruth.txt file from it)."
        )
    return path


def ground_truth_text(archive: tarfile.TarFile, filename: str) -> str:
    """The text of `filename` in the archive, looking inside the nested hutto_ICWSM_2014.tar.gz if needed."""
    for member in archive.getmembers():
        if os.path.basename(member.name) == filename:
            return archive.extractfile(member).read().decode("utf-8-sig", errors="replace")
    for member in archive.getmembers():
        if os.path.basename(member.name) == INNER:
            with tarfile.open(fileobj=io.BytesIO(archive.extractfile(member).read())) as inner:
                return ground_truth_text(inner, filename)
    raise ValueError(f"No {filename} in the archive: pass the vaderSentiment sdist or its {INNER}.")


def parse_ground_truth(text: str) -> tuple[list[str], list[float]]:
    """VADER's `id<TAB>score<TAB>sentence` lines (no header, no quoting)."""
    texts, scores = [], []
    for line in text.splitlines():
        parts = line.split("\t", 2)
        if len(parts) == 3 and parts[2].strip():
            scores.append(float(parts[1]))
            texts.append(parts[2].strip())
    return texts, scores


def load_vader(subset: str, path: str | None = None) -> tuple[list[str], list[float]]:
    """(sentences, scores) of one subset, from the sdist (downloaded once) or the tar file at `path`."""
    if subset not in SUBSETS:
        raise ValueError(f"subset must be one of {list(SUBSETS)}, got {subset!r}.")
    path = path or fetch_vader()
    with tarfile.open(path) as archive:
        return parse_ground_truth(ground_truth_text(archive, f"{SUBSETS[subset]}_GroundTruth.txt"))


def vader_sign_dataset(subset: str, path: str | None = None) -> Dataset:
    """Binary sentiment by the sign of the mean rating ("negative" / "positive"; rows rated exactly 0 dropped),
    columns `text` and `sentiment`."""
    texts, scores = load_vader(subset, path)
    rows = [(t, "positive" if s > 0 else "negative") for t, s in zip(texts, scores, strict=True) if s != 0]
    return Dataset.from_dict({"text": [t for t, _ in rows], "sentiment": [label for _, label in rows]})
