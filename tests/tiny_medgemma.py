"""A tiny random-weight stand-in for MedGemma 1.5 4B, built offline in seconds.

Same architecture class (Gemma3ForConditionalGeneration: Gemma 3 decoder + SigLIP tower + projector),
same processor class (Gemma3Processor) with Gemma 3's special tokens and chat template; only the sizes
are small. Loading, templating, generation and streaming code runs on it exactly as on the real model.

Run `python tests/tiny_medgemma.py FOLDER` to write one for trying the notebooks without a GPU.
"""

from __future__ import annotations

import string
import sys
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers
from transformers import (
    Gemma3Config,
    Gemma3ForConditionalGeneration,
    Gemma3Processor,
    GenerationConfig,
    PreTrainedTokenizerFast,
)

try:  # transformers >= 5 splits image processors by backend; without torchvision the PIL one is used.
    from transformers import Gemma3ImageProcessorPil as TinyImageProcessor
except ImportError:  # transformers 4.x
    from transformers import Gemma3ImageProcessor as TinyImageProcessor

IMAGE_SIZE = 64  # pixels per side the processor resizes to (896 for MedGemma)
PATCH_SIZE = 8  # 8 x 8 patches per image
# Soft tokens per image (256 for MedGemma). Many, so that the image is not drowned by the long
# character-level prompt and different images give different answers.
TOKENS_PER_IMAGE = 64
SEED = 3  # answers are varied, spaced text that differs between images, at transformers 4.51.3 and 5.x

# Gemma's own order where it has one: pad 0, eos 1, bos 2, unk 3.
SPECIAL_TOKENS = ["<pad>", "<eos>", "<bos>", "<unk>", "<mask>", "<start_of_turn>", "<end_of_turn>",
                  "<start_of_image>", "<end_of_image>"]
# The thinking markers are ordinary (non-special) added tokens in Gemma 3's vocabulary, so they survive
# skip_special_tokens=True in decoding, as on the real model.
THINKING_TOKENS = ["<unused94>", "<unused95>"]
IMAGE_TOKEN = "<image_soft_token>"
# Plain characters only: byte-fallback tokens would decode to U+FFFD.
CHARACTERS = ["▁", "\n"] + list(string.ascii_letters + string.digits + string.punctuation)
# Whole words with their leading space, so answers hold spaced words as MedGemma's do: TextIteratorStreamer hands
# text over a word at a time, and only then do streaming and interruption happen mid-answer. Prompts still
# tokenise to characters (the BPE has no merges); only the model's output uses these. Neutral words on purpose:
# no finding, negation or hedge, so the concordance checker reads a random answer as mentioning nothing.
WORDS = ["▁" + word for word in ("the", "is", "and", "of", "with", "within", "seen", "on", "this", "film", "view",
                                 "image", "study", "in", "at", "a", "to", "as", "from", "by", "are", "was", "it", "an",
                                 "for", "also", "both", "over", "each", "here")]
WORD_BOOST = 1.3  # output rows of the words scaled up so that words come every few tokens, not once per answer

# Gemma 3's chat template (google/gemma-3-4b-it and MedGemma): a system turn folds into the first user turn.
CHAT_TEMPLATE = (
    "{{ bos_token }}\n"
    "{%- if messages[0]['role'] == 'system' -%}\n"
    "    {%- if messages[0]['content'] is string -%}\n"
    "        {%- set first_user_prefix = messages[0]['content'] + '\\n\\n' -%}\n"
    "    {%- else -%}\n"
    "        {%- set first_user_prefix = messages[0]['content'][0]['text'] + '\\n\\n' -%}\n"
    "    {%- endif -%}\n"
    "    {%- set loop_messages = messages[1:] -%}\n"
    "{%- else -%}\n"
    "    {%- set first_user_prefix = \"\" -%}\n"
    "    {%- set loop_messages = messages -%}\n"
    "{%- endif -%}\n"
    "{%- for message in loop_messages -%}\n"
    "    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}\n"
    "        {{ raise_exception(\"Conversation roles must alternate user/assistant/user/assistant/...\") }}\n"
    "    {%- endif -%}\n"
    "    {%- if (message['role'] == 'assistant') -%}\n"
    "        {%- set role = \"model\" -%}\n"
    "    {%- else -%}\n"
    "        {%- set role = message['role'] -%}\n"
    "    {%- endif -%}\n"
    "    {{ '<start_of_turn>' + role + '\\n' + (first_user_prefix if loop.first else \"\") }}\n"
    "    {%- if message['content'] is string -%}\n"
    "        {{ message['content'] | trim }}\n"
    "    {%- elif message['content'] is iterable -%}\n"
    "        {%- for item in message['content'] -%}\n"
    "            {%- if item['type'] == 'image' -%}\n"
    "                {{ '<start_of_image>' }}\n"
    "            {%- elif item['type'] == 'text' -%}\n"
    "                {{ item['text'] | trim }}\n"
    "            {%- endif -%}\n"
    "        {%- endfor -%}\n"
    "    {%- else -%}\n"
    "        {{ raise_exception(\"Invalid content type\") }}\n"
    "    {%- endif -%}\n"
    "    {{ '<end_of_turn>\\n' }}\n"
    "{%- endfor -%}\n"
    "{%- if add_generation_prompt -%}\n"
    "    {{'<start_of_turn>model\\n'}}\n"
    "{%- endif -%}\n"
)


def build_tokenizer() -> PreTrainedTokenizerFast:
    """A character-level tokenizer with Gemma 3's special tokens, plus whole words the model may answer with."""
    vocabulary = {token: index for index, token in enumerate(SPECIAL_TOKENS + THINKING_TOKENS + CHARACTERS + WORDS)}
    vocabulary[IMAGE_TOKEN] = len(vocabulary)
    backend = Tokenizer(models.BPE(vocab=vocabulary, merges=[], unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first")
    backend.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="first")
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token="<bos>", eos_token="<eos>", pad_token="<pad>", unk_token="<unk>", mask_token="<mask>",
        additional_special_tokens=["<start_of_turn>", "<end_of_turn>", "<start_of_image>", "<end_of_image>",
                                   IMAGE_TOKEN],
        extra_special_tokens={"image_token": IMAGE_TOKEN, "boi_token": "<start_of_image>",
                              "eoi_token": "<end_of_image>"},
        padding_side="left",
        add_bos_token=False,  # the chat template writes <bos> itself
    )
    tokenizer.add_tokens(THINKING_TOKENS)  # already in the vocabulary: marks them as whole, non-special tokens
    return tokenizer


def build_processor() -> Gemma3Processor:
    """A real Gemma3Processor: Gemma 3 image processor (small size), tokenizer and chat template."""
    image_processor = TinyImageProcessor(
        size={"height": IMAGE_SIZE, "width": IMAGE_SIZE},
        image_mean=[0.5, 0.5, 0.5], image_std=[0.5, 0.5, 0.5],
        do_pan_and_scan=False,
    )
    return Gemma3Processor(image_processor=image_processor, tokenizer=build_tokenizer(),
                           chat_template=CHAT_TEMPLATE, image_seq_length=TOKENS_PER_IMAGE)


def build_model(tokenizer: PreTrainedTokenizerFast) -> Gemma3ForConditionalGeneration:
    """A random-weight Gemma3ForConditionalGeneration whose answers depend on the image."""
    config = Gemma3Config(
        text_config={
            "vocab_size": len(tokenizer), "hidden_size": 64, "intermediate_size": 128,
            "num_hidden_layers": 2, "num_attention_heads": 2, "num_key_value_heads": 1, "head_dim": 32,
            "sliding_window": 512, "layer_types": ["sliding_attention", "full_attention"],
            "max_position_embeddings": 4096, "tie_word_embeddings": False,
            "pad_token_id": tokenizer.pad_token_id, "bos_token_id": tokenizer.bos_token_id,
            "eos_token_id": tokenizer.eos_token_id,
        },
        vision_config={
            "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2,
            "image_size": IMAGE_SIZE, "patch_size": PATCH_SIZE, "vision_use_head": False,
        },
        mm_tokens_per_image=TOKENS_PER_IMAGE,
        # Untied: with a tied head a random model echoes its last input token forever (e.g. only newlines).
        tie_word_embeddings=False,
        boi_token_index=tokenizer.convert_tokens_to_ids("<start_of_image>"),
        eoi_token_index=tokenizer.convert_tokens_to_ids("<end_of_image>"),
        image_token_index=tokenizer.convert_tokens_to_ids(IMAGE_TOKEN),
    )
    torch.manual_seed(SEED)
    model = Gemma3ForConditionalGeneration(config)
    with torch.no_grad():
        # Gemma 3 initialises the projector (and RMSNorm gains) to zeros: refill everything, or the image
        # has no effect on the answer. Weights this large make the answers depend on the input.
        generator = torch.Generator().manual_seed(SEED)
        for parameter in model.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.5)
        # Random rows would let the model answer with stop or special tokens only (decoded as nothing):
        # shrink their output rows so every answer is visible text of max_new_tokens characters.
        special_ids = tokenizer.convert_tokens_to_ids(SPECIAL_TOKENS + THINKING_TOKENS + [IMAGE_TOKEN])
        model.get_output_embeddings().weight[special_ids] *= 0.01
        model.get_output_embeddings().weight[tokenizer.convert_tokens_to_ids(WORDS)] *= WORD_BOOST
    # MedGemma's own generation config samples (Gemma 3's top_k=64, top_p=0.95): the helper must ask for greedy
    # decoding itself, and a test that forgot to would see it here.
    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id, pad_token_id=tokenizer.pad_token_id,
        eos_token_id=[tokenizer.eos_token_id, tokenizer.convert_tokens_to_ids("<end_of_turn>")],
        do_sample=True, top_k=64, top_p=0.95, max_new_tokens=32,
    )
    return model.eval()


def build_tiny_medgemma(folder: str | Path) -> Path:
    """Write the tiny stand-in (safetensors weights, processor, chat template) to folder."""
    folder = Path(folder)
    processor = build_processor()
    model = build_model(processor.tokenizer)
    model.to(torch.bfloat16).save_pretrained(folder, safe_serialization=True)
    processor.save_pretrained(folder)
    return folder


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python tests/tiny_medgemma.py FOLDER")
    print(build_tiny_medgemma(sys.argv[1]))
