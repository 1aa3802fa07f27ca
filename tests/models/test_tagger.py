"""The noise tagger: its labels are those of the tokens it reads, the corruption is seeded per
example, it saves and loads, learns a fixed batch and tags texts."""

import pytest
import torch
from transformers import AutoModel

from tests.conftest import make_batch, overfit, tiny_model
from textae.data import TextAECollator, train_tokenizer
from textae.data.tokenization import encode_with_offsets
from textae.models.tagger import DEFAULT_TAG_PRIORS, TextTaggerConfig, whole_words
from textae.noise import NoisePipeline
from textae.noise.labels import INSERTED, ORIGINAL, REPLACED, TAG_NAMES, TaggedNoise, token_tags
from textae.tensors import IGNORE_INDEX

STEPS = [{"name": "replace_words", "rate": 0.2}, {"name": "insert_emoji", "rate": [0.1, 0.3], "p": 0.5}, {"name": "keyboard_typos", "rate": 0.1}, {"name": "homoglyphs", "rate": 0.1}]


def collator_for(tokenizer, noise):
    return TextAECollator(tokenizer.pad_token_id, tokenizer.bos_token_id, tokenizer.eos_token_id, mode="lm", tokenizer=tokenizer, max_length=64, tagged_noise=noise)


def rows_of(tokenizer, texts, seeds):
    return [{"input_ids": tokenizer(t, add_special_tokens=False)["input_ids"], "text": t, "noise_seed": s} for t, s in zip(texts, seeds)]


def test_a_hand_built_batch_labels_exactly_the_tokens_the_encoder_reads(tokenizer):
    noise = TaggedNoise([{"name": "replace_words", "rate": 1.0}, {"name": "insert_punctuation", "rate": 0.0}], vocabulary=["hotel"])
    batch = collator_for(tokenizer, noise)(rows_of(tokenizer, ["the pizza was", "a trip"], [0, 1]))
    hotel, bos, eos, pad = tokenizer.convert_tokens_to_ids("hotel"), tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.pad_token_id
    assert batch["input_ids"].tolist() == [[bos, hotel, hotel, hotel, eos], [bos, hotel, hotel, eos, pad]]
    assert batch["tag_labels"].tolist() == [[IGNORE_INDEX, REPLACED, REPLACED, REPLACED, IGNORE_INDEX], [IGNORE_INDEX, REPLACED, REPLACED, IGNORE_INDEX, IGNORE_INDEX]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1, 1, 1], [1, 1, 1, 1, 0]]


def test_each_token_takes_the_tags_of_its_own_characters(tokenizer, corpus):
    noise = TaggedNoise(STEPS, whole_words(tokenizer))
    texts, seeds = corpus[:6], list(range(100, 106))
    batch = collator_for(tokenizer, noise)(rows_of(tokenizer, texts, seeds))
    for i, (text, seed) in enumerate(zip(texts, seeds)):
        corrupted, char_tags = noise(text, seed)
        ids, offsets = encode_with_offsets(tokenizer, [corrupted], 64)
        n = len(ids[0])
        assert batch["input_ids"][i, 1 : n + 1].tolist() == ids[0]
        assert batch["tag_labels"][i, 1 : n + 1].tolist() == token_tags(char_tags, offsets[0])
        assert batch["tag_labels"][i, 0] == IGNORE_INDEX and (batch["tag_labels"][i, n + 1 :] == IGNORE_INDEX).all()
    assert {ORIGINAL, REPLACED, INSERTED} <= set(batch["tag_labels"][batch["tag_labels"] >= 0].tolist())


def test_the_corruption_is_seeded_per_example(tokenizer, corpus):
    noise = TaggedNoise(STEPS, whole_words(tokenizer))
    collate = collator_for(tokenizer, noise)
    a = collate(rows_of(tokenizer, corpus[:8], range(8)))
    b = collate(rows_of(tokenizer, corpus[:8], range(8)))
    c = collate(rows_of(tokenizer, corpus[:8], range(8, 16)))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["tag_labels"], c["tag_labels"]) or not torch.equal(a["input_ids"], c["input_ids"])
    # without replace_words the tagged text is the noise pipeline's own
    plain = [step for step in STEPS if step["name"] != "replace_words"]
    for seed, text in enumerate(corpus[:8]):
        assert TaggedNoise(plain)(text, seed)[0] == NoisePipeline(plain).text(text, seed)


def test_the_batch_spec_carries_the_tag_noise_and_the_tokenizer_words(tokenizer):
    model = tiny_model("tagger", tokenizer, tag_noise=STEPS)
    spec = model.batch_spec()
    assert spec.format == "lm" and spec.tag_noise == STEPS and spec.noise is None
    assert "hotel" in spec.tag_vocabulary and all(w.isalpha() and w not in tokenizer.all_special_tokens for w in spec.tag_vocabulary)


def test_save_then_automodel_gives_identical_logits_and_tags(tokenizer, corpus, tmp_path):
    model = tiny_model("tagger", tokenizer, tag_noise=STEPS, class_weights=[1, 2, 2, 2, 2]).eval()
    batch = make_batch(model, tokenizer, corpus[:4])
    model.save_pretrained(tmp_path)
    loaded = AutoModel.from_pretrained(tmp_path).eval()
    assert type(loaded) is type(model) and loaded.config.tag_noise == STEPS
    with torch.no_grad():
        torch.testing.assert_close(loaded(**batch).logits, model(**batch).logits, rtol=0, atol=0)
    assert loaded.tag(corpus[:3]) == model.tag(corpus[:3])


def test_a_tiny_tagger_learns_a_fixed_corrupted_batch(corpus):
    # subwords: with whole-word tokens a typo, an emoji and a look-alike are all the same [UNK]
    tokenizer = train_tokenizer(corpus, "wordpiece", vocab_size=300)
    model = tiny_model("tagger", tokenizer, tag_noise=STEPS)
    batch = make_batch(model, tokenizer, corpus[:8])
    overfit(model, batch, 150)
    model.eval()
    with torch.no_grad():
        out = model(**batch)
    valid = out.tag_labels != IGNORE_INDEX
    accuracy = (out.logits.argmax(-1)[valid] == out.tag_labels[valid]).float().mean()
    assert accuracy > 0.95


def test_tag_gives_each_token_with_its_class_name(tokenizer, corpus):
    model = tiny_model("tagger", tokenizer).eval()
    texts = corpus[:5]
    tagged = model.tag(texts, batch_size=2)
    assert len(tagged) == 5 and tagged == model.tag(texts)  # batching changes nothing
    for text, pairs in zip(texts, tagged):
        assert all(isinstance(token, str) and name in TAG_NAMES for token, name in pairs)
        assert "".join(token for token, _ in pairs) == text.replace(" ", "")


def test_the_head_starts_at_the_log_priors_and_the_loss_ignores_padding(tokenizer, corpus):
    model = tiny_model("tagger", tokenizer)
    torch.testing.assert_close(model.tagging_head.out.bias, torch.tensor(DEFAULT_TAG_PRIORS).log())
    assert tiny_model("tagger", tokenizer, head_bias_init="zero").tagging_head.out.bias.abs().sum() == 0
    batch = make_batch(model.eval(), tokenizer, corpus[:2])
    filled = {**batch, "tag_labels": batch["tag_labels"].masked_fill(batch["attention_mask"] == 0, ORIGINAL)}
    with torch.no_grad():
        torch.testing.assert_close(model(**batch).loss, model(**filled).loss)


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"class_weights": [1, 2]}, "class_weights needs one positive number per class"),
        ({"tag_priors": [0.9, 0.1, 0.0, 0.0, 0.0]}, "tag_priors needs one positive number per class"),
        ({"head_bias_init": "one"}, "head_bias_init must be one of"),
        ({"tag_noise": [{"name": "smudge", "rate": 0.1}]}, "unknown tagged noise step 'smudge'"),
        ({"tag_noise": [{"name": "homoglyphs", "rate": [0.1, 1.5]}]}, "noise 'homoglyphs' \\(step 0\\): rate must be"),
    ],
)
def test_bad_settings_are_named(settings, message):
    with pytest.raises(ValueError, match=message):
        TextTaggerConfig(**settings)


def test_training_batches_are_corrupted_per_epoch_and_alike_in_a_rerun():
    from tests.conftest import TINY_ENCODER
    from textae.data import SeededExamples
    from textae.training import load_recipe
    from textae.training.build import build_model, make_collator, prepare_data, train_loader

    tree = {
        "model": {"family": "tagger", "encoder_config": TINY_ENCODER},
        "data": {"source": "synthetic", "synthetic_train_size": 32, "synthetic_eval_size": 8, "max_seq_length": 24},
        "train": {"batch_size": 8},
    }
    recipe = load_recipe(None, base=tree)
    tokenizer, train_ds, *_ = prepare_data(recipe)
    model = build_model(recipe, tokenizer)

    def first_batch(epoch):
        loader, sampler = train_loader(train_ds, make_collator(model, recipe), recipe)
        sampler.set_epoch(epoch)
        assert isinstance(loader.dataset, SeededExamples)
        return next(iter(loader))

    a, b, c = first_batch(0), first_batch(0), first_batch(1)
    assert torch.equal(a["tag_labels"], b["tag_labels"]) and torch.equal(a["input_ids"], b["input_ids"])
    assert not torch.equal(a["input_ids"], c["input_ids"])
