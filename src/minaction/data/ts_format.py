"""The `.ts` time-series format of the UEA/UCR archive (as shipped by aeon and sktime): a reader.

    series = read_ts(path)        # series.values (N, T, F) float32, series.labels (N,) str

A `.ts` file is a header of `@key value` lines (comments start with '#'), then `@data`, then one
case a line: each dimension's comma-separated values, dimensions separated by ':', the class
label last. '?' marks a missing value (read as NaN).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from minaction.errors import DataIntegrityError


@dataclass(frozen=True)
class TsSeries:
    """The cases of one `.ts` file: `values` (N, T, F), `labels` (N,), and the declared classes."""

    problem: str
    values: np.ndarray
    labels: np.ndarray
    class_labels: tuple[str, ...]


def read_ts(path: Path) -> TsSeries:
    """Read an equal-length, labelled, timestamp-free `.ts` file.

    Raises:
        DataIntegrityError: the header or a case does not follow the format, a label is not
            among the declared ones, or the series have unequal lengths.
    """
    path = Path(path)
    header: dict[str, str] = {}
    cases: list[list[list[float]]] = []
    labels: list[str] = []
    in_data = False
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if not in_data:
                if not line.startswith("@"):
                    raise DataIntegrityError(f"{path}, line {number}: expected @key or @data")
                key, _, value = line[1:].partition(" ")
                if key.lower() == "data":
                    in_data = True
                else:
                    header[key.lower()] = value.strip()
                continue
            *dimensions, label = line.split(":")
            if not dimensions:
                raise DataIntegrityError(f"{path}, line {number}: a case needs values and a label")
            try:
                case = [[_value(v) for v in dim.split(",")] for dim in dimensions]
            except ValueError as err:
                raise DataIntegrityError(f"{path}, line {number}: {err}") from None
            cases.append(case)
            labels.append(label.strip())

    _check_header(path, header)
    class_labels = tuple(header["classlabel"].split()[1:])
    if not cases:
        raise DataIntegrityError(f"{path} has no cases after @data; the file is truncated")
    shapes = {(len(case), len(case[0])) for case in cases} | {
        (len(case), len(dim)) for case in cases for dim in case
    }
    # NOTE: unequal-length series (some UEA problems) are refused rather than padded; padding
    # would need a documented fill value and a mask for the models.
    if len(shapes) != 1:
        raise DataIntegrityError(
            f"{path}: cases have unequal numbers of dimensions or lengths {sorted(shapes)[:4]}; "
            "only equal-length series can be stacked into (N, T, F)"
        )
    declared = header.get("dimensions")
    (n_dims, length) = shapes.pop()
    if declared is not None and int(declared) != n_dims:
        raise DataIntegrityError(
            f"{path}: header declares {declared} dimensions, cases have {n_dims}"
        )
    unknown = sorted(set(labels) - set(class_labels))
    if unknown:
        raise DataIntegrityError(
            f"{path}: labels {unknown[:5]} are not among the declared classes {class_labels}"
        )
    values = np.asarray(cases, dtype=np.float32).transpose(0, 2, 1)  # (N, F, T) → (N, T, F)
    del length
    return TsSeries(header.get("problemname", path.stem), values, np.asarray(labels), class_labels)


def _value(text: str) -> float:
    text = text.strip()
    return float("nan") if text == "?" else float(text)


def _check_header(path: Path, header: dict[str, str]) -> None:
    if "classlabel" not in header or not header["classlabel"].lower().startswith("true"):
        raise DataIntegrityError(
            f"{path}: the header has no '@classLabel true <labels>' line; only labelled "
            "classification problems are read"
        )
    if header.get("timestamps", "false").lower() == "true":
        raise DataIntegrityError(
            f"{path} stores timestamps with its values; only series without timestamps are read"
        )
