"""Read the x and y columns of a CSV, NPY, NPZ or Parquet file into float arrays for the command line."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

FORMATS = (".csv", ".npy", ".npz", ".parquet", ".pq")


class ColumnError(ValueError):
    """A requested column is not in the file, or the file cannot be read as a table."""


def parse_columns(spec: str, option: str) -> list[str]:
    """Split 'a,b,c' (names or 0-based indices; 'i:j' is a range of indices) into its items."""
    items = [s.strip() for s in spec.split(",") if s.strip()]
    if not items:
        raise ColumnError(f"{option} names no column: give comma-separated column names or indices")
    out: list[str] = []
    for item in items:
        if ":" in item:
            start, _, stop = item.partition(":")
            if not (start.isdigit() and stop.isdigit() and int(start) < int(stop)):
                raise ColumnError(f"{option}: bad index range {item!r}; expected 'i:j' with i < j")
            out.extend(str(i) for i in range(int(start), int(stop)))
        else:
            out.append(item)
    return out


def _resolve(items: list[str], names: list[str], option: str, path: Path) -> list[int]:
    """Positions of `items`: a header name if it is one, else a 0-based index."""
    positions = []
    for item in items:
        if item in names:
            positions.append(names.index(item))
        elif item.lstrip("-").isdigit() and -len(names) <= int(item) < len(names):
            positions.append(int(item) % len(names))
        else:
            from infomix.core.errors import suggest

            shown = ", ".join(names[:20]) + (", ..." if len(names) > 20 else "")
            raise ColumnError(f"{option}: no column {item!r} in {path.name}{suggest(item, names)}; columns: {shown}")
    return positions


def _read_csv(path: Path) -> tuple[list[str], np.ndarray]:
    with path.open(newline="") as handle:
        reader = csv.reader(handle)
        try:
            header = [h.strip() for h in next(reader)]
        except StopIteration:
            raise ColumnError(f"{path.name} is empty: a CSV needs a header row naming the columns") from None
        rows = [row for row in reader if row]
    values = np.full((len(rows), len(header)), np.nan)
    for i, row in enumerate(rows):
        if len(row) != len(header):
            raise ColumnError(f"{path.name}: row {i + 2} has {len(row)} fields, the header has {len(header)}")
        for j, cell in enumerate(row):
            cell = cell.strip()
            if cell == "" or cell.lower() in ("nan", "na"):
                continue  # missing: left as NaN and reported by the estimator's input check
            try:
                values[i, j] = float(cell)
            except ValueError:
                raise ColumnError(f"{path.name}: column {header[j]!r}, row {i + 2}: {cell!r} is not a number") from None
    return header, values


def _read_parquet(
    path: Path, x_items: list[str], y_items: list[str]
) -> tuple[list[str], list[str], list[str], np.ndarray]:
    """Read only the needed columns: the x and y items as column names, the names read and their values."""
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise ColumnError(
            "reading Parquet needs pyarrow, which is not installed: pip install 'infomix-mi[parquet]'"
        ) from None
    names = list(pq.read_schema(path).names)
    x_names = [names[p] for p in _resolve(x_items, names, "--x", path)]
    y_names = [names[p] for p in _resolve(y_items, names, "--y", path)]
    table = pq.read_table(path, columns=sorted(set(x_names + y_names), key=names.index))
    columns = [np.asarray(table.column(c).to_numpy(zero_copy_only=False), dtype=float) for c in table.column_names]
    return x_names, y_names, list(table.column_names), np.stack(columns, axis=1)


def load_xy(path: str | Path, x_spec: str, y_spec: str) -> tuple[np.ndarray, np.ndarray, list[str], list[str]]:
    """The x and y columns named by `x_spec` and `y_spec` in the file at `path`, and their names."""
    path = Path(path)
    if not path.is_file():
        raise ColumnError(f"no such file: {path}")
    x_items, y_items = parse_columns(x_spec, "--x"), parse_columns(y_spec, "--y")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        names, values = _read_csv(path)
    elif suffix == ".npy":
        values = np.load(path, allow_pickle=False)
        values = values[:, None] if values.ndim == 1 else values
        if values.ndim != 2:
            raise ColumnError(f"{path.name} holds an array of shape {values.shape}; expected [n, columns]")
        names = [str(i) for i in range(values.shape[1])]
    elif suffix == ".npz":
        with np.load(path, allow_pickle=False) as archive:
            arrays = {k: archive[k] for k in archive.files}
        if all(item in arrays for item in x_items + y_items):  # items name arrays of the archive

            def stack(items: list[str]) -> np.ndarray:
                parts = [arrays[i].reshape(arrays[i].shape[0], -1) for i in items]
                return np.concatenate(parts, axis=1).astype(float)

            return stack(x_items), stack(y_items), x_items, y_items
        if len(arrays) != 1:
            raise ColumnError(
                f"--x/--y: {path.name} holds arrays {', '.join(arrays)}; "
                "name arrays of it, or use a file with one array"
            )
        values = next(iter(arrays.values()))
        values = values[:, None] if values.ndim == 1 else values
        names = [str(i) for i in range(values.shape[1])]
    elif suffix in (".parquet", ".pq"):
        x_items, y_items, names, values = _read_parquet(path, x_items, y_items)
    else:
        raise ColumnError(f"unsupported file type {suffix or '(none)'!r}; expected one of {', '.join(FORMATS)}")
    x_pos, y_pos = _resolve(x_items, names, "--x", path), _resolve(y_items, names, "--y", path)
    values = np.asarray(values, dtype=float)
    return values[:, x_pos], values[:, y_pos], [names[p] for p in x_pos], [names[p] for p in y_pos]
