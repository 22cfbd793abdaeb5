"""VQGAN tokenizer codec for extreme rates: K-means codebook ladder, learned index prior, lost-index restoration."""
