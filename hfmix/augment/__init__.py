"""Text augmentation for `datasets.Dataset.map(batched=True)` (and `with_transform`): EDA and back-translation.

Both keep the original rows and add augmented ones, marked by a bool column (`augmented`) and the index of the row
they come from (`source_index`); every other column, labels included, is copied.
"""

from hfmix.augment.back_translation import BackTranslation
from hfmix.augment.eda import EDA, EDA_STOPWORDS, eda_augment, embedding_synonyms, load_thesaurus


__all__ = ["EDA", "EDA_STOPWORDS", "BackTranslation", "eda_augment", "embedding_synonyms", "load_thesaurus"]
