from __future__ import annotations

from collections import Counter

import numpy as np

from training.config import load_config
from training.data import load_dataset
from training.splits import inner_split, make_folds

from .conftest import make_synthetic


def test_folds_are_patient_disjoint_stratified_and_reproducible(tmp_path):
    manifests = make_synthetic(tmp_path, per_class=6, size=40)
    ds = load_dataset(load_config(None, ["data.manifests=[" + ",".join(map(str, manifests)) + "]"])["data"])
    folds = make_folds(ds, 3, seed=1)
    assert set(folds.tolist()) == {0, 1, 2}
    for pid in set(ds.groups):
        assert len(set(folds[ds.groups == pid].tolist())) == 1
    # stratified: every fold holds every class of every anatomy (6 patients per class and anatomy, 3 folds)
    for k in range(3):
        c = Counter((s.anatomy, s.label) for s, f in zip(ds.samples, folds, strict=True) if f == k)
        assert len(c) == 6 and min(c.values()) >= 1
    np.testing.assert_array_equal(folds, make_folds(ds, 3, seed=1))
    # inner validation split: from the training folds only, by patient
    train = np.flatnonzero(folds != 0)
    fit, val = inner_split(ds, train, 0.25, seed=3)
    assert len(val) and set(fit) | set(val) == set(train) and not set(fit) & set(val)
    assert not set(val) & set(np.flatnonzero(folds == 0))
    assert not set(ds.groups[fit]) & set(ds.groups[val])
