"""Real data, offline and pinned: text domains, IR collections, tokenizers and small-model locators."""
