"""ELECTRA's corruption on padded batches: masking, sampling, labels, BERT's 80/10/10 and insertion."""

import pytest
import torch

from textae.noise.electra import (
    INSERTED,
    ORIGINAL,
    REPLACED,
    RTD_CLASSES,
    bert_mask,
    insert_tokens,
    replace_and_label,
    sample_tokens,
    select_masked,
    uniform_at,
    uniform_tokens,
)
from textae.tensors import IGNORE_INDEX


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_the_class_ids_name_their_classes():
    assert [RTD_CLASSES[i] for i in (ORIGINAL, REPLACED, INSERTED)] == ["original", "replaced", "inserted"]


def test_uniform_draws_fall_only_on_the_chosen_positions_and_ignore_trailing_padding():
    positions = torch.tensor([[True, False, True], [False, True, False]])
    u = uniform_at(positions, gen())
    assert (u[~positions] == 2.0).all() and ((u[positions] >= 0) & (u[positions] < 1)).all()
    wider = torch.cat([positions, torch.zeros(2, 4, dtype=torch.bool)], 1)
    assert torch.equal(uniform_at(wider, gen())[:, :3], u)  # the same draws, whatever the padding


def test_masking_selects_only_candidates_at_about_the_rate():
    candidates = torch.zeros(40, 50, dtype=torch.bool)
    candidates[:, 5:45] = True
    masked = select_masked(candidates, 0.15, gen())
    assert not (masked & ~candidates).any()
    assert abs(masked.sum().item() / candidates.sum().item() - 0.15) < 0.02
    assert not select_masked(candidates, 0.0, gen()).any() and torch.equal(select_masked(candidates, 1.0, gen()), candidates)
    with pytest.raises(ValueError, match=r"mask rate must be in \[0, 1\], got 1.5"):
        select_masked(candidates, 1.5)


def test_sampling_never_returns_a_banned_id_and_checks_the_temperature():
    logits = torch.zeros(200, 6)
    logits[:, 0] = 50.0  # the pad id would win every time if it were allowed
    samples = sample_tokens(logits, banned_ids=(0, 1), generator=gen())
    assert samples.shape == (200,) and not ((samples == 0) | (samples == 1)).any()
    assert sample_tokens(torch.zeros(0, 6)).shape == (0,)
    with pytest.raises(ValueError, match="temperature must be > 0, got 0"):
        sample_tokens(logits, temperature=0)


def test_uniform_replacements_avoid_the_specials_and_need_a_token_left():
    ids = uniform_tokens(500, 8, banned_ids=(0, 1, 2, 99), generator=gen())
    assert set(ids.tolist()) == {3, 4, 5, 6, 7}
    with pytest.raises(ValueError, match="needs at least one non-special token id"):
        uniform_tokens(3, 2, banned_ids=(0, 1))


def test_a_replacement_equal_to_the_original_is_labelled_original():
    ids = torch.tensor([[2, 10, 11, 12, 3, 0]])
    candidates = ids > 4
    masked = torch.tensor([[False, True, True, True, False, False]])
    corrupted, labels = replace_and_label(ids, candidates, masked, torch.tensor([10, 20, 21]))
    assert corrupted.tolist() == [[2, 10, 20, 21, 3, 0]]
    assert labels.tolist() == [[IGNORE_INDEX, ORIGINAL, REPLACED, REPLACED, IGNORE_INDEX, IGNORE_INDEX]]
    assert torch.equal(ids, torch.tensor([[2, 10, 11, 12, 3, 0]]))  # the input is not changed in place


def test_bert_masking_is_80_percent_mask_10_random_10_kept():
    ids = torch.full((100, 100), 5)
    masked = torch.ones(100, 100, dtype=torch.bool)
    masked[:, 0] = False
    out = bert_mask(ids, masked, mask_id=1, random_ids=torch.tensor([7, 8]), generator=gen())
    assert (out[:, 0] == 5).all()  # never touched outside the masked positions
    part = out[:, 1:]
    n = part.numel()
    assert abs((part == 1).sum().item() / n - 0.8) < 0.02
    assert abs(((part == 7) | (part == 8)).sum().item() / n - 0.1) < 0.02
    assert abs((part == 5).sum().item() / n - 0.1) < 0.02


def test_insertion_keeps_the_original_tokens_in_order_and_labels_the_new_ones():
    ids = torch.tensor([[2, 10, 11, 3], [2, 12, 3, 0]])
    mask = (ids != 0).long()
    labels = torch.tensor([[IGNORE_INDEX, ORIGINAL, REPLACED, IGNORE_INDEX], [IGNORE_INDEX, ORIGINAL, IGNORE_INDEX, IGNORE_INDEX]])
    new_ids, new_mask, new_labels = insert_tokens(ids, mask, labels, 0.5, [7, 8], pad_id=0, generator=gen(3))
    for row in range(2):
        real = new_mask[row].bool()
        kept = real & (new_labels[row] != INSERTED)
        assert new_ids[row][kept].tolist() == ids[row][mask[row].bool()].tolist()
        assert new_labels[row][kept].tolist() == labels[row][mask[row].bool()].tolist()
        assert set(new_ids[row][new_labels[row] == INSERTED].tolist()) <= {7, 8}
        assert new_labels[row][0] == IGNORE_INDEX and new_ids[row][0] == 2  # nothing before [BOS]
        assert (new_ids[row][~real] == 0).all()
    assert new_mask.sum().item() == mask.sum().item() + (new_labels == INSERTED).sum().item()


def test_insertion_respects_max_length_and_names_bad_settings():
    ids = torch.tensor([[2, 10, 11, 12, 3]])
    mask = torch.ones_like(ids)
    labels = torch.zeros_like(ids)
    new_ids, new_mask, _ = insert_tokens(ids, mask, labels, 1.0, [7], pad_id=0, max_length=7)
    assert new_ids.shape == (1, 7) and new_mask.sum().item() == 7
    same, _, _ = insert_tokens(ids, mask, labels, 0.0, [7], pad_id=0)
    assert torch.equal(same, ids)
    with pytest.raises(ValueError, match=r"insertion rate must be in \[0, 1\], got -0.1"):
        insert_tokens(ids, mask, labels, -0.1, [7], pad_id=0)
    with pytest.raises(ValueError, match="needs at least one token id to insert"):
        insert_tokens(ids, mask, labels, 0.5, [], pad_id=0)
