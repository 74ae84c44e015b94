"""Pure-Python helpers around the C++ core: DataFrames and trace files.

pandas is imported lazily, so ``import headroom`` works without it.
"""

import json
import math
import os

from ._headroom import predict


def _pandas():
    try:
        import pandas
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError(
            "headroom: DataFrame output needs pandas (pip install pandas, or apt install python3-pandas)"
        ) from e
    return pandas


def to_dataframe(rows, flatten=False):
    """A list of dicts as a pandas DataFrame; with flatten, nested dicts become "key.sub" columns."""
    pd = _pandas()
    if flatten:
        return pd.json_normalize(list(rows))
    return pd.DataFrame(list(rows))


def _records(records_or_df):
    """Records as dicts. DataFrame rows drop their missing (NaN/None) cells so that absent fields
    stay absent, and integral floats (an integer column that pandas widened to float because
    another row lacks it) become ints again, as the trace format's shape fields are integers."""
    if hasattr(records_or_df, "to_dict") and hasattr(records_or_df, "columns"):
        out = []
        for rec in records_or_df.to_dict("records"):
            out.append({k: _unwiden(v) for k, v in rec.items() if not _missing(v)})
        return out
    return list(records_or_df)


def _unwiden(v):
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return v


def _missing(v):
    if v is None:
        return True
    try:
        return isinstance(v, float) and math.isnan(v)
    except TypeError:
        return False


def predict_dataframe(records_or_df, hw=None, fidelity="roofline"):
    """predict() on a DataFrame (or a list of dicts), returned as a DataFrame.

    The input columns come back unchanged, plus one ``predicted_<key>`` column per predicted
    quantity (``predicted_ms``, ...) and an ``error`` column (None where a prediction was made).
    """
    pd = _pandas()
    results = predict(_records(records_or_df), hw=hw, fidelity=fidelity)
    rows = []
    for r in results:
        r = dict(r)
        pred = r.pop("predicted", None) or {}
        err = r.pop("error", None)
        for k, v in pred.items():
            r["predicted_" + k] = v
        r["error"] = err
        rows.append(r)
    df = pd.DataFrame(rows)
    if "error" not in df.columns:
        df["error"] = None
    if isinstance(records_or_df, pd.DataFrame):
        df.index = records_or_df.index
    return df


def write_trace(records, path):
    """Writes records (dicts) as a JSON Lines trace, one object per line."""
    with open(os.fspath(path), "w", encoding="utf-8") as f:
        for rec in records:
            f.write(json.dumps(rec) + "\n")
