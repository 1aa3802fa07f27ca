import datasets
import pytest
import torch

from textae.data import LengthGroupedBatchSampler, SeededExamples, TextAECollator, encode_texts
from textae.noise import NoisePipeline


def test_autoencoder_batch_layout():
    collate = TextAECollator(pad_token_id=0, bos_token_id=2, eos_token_id=3)
    batch = collate([{"input_ids": [5, 6, 7]}, {"input_ids": [8]}])
    assert batch["input_ids"].tolist() == [[5, 6, 7], [8, 0, 0]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]
    assert batch["labels"].tolist() == [[2, 5, 6, 7, 3], [2, 8, 3, -100, -100]]


def test_lm_batch_layout_and_noise_touches_encoder_input_only():
    lm = TextAECollator(0, 2, 3, mode="lm")([{"input_ids": [5, 6]}])
    assert lm["input_ids"].tolist() == [[2, 5, 6, 3]] and lm["labels"].tolist() == [[2, 5, 6, 3]]
    mask_all = NoisePipeline([{"name": "mask_tokens", "rate": 1.0, "mask_id": 4}])
    noisy = TextAECollator(0, 2, 3, noise=mask_all, encoder_prefix=[9], encoder_suffix=[8], clean_inputs=True)([{"input_ids": [5, 6]}])
    assert noisy["input_ids"].tolist() == [[9, 4, 4, 8]]
    assert noisy["clean_input_ids"].tolist() == [[9, 5, 6, 8]]
    assert noisy["labels"].tolist() == [[2, 5, 6, 3]]


def test_text_noise_is_seeded_per_row_and_retokenized(tokenizer, corpus):
    ids = encode_texts(tokenizer, corpus[:4], 64)
    rows = [{"input_ids": x, "text": t, "noise_seed": s} for x, t, s in zip(ids, corpus[:4], [1, 2, 3, 4])]
    pipe = NoisePipeline([{"name": "insert_punctuation", "rate": 0.5}])
    collate = TextAECollator(tokenizer.pad_token_id, tokenizer.bos_token_id, tokenizer.eos_token_id, noise=pipe, tokenizer=tokenizer, max_length=64)
    a, b = collate(rows), collate(rows)
    assert torch.equal(a["input_ids"], b["input_ids"])  # same seeds, same corruption
    expected = encode_texts(tokenizer, [pipe.text(r["text"], r["noise_seed"]) for r in rows], 64)
    assert [row[row != tokenizer.pad_token_id].tolist() for row in a["input_ids"]] == expected
    reseeded = collate([{**r, "noise_seed": r["noise_seed"] + 100} for r in rows])
    unpadded = [row[row != tokenizer.pad_token_id].tolist() for row in reseeded["input_ids"]]
    assert unpadded != expected  # another seed, another corruption
    assert a["labels"].tolist() == reseeded["labels"].tolist()  # the target stays the clean text


def test_a_front_end_rewrites_the_noisy_text_and_leaves_the_clean_side_alone(tokenizer, corpus):
    ids = encode_texts(tokenizer, corpus[:4], 64)
    rows = [{"input_ids": x, "text": t, "noise_seed": s} for x, t, s in zip(ids, corpus[:4], [1, 2, 3, 4])]
    pipe = NoisePipeline([{"name": "insert_punctuation", "rate": 0.5}])

    def front_end(texts):  # stands in for the spell-corrector: drops what the noise inserted
        return [" ".join(w for w in t.split() if any(c.isalnum() for c in w)) for t in texts]

    args = (tokenizer.pad_token_id, tokenizer.bos_token_id, tokenizer.eos_token_id)
    fronted = TextAECollator(*args, noise=pipe, tokenizer=tokenizer, max_length=64, clean_inputs=True, front_end=front_end)(rows)
    expected = encode_texts(tokenizer, front_end([pipe.text(r["text"], r["noise_seed"]) for r in rows]), 64)
    assert [row[row != tokenizer.pad_token_id].tolist() for row in fronted["input_ids"]] == expected
    assert [row[row != tokenizer.pad_token_id].tolist() for row in fronted["clean_input_ids"]] == ids  # the text as written
    alone = TextAECollator(*args, tokenizer=tokenizer, max_length=64, front_end=front_end)(rows)  # no noise: the front end alone
    assert [row[row != tokenizer.pad_token_id].tolist() for row in alone["input_ids"]] == encode_texts(tokenizer, front_end(corpus[:4]), 64)
    with pytest.raises(ValueError, match="front end needs the tokenizer and mode 'autoencoder'"):
        TextAECollator(*args, mode="lm", tokenizer=tokenizer, front_end=front_end)


def test_text_noise_without_text_column_names_the_fix(tokenizer):
    pipe = NoisePipeline([{"name": "insert_emoji", "rate": 0.5}])
    collate = TextAECollator(0, 2, 3, noise=pipe, tokenizer=tokenizer)
    with pytest.raises(ValueError, match="keep_text=True"):
        collate([{"input_ids": [5, 6], "noise_seed": 0}])


def test_seeded_examples_change_with_the_epoch_and_not_with_the_read():
    ds = datasets.Dataset.from_dict({"input_ids": [[5], [6], [7]], "length": [1, 1, 1]})
    seeded = SeededExamples(ds, seed=0)
    first = seeded.__getitems__([(0, 0), (0, 2)])
    assert [r["input_ids"] for r in first] == [[5], [7]]
    assert first == seeded.__getitems__([(0, 0), (0, 2)]) and seeded[(0, 2)] == first[1]
    assert seeded[(1, 0)]["noise_seed"] != first[0]["noise_seed"]
    sampler = LengthGroupedBatchSampler([1, 1, 1], 2, seed=0, with_epoch=True)
    sampler.set_epoch(3)
    assert {key[0] for batch in sampler for key in batch} == {3}


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


def _word_rows(tokenizer, texts):
    return [{"input_ids": x, "text": t, "noise_seed": i} for i, (x, t) in enumerate(zip(encode_texts(tokenizer, texts, 64), texts))]


def test_word_ids_align_each_corrupted_word_with_the_same_clean_word(tokenizer, corpus):
    from textae.data.collate import NO_WORD

    pipe = NoisePipeline([{"name": "keyboard_typos", "rate": 0.3}])
    collate = TextAECollator(
        tokenizer.pad_token_id, tokenizer.bos_token_id, tokenizer.eos_token_id, noise=pipe, tokenizer=tokenizer,
        max_length=64, encoder_prefix=[7], encoder_suffix=[8], clean_inputs=True, word_ids=True, pad_to_multiple_of=8,
    )
    rows = _word_rows(tokenizer, corpus[:8])
    batch = collate(rows)
    assert batch["word_ids"].shape == batch["input_ids"].shape and batch["clean_word_ids"].shape == batch["clean_input_ids"].shape
    for i, row in enumerate(rows):
        noisy, clean = batch["word_ids"][i], batch["clean_word_ids"][i]
        n_words = len(row["text"].split())  # typos keep the words; this tokenizer splits on spaces
        assert noisy[0] == clean[0] == NO_WORD  # the template's token
        assert sorted(set(noisy.tolist()) - {NO_WORD}) == sorted(set(clean.tolist()) - {NO_WORD}) == list(range(n_words))
        assert (noisy[batch["attention_mask"][i] == 0] == NO_WORD).all()
        # clean word k is the row's k-th word
        ids = batch["clean_input_ids"][i]
        assert [tokenizer.decode(ids[clean == k]) for k in range(n_words)] == [tokenizer.decode(tokenizer(w, add_special_tokens=False)["input_ids"]) for w in row["text"].split()]


def test_word_ids_leave_rows_whose_words_moved_unaligned(tokenizer, corpus):
    from textae.data.collate import NO_WORD

    rows = _word_rows(tokenizer, corpus[:8])
    inserted = TextAECollator(
        0, 2, 3, noise=NoisePipeline([{"name": "insert_punctuation", "rate": 1.0}]), tokenizer=tokenizer, max_length=64, clean_inputs=True, word_ids=True
    )(rows)
    assert (inserted["word_ids"] == NO_WORD).all() and (inserted["clean_word_ids"] == NO_WORD).all()
    deleted = TextAECollator(0, 2, 3, noise=NoisePipeline([{"name": "delete_tokens", "rate": 0.5}]), tokenizer=tokenizer, max_length=64, clean_inputs=True, word_ids=True)(rows)
    for i, row in enumerate(rows):
        changed = deleted["attention_mask"][i].sum() != len(row["input_ids"])
        assert (deleted["word_ids"][i] == NO_WORD).all() == bool(changed)
    with pytest.raises(ValueError, match="word_ids need the tokenizer and clean_inputs"):
        TextAECollator(0, 2, 3, tokenizer=tokenizer, word_ids=True)
