from __future__ import annotations

import numpy as np
import torch

from osteo_desktop.core.preprocessing import PreprocessConfig, preprocess_image
from training.engine import AugmentedImages, EpochSampler, ThreadedBatches, augment_image

AUG = {"enabled": True, "rotation_deg": 15, "hflip": True, "brightness": 0.2, "contrast": 0.1, "crop_scale": [0.8, 1.0]}


def test_batches_do_not_depend_on_thread_count():
    rng = np.random.default_rng(0)
    imgs = [rng.random((40, 30)).astype(np.float32) for _ in range(10)]
    ds = AugmentedImages(imgs, np.arange(10) % 3, np.zeros(10), PreprocessConfig(input_size=(32, 32)), AUG, seed=7)
    sampler = EpochSampler(np.arange(10) % 3, seed=7)
    sampler.set_epoch(2)
    a = list(ThreadedBatches(ds, sampler, 4, workers=0))
    b = list(ThreadedBatches(ds, sampler, 4, workers=3))
    assert [len(x[1]) for x in a] == [4, 4, 2]
    for (xa, ya, _), (xb, yb, _) in zip(a, b, strict=True):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
    sampler.set_epoch(3)
    c = list(ThreadedBatches(ds, sampler, 4, workers=0))
    assert not torch.equal(a[0][0], c[0][0])  # a new epoch draws new augmentations


def test_augmentation_stays_in_display_range_and_goes_through_preprocess_image():
    rng = np.random.default_rng(1)
    img = rng.random((50, 40)).astype(np.float32)
    out = augment_image(img, AUG, np.random.default_rng(2))
    assert out.dtype == np.float32 and out.min() >= 0 and out.max() <= 1
    cfg = PreprocessConfig(input_size=(32, 32), mean=(0.5,) * 3, std=(0.5,) * 3)
    ds = AugmentedImages([img], np.array([0]), np.array([np.nan]), cfg, {**AUG, "enabled": False}, seed=0)
    x, y, t = ds[(0, 0)]
    np.testing.assert_array_equal(x.numpy(), preprocess_image(img, cfg)[0])


def test_single_channel_data_path_equals_preprocess_image():
    from dataclasses import replace

    img = np.random.default_rng(3).random((50, 40)).astype(np.float32)
    cfg = PreprocessConfig(input_size=(32, 32), mean=(0.5,) * 3, std=(0.5,) * 3)
    one = replace(cfg, in_chans=1, mean=(0.5,), std=(0.5,))
    x1 = torch.from_numpy(preprocess_image(img, one)[0])[None].expand(-1, 3, -1, -1)
    np.testing.assert_array_equal(x1[0].numpy(), preprocess_image(img, cfg)[0])
