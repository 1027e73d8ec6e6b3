"""DatasetReader: the contract the model's training reads (shapes, dtypes, splitting)."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from animatepainter.model.data.dataset import DatasetReader, collate, decode_sample, encode_sample
from animatepainter.planner.errors import InputError
from animatepainter.model.data.synth import SynthSettings, make_jobs, synth_dataset, synthesize

T, SIZE, N = 4, 32, 6


@pytest.fixture(scope="module")
def ds(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ds") / "ds"
    synth_dataset([], out, SynthSettings(frames=T, size=SIZE, shard_size=1, strokes=60), procedural=N, workers=1)
    return out


def test_sample_fields(ds):
    r = DatasetReader(ds)
    assert len(r) == N and r.frames == T
    samples = list(r)
    assert [s["key"] for s in samples] == [f"{i:08d}" for i in range(N)]
    for s in samples:
        assert s["image"].shape == (3, SIZE, SIZE) and s["image"].dtype == np.float32
        assert s["depth"].shape == (1, SIZE, SIZE) and s["depth"].dtype == np.float32
        assert s["frames"].shape == (T, 3, SIZE, SIZE) and s["frames"].dtype == np.float32
        assert s["masks"].shape == (T, 1, SIZE, SIZE) and s["masks"].dtype == np.float32
        for k in ("image", "depth", "frames"):
            assert 0.0 <= s[k].min() and s[k].max() <= 1.0
        assert set(np.unique(s["masks"])) <= {0.0, 1.0} and not s["masks"][0].any()
        np.testing.assert_array_equal(s["frames"][-1], s["image"])
        assert s["depth"].max() > 0.9 and s["depth"].min() < 0.1  # exact scene depth, 1 = nearest
        assert s["meta"]["frames"] == T and s["meta"]["depth"] == "exact"
        assert len(s["strokes"]["frame"]) == s["meta"]["strokes"]


def test_encode_decode_round_trip():
    s = synthesize(make_jobs([], 1, 5)[0], SynthSettings(frames=T, size=SIZE, strokes=40))
    raw = {k: (v.encode() if isinstance(v, str) and k != "__key__" else v) for k, v in encode_sample(**s).items()}
    d = decode_sample(raw)
    np.testing.assert_array_equal(d["frames"], s["frames"].transpose(0, 3, 1, 2) / np.float32(255))
    np.testing.assert_array_equal(d["masks"][:, 0] > 0, s["masks"])
    np.testing.assert_allclose(d["depth"][0], s["depth"], atol=1.0 / 65535)
    np.testing.assert_array_equal(d["start"][0], s["start"])
    assert d["strokes"]["layer"].tolist() == s["strokes"]["layer"]
    with pytest.raises(InputError, match="missing frames.png"):
        decode_sample({k: v for k, v in raw.items() if k != "frames.png"})


def test_shuffle_is_a_seeded_permutation(ds):
    keys = lambda r: [s["key"] for s in r]  # noqa: E731
    a = keys(DatasetReader(ds, shuffle_buffer=4, seed=1))
    assert sorted(a) == keys(DatasetReader(ds))
    assert a == keys(DatasetReader(ds, shuffle_buffer=4, seed=1))
    assert a != keys(DatasetReader(ds))  # shuffled: not the stored order
    assert a != keys(DatasetReader(ds, shuffle_buffer=4, seed=2))  # and the seed matters


def test_torch_loader_splits_shards_across_workers_and_ranks(ds):
    import torch
    from torch.utils.data import DataLoader

    r = DatasetReader(ds)
    td = r.torch_dataset(rank=0, world_size=1)
    pickle.loads(pickle.dumps(td))  # DataLoader workers started with spawn can receive it
    loader = DataLoader(td, batch_size=2, num_workers=2, collate_fn=r.collate)
    batches = list(loader)
    keys = sorted(k for b in batches for k in b["key"])
    assert keys == [f"{i:08d}" for i in range(N)]  # every sample once: shards split, not copied
    b = batches[0]
    assert b["frames"].shape == (2, T, 3, SIZE, SIZE) and b["frames"].dtype == torch.float32
    assert b["masks"].shape == (2, T, 1, SIZE, SIZE) and b["image"].shape == (2, 3, SIZE, SIZE)
    per_rank = [sorted(s["key"] for s in r.torch_dataset(rank=k, world_size=3)) for k in range(3)]
    assert sorted(sum(per_rank, [])) == keys and all(len(p) == 2 for p in per_rank)
    # more readers than shards (8 processes, 6 shards): split by sample, still disjoint
    per_rank = [sorted(s["key"] for s in r.torch_dataset(rank=k, world_size=8)) for k in range(8)]
    assert sorted(sum(per_rank, [])) == keys and [len(p) for p in per_rank] == [1] * 6 + [0] * 2
    per_reader = [sorted(k for b in DataLoader(r.torch_dataset(rank=k, world_size=4), batch_size=1, num_workers=2, collate_fn=r.collate) for k in b["key"]) for k in range(4)]
    assert sorted(sum(per_reader, [])) == keys


def test_set_epoch_gives_a_new_shuffle_each_epoch(ds):
    """docs/synth.md: ``ds.set_epoch(epoch)`` reshuffles. With a shuffle buffer, each
    epoch yields every sample once in an order of its own, the same epoch gives the same
    order again (also from a fresh dataset), and the order does not depend on the call
    history; without a buffer set_epoch changes nothing."""
    r = DatasetReader(ds, shuffle_buffer=4, seed=1)
    keys = lambda td: [s["key"] for s in td]  # noqa: E731
    td = r.torch_dataset(rank=0, world_size=1)
    orders = []
    for epoch in (0, 1, 2):
        td.set_epoch(epoch)
        orders.append(keys(td))
    assert all(sorted(o) == [f"{i:08d}" for i in range(N)] for o in orders)
    assert len({tuple(o) for o in orders}) == 3, orders  # three epochs, three orders
    td.set_epoch(1)
    assert keys(td) == orders[1]
    fresh = r.torch_dataset(rank=0, world_size=1)
    assert keys(fresh) == orders[0]  # epoch 0 unless told otherwise
    fresh.set_epoch(2)
    assert keys(fresh) == orders[2]
    plain = DatasetReader(ds).torch_dataset(rank=0, world_size=1)
    stored = keys(plain)
    plain.set_epoch(5)
    assert keys(plain) == stored == [f"{i:08d}" for i in range(N)]


def test_collate_refuses_mixed_sizes(ds):
    s = next(iter(DatasetReader(ds)))
    small = dict(s, image=s["image"][:, :16, :16])
    with pytest.raises(ValueError, match="different shapes"):
        collate([s, small])


def test_not_a_dataset(tmp_path):
    with pytest.raises(InputError, match="not a synth dataset"):
        DatasetReader(tmp_path)
