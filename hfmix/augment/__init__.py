"""Augmentation for `datasets.Dataset.map(batched=True)` (and `with_transform`).

Text: EDA and back-translation. Audio: offline mixup of any labelled audio dataset (arrays, paths or bytes) and
beat-synchronous mixup. All keep the original rows and add augmented ones, marked by a bool column (`augmented`)
and the index of the row they come from (`source_index`); every other column, labels included, is carried over.
"""

from hfmix.augment.audio_mixing import AudioMixup, load_audio, mix_clips
from hfmix.augment.back_translation import BackTranslation
from hfmix.augment.beat_sync import Beats, BeatSyncMixup, beat_offset, beat_sync_mix, estimate_beats, tempo_candidates
from hfmix.augment.eda import EDA, EDA_STOPWORDS, eda_augment, embedding_synonyms, load_thesaurus


__all__ = [
    "EDA",
    "EDA_STOPWORDS",
    "AudioMixup",
    "BackTranslation",
    "BeatSyncMixup",
    "Beats",
    "beat_offset",
    "beat_sync_mix",
    "eda_augment",
    "embedding_synonyms",
    "estimate_beats",
    "load_audio",
    "load_thesaurus",
    "mix_clips",
    "tempo_candidates",
]
