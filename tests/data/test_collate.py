import torch

from textae.data import LengthGroupedBatchSampler, TextAECollator


def test_autoencoder_batch_layout():
    collate = TextAECollator(pad_token_id=0, bos_token_id=2, eos_token_id=3)
    batch = collate([{"input_ids": [5, 6, 7]}, {"input_ids": [8]}])
    assert batch["input_ids"].tolist() == [[5, 6, 7], [8, 0, 0]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]
    assert batch["labels"].tolist() == [[2, 5, 6, 7, 3], [2, 8, 3, -100, -100]]


def test_lm_batch_layout_and_noise_touches_encoder_input_only():
    lm = TextAECollator(0, 2, 3, mode="lm")([{"input_ids": [5, 6]}])
    assert lm["input_ids"].tolist() == [[2, 5, 6, 3]] and lm["labels"].tolist() == [[2, 5, 6, 3]]
    noisy = TextAECollator(0, 2, 3, noise=lambda ids: ids[::-1])([{"input_ids": [5, 6]}])
    assert noisy["input_ids"].tolist() == [[6, 5]]
    assert noisy["labels"].tolist() == [[2, 5, 6, 3]]


def test_length_grouped_sampler_covers_every_index_once_and_is_seeded():
    lengths = [int(x) for x in torch.randint(1, 40, (1000,))]
    sampler = LengthGroupedBatchSampler(lengths, batch_size=16, seed=3, megabatch_mult=8)
    batches = list(sampler)
    assert len(batches) == len(sampler)
    assert sorted(i for b in batches for i in b) == list(range(1000))
    assert batches == list(LengthGroupedBatchSampler(lengths, 16, seed=3, megabatch_mult=8))
    sampler.set_epoch(1)
    assert list(sampler) != batches
    # grouping cuts padding against a random order
    def padding(bs):
        return sum(max(lengths[i] for i in b) * len(b) - sum(lengths[i] for i in b) for b in bs)

    random_order = torch.randperm(1000, generator=torch.Generator().manual_seed(0)).tolist()
    assert padding(batches) < 0.5 * padding([random_order[i : i + 16] for i in range(0, 1000, 16)])
