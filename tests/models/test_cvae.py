"""The conditional VAE: label control, label errors, label maps through save/load, gradients of the label."""

import doctest

import pytest
import torch
from transformers import AutoModel

import textae
from tests.conftest import make_batch, overfit, tiny_model
from textae.models.base import decoder_io

LABELS = {"id2label": {0: "negative", 1: "positive", 2: "neutral"}, "label2id": {"negative": 0, "positive": 1, "neutral": 2}}


@pytest.fixture
def cvae(tokenizer):
    return tiny_model("cvae", tokenizer, **LABELS)


@pytest.fixture(scope="module")
def trained(tokenizer, corpus):
    """A tiny CVAE fitted for a few dozen steps on 16 sentences with their sentiment as the label."""
    model = tiny_model("cvae", tokenizer, id2label={0: "negative", 1: "positive"}, label2id={"negative": 0, "positive": 1})
    from textae.data import synthetic_dataset

    rows = synthetic_dataset(16, seed=3)
    batch = make_batch(model, tokenizer, rows["text"])
    batch["class_label"] = torch.tensor(rows["sentiment"])
    overfit(model, batch, 60)
    return model.eval(), rows


def test_docstring_examples():
    import textae.models.cvae
    import textae.modules.conditioning

    for module in (textae.modules.conditioning, textae.models.cvae):
        result = doctest.testmod(module)
        assert result.attempted > 0 and result.failed == 0


def test_changing_the_label_changes_the_output(trained):
    model, _ = trained
    z = torch.randn(6, model.config.latent_dim, generator=torch.Generator().manual_seed(0))
    negative = model.decode(z, label="negative", max_new_tokens=12)
    positive = model.decode(z, label="positive", max_new_tokens=12)
    assert negative == model.decode(z, label=0, max_new_tokens=12)  # a name and its id are the same label
    assert sum(a != b for a, b in zip(negative, positive)) >= 3
    # the label is joined to z: the decoder's logits move with it while z stays put
    bos = model._bos(6)
    with torch.no_grad():
        a = model(input_ids=bos, latent=z, class_label=torch.zeros(6, dtype=torch.long)).logits
        b = model(input_ids=bos, latent=z, class_label=torch.ones(6, dtype=torch.long)).logits
    assert not torch.allclose(a, b)


def test_unknown_labels_raise_listing_the_known_ones(cvae):
    known = r"known labels: \['negative', 'positive', 'neutral'\]"
    with pytest.raises(ValueError, match=r"unknown label 'happy'; " + known):
        cvae.sample(2, label="happy")
    with pytest.raises(ValueError, match=r"unknown label 3; " + known):
        cvae.generate(label=3, n=2)
    with pytest.raises(ValueError, match=known):
        cvae.transfer(["the soup was bland ."], to_label="Positive")
    with pytest.raises(ValueError, match=known):
        cvae.reconstruct(["the soup was bland ."], labels=["good"])
    with pytest.raises(ValueError, match=r"needs label= \(one of \['negative', 'positive', 'neutral'\]"):
        cvae.decode(torch.zeros(1, cvae.config.latent_dim))
    with pytest.raises(ValueError, match="2 labels for 1 rows"):
        cvae.transfer(["the soup was bland ."], to_label=["positive", "negative"])


def test_label_maps_survive_save_and_load(cvae, tmp_path):
    cvae.eval().save_pretrained(tmp_path)
    loaded = AutoModel.from_pretrained(tmp_path).eval()
    assert type(loaded) is textae.TextCVAE
    assert loaded.label_names == ["negative", "positive", "neutral"]
    assert loaded.config.label2id == LABELS["label2id"] and loaded.config.id2label == LABELS["id2label"]
    torch.manual_seed(0)
    before = cvae.sample(3, label="neutral", max_new_tokens=6)
    torch.manual_seed(0)
    assert loaded.sample(3, label="neutral", max_new_tokens=6) == before


def test_the_label_embedding_reaches_encoder_and_decoder(cvae, tokenizer, corpus):
    batch = make_batch(cvae, tokenizer, corpus[:4])
    ids, mask, y = batch["input_ids"], batch["attention_mask"], batch["class_label"]
    emb = cvae.conditioning.embedding.weight
    # encoder side: the KL depends only on q(z | x, y), and the label moves it
    cvae.eval()
    enc = cvae.encode_latent(ids, mask, class_label=y)
    enc.losses["kl"].backward()
    assert emb.grad is not None and emb.grad.abs().sum() > 0
    assert cvae.conditioning.to_pooled.weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in cvae.decoder.parameters())
    other = cvae.encode_latent(ids, mask, class_label=(y + 1) % 3)
    assert not torch.allclose(enc.mean, other.mean)
    # decoder side: z fixed (no encoder in the graph), the label still gets a gradient through p(x | z, y)
    cvae.zero_grad(set_to_none=True)
    dec_inputs, dec_mask, targets = decoder_io(batch["labels"], cvae.config.pad_token_id)
    z = torch.randn(4, cvae.config.latent_dim)
    logits = cvae.decoder(dec_inputs, dec_mask, latent=cvae.decoder_latent(z, y)).logits
    torch.nn.functional.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=-100).backward()
    assert emb.grad is not None and emb.grad.abs().sum() > 0
    assert cvae.conditioning.to_pooled.weight.grad is None
    assert all(p.grad is None for p in cvae.encoder.parameters())


def test_training_forward_needs_labels_and_reports_the_probe(cvae, tokenizer, corpus):
    batch = make_batch(cvae, tokenizer, corpus[:4])
    out = cvae(**batch)
    assert set(out.loss_terms) == {"reconstruction", "kl", "label"}
    assert 0.0 <= float(out.stats["label_accuracy"]) <= 1.0
    del batch["class_label"]
    with pytest.raises(ValueError, match="conditioned on a label: pass class_label"):
        cvae(**batch)
    plain = tiny_model("vae", tokenizer)
    with pytest.raises(ValueError, match="not conditioned on a label"):
        plain(**make_batch(plain, tokenizer, corpus[:2]), class_label=torch.zeros(2, dtype=torch.long))


def test_generate_dispatches_on_label_and_stays_hf_generate_otherwise(cvae):
    cvae.eval()
    texts = cvae.generate(label="positive", n=3, max_new_tokens=5)
    assert isinstance(texts, list) and len(texts) == 3 and all(isinstance(t, str) for t in texts)
    assert len(cvae.sample(4, max_new_tokens=5)) == 4  # no label: the rows cycle through the labels
    z = torch.randn(2, cvae.config.latent_dim)
    ids = cvae.generate(input_ids=cvae._bos(2), latent=z, class_label=torch.tensor([0, 1]), max_new_tokens=5, do_sample=False, pad_token_id=0)
    assert isinstance(ids, torch.Tensor) and ids.shape[0] == 2
    assert cvae._decode_ids(ids[:, 1:]) == cvae.decode(z, label=["negative", "positive"], max_new_tokens=5)
    with pytest.raises(TypeError, match="keywords only"):
        cvae.generate(cvae._bos(1), label="positive")


def test_transfer_and_reconstruct_use_given_or_predicted_source_labels(trained):
    model, rows = trained
    texts = rows["text"][:6]
    names = [model.label_names[i] for i in rows["sentiment"][:6]]
    predicted = model.predict_labels(texts)
    assert len(predicted) == 6 and set(predicted) <= set(model.label_names)
    assert model.transfer(texts, to_label="positive", from_label=predicted, max_new_tokens=12) == model.transfer(texts, to_label="positive", max_new_tokens=12)
    # transfer to a text's own label is its reconstruction
    own = model.transfer(texts, to_label=names, from_label=names, max_new_tokens=12)
    assert own == model.reconstruct(texts, labels=names, max_new_tokens=12)
    flipped = model.transfer(texts, to_label=["positive" if n == "negative" else "negative" for n in names], from_label=names, max_new_tokens=12)
    assert flipped != own
    z = model.encode(texts, labels=names)
    assert z.shape == (6, model.config.latent_dim)
    assert model.interpolate(texts[0], texts[1], steps=3, label="positive", max_new_tokens=8)[0] == model.decode(
        model.encode(texts[:1]), label="positive", max_new_tokens=8
    )[0]


def test_generate_passes_the_label_to_every_step_cached_or_not(trained):
    model, _ = trained
    z = torch.randn(4, model.config.latent_dim, generator=torch.Generator().manual_seed(1))
    y = torch.tensor([0, 1, 1, 0])
    settings = {"max_new_tokens": 6, "do_sample": False, "pad_token_id": model.config.pad_token_id, "eos_token_id": None,
                "return_dict_in_generate": True, "output_scores": True}

    def run(labels, use_cache):
        return model.generate(input_ids=model._bos(4), latent=z, class_label=labels, use_cache=use_cache, **settings)

    cached, uncached = run(y, True), run(y, False)
    assert torch.equal(cached.sequences, uncached.sequences)
    for a, b in zip(cached.scores, uncached.scores):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    # the same greedy decoding step by step through forward, the label given at each step
    ids = model._bos(4)
    with torch.no_grad():
        for _ in range(6):
            ids = torch.cat([ids, model(input_ids=ids, latent=z, class_label=y).logits[:, -1].argmax(-1, keepdim=True)], dim=1)
    assert torch.equal(cached.sequences, ids)
    # after the first step too, the next-token scores follow the label
    other = run(1 - y, True)
    assert all(not torch.allclose(a, b) for a, b in zip(cached.scores[1:], other.scores[1:]))


def test_the_cvae_composes_the_core_and_shares_the_vae_pieces_without_subclassing_it(cvae):
    from textae.models.vae import VariationalMixin

    assert not isinstance(cvae, textae.TextVAE)
    assert isinstance(cvae, VariationalMixin) and isinstance(cvae, textae.TextAutoencoderModel)
    assert cvae.condition_keys == ("class_label",)


def test_a_label_adversary_adds_its_two_terms_weighted_by_the_config_and_survives_save_and_load(tokenizer, corpus, tmp_path):
    model = tiny_model("cvae", tokenizer, label_adversary=0.3, **LABELS)
    assert model.resolved_loss_weights()["label_confusion"] == 0.3 and model.resolved_loss_weights()["label_adversary"] == 1.0
    batch = make_batch(model, tokenizer, corpus[:4])
    out = model(**batch)
    assert {"label_adversary", "label_confusion"} <= set(out.loss_terms) and "label_adversary_accuracy" in out.stats
    model.eval().save_pretrained(tmp_path)
    loaded = AutoModel.from_pretrained(tmp_path).eval()
    torch.testing.assert_close(loaded.conditioning.adversary[0].weight, model.conditioning.adversary[0].weight)
    with pytest.raises(ValueError, match="label_adversary is the weight of the label confusion term and must be ≥ 0, got -1"):
        tiny_model("cvae", tokenizer, label_adversary=-1.0, **LABELS)


def test_label_latents_fit_each_labels_aggregate_posterior_and_steer_sampling_and_transfer(trained, tokenizer, tmp_path):
    model, rows = trained
    texts, labels = rows["text"], rows["sentiment"]
    assert model.config.label_latents is None
    with pytest.raises(ValueError, match=r"label_latents=True needs fitted label latents: call fit_label_latents"):
        model.sample(2, label="positive", label_latents=True)
    fitted = model.fit_label_latents(texts, labels)
    ids = torch.tensor(labels)
    mu = model.encode(texts, labels=labels)
    for k in range(2):  # the mean of a label's Gaussian is the mean of its texts' posterior means
        torch.testing.assert_close(torch.tensor(fitted["mean"][k]), mu[ids == k].mean(0), atol=1e-5, rtol=1e-4)
        assert min(fitted["std"][k]) > 0
    # sampling draws z = m_y + ε · s_y where it drew z = ε before
    means, stds = torch.tensor(fitted["mean"]), torch.tensor(fitted["std"])
    torch.manual_seed(0)
    eps = torch.randn(3, model.config.latent_dim)
    for use, z in ((None, means[1] + eps * stds[1]), (False, eps)):
        torch.manual_seed(0)
        assert model.sample(3, label="positive", max_new_tokens=6, label_latents=use) == model.decode(z, label="positive", max_new_tokens=6)
    # transfer moves z by m_target − m_source; reconstruction (same label) is unchanged
    source = texts[:2]
    z = model.encode(source, labels=["negative", "negative"])
    moved = model.decode(z + means[1] - means[0], label="positive", max_new_tokens=8)
    assert model.transfer(source, to_label="positive", from_label="negative", max_new_tokens=8) == moved
    assert model.transfer(source, to_label="positive", from_label="negative", max_new_tokens=8, label_latents=False) == model.decode(z, label="positive", max_new_tokens=8)
    model.save_pretrained(tmp_path)
    assert AutoModel.from_pretrained(tmp_path).config.label_latents == fitted
    model.config.label_latents = None
    with pytest.raises(ValueError, match=r"no text of label 'positive' to fit its latent from"):
        model.fit_label_latents(texts[:1], ["negative"])


def test_label_guidance_scores_are_the_contrast_of_the_asked_label_against_the_others_step_by_step(tokenizer):
    from textae.models.guidance import LabelGuidance

    model = tiny_model("cvae", tokenizer, **LABELS).eval()  # three labels: the contrast is the mean of two
    z = torch.randn(2, model.config.latent_dim, generator=torch.Generator().manual_seed(2))
    y = torch.tensor([0, 2])
    guide = LabelGuidance(model, z, y, num_labels=3, weight=1.5)
    ids = model._bos(2)
    with torch.no_grad():
        for _ in range(4):  # the processor's cached contrast pass against full uncached passes under each other label
            logits = {k: model(input_ids=ids, latent=z, class_label=torch.full((2,), k), use_cache=False).logits[:, -1].log_softmax(-1) for k in range(3)}
            asked = torch.stack([logits[int(k)][r] for r, k in enumerate(y)])
            others = torch.stack([torch.stack([logits[k][r] for k in range(3) if k != int(y[r])]).exp().mean(0).log() for r in range(2)])
            scores = guide(ids, model(input_ids=ids, latent=z, class_label=y).logits[:, -1])
            torch.testing.assert_close(scores, asked + 1.5 * (asked - others), rtol=1e-4, atol=1e-4)
            ids = torch.cat([ids, scores.argmax(-1, keepdim=True)], dim=1)


def test_label_guidance_at_zero_is_plain_decoding_and_bad_weights_are_refused(trained):
    from textae.models.guidance import LabelGuidance

    model, rows = trained
    z = torch.randn(6, model.config.latent_dim, generator=torch.Generator().manual_seed(4))
    plain = model.decode(z, label="positive", max_new_tokens=10)
    assert model.decode(z, label="positive", max_new_tokens=10, guidance=0.0) == plain
    guided = model.decode(z, label="positive", max_new_tokens=10, guidance=3.0)
    assert len(guided) == 6 and guided != plain  # the contrast moves greedy choices at this weight
    assert len(model.sample(4, label="negative", guidance=1.0, greedy=False, max_new_tokens=8)) == 4
    assert len(model.transfer(rows["text"][:3], to_label="positive", guidance=1.0, max_new_tokens=8)) == 3
    for bad in (-1.0, float("nan")):
        with pytest.raises(ValueError, match="label guidance weight must be a finite number"):
            LabelGuidance(model, z, torch.zeros(6, dtype=torch.long), 2, bad)


def test_word_start_tokens_tell_word_pieces_from_word_beginnings(corpus):
    from textae.data import train_tokenizer
    from textae.models.guidance import word_start_tokens

    for kind, piece in (("wordpiece", "##"), ("bpe", None)):
        tok = train_tokenizer(corpus, kind, vocab_size=300)
        starts = word_start_tokens(tok, len(tok))
        vocab = tok.get_vocab()
        assert not starts[tok.all_special_ids].any()
        ids = tok(corpus[0], add_special_tokens=False)["input_ids"]
        words = corpus[0].split()
        # one word start per whitespace word of the text, wherever the tokenizer cuts it
        assert int(starts[ids].sum()) == len(words), (kind, tok.convert_ids_to_tokens(ids))
        if piece:
            assert all(not starts[i] for t, i in vocab.items() if t.startswith(piece))
        # punctuation stands alone (never a piece of the word before it, though WordPiece writes "a."),
        # and is no word to swap
        words = word_start_tokens(tok, len(tok), letters_only=True)
        marks = [i for t, i in vocab.items() if t.lstrip("Ġ") in (".", ",", "!", "?")]
        assert marks and all(starts[i] and not words[i] for i in marks)


def test_marker_edit_copies_below_the_salience_threshold_and_otherwise_takes_the_guided_word(trained):
    from textae.models.guidance import marker_edit, word_start_tokens

    model, rows = trained
    texts = rows["text"][:4]
    tokens = model._tokenize_output(texts)
    z = model.encode(texts, labels=[0, 1, 0, 1])
    source, target = torch.tensor([0, 1, 0, 1]), torch.tensor([1, 0, 1, 0])
    starts = word_start_tokens(model.output_tokenizer, model.get_input_embeddings().num_embeddings)
    assert marker_edit(model, tokens, z, source, target, starts, threshold=1e9, weight=1.0) == tokens  # nothing salient enough: a copy
    edited = marker_edit(model, tokens, z, source, target, starts, threshold=-1e9, weight=2.0)
    assert edited != tokens
    for r, (ids, out) in enumerate(zip(tokens, edited)):
        assert len(out) == len(ids)  # word-level tokens: one for one
        prefix = model._bos(1)
        for k, token in enumerate(out):  # each token is the guided best of an uncached pass, or the source's own
            with torch.no_grad():
                step = {y: model(input_ids=prefix, latent=z[r : r + 1], class_label=torch.tensor([y]), use_cache=False).logits[0, -1].log_softmax(-1) for y in (0, 1)}
            t, s = step[int(target[r])], step[int(source[r])]
            best = int((t + 2.0 * (t - s)).masked_fill(~starts, float("-inf")).argmax())
            assert token == (best if starts[ids[k]] else ids[k])  # every salience clears -1e9: a word start takes the guided word
            prefix = torch.cat([prefix, torch.tensor([[token]])], dim=1)
    copies = model.edit(texts, to_label="positive", from_label=["negative", "positive", "negative", "positive"], threshold=1e9)
    assert copies == [model.output_tokenizer.decode(ids, skip_special_tokens=True) for ids in tokens]
    long = rows["text"][0] + " " + rows["text"][1]  # longer than max_seq_length, within the decoder's positions: edited whole, not cut
    whole = model.output_tokenizer(long, add_special_tokens=False)["input_ids"]
    kept = model.config.max_seq_length
    model.config.max_seq_length = len(whole) - 3
    try:
        assert len(whole) < model.decoder.positions_left()
        assert model.edit([long], to_label="positive", from_label="negative", threshold=1e9) == [model.output_tokenizer.decode(whole, skip_special_tokens=True)]
    finally:
        model.config.max_seq_length = kept
    with pytest.raises(ValueError, match="marker_edit needs finite numbers"):
        marker_edit(model, tokens, z, source, target, starts, threshold=float("nan"), weight=1.0)


def test_marker_edit_lookahead_picks_the_candidate_the_following_words_fit_best(trained):
    from textae.models.guidance import marker_edit, word_start_tokens

    model, rows = trained
    texts = [t + " ." for t in rows["text"][:4]]  # each ends in punctuation, which is never swapped
    tokens = model._tokenize_output(texts)
    z = model.encode(texts, labels=[0, 1, 0, 1])
    source, target = torch.tensor([0, 1, 0, 1]), torch.tensor([1, 0, 1, 0])
    vocab = model.get_input_embeddings().num_embeddings
    starts = word_start_tokens(model.output_tokenizer, vocab)
    words = word_start_tokens(model.output_tokenizer, vocab, letters_only=True)
    stop = model.output_tokenizer.convert_tokens_to_ids(".")
    assert starts[stop] and not words[stop]
    args = (model, tokens, z, source, target, starts, -1e9, 1.0, words)
    plain = marker_edit(*args)
    assert marker_edit(*args, lookahead=3, candidates=1) == plain  # one candidate: nothing to choose between
    edited = marker_edit(*args, lookahead=2, candidates=4)
    assert edited != plain
    eos = model.config.eos_token_id
    for r, (ids, out) in enumerate(zip(tokens, edited)):
        assert out[-1] == stop and len(out) == len(ids)
        for k, token in enumerate(out):
            if not words[ids[k]]:
                assert token == ids[k]
                continue

            def logp(prefix, y):  # [len(prefix), V]: uncached, one sequence at a time
                with torch.no_grad():
                    return model(input_ids=torch.tensor([prefix]), latent=z[r : r + 1], class_label=torch.tensor([y]), use_cache=False).logits[0].log_softmax(-1)

            prefix = [model.config.bos_token_id, *out[:k]]
            t, s = logp(prefix, int(target[r]))[-1], logp(prefix, int(source[r]))[-1]
            score = (t + (t - s)).masked_fill(~words, float("-inf"))
            if token == ids[k]:  # kept: the source's own word is the guided best
                assert int(score.argmax()) == token
                continue
            score[ids[k]] = float("-inf")
            follow = (ids[k + 1 :] + [eos])[:2]

            def total(c):
                seq = prefix + [c] + follow
                lp = logp(seq, int(target[r]))
                return float(score[c]) + sum(float(lp[p - 1, seq[p]]) for p in range(len(prefix) + 1, len(seq)))

            candidates = score.topk(4).indices.tolist()
            assert token in candidates and total(token) >= max(total(c) for c in candidates) - 1e-4
    with pytest.raises(ValueError, match="lookahead ≥ 0, candidates ≥ 1 and 0 < max_share ≤ 1"):
        marker_edit(*args, lookahead=-1)
    with pytest.raises(ValueError, match="0 < max_share ≤ 1"):
        marker_edit(*args, max_share=0.0)


def test_marker_edit_changes_only_the_most_salient_words_read_on_the_source(trained):
    from textae.models.guidance import _markers, marker_edit, word_start_tokens

    model, rows = trained
    texts = rows["text"][:6]
    tokens = model._tokenize_output(texts)
    z = model.encode(texts, labels=[0, 1] * 3)
    source, target = torch.tensor([0, 1] * 3), torch.tensor([1, 0] * 3)
    vocab = model.get_input_embeddings().num_embeddings
    starts = word_start_tokens(model.output_tokenizer, vocab)
    words = word_start_tokens(model.output_tokenizer, vocab, letters_only=True)
    for r, ids in enumerate(tokens):  # the batched, padded salience equals one sentence read alone under each label
        seq = torch.tensor([[model.config.bos_token_id, *ids]])
        with torch.no_grad():
            lp = {y: model(input_ids=seq, latent=z[r : r + 1], class_label=torch.tensor([y]), use_cache=False).logits[0, :-1].log_softmax(-1) for y in (0, 1)}
        salience = [float(lp[int(source[r])][i, t] - lp[int(target[r])][i, t]) for i, t in enumerate(ids)]
        chosen = _markers(model, tokens, z, source, target, starts, words, -1e9, 0.5)[r]
        n_words = int(starts[ids].sum())
        assert len(chosen) == min(max(1, n_words // 2), int(words[ids].sum()))
        rest = [salience[i] for i, t in enumerate(ids) if words[t] and i not in chosen]
        assert all(salience[i] >= max(rest, default=float("-inf")) - 1e-4 for i in chosen)  # the most salient words
        above = _markers(model, tokens, z, source, target, starts, words, 0.0, 1.0)[r]
        assert above == {i for i, t in enumerate(ids) if words[t] and salience[i] > 0.0}
    edited = marker_edit(model, tokens, z, source, target, starts, -1e9, 2.0, words, max_share=0.25)
    for ids, out in zip(tokens, edited):
        changed = sum(a != b for a, b in zip(ids, out))
        assert len(out) == len(ids) and changed <= max(1, int(starts[ids].sum()) // 4)
