"""Models leave lmforge: ``python -m lm_train.export`` writes a Hugging Face model directory."""
