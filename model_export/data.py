"""Labeled TSV data sets (``sentence<TAB>label``, as in GLUE's SST-2)."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from inference.settings import REPO_ROOT

SST2_DIR = REPO_ROOT.parent / "shared" / "data" / "sst2"
DEFAULT_TRAIN_TSV = SST2_DIR / "train.tsv"
DEFAULT_DEV_TSV = SST2_DIR / "dev.tsv"


@dataclass(frozen=True)
class LabeledTexts:
    """Sentences with integer labels, read from one TSV file."""

    path: Path
    texts: list[str]
    labels: list[int]

    def __len__(self) -> int:
        return len(self.texts)


def read_labeled_tsv(path: Path | str, limit: int | None = None) -> LabeledTexts:
    """Read a TSV with a header naming ``sentence`` and ``label`` columns."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"labeled TSV not found: {path}")
    texts: list[str] = []
    labels: list[int] = []
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        missing = {"sentence", "label"} - set(reader.fieldnames or [])
        if missing:
            raise ValueError(f"{path}: missing column(s) {sorted(missing)} in header {reader.fieldnames}")
        for row in reader:
            texts.append(row["sentence"])
            labels.append(int(row["label"]))
            if limit is not None and len(texts) >= limit:
                break
    return LabeledTexts(path=path, texts=texts, labels=labels)
